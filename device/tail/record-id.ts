import { hash } from 'node:crypto';

/** The UUID's variant digit (10xx) for each value of the hash's hex digit it takes its low bits from. */
const VARIANT = '89ab89ab89ab89ab';

// A batch's lines share one read time: its 48 bits are formatted once per batch, not once per line.
let memoTime = Number.NaN;
let memoPrefix = '';

/** `tttttttt-tttt-7`: the 48-bit time (clamped below at 0; over 48 bits throws) and the version. */
function timePrefix(readTime: number): string {
  if (readTime !== memoTime) {
    const b = Buffer.alloc(6);
    b.writeUIntBE(Math.max(0, Math.floor(readTime)), 0, 6);
    const hex = b.toString('hex');
    memoPrefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7`;
    memoTime = readTime;
  }
  return memoPrefix;
}

/**
 * A tailed record's id: a UUIDv7 (the contract's id) whose 48-bit time is the batch's read time and
 * whose 74 "random" bits are a SHA-256 of the record's place (source, file identity, byte offset):
 * the hash's first 10 bytes fill bytes 6-15, under the version nibble (7) and variant bits (10).
 * The same line read in the same batch always gets the same id, so a batch re-created after a crash
 * is byte-identical to the one appended before it, and any downstream dedupe on `id` sees one line.
 */
export function tailRecordId(readTime: number, place: string): string {
  // One-shot hash straight to hex: no Hash object or Buffers per line (the tail's hot path).
  const h = hash('sha256', place, 'hex');
  const variant = VARIANT[Number.parseInt(h[4] as string, 16)];
  return `${timePrefix(readTime)}${h.slice(1, 4)}-${variant}${h.slice(5, 8)}-${h.slice(8, 20)}`;
}
