/**
 * Where a log record goes: its partition key (and optional explicit hash key). Log payloads are
 * encoded contract records, so the key is already inside them; rather than storing it twice or
 * running JSON.parse on every record, `partitionKeyOf` scans the top level of the JSON object and
 * decodes only the `partition_key` string. Nested objects and other values are skipped unparsed.
 */
export { partitionKeyProblem } from '../../shared/kinesis/partition-key.ts';

export interface Route {
  partitionKey: string;
  explicitHashKey?: string | undefined;
}

/** Custom routing for payloads that are not contract records; undefined falls back to the default key. */
export type RouteFunction = (payload: Uint8Array) => Route | undefined;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const KEY = Buffer.from('partition_key', 'utf8');
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function skipSpace(data: Uint8Array, from: number): number {
  let i = from;
  while (isSpace(data[i])) i++;
  return i;
}

/** Index just past the closing quote of the string starting at `start` (a quote), or -1. */
function stringEnd(data: Uint8Array, start: number): number {
  for (let i = start + 1; i < data.length; i++) {
    const byte = data[i];
    if (byte === BACKSLASH) i++;
    else if (byte === QUOTE) return i + 1;
  }
  return -1;
}

/** Index just past the value starting at `start`, or -1 when it runs off the end. */
function valueEnd(data: Uint8Array, start: number): number {
  const first = data[start];
  if (first === QUOTE) return stringEnd(data, start);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (let i = start; i < data.length; i++) {
      const byte = data[i];
      if (byte === QUOTE) {
        const end = stringEnd(data, i);
        if (end < 0) return -1;
        i = end - 1;
      } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return -1;
  }
  let i = start;
  while (i < data.length) {
    const byte = data[i];
    if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isSpace(byte)) break;
    i++;
  }
  return i === start ? -1 : i;
}

function decodeString(data: Uint8Array, start: number, end: number): string | undefined {
  try {
    // Fast path without escapes; JSON.parse resolves \uXXXX and friends otherwise.
    const raw = data.subarray(start + 1, end - 1);
    if (!raw.includes(BACKSLASH)) return utf8.decode(raw);
    const value: unknown = JSON.parse(utf8.decode(data.subarray(start, end)));
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function isKey(data: Uint8Array, start: number, end: number): boolean {
  if (end - start === KEY.length + 2) {
    for (let i = 0; i < KEY.length; i++) if (data[start + 1 + i] !== KEY[i]) return false;
    return true;
  }
  // A key spelled with escapes (e.g. "partition\u005fkey") is the same key to JSON.parse.
  return data.subarray(start, end).includes(BACKSLASH) && decodeString(data, start, end) === 'partition_key';
}

/**
 * The top-level `partition_key` string of a JSON object, as JSON.parse would see it (last duplicate
 * wins), or undefined when the payload is not a JSON object or has no string partition_key.
 */
export function partitionKeyOf(data: Uint8Array): string | undefined {
  // Runs once per exported record: no closures, no allocation but the key itself.
  let i = skipSpace(data, 0);
  if (data[i] !== OPEN_BRACE) return undefined;
  i = skipSpace(data, i + 1);
  let found: string | undefined;
  if (data[i] === CLOSE_BRACE) return undefined;
  for (;;) {
    i = skipSpace(data, i);
    if (data[i] !== QUOTE) return undefined;
    const keyStart = i;
    const keyEnd = stringEnd(data, i);
    if (keyEnd < 0) return undefined;
    i = skipSpace(data, keyEnd);
    if (data[i] !== COLON) return undefined;
    i = skipSpace(data, i + 1);
    const valueStart = i;
    const end = valueEnd(data, i);
    if (end < 0) return undefined;
    if (isKey(data, keyStart, keyEnd)) {
      found = data[valueStart] === QUOTE ? decodeString(data, valueStart, end) : undefined;
    }
    i = skipSpace(data, end);
    if (data[i] === COMMA) {
      i++;
      continue;
    }
    return data[i] === CLOSE_BRACE ? found : undefined;
  }
}
