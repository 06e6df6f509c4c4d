/**
 * The device agent as a separate process (bin/tributary.mjs agent run) against the local cloud:
 *  1. RSS of the agent process alone (/proc/<pid>/status VmRSS) while apps append 10k records/s
 *     through its HTTP API and it exports them (target: peak ≤ 72 MB with the launch line, issue 17;
 *     stream manager needs ≥ 70 MB), and while Kinesis is unreachable and it only buffers them; CPU
 *     time per record.
 *  2. Restart with a 1 GiB backlog: from spawning the agent to its first accepted export (target ≤ 2 s).
 * Run: node --import tsx bench/agent.bench.ts [seconds]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { ApiClient } from '../device/api/client.ts';
import { LogStore } from '../device/log/index.ts';
import { startLocalCloud } from '../local/cloud.ts';
import { createRecord, encodeRecord } from '../shared/contract/index.ts';
import { agentApiUrl } from './agent-url.ts';

const SECONDS = Number(process.argv[2] ?? 15);
/** `... agent.bench.ts 15 device` measures only the variants whose name contains `device`. */
const ONLY = process.argv[3];
const RATE = 10_000;
const BATCH = 500;
// 4 shards: 4000 entries/s and 4 MiB/s of room for ~2.3 MB/s of aggregated records.
const SHARDS = 4;
const KINESIS_STREAM = 'bench-agent';
const BACKLOG_BYTES = 1024 ** 3;
const ROOT = join(import.meta.dirname, '..');

/** The agent as developers run it (tsx loader) and as it ships to devices (one bundle, small young generation). */
const VARIANTS = [
  { name: 'dev (bin/tributary.mjs, tsx)', args: [join(ROOT, 'bin', 'tributary.mjs')], env: {}, config: {} },
  {
    name: 'device build (dist bundle, the launch line of device/README.md)',
    args: [
      '--max-semi-space-size=1',
      '--max-old-space-size=48',
      '--optimize-for-size',
      join(ROOT, 'dist', 'device', 'tributary.mjs'),
    ],
    env: {
      // glibc gives each libuv worker thread its own malloc arena; two are plenty for the agent.
      MALLOC_ARENA_MAX: '2',
      // A fixed mmap threshold and a low trim threshold hand freed buffers (read chunks, request
      // bodies) and start-up garbage back to the kernel instead of keeping them in the malloc heap.
      MALLOC_MMAP_THRESHOLD_: '131072',
      MALLOC_TRIM_THRESHOLD_: '131072',
    },
    config: {},
  },
] as const;
type Variant = (typeof VARIANTS)[number];

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A `Field:   123 kB` line of a /proc file, in bytes. */
function kbField(text: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? 0) * 1024;
}

/** RSS split into file-backed pages (the node binary and libraries) and anonymous memory (heaps, buffers). */
async function rssSplit(pid: number): Promise<{ rss: number; anonymous: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return { rss: kbField(rollup, 'Rss'), anonymous: kbField(rollup, 'Anonymous') };
}

/** User + system CPU seconds the process has used so far (/proc/<pid>/stat, clock ticks of 1/100 s). */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

async function vm(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  return kbField(await readFile(`/proc/${pid}/status`, 'utf8'), field);
}

function record(i: number, padding = 0) {
  const device = `sensor-${String(i % 200).padStart(3, '0')}`;
  return createRecord({
    type: 'telemetry',
    deviceId: device,
    payload: {
      metric: 'temperature',
      value: 20 + (i % 100) / 10,
      unit: 'Cel',
      tags: padding === 0 ? { room: 'lab' } : { room: 'lab', note: 'x'.repeat(Math.min(256, padding)) },
    },
  });
}

async function writeConfig(
  variant: Variant,
  dir: string,
  endpoint: string,
  streams: object[],
): Promise<string> {
  const file = join(dir, 'agent.json');
  const config = {
    storeRoot: join(dir, 'store'),
    deviceId: 'bench-gateway',
    aws: { region: 'us-east-1', endpoint },
    api: { port: 0 },
    ...variant.config,
    streams,
  };
  await writeFile(file, JSON.stringify(config));
  return file;
}

/** Spawns the agent; resolves with the process and its API address once it prints it. */
async function spawnAgent(
  variant: Variant,
  config: string,
): Promise<{ child: ChildProcess; client: ApiClient; apiUpMs: number }> {
  const began = performance.now();
  const child = spawn(process.execPath, [...variant.args, 'agent', 'run', '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...variant.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  const url = await agentApiUrl(child);
  // The agent generated its API token into its store at start.
  const storeRoot = (JSON.parse(await readFile(config, 'utf8')) as { storeRoot: string }).storeRoot;
  const token = (await readFile(join(storeRoot, 'api-token'), 'utf8')).trim();
  return { child, client: new ApiClient({ url, token }), apiUpMs: performance.now() - began };
}

async function stopAgent(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  if (child.exitCode === null) await once(child, 'exit');
}

/**
 * RSS while apps append 10k records/s. Online, the agent exports them and the run ends when the
 * backlog is drained; offline (Kinesis unreachable) it only buffers them in its log.
 */
async function rssWhileAppending(
  variant: Variant,
  dir: string,
  endpoint: string,
  online: boolean,
): Promise<void> {
  const config = await writeConfig(variant, dir, endpoint, [
    { name: 'telemetry', export: { kinesisStreamName: KINESIS_STREAM } },
  ]);
  const { child, client } = await spawnAgent(variant, config);
  const pid = child.pid as number;
  const idle = await vm(pid, 'VmRSS');
  const idleCpu = await cpuSeconds(pid);
  // Pre-encoded NDJSON bodies keep the producer cheap; ids repeat across rounds, which the agent does not care about.
  const bodies = Array.from({ length: 20 }, (_, b) =>
    Array.from({ length: BATCH }, (_, i) => JSON.stringify(record(b * BATCH + i))).join('\n'),
  );
  const recordBytes = Buffer.byteLength(bodies[0] ?? '') / BATCH;
  const samples: number[] = [];
  let largest = { rss: 0, anonymous: 0 };
  const sampler = setInterval(() => {
    rssSplit(pid).then(
      (split) => {
        samples.push(split.rss);
        if (split.rss > largest.rss) largest = split;
      },
      () => {},
    );
  }, 250);
  const began = performance.now();
  let sent = 0;
  for (let n = 0; performance.now() - began < SECONDS * 1000; n++) {
    const due = ((performance.now() - began) / 1000) * RATE;
    if (sent >= due) {
      await sleep(5);
      continue;
    }
    await client.appendNdjson('telemetry', bodies[n % bodies.length] ?? '');
    sent += BATCH;
  }
  const appendSeconds = (performance.now() - began) / 1000;
  let status = await client.stream('telemetry');
  while (
    online &&
    (status.export?.backlog.records ?? 0) > 0 &&
    performance.now() - began < (SECONDS + 60) * 1000
  ) {
    await sleep(100);
    status = await client.stream('telemetry');
  }
  const exportSeconds = (performance.now() - began) / 1000;
  clearInterval(sampler);
  const hwm = await vm(pid, 'VmHWM');
  const cpu = (await cpuSeconds(pid)) - idleCpu;
  await stopAgent(child);
  const sorted = [...samples].sort((a, b) => a - b);
  const accepted = status.export?.counters.recordsAccepted ?? 0;
  console.log(
    `records appended   ${sent} in ${appendSeconds.toFixed(1)} s (${Math.round(sent / appendSeconds)} rec/s, ~${Math.round(recordBytes)} B each)`,
  );
  console.log(
    `records exported   ${accepted} by ${exportSeconds.toFixed(1)} s (backlog left ${status.export?.backlog.records ?? '?'}, ${status.export?.counters.requestsSent ?? 0} PutRecords)`,
  );
  console.log(
    `agent CPU          ${cpu.toFixed(1)} s over ${exportSeconds.toFixed(1)} s (${((cpu / sent) * 1e6).toFixed(0)} µs per record appended and exported)`,
  );
  console.log(`agent RSS idle     ${mb(idle)}`);
  console.log(
    `agent RSS median   ${mb(sorted[Math.floor(sorted.length / 2)] ?? 0)}  (${sorted.length} samples)`,
  );
  console.log(
    `agent RSS peak     ${mb(Math.max(...sorted, hwm))}  (VmHWM; target ≤ 72 MB with the launch line, stream manager: ≥ 70 MB)`,
  );
  console.log(
    `largest sample     ${mb(largest.rss)} = ${mb(largest.rss - largest.anonymous)} file-backed (node binary, libraries) + ${mb(largest.anonymous)} anonymous (V8 heap, malloc, buffers)`,
  );
}

const BACKLOG_STREAM = {
  name: 'backlog',
  maxSize: 2 * BACKLOG_BYTES,
  export: { kinesisStreamName: KINESIS_STREAM },
};

async function writeBacklog(dir: string): Promise<void> {
  const { export: _export, ...logDefinition } = BACKLOG_STREAM;
  const store = await LogStore.open(join(dir, 'store'));
  await store.createStream(logDefinition);
  const payloads = Array.from({ length: 1000 }, (_, i) => encodeRecord(record(i, 700)));
  const writeBegan = performance.now();
  while (store.describeStream('backlog').bytes < BACKLOG_BYTES) await store.appendMany('backlog', payloads);
  const backlog = store.describeStream('backlog');
  await store.close();
  console.log(
    `backlog written    ${backlog.records} records, ${(backlog.bytes / 1024 ** 3).toFixed(2)} GiB in ${((performance.now() - writeBegan) / 1000).toFixed(1)} s`,
  );
}

async function restartWithBacklog(variant: Variant, dir: string, endpoint: string): Promise<void> {
  const config = await writeConfig(variant, dir, endpoint, [BACKLOG_STREAM]);
  const began = performance.now();
  const { child, client, apiUpMs } = await spawnAgent(variant, config);
  let firstExportMs: number | undefined;
  while (firstExportMs === undefined) {
    const status = await client.stream('backlog');
    if ((status.export?.counters.recordsAccepted ?? 0) > 0) firstExportMs = performance.now() - began;
    else await sleep(5);
  }
  await stopAgent(child);
  console.log(
    `restart: API up    ${(apiUpMs / 1000).toFixed(2)} s after spawn (node start + open 1 GiB store)`,
  );
  console.log(
    `restart: exporting ${(firstExportMs / 1000).toFixed(2)} s after spawn to the first accepted record (target ≤ 2 s)`,
  );
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tributary-agent-bench-'));
  const cloud = await startLocalCloud({ dataDir: join(dir, 'cloud'), fresh: true });
  try {
    const kinesis = cloud.clients.kinesis();
    await kinesis.send(new CreateStreamCommand({ StreamName: KINESIS_STREAM, ShardCount: SHARDS }));
    while (
      (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: KINESIS_STREAM })))
        .StreamDescriptionSummary?.StreamStatus !== 'ACTIVE'
    ) {
      await sleep(50);
    }
    console.log(
      `agent process, local cloud with per-shard limits, ${SHARDS}-shard stream, ${SECONDS} s at ${RATE} rec/s`,
    );
    const build = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'build-device.ts')], {
      stdio: 'inherit',
    });
    if (build.status !== 0) throw new Error('building the device bundle failed');
    const variants = VARIANTS.filter((v) => ONLY === undefined || v.name.includes(ONLY));
    for (const variant of variants) {
      console.log(`\n-- ${variant.name}`);
      await rssWhileAppending(variant, dir, cloud.endpoints.kinesis, true);
      await rm(join(dir, 'store'), { recursive: true, force: true });
      console.log(`\n-- ${variant.name}, offline: Kinesis unreachable, records only buffered in the log`);
      await rssWhileAppending(variant, dir, `http://127.0.0.1:${await closedPort()}`, false);
      await rm(join(dir, 'store'), { recursive: true, force: true });
    }
    await writeBacklog(dir);
    for (const variant of variants) {
      console.log(`\n-- ${variant.name}`);
      await restartWithBacklog(variant, dir, cloud.endpoints.kinesis);
    }
  } finally {
    await cloud.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
