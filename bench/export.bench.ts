/**
 * Device → Kinesis export into ONE shard behind the AWS-like limits proxy (1000 records/s, 1 MiB/s):
 * our exporter (per-shard KPL aggregation, pacing, retries) vs a naive exporter (one user record per
 * PutRecords entry, batches of 500, failed entries resent). 100-byte records, fixed time per run.
 * Run: node --import tsx bench/export.bench.ts [seconds]
 */
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { KinesisExporter } from '../device/export/index.ts';
import type { LogStore } from '../device/log/index.ts';
import { createActiveStream } from '../test/helpers/kinesis-stream.ts';
import { payload, RECORD_BYTES, withExportBench } from './export-fixture.ts';

const SECONDS = Number(process.argv[2] ?? 15);
// Enough for both runs at well above the target rate, so neither runs dry.
const RECORDS = Math.ceil(SECONDS * 14_000);

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** The baseline: what a simple uploader does without aggregation. */
async function naive(client: KinesisClient, store: LogStore, stream: string, until: number): Promise<number> {
  let accepted = 0;
  let next = 0;
  let failed: PutRecordsRequestEntry[] = [];
  while (performance.now() < until) {
    const batch = failed;
    if (batch.length < 500) {
      const records = await store.read('bench', { fromSequence: next, maxRecords: 500 - batch.length });
      for (const r of records) {
        const key = JSON.parse(Buffer.from(r.payload).toString('utf8')).partition_key as string;
        batch.push({ Data: r.payload, PartitionKey: key });
      }
      next = (records.at(-1)?.sequence ?? next - 1) + 1;
    }
    const out = await client.send(new PutRecordsCommand({ StreamName: stream, Records: batch }));
    failed = batch.filter((_, i) => out.Records?.[i]?.ErrorCode != null);
    accepted += batch.length - failed.length;
    if (failed.length > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return accepted;
}

await withExportBench('export', async ({ kinesis: client, store, limits }) => {
  await createActiveStream(client, 'bench-ours', 1);
  await createActiveStream(client, 'bench-naive', 1);
  await store.createStream({ name: 'bench', maxSize: 1024 * 1024 * 1024, segmentSize: 64 * 1024 * 1024 });
  for (let i = 0; i < RECORDS; i += 10_000) {
    await store.appendMany(
      'bench',
      Array.from({ length: Math.min(10_000, RECORDS - i) }, (_, j) => payload(i + j)),
    );
  }
  console.log(`${RECORDS} records of ${RECORD_BYTES} bytes in the log; ${SECONDS} s per exporter, 1 shard`);

  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 100);
  const exporter = await KinesisExporter.start({
    store,
    kinesis: client,
    exports: [{ logStream: 'bench', kinesisStreamName: 'bench-ours' }],
  });
  const began = performance.now();
  // Steady state: from the first accepted entry on (start-up lists shards and fills the buffer).
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const warm = { at: performance.now(), accepted: exporter.statusOf('bench').counters.recordsAccepted };
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000 - 2000));
  const status = exporter.statusOf('bench');
  const elapsed = (performance.now() - began) / 1000;
  const steady = (status.counters.recordsAccepted - warm.accepted) / ((performance.now() - warm.at) / 1000);
  await exporter.stop();
  clearInterval(sampler);
  const ours = status.counters.recordsAccepted;

  const naiveBegan = performance.now();
  const baseline = await naive(client, store, 'bench-naive', naiveBegan + SECONDS * 1000);
  const naiveElapsed = (performance.now() - naiveBegan) / 1000;

  const rate = (n: number, s: number) => `${Math.round(n / s)}`.padStart(8);
  console.log('\nexporter                     user records/s   entries   throttled');
  console.log(`naive (1 record per entry)   ${rate(baseline, naiveElapsed)}`);
  console.log(
    `ours (aggregated, paced)     ${rate(ours, elapsed)}   ${String(status.counters.entriesAccepted).padStart(7)}   ${String(status.counters.throttled).padStart(9)}`,
  );
  console.log(`ours, after the first 2 s    ${rate(steady, 1)}`);
  console.log(`\nexporter process RSS: ${mb(rssBefore)} before, ${mb(rssPeak)} peak during export`);
  console.log(`proxy: ${JSON.stringify(limits.stats().records)}`);
});
