import { PARTITION_KEY_MAX_CHARS, PARTITION_KEY_MIN_CHARS } from './limits.ts';

/**
 * The one partition-key rule, used by the contract (so the API refuses at append), the exporter and
 * the KPL codec: the strictest key Kinesis accepts under either reading of "256 Unicode characters".
 * Kinesis and the KPL count UTF-16 code units (Java's String.length()), so 200 emoji (400 units) are
 * too long although they are 200 code points; a lone surrogate has no UTF-8 form, so Kinesis would
 * hash U+FFFD instead of the key. Anything that passes here is exportable.
 */
export function partitionKeyProblem(key: string): string | undefined {
  if (key.length < PARTITION_KEY_MIN_CHARS || key.length > PARTITION_KEY_MAX_CHARS) {
    return `partition key must be ${PARTITION_KEY_MIN_CHARS}-${PARTITION_KEY_MAX_CHARS} UTF-16 code units, got ${key.length}`;
  }
  // A per-unit scan instead of a regex: runs for every record appended.
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const next = key.charCodeAt(i + 1);
    if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
    else return `partition key contains a lone UTF-16 surrogate at index ${i}`;
  }
  return undefined;
}
