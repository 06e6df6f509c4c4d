import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE, segmentName } from '../../../../device/log/format.ts';
import {
  CorruptRecordError,
  InvalidSequenceError,
  LogClosedError,
  LogStore,
  type LogStoreOptions,
  parseStreamDefinition,
  RecordTooLargeError,
  StoreLockedError,
  StreamExistsError,
  StreamFullError,
  StreamNotFoundError,
} from '../../../../device/log/index.ts';
import { ConfigError } from '../../../../shared/errors.ts';
import { useTempDirs } from '../../../helpers/temp-dir.ts';

// Registered before the hook that closes the stores, so the stores close before their roots go.
const freshRoot = useTempDirs('tributary-log-');
const open: LogStore[] = [];

async function openStore(root: string, options: LogStoreOptions = {}): Promise<LogStore> {
  const store = await LogStore.open(root, { retentionIntervalMillis: 0, ...options });
  open.push(store);
  return store;
}

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

const bytes = (text: string) => Buffer.from(text);
const texts = (records: { payload: Uint8Array }[]) => records.map((r) => Buffer.from(r.payload).toString());
/** Frame size of a record with an n-byte payload. */
const frame = (n: number) => FRAME_HEADER_SIZE + n;

describe('stream definitions', () => {
  it('fills Greengrass-like defaults', () => {
    expect(parseStreamDefinition({ name: 'telemetry' })).toEqual({
      name: 'telemetry',
      maxSize: 256 * 1024 * 1024,
      segmentSize: 16 * 1024 * 1024,
      strategyOnFull: 'RejectNewData',
      persistence: 'File',
      flushOnWrite: false,
      groupCommitMillis: 5,
      maxRecordSize: 1024 * 1024,
    });
  });

  it.each([
    [{ name: 'bad/name' }, 'name', 'bad/name'],
    [{ name: '..' }, 'name', '..'],
    [{ name: 'a', maxSize: 10 }, 'maxSize', 10],
    [{ name: 'a', segmentSize: 4096, maxSize: 2048 }, 'segmentSize', 4096],
    [{ name: 'a', strategyOnFull: 'Drop' }, 'strategyOnFull', 'Drop'],
    [{ name: 'a', segmentSize: 1024, maxRecordSize: 1000 }, 'maxRecordSize', 1000],
    [{ name: 'a', exportTo: 'kinesis' }, 'exportTo', 'kinesis'],
  ])('rejects %j with a ConfigError naming %s', (input, path, value) => {
    let error: unknown;
    try {
      parseStreamDefinition(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', path, value });
  });
});

describe('LogStore', () => {
  it('creates, lists, describes, updates and deletes streams', async () => {
    const store = await openStore(await freshRoot());
    await store.createStream({ name: 'b stream, v1.0' });
    await store.createStream({ name: 'a' });
    await expect(store.createStream({ name: 'a' })).rejects.toBeInstanceOf(StreamExistsError);
    expect(store.listStreams()).toEqual(['a', 'b stream, v1.0']);
    expect(store.describeStream('a')).toMatchObject({
      firstSequence: 0,
      nextSequence: 0,
      records: 0,
      segments: 1,
    });
    await store.updateStream({ name: 'a', maxSize: 1024 * 1024, strategyOnFull: 'OverwriteOldestData' });
    expect(store.describeStream('a').definition).toMatchObject({
      maxSize: 1024 * 1024,
      strategyOnFull: 'OverwriteOldestData',
    });
    await expect(store.updateStream({ name: 'a', persistence: 'Memory' })).rejects.toMatchObject({
      path: 'persistence',
    });
    await store.deleteStream('a');
    expect(store.listStreams()).toEqual(['b stream, v1.0']);
    expect(() => store.describeStream('a')).toThrow(StreamNotFoundError);
    await expect(store.append('a', bytes('x'))).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it('reads back appended records in order, bounded by maxRecords and maxBytes', async () => {
    const store = await openStore(await freshRoot());
    await store.createStream({ name: 's', segmentSize: 1024 });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => store.append('s', bytes(`r${i}`))),
    );
    expect(results.map((r) => r.sequence)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(store.describeStream('s').segments).toBeGreaterThan(3);
    expect(texts(await store.read('s', { fromSequence: 150, maxRecords: 3 }))).toEqual([
      'r150',
      'r151',
      'r152',
    ]);
    // maxBytes counts payload bytes; at least one record always comes back.
    expect(texts(await store.read('s', { fromSequence: 10, maxBytes: 7 }))).toEqual(['r10', 'r11']);
    expect(texts(await store.read('s', { fromSequence: 10, maxBytes: 1 }))).toEqual(['r10']);
    expect(await store.read('s', { fromSequence: 200 })).toEqual([]);
    const all = [];
    for await (const record of store.records('s', { maxRecords: 7 })) all.push(record.sequence);
    expect(all).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const many = await store.appendMany('s', [bytes('m0'), bytes('m1')]);
    expect(many).toEqual({ firstSequence: 200, count: 2, droppedRecords: 0 });
  });

  it('writes every byte intact while write slabs are reused under queued group commits', async () => {
    const root = await freshRoot();
    let store = await openStore(root);
    // Batches pile up behind each 20 ms group commit: slabs fill and are handed back while later
    // batches still wait, which is when reusing one too early would overwrite unwritten frames.
    await store.createStream({ name: 's', groupCommitMillis: 20, segmentSize: 1024 * 1024 });
    const payload = (i: number) => Buffer.alloc(700 + (i % 300), `record ${i};`);
    const batches = Array.from({ length: 60 }, (_, b) =>
      Array.from({ length: 50 }, (_, i) => payload(b * 50 + i)),
    );
    const results = await Promise.all(batches.map((batch) => store.appendMany('s', batch)));
    expect(results.map((r) => r.firstSequence)).toEqual(batches.map((_, b) => b * 50));
    const expected = batches.flat();
    const check = async () => {
      const read = [];
      for await (const record of store.records('s', { maxRecords: 500 })) read.push(record.payload);
      expect(read.length).toBe(expected.length);
      const differing = read.findIndex((p, i) => !Buffer.from(p).equals(expected[i] as Buffer));
      expect(differing).toBe(-1);
    };
    await check();
    await store.close();
    store = await openStore(root);
    await check();
  });

  it('keeps sequences, records and checkpoints across a restart', async () => {
    const root = await freshRoot();
    let store = await openStore(root);
    await store.createStream({ name: 's', segmentSize: 1024, flushOnWrite: true });
    for (let i = 0; i < 60; i++) await store.append('s', bytes(`r${i}`));
    await store.commit('s', 'exporter', 41);
    await expect(store.commit('s', 'exporter', 60)).rejects.toBeInstanceOf(InvalidSequenceError);
    await expect(store.commit('s', '.hidden', 1)).rejects.toMatchObject({ path: 'consumer' });
    await store.close();
    await expect(store.append('s', bytes('late'))).rejects.toBeInstanceOf(LogClosedError);

    store = await openStore(root);
    expect(store.committed('s', 'exporter')).toBe(41);
    expect(store.committed('s', 'other')).toBeUndefined();
    expect(texts(await store.read('s', { fromSequence: 58 }))).toEqual(['r58', 'r59']);
    expect((await store.append('s', bytes('r60'))).sequence).toBe(60);
    const files = await readdir(join(root, 'streams', 's', 'consumers'));
    expect(files).toEqual(['exporter.ckpt']);
  });

  it('refuses a second open of the same directory', async () => {
    const root = await freshRoot();
    await openStore(root);
    await expect(LogStore.open(root)).rejects.toBeInstanceOf(StoreLockedError);
  });

  it('rejects oversize records and, with RejectNewData, appends past maxSize', async () => {
    const store = await openStore(await freshRoot());
    await store.createStream({ name: 's', maxSize: 4096, segmentSize: 2048, maxRecordSize: 100 });
    await expect(store.append('s', new Uint8Array(101))).rejects.toBeInstanceOf(RecordTooLargeError);
    let full: unknown;
    for (let i = 0; i < 100 && full === undefined; i++) {
      await store.append('s', new Uint8Array(100)).catch((error: unknown) => {
        full = error;
      });
    }
    expect(full).toBeInstanceOf(StreamFullError);
    expect(full).toMatchObject({ code: 'STREAM_FULL', retryable: true });
    const before = store.describeStream('s');
    expect(before.bytes).toBeLessThanOrEqual(4096);
    // All or nothing: a batch that does not fit leaves the stream untouched.
    await expect(store.appendMany('s', [new Uint8Array(1), new Uint8Array(100)])).rejects.toBeInstanceOf(
      StreamFullError,
    );
    expect(store.describeStream('s').nextSequence).toBe(before.nextSequence);
    // Freeing whole segments makes room again.
    expect(await store.trim('s', before.nextSequence)).toBeGreaterThan(0);
    expect((await store.append('s', new Uint8Array(100))).sequence).toBe(before.nextSequence);
  });

  it('drops whole oldest segments with OverwriteOldestData and reports how many records went', async () => {
    const root = await freshRoot();
    const store = await openStore(root);
    const payload = new Uint8Array(100);
    await store.createStream({
      name: 's',
      maxSize: 4096,
      segmentSize: 1024,
      strategyOnFull: 'OverwriteOldestData',
    });
    const perSegment = Math.floor((1024 - SEGMENT_HEADER_SIZE) / frame(100));
    let dropped = 0;
    for (let i = 0; i < 200; i++) dropped += (await store.append('s', payload)).droppedRecords;
    const d = store.describeStream('s');
    expect(d.bytes).toBeLessThanOrEqual(4096);
    expect(dropped).toBe(d.droppedRecords);
    expect(dropped % perSegment).toBe(0);
    expect(d.firstSequence).toBe(dropped);
    expect(d.records).toBe(200 - dropped);
    const records = await store.read('s', { fromSequence: 0 });
    expect(records[0]?.sequence).toBe(d.firstSequence);
    expect(records).toHaveLength(d.records);
    const segments = await readdir(join(root, 'streams', 's', 'segments'));
    expect(segments).toHaveLength(d.segments);
    expect(segments[0]).toBe(segmentName(d.firstSequence));
  });

  it('deletes whole segments whose newest record outlived timeToLiveMillis', async () => {
    let now = 1_700_000_000_000;
    const root = await freshRoot();
    let store = await openStore(root, { clock: () => now });
    await store.createStream({ name: 's', segmentSize: 1024, timeToLiveMillis: 60_000 });
    const payload = new Uint8Array(100);
    for (let i = 0; i < 20; i++) await store.append('s', payload);
    const oldEnd = store.describeStream('s').nextSequence;
    now += 50_000;
    for (let i = 0; i < 20; i++) await store.append('s', payload);
    now += 20_000; // the first 20 are 70 s old, the next 20 only 20 s
    await store.close();

    store = await openStore(root, { clock: () => now });
    await store.enforceRetention();
    const d = store.describeStream('s');
    expect(d.expiredRecords).toBeGreaterThan(0);
    // Only whole segments go: the one holding both old and new records stays.
    expect(d.firstSequence).toBeLessThanOrEqual(oldEnd);
    expect(d.firstSequence).toBeGreaterThan(0);
    expect(d.nextSequence).toBe(40);

    now += 60_000; // everything expired: the active segment is rolled and dropped, numbering goes on
    await store.enforceRetention();
    expect(store.describeStream('s')).toMatchObject({
      firstSequence: 40,
      nextSequence: 40,
      records: 0,
      segments: 1,
    });
    expect(await store.read('s')).toEqual([]);
    expect((await store.append('s', payload)).sequence).toBe(40);
  });

  it('keeps Memory streams off disk and never reuses their sequences after a restart', async () => {
    const root = await freshRoot();
    let store = await openStore(root);
    await store.createStream({ name: 'm', persistence: 'Memory', segmentSize: 1024 });
    for (let i = 0; i < 50; i++) await store.append('m', bytes(`r${i}`));
    await store.commit('m', 'c', 10);
    expect(texts(await store.read('m', { fromSequence: 48 }))).toEqual(['r48', 'r49']);
    expect(store.describeStream('m').segments).toBeGreaterThan(1);
    expect(await readdir(join(root, 'streams', 'm', 'segments'))).toEqual([]);
    await store.close();

    store = await openStore(root);
    const d = store.describeStream('m');
    expect(d.records).toBe(0);
    expect(d.nextSequence).toBeGreaterThanOrEqual(50);
    expect(store.committed('m', 'c')).toBeUndefined();
    expect((await store.append('m', bytes('again'))).sequence).toBe(d.nextSequence);
  });

  it('waits for new records when following', async () => {
    const store = await openStore(await freshRoot());
    await store.createStream({ name: 's' });
    await store.append('s', bytes('first'));
    const seen: string[] = [];
    const controller = new AbortController();
    const follower = (async () => {
      for await (const record of store.records('s', { follow: true, signal: controller.signal })) {
        seen.push(Buffer.from(record.payload).toString());
        if (seen.length === 3) return;
      }
    })();
    await store.waitFor('s', 0);
    await store.append('s', bytes('second'));
    await store.append('s', bytes('third'));
    await follower;
    expect(seen).toEqual(['first', 'second', 'third']);
    const waiting = store.waitFor('s', 10, controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });

  it('refuses to return a corrupt record from a sealed segment', async () => {
    const root = await freshRoot();
    let store = await openStore(root);
    await store.createStream({ name: 's', segmentSize: 1024 });
    for (let i = 0; i < 100; i++) await store.append('s', bytes(`record-${i}`));
    await store.close();
    const file = join(root, 'streams', 's', 'segments', segmentName(0));
    const content = await readFile(file);
    const offset = SEGMENT_HEADER_SIZE + 2 * frame('record-0'.length) + FRAME_HEADER_SIZE;
    content[offset] = (content[offset] as number) ^ 1; // payload byte of sequence 2
    await writeFile(file, content);

    store = await openStore(root);
    // Segment 0 is sealed, so recovery did not touch it: the damage is found by the read's CRC check.
    expect(store.describeStream('s').segments).toBeGreaterThan(1);
    expect(texts(await store.read('s', { maxRecords: 2 }))).toEqual(['record-0', 'record-1']);
    const error = await store.read('s', { fromSequence: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptRecordError);
    expect(error).toMatchObject({ code: 'CORRUPT_RECORD', sequence: 2 });
    const resume = (error as CorruptRecordError).resumeSequence;
    expect((await store.read('s', { fromSequence: resume }))[0]?.sequence).toBe(resume);
  });
});
