import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputLineError } from '../../../../device/errors.ts';
import { ndjsonBatches } from '../../../../device/ndjson-input.ts';
import { cutAt } from '../../../helpers/chunks.ts';

const LIMITS = { maxDepth: 8, maxValues: 100, maxStringBytes: 200 };

async function collect(chunks: Buffer[], maxRecords: number, maxBytes: number) {
  const out = [];
  for await (const batch of ndjsonBatches(chunks, { maxRecords, maxBytes, limits: LIMITS })) out.push(batch);
  return out;
}

const chunked = (bytes: Buffer, cuts: number[]): Buffer[] =>
  cutAt(
    bytes,
    cuts.map((c) => c % (bytes.length + 1)),
  );

const objectLine = fc
  .dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.integer(), fc.string({ maxLength: 10 })), {
    maxKeys: 4,
  })
  .map((o) => JSON.stringify(o));

describe('CLI NDJSON input', () => {
  it('sends every non-blank line once, in order, in batches within both caps, whatever the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(objectLine, fc.constantFrom('', ' ', '\r')), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        async (lines, cuts, maxRecords) => {
          const maxBytes = 200;
          const bytes = Buffer.from(lines.join('\n'), 'utf8');
          const batches = await collect(chunked(bytes, cuts), maxRecords, maxBytes);
          const sent = batches.flatMap((b) => b.body.toString('utf8').split('\n'));
          expect(sent).toEqual(lines.filter((l) => l.trim() !== ''));
          for (const b of batches) {
            expect(b.lineNumbers.length).toBeLessThanOrEqual(maxRecords);
            expect(b.body.length).toBeLessThanOrEqual(maxBytes);
          }
          const numbers = batches.flatMap((b) => b.lineNumbers);
          expect(numbers).toEqual(lines.flatMap((l, i) => (l.trim() === '' ? [] : [i + 1])));
        },
      ),
    );
  });

  it('names the line and the byte offset in the input of the first bad line', async () => {
    const input = Buffer.concat([
      Buffer.from('{"a":1}\n\n{"b":"'),
      Buffer.from([0xe2, 0x28, 0xa1]),
      Buffer.from('"}\n'),
    ]);
    const error = await collect(chunked(input, [3, 13]), 10, 1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputLineError);
    expect(error).toMatchObject({ code: 'RECORD_MALFORMED', line: 3, offset: 9 + 6 });
    const long = await collect([Buffer.from(`{"a":"${'x'.repeat(300)}"}`)], 10, 100).catch((e: unknown) => e);
    expect(long).toMatchObject({ code: 'BODY_TOO_LARGE', line: 1 });
  });
});
