import { decodeRecord, encodeRecord, type TributaryRecord } from '../shared/contract/index.ts';
import { telemetryRecord, transactionRecord } from '../test/helpers/records.ts';

/**
 * Cost of the record contract on the hot paths: producers validate + encode, consumers decode +
 * validate. Baseline: bare JSON.stringify / JSON.parse of the same records, no validation.
 */

const COUNT = 100_000;
const ROUNDS = 5;
const records: TributaryRecord[] = Array.from({ length: COUNT }, (_, i) =>
  i % 2 === 0
    ? telemetryRecord({ device_id: `sensor-${i % 50}`, partition_key: `sensor-${i % 50}` })
    : transactionRecord(),
);
const encoded = records.map((r) => encodeRecord(r));
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
const bytes = encoded.reduce((sum, e) => sum + e.byteLength, 0);

function best(run: () => void): number {
  let fastest = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const began = performance.now();
    run();
    fastest = Math.min(fastest, performance.now() - began);
  }
  return fastest;
}

const rows = [
  [
    'encode: JSON.stringify only (baseline)',
    best(() => {
      for (const r of records) textEncoder.encode(JSON.stringify(r));
    }),
  ],
  [
    'encode: validate strict + encode + size check',
    best(() => {
      for (const r of records) encodeRecord(r);
    }),
  ],
  [
    'decode: JSON.parse only (baseline)',
    best(() => {
      for (const e of encoded) JSON.parse(textDecoder.decode(e));
    }),
  ],
  [
    'decode: parse + validate compatible',
    best(() => {
      for (const e of encoded) decodeRecord(e);
    }),
  ],
] as const;

console.log(
  `${COUNT} records, mixed telemetry/transaction, ${(bytes / COUNT).toFixed(0)} B average, best of ${ROUNDS}`,
);
console.log('operation'.padEnd(48), 'records/s'.padStart(12), 'MB/s'.padStart(8));
for (const [name, ms] of rows) {
  const perSecond = COUNT / (ms / 1000);
  console.log(
    name.padEnd(48),
    Math.round(perSecond).toLocaleString('en-US').padStart(12),
    (bytes / (ms / 1000) / 1e6).toFixed(1).padStart(8),
  );
}
