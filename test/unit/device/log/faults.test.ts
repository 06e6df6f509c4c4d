import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LogStore,
  type LogStoreOptions,
  LogWriteError,
  MetadataWriteError,
  StorageFullError,
} from '../../../../device/log/index.ts';
import { SimFs } from '../../../helpers/sim-fs.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const tmp = useTempDir('tributary-faults-');

const freshRoot = () => tmp.fresh();
const bytes = (text: string) => Buffer.from(text);
const texts = (records: { payload: Uint8Array }[]) => records.map((r) => Buffer.from(r.payload).toString());

function open(root: string, fs: SimFs, options: LogStoreOptions = {}): Promise<LogStore> {
  return LogStore.open(root, {
    retentionIntervalMillis: 0,
    diskCheckIntervalMillis: 0,
    freeSpaceReserveBytes: 0,
    openDir: fs.openDir,
    freeSpace: async () => fs.freeBytes ?? 1 << 30,
    ...options,
  });
}

/** The process died with the power: unsynced bytes are gone; the next process takes the stale lock. */
async function reopenAfterPowerLoss(
  root: string,
  fs: SimFs,
  options: LogStoreOptions = {},
): Promise<LogStore> {
  fs.powerLoss();
  await rm(join(root, 'LOCK'));
  return open(root, fs, options);
}

async function readAll(store: LogStore, name: string): Promise<string[]> {
  const out: string[] = [];
  for await (const record of store.records(name)) out.push(Buffer.from(record.payload).toString());
  return out;
}

describe('storage faults', () => {
  it('keeps every acknowledged record through a power loss at any point', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 60 }),
        fc.nat(),
        async (sizes, cutAt) => {
          const fs = new SimFs();
          const root = freshRoot();
          const store = await open(root, fs);
          await store.createStream({ name: 's', segmentSize: 1024, groupCommitMillis: 0 });
          const acked = new Map<number, string>();
          const cut = cutAt % (sizes.length + 1);
          const pending = sizes.map((size, i) => {
            const text = `${i}:${'x'.repeat(size)}`;
            return store.append('s', bytes(text)).then(({ sequence }) => {
              acked.set(sequence, text);
            });
          });
          // The ones in flight fail when the power goes; only acknowledged ones are checked.
          for (const p of pending) p.catch(() => {});
          // Power goes after `cut` appends were acknowledged, with the rest still in flight.
          await Promise.all(pending.slice(0, cut));
          const survived = new Map(acked);
          const reopened = await reopenAfterPowerLoss(root, fs);
          const records = await reopened.read('s', { maxRecords: 10_000 });
          const bySequence = new Map(records.map((r) => [r.sequence, Buffer.from(r.payload).toString()]));
          for (const [sequence, text] of survived) expect(bySequence.get(sequence)).toBe(text);
          // Sequences continue after what survived; nothing is handed out twice.
          const next = reopened.describeStream('s').nextSequence;
          expect(next).toBe(records.length === 0 ? 0 : (records.at(-1)?.sequence ?? 0) + 1);
          expect((await reopened.append('s', bytes('after'))).sequence).toBe(next);
          await reopened.close();
          await Promise.allSettled(pending);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('rejects appends whose fsync failed with a named error, and never shows them after the reload', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await open(root, fs);
    await store.createStream({ name: 's', groupCommitMillis: 0 });
    await store.append('s', bytes('a'));
    fs.failNext('sync', 'EIO', 'segments');
    const failed = await store.append('s', bytes('b')).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(LogWriteError);
    expect(failed).toMatchObject({ code: 'LOG_WRITE_FAILED', retryable: true });
    await store.settled();
    // The unsynced frame sat in the page cache: the reload cut it, so sequence 1 is handed out again.
    expect(texts(await store.read('s'))).toEqual(['a']);
    expect((await store.append('s', bytes('c'))).sequence).toBe(1);
    expect(texts(await store.read('s'))).toEqual(['a', 'c']);
    await store.close();
    const reopened = await reopenAfterPowerLoss(root, fs);
    expect(await readAll(reopened, 's')).toEqual(['a', 'c']);
    await reopened.close();
  });

  it('recovers from a failed write, and from a failed segment creation during a roll', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await open(root, fs);
    await store.createStream({ name: 's', segmentSize: 1024, groupCommitMillis: 0 });
    await store.append('s', bytes('a'));
    fs.failNext('write', 'EIO', 'segments');
    await expect(store.append('s', bytes('b'))).rejects.toBeInstanceOf(LogWriteError);
    await store.settled();
    const big = 'y'.repeat(900);
    await store.append('s', bytes(big));
    fs.failNext('create', 'EIO', 'segments');
    await expect(store.append('s', bytes(big))).rejects.toBeInstanceOf(LogWriteError);
    await store.settled();
    await store.append('s', bytes('z'));
    expect(texts(await store.read('s'))).toEqual(['a', big, 'z']);
    const reopened = await reopenAfterPowerLoss(root, fs);
    expect(await readAll(reopened, 's')).toEqual(['a', big, 'z']);
    await reopened.close();
  });

  it('answers a full disk with STORAGE_FULL naming the file, reclaims exported segments, and goes on', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await open(root, fs);
    await store.createStream({ name: 's', segmentSize: 1024, groupCommitMillis: 0 });
    let last = 0;
    for (let i = 0; i < 20; i++) last = (await store.append('s', bytes(`r${i}:${'x'.repeat(200)}`))).sequence;
    await store.commit('s', 'exporter', last - 1);
    fs.freeBytes = 0;
    const full = await store.append('s', bytes('full')).catch((error: unknown) => error);
    expect(full).toBeInstanceOf(StorageFullError);
    expect(full).toMatchObject({ code: 'STORAGE_FULL', retryable: true });
    expect((full as StorageFullError).path).toMatch(/segments\/\d{20}\.seg$/);
    await store.settled();
    // Every segment the exporter had was deleted; its last record and the next appends remain.
    expect(fs.freeBytes).toBeGreaterThan(0);
    const next = await store.append('s', bytes('after'));
    expect(texts(await store.read('s', { fromSequence: last })).at(-1)).toBe('after');
    expect(store.describeStream('s')).toMatchObject({ firstSequence: expect.any(Number), droppedRecords: 0 });
    expect(store.describeStream('s').firstSequence).toBeLessThanOrEqual(last);
    expect(next.sequence).toBe(last + 1);
    await store.close();
  });

  it('keeps free space above the reserve by deleting exported segments before anything is refused', async () => {
    const fs = new SimFs();
    fs.freeBytes = 16 * 1024;
    const store = await open(freshRoot(), fs, { freeSpaceReserveBytes: 6 * 1024 });
    await store.createStream({ name: 's', segmentSize: 1024, groupCommitMillis: 0 });
    // Far more than the disk holds, exported as it goes: no append is refused.
    for (let i = 0; i < 400; i++) {
      const { sequence } = await store.append('s', bytes(`r${i}:${'x'.repeat(100)}`));
      await store.commit('s', 'exporter', sequence);
      await store.settled();
    }
    expect(store.describeStream('s').droppedRecords).toBe(0);
    await store.close();
  });

  it('drops the oldest segments of an OverwriteOldestData stream when the disk is full, counting them', async () => {
    const fs = new SimFs();
    const store = await open(freshRoot(), fs);
    await store.createStream({
      name: 's',
      segmentSize: 1024,
      groupCommitMillis: 0,
      strategyOnFull: 'OverwriteOldestData',
    });
    for (let i = 0; i < 20; i++) await store.append('s', bytes(`r${i}:${'x'.repeat(200)}`));
    fs.freeBytes = 0;
    await expect(store.append('s', bytes('full'))).rejects.toBeInstanceOf(StorageFullError);
    await store.settled();
    await store.append('s', bytes('after'));
    const stats = store.describeStream('s');
    expect(stats.droppedRecords).toBeGreaterThan(0);
    expect(stats.firstSequence).toBe(stats.droppedRecords);
    await store.close();
  });

  it('with RejectNewData at maxSize, deletes exported segments instead of refusing', async () => {
    const fs = new SimFs();
    const store = await open(freshRoot(), fs);
    await store.createStream({ name: 's', maxSize: 4096, segmentSize: 1024, groupCommitMillis: 0 });
    const payload = bytes('x'.repeat(200));
    let last = -1;
    for (;;) {
      const result = await store.append('s', payload).catch((error: unknown) => error);
      if (!(result instanceof Object) || !('sequence' in result)) break;
      last = (result as { sequence: number }).sequence;
    }
    await expect(store.append('s', payload)).rejects.toMatchObject({ code: 'STREAM_FULL' });
    await store.commit('s', 'exporter', last);
    // Room for what the exporter had: about four segments of four records.
    for (let i = 0; i < 12; i++) await store.append('s', payload);
    expect(store.describeStream('s').bytes).toBeLessThanOrEqual(4096);
    expect(store.describeStream('s').droppedRecords).toBe(0);
    await store.close();
  });

  it('writes stream.json through the seam: a failed replace is a named error and the reload has the old definition', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const file = join(root, 'streams', 's', 'stream.json');
    const store = await open(root, fs);
    await store.createStream({ name: 's', maxRecordSize: 1024, groupCommitMillis: 0 });
    await store.append('s', bytes('a'));

    // The new file's fsync fails: nothing is renamed, the definition in use stays.
    fs.failNext('sync', 'EIO', 'stream.json');
    const failed = await store.updateStream({ name: 's', maxRecordSize: 2048 }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(MetadataWriteError);
    expect(failed).toMatchObject({ code: 'METADATA_WRITE_FAILED', path: file, retryable: true });
    expect(store.describeStream('s').definition.maxRecordSize).toBe(1024);

    // No space: the new definition applies in this process (it may be what frees space), the
    // error names stream.json, and after a power loss the old one is back.
    fs.freeBytes = 0;
    const full = await store.updateStream({ name: 's', maxRecordSize: 2048 }).catch((e: unknown) => e);
    expect(full).toBeInstanceOf(StorageFullError);
    expect(full).toMatchObject({ code: 'STORAGE_FULL', path: file });
    expect(store.describeStream('s').definition.maxRecordSize).toBe(2048);
    let reopened = await reopenAfterPowerLoss(root, fs);
    expect(reopened.describeStream('s').definition.maxRecordSize).toBe(1024);
    expect(await readAll(reopened, 's')).toEqual(['a']);

    // The rename happened but the directory fsync failed: the power loss takes the rename back.
    fs.freeBytes = undefined;
    fs.failNext('dirSync', 'EIO', join(root, 'streams', 's'));
    await expect(reopened.updateStream({ name: 's', maxRecordSize: 4096 })).rejects.toBeInstanceOf(
      MetadataWriteError,
    );
    reopened = await reopenAfterPowerLoss(root, fs);
    expect(reopened.describeStream('s').definition.maxRecordSize).toBe(1024);

    // A replace that returned is durable.
    await reopened.updateStream({ name: 's', maxRecordSize: 4096 });
    reopened = await reopenAfterPowerLoss(root, fs);
    expect(reopened.describeStream('s').definition.maxRecordSize).toBe(4096);
    expect(await readAll(reopened, 's')).toEqual(['a']);
    await reopened.close();
  });

  it('leaves no stream behind when its stream.json cannot be written, and creates it once there is room', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await open(root, fs);
    fs.freeBytes = 0;
    const failed = await store.createStream({ name: 't' }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(StorageFullError);
    expect(failed).toMatchObject({ path: join(root, 'streams', 't', 'stream.json') });
    expect(store.listStreams()).toEqual([]);
    expect(existsSync(join(root, 'streams', 't'))).toBe(false);
    fs.freeBytes = undefined;
    await store.createStream({ name: 't', groupCommitMillis: 0 });
    await store.append('t', bytes('x'));
    const reopened = await reopenAfterPowerLoss(root, fs);
    expect(reopened.listStreams()).toEqual(['t']);
    expect(await readAll(reopened, 't')).toEqual(['x']);
    await reopened.close();
  });

  it('removes a stream directory a crash left without stream.json, and refuses one that holds data', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await open(root, fs);
    await store.createStream({ name: 'kept', groupCommitMillis: 0 });
    await store.append('kept', bytes('k'));
    await store.close();
    // A create that died between its directory's rename and its definition.
    await mkdir(join(root, 'streams', 'half', 'segments'), { recursive: true });
    await mkdir(join(root, 'streams', 'half', 'consumers'));
    const reopened = await open(root, fs);
    expect(reopened.listStreams()).toEqual(['kept']);
    expect(existsSync(join(root, 'streams', 'half'))).toBe(false);
    await reopened.close();
    // stream.json lost while segments remain: a named error, nothing deleted.
    fs.powerLoss();
    const segments = fs.openDir(join(root, 'streams', 'kept', 'segments'));
    expect((await segments.list()).length).toBeGreaterThan(0);
    await fs.openDir(join(root, 'streams', 'kept')).remove('stream.json');
    await rm(join(root, 'LOCK'));
    await expect(open(root, fs)).rejects.toMatchObject({
      code: 'LOG_FORMAT',
      message: expect.stringContaining(
        `${join(root, 'streams', 'kept', 'stream.json')}: is missing while segments/`,
      ),
    });
    expect((await fs.openDir(join(root, 'streams', 'kept', 'segments')).list()).length).toBeGreaterThan(0);
  });
});
