import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type JsonLimits,
  JsonScanner,
  type JsonScanOptions,
  RecordDecodeError,
  RecordTooComplexError,
} from '../../../shared/contract/index.ts';

const GENEROUS: JsonLimits = { maxDepth: 1_000, maxValues: 1_000_000, maxStringBytes: 1 << 30 };

/** Scans `bytes` cut into chunks at `cuts`; the documents' byte ranges. */
function scan(
  bytes: Uint8Array,
  limits: JsonLimits,
  options: JsonScanOptions = { framing: 'single' },
  cuts: readonly number[] = [],
): [number, number][] {
  const scanner = new JsonScanner(limits, options);
  const documents: [number, number][] = [];
  const onDocument = (start: number, end: number) => documents.push([start, end]);
  let from = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    scanner.write(bytes.subarray(from, cut), onDocument);
    from = cut;
  }
  scanner.write(bytes.subarray(from), onDocument);
  scanner.end(onDocument);
  return documents;
}

function parseRange(bytes: Uint8Array, [start, end]: [number, number]): unknown {
  return JSON.parse(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8', start, end),
  );
}

/** What the limits count, measured on a parsed value and its JSON.stringify text. */
function measure(value: unknown): { depth: number; values: number; token: number } {
  if (Array.isArray(value) || (value !== null && typeof value === 'object')) {
    const entries = Array.isArray(value) ? value.map((v) => ['', v] as const) : Object.entries(value);
    let depth = 0;
    let values = 1;
    let token = 0;
    for (const [key, child] of entries) {
      const m = measure(child);
      depth = Math.max(depth, m.depth);
      values += m.values;
      token = Math.max(token, m.token, Array.isArray(value) ? 0 : Buffer.byteLength(JSON.stringify(key)) - 2);
    }
    return { depth: depth + 1, values, token };
  }
  if (typeof value === 'string')
    return { depth: 0, values: 1, token: Buffer.byteLength(JSON.stringify(value)) - 2 };
  return { depth: 0, values: 1, token: typeof value === 'number' ? JSON.stringify(value).length : 0 };
}

const within = (m: ReturnType<typeof measure>, l: JsonLimits) =>
  m.depth <= l.maxDepth && m.values <= l.maxValues && m.token <= l.maxStringBytes;

const limitsArb = fc.record({
  maxDepth: fc.integer({ min: 1, max: 6 }),
  maxValues: fc.integer({ min: 1, max: 60 }),
  maxStringBytes: fc.integer({ min: 1, max: 40 }),
});
const cutsArb = fc.array(fc.nat(), { maxLength: 8 });
const jsonArb = fc.jsonValue({ maxDepth: 5, stringUnit: 'binary' });

describe('bounded JSON scanner', () => {
  it('accepts exactly what JSON.parse accepts within the limits, in any chunking, with the same value', () => {
    fc.assert(
      fc.property(
        jsonArb,
        fc.constantFrom(undefined, 1, '\t'),
        limitsArb,
        cutsArb,
        (value, indent, limits, cuts) => {
          const text = ` ${JSON.stringify(value, null, indent)}\n`;
          const bytes = Buffer.from(text, 'utf8');
          const m = measure(JSON.parse(text));
          if (within(m, limits)) {
            const documents = scan(bytes, limits, { framing: 'single' }, cuts);
            expect(documents).toHaveLength(1);
            expect(parseRange(bytes, documents[0] as [number, number])).toEqual(JSON.parse(text));
          } else {
            expect(() => scan(bytes, limits, { framing: 'single' }, cuts)).toThrow(RecordTooComplexError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws anything but its two named errors, and agrees with a fatal UTF-8 decoder + JSON.parse', () => {
    const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    // Random bytes, and valid JSON with bytes flipped, dropped or inserted (mostly near-valid input).
    const mutated = fc
      .tuple(
        jsonArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })), {
          maxLength: 3,
        }),
      )
      .map(([value, edits]) => {
        const bytes = [...Buffer.from(JSON.stringify(value), 'utf8')];
        for (const [at, byte, kind] of edits) {
          const i = bytes.length === 0 ? 0 : at % bytes.length;
          if (kind === 0) bytes[i] = byte;
          else if (kind === 1) bytes.splice(i, 1);
          else bytes.splice(i, 0, byte);
        }
        return Uint8Array.from(bytes);
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), mutated), cutsArb, (bytes, cuts) => {
        let expected: unknown;
        let valid = true;
        try {
          expected = JSON.parse(utf8.decode(bytes));
        } catch {
          valid = false;
        }
        let documents: [number, number][] = [];
        try {
          documents = scan(bytes, GENEROUS, { framing: 'single' }, cuts);
        } catch (error) {
          expect(error instanceof RecordDecodeError || error instanceof RecordTooComplexError).toBe(true);
          expect((error as RecordDecodeError).offset).toBeGreaterThanOrEqual(0);
          expect((error as RecordDecodeError).offset).toBeLessThanOrEqual(bytes.length);
          expect(valid).toBe(false);
          return;
        }
        expect(valid).toBe(true);
        expect(parseRange(bytes, documents[0] as [number, number])).toEqual(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  it('frames NDJSON: one document per line, blank lines skipped, each as JSON.parse reads its line', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            jsonArb.map((v) => JSON.stringify(v)),
            fc.constantFrom('', ' ', '\r'),
          ),
          { maxLength: 8 },
        ),
        cutsArb,
        (lines, cuts) => {
          const bytes = Buffer.from(lines.join('\n'), 'utf8');
          const documents = scan(bytes, GENEROUS, { framing: 'lines' }, cuts);
          const expected = lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
          expect(documents.map((d) => parseRange(bytes, d))).toEqual(expected);
        },
      ),
    );
  });

  it('refuses a value spread over two lines, two values on a line, and a non-object where objects are required', () => {
    const lines = (text: string) => () => scan(Buffer.from(text), GENEROUS, { framing: 'lines' });
    expect(lines('{"a":\n1}')).toThrow(/line ends inside a JSON value at byte 5/);
    expect(lines('{} {}')).toThrow(/after the JSON value at byte 3/);
    const objects = { framing: 'single', objectsOnly: { hint: 'send batches as NDJSON' } } as const;
    expect(() => scan(Buffer.from(' [{}]'), GENEROUS, objects)).toThrow(
      'record is not valid JSON: expected a JSON object, got an array at byte 1; send batches as NDJSON',
    );
    expect(() => scan(Buffer.from(''), GENEROUS)).toThrow(/holds no JSON value/);
  });

  it('names the byte offset of invalid UTF-8: bad leads, overlongs, surrogates, beyond U+10FFFF, truncation', () => {
    const cases: [number[], number][] = [
      [[0x22, 0x61, 0xff, 0x22], 2],
      [[0x22, 0xc0, 0x80, 0x22], 1],
      [[0x22, 0xe0, 0x80, 0x80, 0x22], 1],
      [[0x22, 0xed, 0xa0, 0x80, 0x22], 1],
      [[0x22, 0xf4, 0x90, 0x80, 0x80, 0x22], 1],
      [[0x22, 0xe2, 0x82, 0x22], 1],
      [[0x22, 0x80, 0x22], 1],
    ];
    for (const [bytes, offset] of cases) {
      const error = (() => {
        try {
          scan(Uint8Array.from(bytes), GENEROUS);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(RecordDecodeError);
      expect(error).toMatchObject({ code: 'RECORD_MALFORMED', offset });
      expect((error as Error).message).toContain(`at byte ${offset}`);
    }
    expect(scan(Buffer.from('"é€😀"'), GENEROUS)).toEqual([[0, 11]]);
  });

  it('refuses the issue #17 bodies after a bounded number of bytes, naming the limit and the offset', () => {
    const limits: JsonLimits = { maxDepth: 32, maxValues: 4_096, maxStringBytes: 65_536 };
    const deep = Buffer.alloc(1_000_000, '[');
    expect(() => scan(deep, limits)).toThrow(
      expect.objectContaining({ code: 'RECORD_TOO_COMPLEX', limit: 'depth', offset: 32 }),
    );
    const empties = Buffer.from(`[${'{},'.repeat(1_000_000)}{}]`);
    expect(() => scan(empties, limits)).toThrow(
      expect.objectContaining({ limit: 'values', offset: 1 + 4_095 * 3 }),
    );
    const unknownKey = Buffer.from(`{"id":"x","pad":[${'0,'.repeat(4_000_000)}0]}`);
    expect(() => scan(unknownKey, limits)).toThrow(expect.objectContaining({ limit: 'values' }));
    const long = Buffer.from(`{"k":"${'x'.repeat(100_000)}"}`);
    expect(() => scan(long, limits)).toThrow(
      expect.objectContaining({ limit: 'string', offset: 6 + 65_536 }),
    );
    const longNumber = Buffer.from(`{"k":${'1'.repeat(100_000)}}`);
    expect(() => scan(longNumber, limits)).toThrow(expect.objectContaining({ limit: 'string' }));
  });
});
