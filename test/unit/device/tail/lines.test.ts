import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter, type LineSplitterOptions, type SplitRecord } from '../../../../device/tail/lines.ts';
import { cutAt } from '../../../helpers/chunks.ts';

const MARKER = '[cut]';

/** Splits `bytes` at the given cut points and feeds the pieces, then flushes the file's end. */
function splitAll(bytes: Buffer, cuts: readonly number[], options: LineSplitterOptions): SplitRecord[] {
  const splitter = new LineSplitter(options);
  const out = cutAt(
    bytes,
    cuts.map((c) => c % (bytes.length + 1)),
  ).flatMap((piece) => splitter.push(piece));
  out.push(...splitter.flush(true));
  return out;
}

// Lines with multi-byte characters, carriage returns and lines that look like record starts.
const line = fc.oneof(
  fc.string({ maxLength: 40 }).map((s) => s.replace(/\n/g, ' ')),
  fc.constantFrom('', '\r', 'é€😀', 'START x', '  at frame()'),
);
const lines = fc.array(line, { maxLength: 30 });
const cuts = fc.array(fc.nat(), { maxLength: 12 });
const options = fc.record({
  maxRecordBytes: fc.integer({ min: MARKER.length + 5, max: 80 }),
  truncationMarker: fc.constant(MARKER),
  multiLineStartPattern: fc.constantFrom(undefined, /^START/),
  skipHeaderLines: fc.integer({ min: 0, max: 3 }),
});

describe('LineSplitter', () => {
  it('gives the same records, offsets included, for any chunking of the input', () => {
    fc.assert(
      fc.property(lines, fc.boolean(), cuts, options, (ls, endsWithNewline, cutPoints, opts) => {
        const text = ls.join('\n') + (endsWithNewline ? '\n' : '');
        const bytes = Buffer.from(text, 'utf8');
        expect(splitAll(bytes, cutPoints, opts)).toEqual(splitAll(bytes, [], opts));
      }),
    );
  });

  it('gives each line back whole without a pattern or limit, with its byte offsets, headers skipped', () => {
    fc.assert(
      fc.property(lines, cuts, fc.integer({ min: 0, max: 3 }), (ls, cutPoints, skip) => {
        const bytes = Buffer.from(ls.map((l) => `${l}\n`).join(''), 'utf8');
        const records = splitAll(bytes, cutPoints, {
          maxRecordBytes: 1 << 20,
          truncationMarker: MARKER,
          skipHeaderLines: skip,
        });
        const expected = ls.slice(skip).map((l) => l.replace(/\r$/, ''));
        expect(records.map((r) => r.text)).toEqual(expected);
        let offset = Buffer.byteLength(
          ls
            .slice(0, skip)
            .map((l) => `${l}\n`)
            .join(''),
        );
        for (const [i, r] of records.entries()) {
          const raw = ls[skip + i] as string;
          expect(r.offset).toBe(offset);
          offset += Buffer.byteLength(raw) + 1;
          expect(r.end).toBe(offset);
          expect(bytes.subarray(r.offset, r.end).toString('utf8')).toBe(`${raw}\n`);
        }
      }),
    );
  });

  it('keeps every record within the limit; a cut record is a prefix of the original plus the marker', () => {
    fc.assert(
      fc.property(lines, options, (ls, opts) => {
        const bytes = Buffer.from(ls.map((l) => `${l}\n`).join(''), 'utf8');
        const whole = splitAll(bytes, [], { ...opts, maxRecordBytes: 1 << 20 });
        const cut = splitAll(bytes, [], opts);
        expect(cut.map((r) => [r.offset, r.end])).toEqual(whole.map((r) => [r.offset, r.end]));
        cut.forEach((r, i) => {
          const original = (whole[i] as SplitRecord).text;
          expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(opts.maxRecordBytes);
          expect(r.truncated).toBe(Buffer.byteLength(original) > opts.maxRecordBytes);
          if (r.truncated) {
            expect(r.text.endsWith(MARKER)).toBe(true);
            expect(original.startsWith(r.text.slice(0, -MARKER.length))).toBe(true);
          } else expect(r.text).toBe(original);
        });
      }),
    );
  });

  it('joins continuation lines to the record their start line opened', () => {
    const text = 'lead-in\nSTART one\n  at a()\n  at b()\nSTART two\nSTART three\n  tail\n';
    const records = splitAll(Buffer.from(text), [], {
      maxRecordBytes: 1000,
      truncationMarker: MARKER,
      multiLineStartPattern: /^START/,
    });
    expect(records.map((r) => r.text)).toEqual([
      'lead-in',
      'START one\n  at a()\n  at b()',
      'START two',
      'START three\n  tail',
    ]);
  });

  it('holds a multi-line record until the next start line or a flush, and a partial line until the file ends', () => {
    const splitter = new LineSplitter({
      maxRecordBytes: 100,
      truncationMarker: MARKER,
      multiLineStartPattern: /^S/,
    });
    expect(splitter.push(Buffer.from('S1\n more\nS2'))).toEqual([]);
    expect(splitter.safeOffset).toBe(0);
    expect(splitter.push(Buffer.from(' whole\nS3 partial'))).toEqual([
      { text: 'S1\n more', offset: 0, end: 9, truncated: false },
    ]);
    expect(splitter.safeOffset).toBe(9);
    expect(splitter.flush()).toEqual([{ text: 'S2 whole', offset: 9, end: 18, truncated: false }]);
    expect(splitter.safeOffset).toBe(18);
    expect(splitter.flush(true)).toEqual([{ text: 'S3 partial', offset: 18, end: 28, truncated: false }]);
  });

  it('resumed at its safe offset, a new splitter gives exactly the records the first had not (restart)', () => {
    fc.assert(
      fc.property(lines, fc.nat(), options, (ls, at, opts) => {
        const bytes = Buffer.from(ls.map((l) => `${l}\n`).join(''), 'utf8');
        const all = splitAll(bytes, [], opts);
        const first = new LineSplitter(opts);
        const k = at % (bytes.length + 1);
        const before = first.push(bytes.subarray(0, k));
        const resumed = new LineSplitter({
          ...opts,
          startOffset: first.safeOffset,
          skipHeaderLines: first.headerLinesLeft,
        });
        const after = [...resumed.push(bytes.subarray(first.safeOffset)), ...resumed.flush(true)];
        expect([...before, ...after]).toEqual(all);
      }),
    );
  });
});
