/**
 * Durable append rate of the device log with 200-byte records, group commit vs fsync per append,
 * and the time to open a store holding a 1 GiB backlog until the first record is read.
 * Run: node --import tsx bench/append.bench.ts   (prints figures only)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogStore } from '../device/log/index.ts';

const RECORD_BYTES = 200;
const MiB = 1024 * 1024;

interface Figure {
  readonly label: string;
  readonly records: number;
  readonly seconds: number;
}

function print(figure: Figure): void {
  const rate = figure.records / figure.seconds;
  const mbps = (rate * RECORD_BYTES) / MiB;
  console.log(
    `${figure.label.padEnd(44)} ${Math.round(rate).toLocaleString('en').padStart(10)} records/s ${mbps.toFixed(1).padStart(7)} MB/s  (${figure.records} records in ${figure.seconds.toFixed(2)} s)`,
  );
}

/** Keeps `window` appends in flight until `seconds` have passed; counts acknowledged ones. */
async function appendLoop(store: LogStore, stream: string, window: number, seconds: number): Promise<number> {
  const payload = new Uint8Array(RECORD_BYTES).fill(0x61);
  const deadline = performance.now() + seconds * 1000;
  let acked = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await store.append(stream, payload);
      acked++;
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return acked;
}

async function appendManyLoop(
  store: LogStore,
  stream: string,
  batch: number,
  seconds: number,
): Promise<number> {
  const payloads = Array.from({ length: batch }, () => new Uint8Array(RECORD_BYTES).fill(0x62));
  const deadline = performance.now() + seconds * 1000;
  let acked = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const { count } = await store.appendMany(stream, payloads);
      acked += count;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return acked;
}

async function measure(label: string, run: () => Promise<number>): Promise<void> {
  const start = performance.now();
  const records = await run();
  print({ label, records, seconds: (performance.now() - start) / 1000 });
}

async function openTime(root: string): Promise<void> {
  const recordBytes = 1000 * 1000;
  const total = 1024 * MiB;
  let store = await LogStore.open(root);
  await store.createStream({ name: 'backlog', maxSize: 2 * total, maxRecordSize: recordBytes });
  const payloads = Array.from({ length: 64 }, (_, i) => new Uint8Array(recordBytes).fill(i));
  const fillStart = performance.now();
  while (store.describeStream('backlog').bytes < total) await store.appendMany('backlog', payloads);
  const filled = store.describeStream('backlog');
  const fillSeconds = (performance.now() - fillStart) / 1000;
  await store.close();
  console.log(
    `backlog: ${(filled.bytes / MiB).toFixed(0)} MiB in ${filled.segments} segments, ${filled.records} records (written in ${fillSeconds.toFixed(1)} s)`,
  );

  const start = performance.now();
  store = await LogStore.open(root);
  const opened = performance.now();
  const first = await store.read('backlog', { maxRecords: 1 });
  const firstRead = performance.now();
  const tail = await store.read('backlog', { fromSequence: filled.nextSequence - 1, maxRecords: 1 });
  const tailRead = performance.now();
  console.log(
    `open 1 GiB backlog: ${(opened - start).toFixed(1)} ms to open, ${(firstRead - start).toFixed(1)} ms until the first record (seq ${first[0]?.sequence}), newest record read in ${(tailRead - firstRead).toFixed(1)} ms (seq ${tail[0]?.sequence})`,
  );
  await store.close();
}

const root = await mkdtemp(join(tmpdir(), 'tributary-bench-'));
try {
  const store = await LogStore.open(root);
  await store.createStream({ name: 'group', maxSize: 4096 * MiB });
  await store.createStream({ name: 'group-many', maxSize: 4096 * MiB });
  await store.createStream({ name: 'fsync-each', maxSize: 4096 * MiB, flushOnWrite: true });
  console.log(
    `durable appends, ${RECORD_BYTES}-byte records, ${tmpdir()} (every acknowledgement follows an fsync)`,
  );
  await measure('fsync per append (flushOnWrite), 64 in flight', () =>
    appendLoop(store, 'fsync-each', 64, 3),
  );
  await measure('group commit, append(), 4096 in flight', () => appendLoop(store, 'group', 4096, 5));
  await measure('group commit, appendMany() of 500', () => appendManyLoop(store, 'group-many', 500, 5));
  await store.close();
  await rm(root, { recursive: true, force: true });
  await openTime(root);
} finally {
  await rm(root, { recursive: true, force: true });
}
