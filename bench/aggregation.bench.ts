/**
 * KPL aggregation throughput, ours vs aws-kinesis-agg, side by side.
 * Run: node --import tsx bench/aggregation.bench.ts [records] [dataBytes]
 * MB/s counts user data bytes only. Each figure is the best of a few runs after a warm-up.
 */
import { performance } from 'node:perf_hooks';
import { aggregateRecords, deaggregate, type UserRecord } from '../shared/kinesis/aggregation.ts';
import { DEFAULT_MAX_RECORD_BYTES } from '../shared/kinesis/limits.ts';
import { kplReference } from '../test/helpers/aggregated.ts';

const COUNT = Number(process.argv[2] ?? 200_000);
const DATA_BYTES = Number(process.argv[3] ?? 100);
const DEVICES = 1000;
const RUNS = 5;

const records: UserRecord[] = Array.from({ length: COUNT }, (_, i) => ({
  partitionKey: `device-${i % DEVICES}`,
  data: Buffer.alloc(DATA_BYTES, i % 251),
}));
// aws-kinesis-agg wants Buffers and may rewrite fields, so it gets its own copies.
const referenceRecords = records.map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(r.data) }));

function ours(): Uint8Array[] {
  return aggregateRecords(records, { maxBytes: DEFAULT_MAX_RECORD_BYTES }).map((e) => e.data);
}

function theirs(): Buffer[] {
  const out: Buffer[] = [];
  new kplReference.RecordAggregator().aggregateRecords(referenceRecords, true, (err, encoded) => {
    if (err) throw err;
    if (encoded !== undefined) out.push(encoded.data);
  });
  return out;
}

const aggregates = ours();
const asBase64 = aggregates.map((data) => Buffer.from(data).toString('base64'));

function oursDeaggregate(inputs: readonly Uint8Array[]): number {
  let n = 0;
  for (const data of inputs) n += deaggregate(data, { partitionKey: 'a', sequenceNumber: '1' }).length;
  return n;
}

function oursDeaggregateBase64(): number {
  let n = 0;
  for (const b64 of asBase64)
    n += deaggregate(Buffer.from(b64, 'base64'), { partitionKey: 'a', sequenceNumber: '1' }).length;
  return n;
}

function theirsDeaggregateBase64(): number {
  let n = 0;
  for (const b64 of asBase64) {
    kplReference.deaggregateSync({ partitionKey: 'a', sequenceNumber: '1', data: b64 }, true, (err, out) => {
      if (err) throw err;
      n += out?.length ?? 0;
    });
  }
  return n;
}

/** Best wall time of RUNS runs, after one warm-up run. */
function best(fn: () => unknown): number {
  fn();
  let fastest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    fn();
    fastest = Math.min(fastest, performance.now() - start);
  }
  return fastest / 1000;
}

const rows: [string, number, number | undefined][] = [
  ['aggregate (1 MiB records)', best(ours), best(theirs)],
  ['deaggregate, base64 in (Lambda)', best(oursDeaggregateBase64), best(theirsDeaggregateBase64)],
  // aws-kinesis-agg only accepts base64 (or a Buffer it copies), so bytes-in has no counterpart.
  ['deaggregate, bytes in (EFO/KCL)', best(() => oursDeaggregate(aggregates)), undefined],
];

const megabytes = (COUNT * DATA_BYTES) / 1e6;
const rate = (seconds: number) => `${Math.round(COUNT / seconds).toLocaleString('en-US')}`.padStart(12);
const mbps = (seconds: number) => (megabytes / seconds).toFixed(1).padStart(8);

console.log(
  `${COUNT.toLocaleString('en-US')} records x ${DATA_BYTES} B, ${DEVICES} partition keys, ` +
    `${aggregates.length} aggregates (ours) / ${theirs().length} (aws-kinesis-agg); node ${process.version}`,
);
console.log(
  `${'operation'.padEnd(34)}${'ours rec/s'.padStart(12)}${'MB/s'.padStart(8)}  ${'agg rec/s'.padStart(12)}${'MB/s'.padStart(8)}  speedup`,
);
for (const [name, ourSeconds, theirSeconds] of rows) {
  const reference =
    theirSeconds === undefined
      ? `${'-'.padStart(12)}${'-'.padStart(8)}  ${'-'.padStart(7)}`
      : `${rate(theirSeconds)}${mbps(theirSeconds)}  ${`${(theirSeconds / ourSeconds).toFixed(1)}x`.padStart(7)}`;
  console.log(`${name.padEnd(34)}${rate(ourSeconds)}${mbps(ourSeconds)}  ${reference}`);
}
