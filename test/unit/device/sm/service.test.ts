import { access, mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KinesisApi } from '../../../../device/export/index.ts';
import { LogStore } from '../../../../device/log/index.ts';
import type { MessageStreamDefinition } from '../../../../device/sm/model.ts';
import { s3TaskStateDir } from '../../../../device/sm/s3-task.ts';
import {
  REGISTRY_FILE,
  type StreamManagerHost,
  StreamManagerService,
} from '../../../../device/sm/service.ts';
import { ShardMap } from '../../../../shared/kinesis/hash.ts';
import { useTempDirs } from '../../../helpers/temp-dir.ts';

/** Kinesis out of reach: the exporter backs off (it creates its dead-letter stream first). */
const offline: KinesisApi = {
  putRecords: () => Promise.reject(new Error('offline')),
  listShards: () => Promise.reject(new Error('offline')),
  maxRecordBytes: () => Promise.reject(new Error('offline')),
  shardIteratorAfter: () => Promise.reject(new Error('offline')),
  getRecords: () => Promise.reject(new Error('offline')),
};

/** Multipart uploads aborted through stalledS3. */
const abortedUploads: unknown[] = [];

/** An S3 whose multipart uploads start and whose parts never finish (until the executor stops). */
const stalledS3 = {
  send(command: { input: { Key?: string } }, options?: { abortSignal?: AbortSignal }) {
    if (command.constructor.name === 'CreateMultipartUploadCommand')
      return Promise.resolve({ UploadId: `up-${command.input.Key}` });
    if (command.constructor.name === 'AbortMultipartUploadCommand') {
      abortedUploads.push(command.input);
      return Promise.resolve({});
    }
    return new Promise((_, reject) =>
      options?.abortSignal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
    );
  },
} as unknown as S3Client;

const tempDir = useTempDirs('tributary-sm-service-');
let root: string;
let store: LogStore;
let service: StreamManagerService;

function hostOf(overrides: Partial<StreamManagerHost> = {}): StreamManagerHost {
  return {
    store,
    storeRoot: root,
    configured: () => undefined,
    appendRecord: () => Promise.reject(new Error('no configured streams')),
    configuredExport: () => undefined,
    s3: async () => stalledS3,
    sitewise: () => Promise.reject(new Error('no SiteWise')),
    kinesis: async () => offline,
    exporterLimits: { maxBufferedBytes: 1024 * 1024, maxInFlightRequests: 1 },
    bandwidth: undefined,
    deadLetterStreams: () => [],
    log: () => {},
    ...overrides,
  };
}

const kinesisStream = (name: string): MessageStreamDefinition => ({
  name,
  strategyOnFull: 0,
  exportDefinition: { kinesis: [{ identifier: `k-${name}`, kinesisStreamName: 'out' }] },
});

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

beforeEach(async () => {
  root = await tempDir();
  store = await LogStore.open(root);
});

afterEach(async () => {
  await service?.stop();
  await store.close();
});

describe('StreamManagerService.delete', () => {
  it("deletes the exporter's dead-letter stream with the stream, so ListStreams does not show it as the user's", async () => {
    service = await StreamManagerService.start(hostOf());
    await service.create(kinesisStream('s'));
    expect(store.listStreams()).toEqual(['s', 's.dead-letter']);
    expect(service.list()).toEqual(['s']);
    await service.delete('s');
    expect(store.listStreams()).toEqual([]);
    expect(service.list()).toEqual([]);
  });

  it('keeps a `<name>.dead-letter` stream that is the user’s or the config’s', async () => {
    // Created through this door before the export made it.
    service = await StreamManagerService.start(hostOf());
    await service.create({ name: 'a.dead-letter', strategyOnFull: 0 });
    await service.create(kinesisStream('a'));
    await service.delete('a');
    expect(service.list()).toEqual(['a.dead-letter']);
    await service.stop();
    // A config export's dead-letter stream.
    await store.createStream({ name: 'b.dead-letter' });
    service = await StreamManagerService.start(hostOf({ deadLetterStreams: () => ['b.dead-letter'] }));
    await service.create(kinesisStream('b'));
    await service.delete('b');
    expect(store.listStreams()).toEqual(['a.dead-letter', 'b.dead-letter']);
  });

  it("removes and aborts the stream's S3 uploads in progress, not those of another stream with the same executor identifier", async () => {
    service = await StreamManagerService.start(hostOf());
    const file = join(root, 'big.bin');
    await writeFile(file, Buffer.alloc(6 * 1024 * 1024));
    for (const name of ['x', 'y']) {
      await service.create({
        name,
        strategyOnFull: 0,
        exportDefinition: { s3TaskExecutor: [{ identifier: 'S3TaskExecutor' }] },
      });
      await service.append(
        name,
        Buffer.from(JSON.stringify({ inputUrl: `file://${file}`, bucket: 'sm-uploads', key: name })),
      );
    }
    const stateOf = (name: string) => s3TaskStateDir(root, name);
    // Both uploads started (their state is saved before the first part is sent).
    while (!(await exists(stateOf('x'))) || !(await exists(stateOf('y')))) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    abortedUploads.length = 0;
    await service.delete('x');
    expect(await exists(stateOf('x'))).toBe(false);
    expect(await exists(stateOf('y'))).toBe(true);
    // Aborted in S3 too, so its parts are not kept (and billed); y's upload goes on.
    expect(abortedUploads).toEqual([{ Bucket: 'sm-uploads', Key: 'x', UploadId: 'up-x' }]);
  });
});

describe('a stream manager Kinesis export with batchIntervalMillis', () => {
  it('holds messages until the oldest has waited the interval (60 s, the SDK minimum) on the exporter clock', async () => {
    const requests: number[][] = [];
    const kinesis: KinesisApi = {
      listShards: async () =>
        ShardMap.fromShards([
          {
            ShardId: 'shardId-0',
            HashKeyRange: { StartingHashKey: '0', EndingHashKey: String(2n ** 128n - 1n) },
          },
        ]),
      maxRecordBytes: async () => undefined,
      shardIteratorAfter: () => Promise.reject(new Error('no reads here')),
      getRecords: () => Promise.reject(new Error('no reads here')),
      putRecords: async (_stream, entries) => {
        requests.push(entries.flatMap((e) => e.records.map((r) => r.sequence)));
        return entries.map((_, i) => ({ ok: true, shardId: 'shardId-0', sequenceNumber: String(i) }));
      },
    };
    const t0 = Date.now();
    let now = t0 + 59_999;
    service = await StreamManagerService.start(hostOf({ kinesis: async () => kinesis, clock: () => now }));
    await service.create({
      name: 'paced',
      strategyOnFull: 0,
      exportDefinition: {
        kinesis: [{ identifier: 'paced-export', kinesisStreamName: 'out', batchIntervalMillis: 60_000 }],
      },
    });
    // Appended at t0 or later: by the exporter's clock the oldest has waited less than 60 s.
    for (let i = 0; i < 3; i++) await service.append('paced', Buffer.from(`m${i}`));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(requests).toEqual([]);
    // Past the interval, everything held goes out (the exporter looks again on its next wake-up: its
    // timer, or the append that follows). Two minutes on, so that m3 is past it too: the timer can
    // fire while m3 is being appended, sending m0..m2 first, and the frozen clock would hold m3 forever.
    now = Date.now() + 120_000;
    await service.append('paced', Buffer.from('m3'));
    while (requests.flat().length < 4) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(requests[0]?.slice(0, 3)).toEqual([0, 1, 2]);
    expect(requests.flat()).toEqual([0, 1, 2, 3]);
  });
});

describe('create and update when stream-manager.json cannot be written', () => {
  /** A directory where the registry goes: the write's rename fails (whoever runs the test). */
  async function blockRegistry(): Promise<() => Promise<void>> {
    const path = join(root, REGISTRY_FILE);
    await rm(path, { force: true });
    await mkdir(path);
    return () => rmdir(path);
  }

  it('create leaves no stream behind (it would come back after a restart without its definition)', async () => {
    service = await StreamManagerService.start(hostOf());
    const unblock = await blockRegistry();
    await expect(service.create(kinesisStream('s'))).rejects.toMatchObject({ code: 'SM_FAILURE' });
    expect(store.listStreams()).toEqual([]);
    expect(service.has('s')).toBe(false);
    // The registry's temp file went with the failed rename.
    expect((await readdir(root)).filter((name) => name.startsWith(`.${REGISTRY_FILE}.`))).toEqual([]);
    await unblock();
    await service.create(kinesisStream('s'));
    expect(service.list()).toEqual(['s']);
  });

  it('update leaves the stream as it was: log definition, registry entry, running exports', async () => {
    service = await StreamManagerService.start(hostOf());
    await service.create({ ...kinesisStream('s'), maxSize: 64 * 1024 * 1024 });
    const before = service.describe('s');
    const unblock = await blockRegistry();
    await expect(
      service.update({ name: 's', strategyOnFull: 1, maxSize: 32 * 1024 * 1024 }),
    ).rejects.toMatchObject({ code: 'SM_FAILURE' });
    const after = service.describe('s');
    expect(after.definition).toEqual(before.definition);
    expect(after.exportStatuses?.map((e) => e.exportConfigIdentifier)).toEqual(['k-s']);
    expect(store.describeStream('s').definition).toMatchObject({
      strategyOnFull: 'RejectNewData',
      maxSize: 64 * 1024 * 1024,
    });
    // The registry written next (another create) holds the old definition: a restart finds it.
    await unblock();
    await service.create({ name: 't', strategyOnFull: 0 });
    await service.stop();
    service = await StreamManagerService.start(hostOf());
    expect(service.describe('s').definition).toEqual(before.definition);
  });
});
