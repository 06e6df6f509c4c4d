/**
 * Lake figures: Parquet encode rate and size against gzipped JSON Lines of the same records (what a
 * delivery without format conversion would store), then local end-to-end delivery throughput
 * (local Kinesis → local Firehose → Parquet in local S3).
 * Run: node --import tsx bench/lake.bench.ts [rows] [deliveryRecords]
 * Encode figures are the best of a few runs after a warm-up, per wall second and per CPU second
 * (CPU time of the whole process, so it includes GC threads: a conservative "one core" figure).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { uuidv7 } from 'uuidv7';
import { startLocalCloud } from '../local/cloud.ts';
import { startLakeDelivery } from '../local/delivery/delivery.ts';
import { encodeRecord, SCHEMA_VERSION, type TributaryRecord } from '../shared/contract/index.ts';
import { ParquetEncoder } from '../shared/lake/parquet.ts';

const ROWS = Number(process.argv[2] ?? 100_000);
const DELIVERY_RECORDS = Number(process.argv[3] ?? 20_000);
const RUNS = 5;

/** Deterministic, varied records: 1000 devices, 5 metrics, 300 merchants, real-looking amounts. */
function records(count: number): TributaryRecord[] {
  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const metrics = [
    ['temperature', 'Cel'],
    ['humidity', '%'],
    ['cpu.load', '%'],
    ['pressure', 'kPa'],
    ['battery', '%'],
  ] as const;
  const start = Date.UTC(2026, 10, 23);
  return Array.from({ length: count }, (_, i): TributaryRecord => {
    const event_time = start + i * 37;
    if (i % 3 === 2) {
      const card = `tok_${Math.floor(random() * 50_000)
        .toString(36)
        .padStart(6, '0')}`;
      return {
        id: uuidv7(),
        schema_version: SCHEMA_VERSION,
        type: 'transaction',
        device_id: `terminal-${i % 400}`,
        partition_key: card,
        event_time,
        payload: {
          card_token: card,
          merchant_id: `merchant-${Math.floor(random() * 300)}`,
          merchant_category: '5411',
          amount_minor: Math.floor(random() * 20_000),
          currency: random() < 0.8 ? 'EUR' : 'USD',
          location: { lat: 48 + random(), lon: 2 + random(), country: 'FR' },
          channel: random() < 0.5 ? 'contactless' : 'online',
        },
      };
    }
    const [metric, unit] = metrics[i % metrics.length] as (typeof metrics)[number];
    const device = `sensor-${i % 1000}`;
    return {
      id: uuidv7(),
      schema_version: SCHEMA_VERSION,
      type: 'telemetry',
      device_id: device,
      partition_key: device,
      event_time,
      payload: { metric, value: Math.round(random() * 10_000) / 100, unit, tags: { site: `site-${i % 20}` } },
    };
  });
}

function best(run: () => number): { wallMs: number; cpuMs: number; bytes: number } {
  run();
  let result = { wallMs: Number.POSITIVE_INFINITY, cpuMs: Number.POSITIVE_INFINITY, bytes: 0 };
  for (let i = 0; i < RUNS; i++) {
    const cpu = process.cpuUsage();
    const began = performance.now();
    const bytes = run();
    const wallMs = performance.now() - began;
    const used = process.cpuUsage(cpu);
    const cpuMs = (used.user + used.system) / 1000;
    if (wallMs < result.wallMs) result = { wallMs, cpuMs, bytes };
  }
  return result;
}

const rows = records(ROWS);
const encoder = new ParquetEncoder();
const parquet = best(() => encoder.encode(rows).byteLength);
const jsonl = best(() => gzipSync(rows.map((r) => JSON.stringify(r)).join('\n')).byteLength);
const rate = (ms: number) => `${Math.round((ROWS / ms) * 1000).toLocaleString('en-US')} rows/s`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;

console.log(
  `encode ${ROWS.toLocaleString('en-US')} records (2/3 telemetry, 1/3 transactions), best of ${RUNS}:`,
);
console.log(
  `  gzipped JSON Lines (baseline)  ${rate(jsonl.wallMs).padStart(16)} wall  ${rate(jsonl.cpuMs).padStart(16)} cpu  ${mib(jsonl.bytes)}`,
);
console.log(
  `  Parquet SNAPPY (ours)          ${rate(parquet.wallMs).padStart(16)} wall  ${rate(parquet.cpuMs).padStart(16)} cpu  ${mib(parquet.bytes)} (${((parquet.bytes / jsonl.bytes) * 100).toFixed(0)}% of gzipped JSON Lines)`,
);

// End to end: records already in the local stream, delivery started cold, until all are in S3.
const dataDir = await mkdtemp(join(tmpdir(), 'lake-bench-'));
const cloud = await startLocalCloud({ dataDir: join(dataDir, 'cloud'), fresh: true, enforceLimits: false });
try {
  const stream = cloud.stack.resources.find((r) => r.kind === 'kinesis-stream');
  const input = records(DELIVERY_RECORDS);
  for (let i = 0; i < input.length; i += 500) {
    await cloud.clients.kinesis().send(
      new PutRecordsCommand({
        StreamName: stream?.name,
        Records: input
          .slice(i, i + 500)
          .map((r) => ({ PartitionKey: r.partition_key, Data: encodeRecord(r) })),
      }),
    );
  }
  const began = performance.now();
  const delivery = await startLakeDelivery({
    stack: cloud.stack,
    clients: cloud.clients,
    dataDir: join(dataDir, 'checkpoints'),
    // 5 MiB / 1 s: small enough to flush several times during the run, as Firehose would under load.
    buffering: { sizeBytes: 5 * 1024 * 1024, intervalMs: 1000 },
    pollIntervalMs: 20,
  });
  while (delivery.stats().delivered < DELIVERY_RECORDS) await new Promise((r) => setTimeout(r, 20));
  const ms = performance.now() - began;
  await delivery.stop();
  const stats = delivery.stats();
  console.log(
    `local delivery, ${DELIVERY_RECORDS.toLocaleString('en-US')} records from 2 shards (GetRecords → deaggregate → validate → Parquet → PutObject):`,
  );
  console.log(
    `  ${Math.round((DELIVERY_RECORDS / ms) * 1000).toLocaleString('en-US')} records/s, ${stats.objects} objects, ${mib(stats.bytesWritten)} written in ${(ms / 1000).toFixed(2)} s (includes the 1 s buffer interval)`,
  );
} finally {
  await cloud.stop();
  await rm(dataDir, { recursive: true, force: true });
}
