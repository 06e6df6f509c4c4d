import { appendFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE, segmentName } from '../../../../device/log/format.ts';
import { LogStore, SegmentVersionError } from '../../../../device/log/index.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const tmp = useTempDir('tributary-recovery-');

const payloadLists = fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 25 });

/** Writes `payloads` into one segment of a fresh store; returns the root, segment path and frame ends. */
async function writeSegment(payloads: Uint8Array[]): Promise<{ root: string; file: string; ends: number[] }> {
  const root = tmp.fresh();
  const store = await LogStore.open(root, { retentionIntervalMillis: 0 });
  await store.createStream({ name: 's' });
  await store.appendMany('s', payloads);
  await store.close();
  const ends: number[] = [];
  let end = SEGMENT_HEADER_SIZE;
  for (const p of payloads) {
    end += FRAME_HEADER_SIZE + p.length;
    ends.push(end);
  }
  return { root, file: join(root, 'streams', 's', 'segments', segmentName(0)), ends };
}

/** Reopens, checks the stream holds exactly payloads[0..kept), and that appends continue at `kept`. */
async function expectPrefix(root: string, payloads: Uint8Array[], kept: number): Promise<void> {
  const store = await LogStore.open(root, { retentionIntervalMillis: 0 });
  try {
    const records = await store.read('s', { maxRecords: 1000 });
    expect(records.map((r) => r.sequence)).toEqual(payloads.slice(0, kept).map((_, i) => i));
    expect(records.map((r) => Buffer.from(r.payload))).toEqual(
      payloads.slice(0, kept).map((p) => Buffer.from(p)),
    );
    expect(store.describeStream('s').nextSequence).toBe(kept);
    expect((await store.append('s', Buffer.from('after'))).sequence).toBe(kept);
  } finally {
    await store.close();
  }
}

describe('recovery of the active segment', () => {
  it('keeps exactly the intact prefix after truncation at any byte', async () => {
    await fc.assert(
      fc.asyncProperty(payloadLists, fc.nat(), async (payloads, cut) => {
        const { root, file, ends } = await writeSegment(payloads);
        const length = cut % ((await stat(file)).size + 1);
        await truncate(file, length);
        await expectPrefix(root, payloads, ends.filter((end) => end <= length).length);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps exactly the frames before a corrupted byte, wherever it is', async () => {
    await fc.assert(
      fc.asyncProperty(
        payloadLists,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (payloads, at, flip) => {
          const { root, file, ends } = await writeSegment(payloads);
          const bytes = await readFile(file);
          const index = at % bytes.length;
          bytes[index] = (bytes[index] as number) ^ flip;
          await writeFile(file, bytes);
          if (index === 4 && bytes[4] !== 0) {
            // A valid magic with another version byte is another format: refused, never truncated.
            await expect(LogStore.open(root, { retentionIntervalMillis: 0 })).rejects.toBeInstanceOf(
              SegmentVersionError,
            );
            expect((await readFile(file)).equals(bytes)).toBe(true);
            return;
          }
          // A broken segment header leaves nothing trustworthy in the segment; the sequence still comes from its name.
          const kept = index < SEGMENT_HEADER_SIZE ? 0 : ends.filter((end) => end <= index).length;
          await expectPrefix(root, payloads, kept);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('drops a zero-filled tail (pages allocated but never written before a power cut)', async () => {
    await fc.assert(
      fc.asyncProperty(payloadLists, fc.integer({ min: 1, max: 5000 }), async (payloads, zeros) => {
        const { root, file } = await writeSegment(payloads);
        await appendFile(file, Buffer.alloc(zeros));
        await expectPrefix(root, payloads, payloads.length);
        expect((await stat(file)).size).toBe(
          SEGMENT_HEADER_SIZE +
            payloads.reduce((n, p) => n + FRAME_HEADER_SIZE + p.length, 0) +
            'after'.length +
            FRAME_HEADER_SIZE,
        );
      }),
      { numRuns: 30 },
    );
  });
});
