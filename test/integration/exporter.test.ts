import { join } from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ExportStatus,
  KinesisExporter,
  type KinesisExporterOptions,
} from '../../device/export/index.ts';
import { LogStore } from '../../device/log/index.ts';
import { type KinesisLimits, startKinesisLimits } from '../../local/kinesis-limits/proxy.ts';
import { startKinesis } from '../../local/servers/kinesis.ts';
import type { RunningServer } from '../../local/servers/runtime.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';
import { decodeRecord, encodeRecord } from '../../shared/contract/index.ts';
import { DEFAULT_MAX_RECORD_BYTES } from '../../shared/kinesis/limits.ts';
import { createActiveStream, userRecordsIn } from '../helpers/kinesis-stream.ts';
import { telemetryRecord, transactionRecord } from '../helpers/records.ts';
import { useTempDir } from '../helpers/temp-dir.ts';
import { until } from '../helpers/until.ts';

let kinesis: RunningServer;
let limits: KinesisLimits;
let clients: AwsClients;
let client: KinesisClient;
const tmp = useTempDir('tributary-exporter-');
let store: LogStore;

/** Small backoffs so a fault-heavy run stays short; the policies are the production ones otherwise. */
const FAST: Partial<KinesisExporterOptions> = {
  retry: { baseMillis: 20, capMillis: 200 },
  offline: { baseMillis: 50, capMillis: 400 },
  requestTimeoutMillis: 10_000,
  refreshIntervalMillis: 100,
};

interface Arrived {
  id: string;
  key: string;
  shardId: string;
  hex: string;
}

/** Everything in the stream, shard by shard in Kinesis order, user records unpacked. */
async function readBack(stream: string): Promise<Arrived[]> {
  return (await userRecordsIn(client, stream)).map((user) => {
    const decoded = decodeRecord(user.data);
    expect(user.partitionKey).toBe(decoded.partition_key);
    return {
      id: decoded.id,
      key: decoded.partition_key,
      shardId: user.shardId,
      hex: Buffer.from(user.data).toString('hex'),
    };
  });
}

/** Appends contract records with keys spread over `keys` devices/cards; returns them in log order. */
async function appendRecords(
  stream: string,
  count: number,
  keys: number,
): Promise<{ id: string; key: string; hex: string }[]> {
  const written: { id: string; key: string; hex: string }[] = [];
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const record =
      i % 3 === 0
        ? transactionRecord({ partition_key: `card-${i % keys}` })
        : telemetryRecord({ device_id: `sensor-${i % keys}`, partition_key: `sensor-${i % keys}` });
    const payload = encodeRecord(record);
    payloads.push(payload);
    written.push({ id: record.id, key: record.partition_key, hex: Buffer.from(payload).toString('hex') });
  }
  await store.appendMany(stream, payloads);
  return written;
}

/** Polls the exporter's status until `done` holds; the test timeout bounds it. */
function statusUntil(
  exporter: KinesisExporter,
  stream: string,
  done: (s: ExportStatus) => boolean,
): Promise<ExportStatus> {
  return until(() => exporter.statusOf(stream), {
    what: `the ${stream} export's status`,
    done,
    timeoutMs: Number.POSITIVE_INFINITY,
    intervalMs: 20,
  });
}

/** Per key, the ids in the order they arrived must be the order they were appended. */
function expectKeyOrder(arrived: readonly Arrived[], written: readonly { id: string; key: string }[]): void {
  const want = new Map<string, string[]>();
  for (const w of written) want.set(w.key, [...(want.get(w.key) ?? []), w.id]);
  const got = new Map<string, string[]>();
  for (const a of arrived) got.set(a.key, [...(got.get(a.key) ?? []), a.id]);
  expect(got).toEqual(want);
}

beforeAll(async () => {
  kinesis = await startKinesis();
  limits = await startKinesisLimits({ upstream: kinesis.endpoint });
  clients = createAwsClients({ kind: 'local', region: 'us-east-1', endpoints: { kinesis: limits.endpoint } });
  client = clients.kinesis();
  store = await LogStore.open(join(tmp.path, 'log'));
});

afterAll(async () => {
  await store?.close();
  clients?.destroy();
  await limits?.stop();
  await kinesis?.stop();
});

describe('KinesisExporter against the local Kinesis behind the limits proxy', () => {
  it('delivers every record once, in key order, through throttling storms, 500s and an outage', async () => {
    await createActiveStream(client, 'export-faults', 2);
    await store.createStream({ name: 'faults' });
    const written = await appendRecords('faults', 4000, 40);
    // A record the stream can never take: 1 MiB of data plus its key is over the record limit.
    await store.append('faults', Buffer.alloc(DEFAULT_MAX_RECORD_BYTES, 0x20));
    limits.injectFaults({ throttleFraction: 0.3, failRequestFraction: 0.15, seed: 11 });

    const exporter = await KinesisExporter.start({
      store,
      kinesis: client,
      exports: [{ logStream: 'faults', kinesisStreamName: 'export-faults' }],
      defaultPartitionKey: 'device-7',
      ...FAST,
    });
    await exporter.whenExported('faults', 1000);

    // Outage: refuse every put (none reaches the emulator), then take the endpoint away entirely.
    limits.injectFaults({ failRequestFraction: 1 });
    await statusUntil(exporter, 'faults', (s) => s.inFlightRequests === 0);
    const port = limits.port;
    await limits.stop();
    written.push(...(await appendRecords('faults', 2000, 40)));
    const offline = await statusUntil(exporter, 'faults', (s) => s.lastError?.code === 'ECONNREFUSED');
    expect(offline.backlog.records).toBeGreaterThanOrEqual(2000);
    limits = await startKinesisLimits({ upstream: kinesis.endpoint, port });
    limits.injectFaults({ throttleFraction: 0.3, failRequestFraction: 0.15, seed: 12 });

    const last = store.describeStream('faults').nextSequence - 1;
    await exporter.whenExported('faults', last);
    const status = exporter.statusOf('faults');
    await exporter.stop();
    limits.injectFaults({});

    expect(store.committed('faults', 'kinesis.export-faults')).toBe(last);
    expect(status.backlog).toEqual({ records: 0, bytes: 0 });
    expect(status.counters.throttled).toBeGreaterThan(0);
    expect(status.counters.failedRequests).toBeGreaterThan(0);
    expect(status.counters.deadLettered).toBe(1);

    const arrived = await readBack('export-faults');
    const ids = arrived.map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set(written.map((w) => w.id)));
    const bytes = new Map(written.map((w) => [w.id, w.hex]));
    for (const a of arrived) expect(a.hex).toBe(bytes.get(a.id));
    expectKeyOrder(arrived, written);

    const [letter] = await store.read('faults.dead-letter');
    const parsed = JSON.parse(Buffer.from(letter?.payload ?? []).toString('utf8')) as Record<string, unknown>;
    expect(parsed).toMatchObject({ source_stream: 'faults', source_sequence: 4000, reason: 'TOO_LARGE' });
  }, 180_000);

  it('resumes after the checkpoint on restart; only unacknowledged acceptances repeat, byte for byte', async () => {
    await createActiveStream(client, 'export-restart', 1);
    await store.createStream({ name: 'restart' });
    const written = await appendRecords('restart', 3000, 60);
    limits.injectFaults({ throttleFraction: 0.3, failRequestFraction: 0.1, seed: 5 });
    const last = 2999;
    const options = {
      store,
      kinesis: client,
      // Without aggregation: one record per key in flight, so the drain takes many requests.
      exports: [{ logStream: 'restart', kinesisStreamName: 'export-restart', aggregation: false }],
      // A small read buffer: the log, not memory, holds the backlog, and a stop lands mid-drain.
      maxBufferedBytes: 64 * 1024,
      ...FAST,
    };

    // A graceful stop with a drain: what was read gets accepted and checkpointed, nothing repeats.
    const first = await KinesisExporter.start(options);
    await first.whenExported('restart', 300);
    await first.stop({ drainMillis: 60_000 });
    const drained = store.committed('restart', 'kinesis.export-restart') ?? -1;
    expect(drained).toBeGreaterThanOrEqual(300);
    expect(drained).toBeLessThan(last);
    const afterDrain = await readBack('export-restart');
    expect(afterDrain.map((a) => a.id)).toEqual(
      expect.arrayContaining(written.slice(0, drained + 1).map((w) => w.id)),
    );
    expect(new Set(afterDrain.map((a) => a.id)).size).toBe(afterDrain.length);

    // A stop without drain: records accepted past the checkpoint will be sent again after restart.
    const second = await KinesisExporter.start(options);
    await second.whenExported('restart', 1500);
    await second.stop();
    const stopped = store.committed('restart', 'kinesis.export-restart') ?? -1;

    // A crash after acceptance but before the checkpoint write: model it by rewinding the checkpoint.
    const rewound = stopped - 200;
    await store.commit('restart', 'kinesis.export-restart', rewound);
    const third = await KinesisExporter.start(options);
    await third.whenExported('restart', last);
    await third.stop();
    limits.injectFaults({});
    expect(store.committed('restart', 'kinesis.export-restart')).toBe(last);

    const arrived = await readBack('export-restart');
    expect(new Set(arrived.map((a) => a.id))).toEqual(new Set(written.map((w) => w.id)));
    const counts = new Map<string, number>();
    for (const a of arrived) counts.set(a.id, (counts.get(a.id) ?? 0) + 1);
    const repeated = written.flatMap((w, sequence) => ((counts.get(w.id) ?? 0) > 1 ? [sequence] : []));
    // Repeats: every record between the rewound and the real checkpoint, and only records past the rewound one.
    expect(repeated).toEqual(expect.arrayContaining(Array.from({ length: 200 }, (_, i) => rewound + 1 + i)));
    expect(Math.min(...repeated)).toBe(rewound + 1);
    const bytes = new Map(written.map((w) => [w.id, w.hex]));
    for (const a of arrived) expect(a.hex).toBe(bytes.get(a.id));
    // Per key, first arrivals keep the append order.
    const seen = new Set<string>();
    const firstArrivals = arrived.filter((a) => !seen.has(a.id) && seen.add(a.id));
    expectKeyOrder(firstArrivals, written);
  }, 180_000);

  it('starts while Kinesis is unreachable and exports once it is back, with no append to wake it', async () => {
    await createActiveStream(client, 'export-offline-start', 1);
    await store.createStream({ name: 'offline-start' });
    const written = await appendRecords('offline-start', 500, 10);
    const port = limits.port;
    await limits.stop();
    const exporter = await KinesisExporter.start({
      store,
      kinesis: client,
      exports: [{ logStream: 'offline-start', kinesisStreamName: 'export-offline-start' }],
      ...FAST,
    });
    // The stream description failed and backed off; nothing else happens on the device meanwhile.
    await statusUntil(exporter, 'offline-start', (s) => s.lastError?.code === 'ECONNREFUSED');
    limits = await startKinesisLimits({ upstream: kinesis.endpoint, port });
    await exporter.whenExported('offline-start', written.length - 1);
    await exporter.stop();
    const arrived = await readBack('export-offline-start');
    expect(new Set(arrived.map((a) => a.id))).toEqual(new Set(written.map((w) => w.id)));
  }, 180_000);
});
