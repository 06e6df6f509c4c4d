import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../../device/log/crc32c.ts';
import { LogStore, SegmentVersionError } from '../../../../device/log/index.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const FIXTURE = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'log', 'segment-v1');

const tmp = useTempDir('tributary-format-version-');

/** The generator of the fixture (see test/fixtures/log/README.md). */
function payload(i: number): Buffer {
  return Buffer.from(Array.from({ length: (i * 37) % 200 }, (_, j) => (i * 31 + j * 7) % 256));
}

/** A store whose stream `golden` holds the fixture's segment files. */
async function storeWithFixture(): Promise<{ root: string; segments: string }> {
  const root = tmp.fresh();
  const store = await LogStore.open(root, { retentionIntervalMillis: 0 });
  await store.createStream({ name: 'golden', segmentSize: 1024 });
  await store.close();
  const segments = join(root, 'streams', 'golden', 'segments');
  await rm(segments, { recursive: true });
  await cp(FIXTURE, segments, { recursive: true });
  return { root, segments };
}

describe('segment format version 1', () => {
  it('reads the golden segments written by the version-1 writer, and appends after them', async () => {
    const { root } = await storeWithFixture();
    const store = await LogStore.open(root, { retentionIntervalMillis: 0 });
    const records = await store.read('golden', { maxRecords: 100 });
    expect(records.map((r) => r.sequence)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    records.forEach((record, i) => {
      expect(Buffer.from(record.payload).equals(payload(i))).toBe(true);
      expect(record.timestamp).toBe(1_700_000_000_000 + 1000 * (i + 1));
    });
    expect(store.describeStream('golden')).toMatchObject({ segments: 2, nextSequence: 12 });
    expect((await store.append('golden', Buffer.from('next'))).sequence).toBe(12);
    await store.close();
  });

  it('refuses a segment of another version with a named error and leaves it untouched', async () => {
    const { root, segments } = await storeWithFixture();
    const [, active] = (await readdir(segments)).sort();
    const file = join(segments, active as string);
    const bytes = await readFile(file);
    bytes[4] = 2;
    bytes.writeUInt32LE(crc32c(bytes, 0, 0, 28), 28);
    await writeFile(file, bytes);
    const refused = await LogStore.open(root, { retentionIntervalMillis: 0 }).catch(
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(SegmentVersionError);
    expect(refused).toMatchObject({ code: 'SEGMENT_VERSION', file, version: 2 });
    expect((await readFile(file)).equals(bytes)).toBe(true);
  });
});
