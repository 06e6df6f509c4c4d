/**
 * Tailing a file into the durable log (issue #21, "Benchmark"): one file of 200-byte Apache combined
 * log lines read from its start by the real tailer (device/tail) into the real log (device/log),
 * wired and encoded as the agent does (device/agent.ts #startTailers), with
 *  (a) SINGLELINE processing, the line as the record's message (target ≥ 100k lines/s on one core);
 *  (b) LOGTOJSON with COMBINEDAPACHELOG, the line's fields and time parsed (target ≥ 50k lines/s);
 *  (c) baseline: the same lines as `log` records appended through the agent's HTTP API, the agent in
 *      its own process (dev launcher), NDJSON bodies encoded before the clock starts.
 * CPU per line: process.cpuUsage() of the tailing process (every thread: tailer, log, fsync);
 * for the baseline the agent process's own CPU (/proc/<pid>/stat), the sending client excluded.
 * Run: node --import tsx bench/tail.bench.ts [lines] [case]   (default 300000 lines, every case;
 * `... 300000 SINGLELINE` runs the cases whose label contains the word; prints figures only)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../device/api/client.ts';
import { LogStore } from '../device/log/index.ts';
import { logRecordEncoder } from '../device/tail/encode.ts';
import { parseSource } from '../device/tail/source.ts';
import { SourceTailer } from '../device/tail/tailer.ts';
import { newRecordId, SCHEMA_VERSION } from '../shared/contract/index.ts';
import { seededRandom } from '../shared/seeded-random.ts';
import { agentApiUrl } from './agent-url.ts';

const LINES = Number(process.argv[2] ?? 300_000);
const ONLY = process.argv[3];
const LINE_BYTES = 200;
const DEVICE_ID = 'bench-gateway';
const STREAM = 'logs';
/** Records per HTTP request and requests in flight for the baseline. */
const API_BATCH = 1_000;
const API_IN_FLIGHT = 4;
const ROOT = join(import.meta.dirname, '..');
const MiB = 1024 * 1024;

const HOSTS = ['10.0.0.17', '192.168.4.201', '172.16.9.3', '2001:db8::7'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT'];
const STATUSES = ['200', '200', '200', '200', '304', '404', '500'];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64)',
  'curl/8.5.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)',
];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `lines` Apache combined log lines of exactly LINE_BYTES bytes each, `\n` included (the request path pads). */
function combinedLog(lines: number): Buffer {
  const random = seededRandom(21);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const out = Buffer.allocUnsafe(lines * LINE_BYTES);
  const start = Date.UTC(2026, 11, 5, 14, 0, 0);
  for (let i = 0; i < lines; i++) {
    const t = new Date(start + i);
    const two = (n: number) => String(n).padStart(2, '0');
    const time = `${two(t.getUTCDate())}/${MONTHS[t.getUTCMonth()]}/${t.getUTCFullYear()}:${two(t.getUTCHours())}:${two(t.getUTCMinutes())}:${two(t.getUTCSeconds())} +0000`;
    const head = `${pick(HOSTS)} - ${random() < 0.2 ? 'alice' : '-'} [${time}] "${pick(METHODS)} /api/v1/`;
    const tail = ` HTTP/1.1" ${pick(STATUSES)} ${Math.floor(random() * 50_000)} "-" "${pick(AGENTS)}"\n`;
    const room = LINE_BYTES - head.length - tail.length;
    const path = `devices/${Math.floor(random() * 1e6)}/readings?page=`.padEnd(room, 'x').slice(0, room);
    out.write(head + path + tail, i * LINE_BYTES, 'latin1');
  }
  return out;
}

interface Figure {
  readonly lines: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
}

/**
 * Wall-clock rate, and lines per CPU second: on a shared machine the second is the steadier figure,
 * the rate one free core would reach if the process never waited (for fsync, or for the CPU).
 */
function print(label: string, f: Figure): void {
  const rate = f.lines / f.seconds;
  const perCpu = Math.round(f.lines / f.cpuSeconds).toLocaleString('en');
  console.log(
    `${label.padEnd(46)} ${Math.round(rate).toLocaleString('en').padStart(9)} lines/s ${((rate * LINE_BYTES) / MiB).toFixed(1).padStart(5)} MB/s  ${((f.cpuSeconds / f.lines) * 1e6).toFixed(1).padStart(5)} µs CPU/line = ${perCpu.padStart(7)} lines per CPU s  (${f.lines} lines in ${f.seconds.toFixed(2)} s, ${f.cpuSeconds.toFixed(2)} s CPU)`,
  );
}

/** The file tailed from its start into a fresh log, as the agent wires a source; resolves when every line is durable. */
async function tailOnce(dir: string, file: string, options: readonly object[]): Promise<Figure> {
  const root = await mkdtemp(join(dir, 'tail-'));
  const store = await LogStore.open(join(root, 'store'));
  await store.createStream({ name: STREAM, maxSize: 4 * LINES * LINE_BYTES + 64 * MiB });
  const source = parseSource(
    { filePattern: file, stream: STREAM, initialPosition: 'START_OF_FILE', dataProcessingOptions: options },
    dir,
  );
  let appended = 0;
  let allIn: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allIn = resolve;
  });
  const tailer = new SourceTailer({
    source,
    deviceId: DEVICE_ID,
    checkpointDir: join(root, 'tail', source.checkpointName),
    target: {
      nextSequence: () => store.describeStream(STREAM).nextSequence,
      appendMany: async (payloads) => {
        const result = await store.appendMany(STREAM, payloads);
        appended += payloads.length;
        if (appended >= LINES) allIn();
        return result;
      },
      read: (fromSequence) => store.records(STREAM, { fromSequence }),
    },
    encode: logRecordEncoder(
      DEVICE_ID,
      store.describeStream(STREAM).definition.maxRecordSize,
      source.truncationMarker,
    ),
  });
  const cpu = process.cpuUsage();
  const began = performance.now();
  await tailer.start();
  await done;
  const seconds = (performance.now() - began) / 1000;
  const used = process.cpuUsage(cpu);
  await tailer.stop();
  const { records } = store.describeStream(STREAM);
  await store.close();
  await rm(root, { recursive: true, force: true });
  if (records !== LINES) throw new Error(`expected ${LINES} records in the log, found ${records}`);
  return { lines: LINES, seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

/** User + system CPU seconds of a process (/proc/<pid>/stat, clock ticks of 1/100 s). */
async function cpuSecondsOf(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The agent process (dev launcher) with one File stream; resolves once its API is up. */
async function spawnAgent(dir: string): Promise<{ child: ChildProcess; client: ApiClient }> {
  const storeRoot = join(dir, 'agent-store');
  const config = join(dir, 'agent.json');
  await writeFile(
    config,
    JSON.stringify({
      storeRoot,
      deviceId: DEVICE_ID,
      aws: { region: 'us-east-1', endpoint: 'http://127.0.0.1:9' },
      api: { port: 0, maxBodyBytes: 4 * MiB },
      streams: [{ name: STREAM, maxSize: 4 * LINES * LINE_BYTES + 64 * MiB }],
    }),
  );
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'tributary.mjs'), 'agent', 'run', '--config', config],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  );
  const url = await agentApiUrl(child);
  const token = (await readFile(join(storeRoot, 'api-token'), 'utf8')).trim();
  return { child, client: new ApiClient({ url, token }) };
}

/** Baseline: the same lines as the `log` records an application would send, through the HTTP API. */
async function viaApi(dir: string, lines: Buffer, file: string): Promise<Figure> {
  const bodies: Buffer[] = [];
  for (let b = 0; b < LINES; b += API_BATCH) {
    const records: string[] = [];
    for (let i = b; i < Math.min(LINES, b + API_BATCH); i++) {
      const line = lines.toString('latin1', i * LINE_BYTES, (i + 1) * LINE_BYTES - 1);
      records.push(
        JSON.stringify({
          id: newRecordId(),
          schema_version: SCHEMA_VERSION,
          type: 'log',
          device_id: DEVICE_ID,
          partition_key: DEVICE_ID,
          event_time: Date.now(),
          payload: { level: 'info', message: line, source: file },
        }),
      );
    }
    bodies.push(Buffer.from(records.join('\n')));
  }
  const { child, client } = await spawnAgent(dir);
  try {
    const pid = child.pid as number;
    const cpuBefore = await cpuSecondsOf(pid);
    const began = performance.now();
    let next = 0;
    const sender = async (): Promise<void> => {
      for (let b = next++; b < bodies.length; b = next++) {
        await client.appendNdjson(STREAM, bodies[b] as Buffer);
      }
    };
    await Promise.all(Array.from({ length: API_IN_FLIGHT }, sender));
    const seconds = (performance.now() - began) / 1000;
    const cpuSeconds = (await cpuSecondsOf(pid)) - cpuBefore;
    const records = (await client.stream(STREAM)).log.records;
    if (records !== LINES) throw new Error(`expected ${LINES} records in the agent's log, found ${records}`);
    return { lines: LINES, seconds, cpuSeconds };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tributary-tail-bench-'));
  try {
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const file = join(logs, 'access.log');
    const lines = combinedLog(LINES);
    await writeFile(file, lines);
    console.log(
      `one file of ${LINES} Apache combined lines of ${LINE_BYTES} bytes (${(lines.length / MiB).toFixed(0)} MiB), ${tmpdir()}, read from its start into a durable log stream`,
    );
    const cases: [string, () => Promise<Figure>][] = [
      ['tail, SINGLELINE', () => tailOnce(dir, file, [{ optionName: 'SINGLELINE' }])],
      [
        'tail, LOGTOJSON COMBINEDAPACHELOG',
        () => tailOnce(dir, file, [{ optionName: 'LOGTOJSON', logFormat: 'COMBINEDAPACHELOG' }]),
      ],
      [
        `baseline: HTTP API, NDJSON of ${API_BATCH}, ${API_IN_FLIGHT} in flight`,
        () => viaApi(dir, lines, file),
      ],
    ];
    for (const [label, run] of cases) {
      if (ONLY === undefined || label.includes(ONLY)) print(label, await run());
    }
    console.log('targets on one core: ≥ 100,000 lines/s single-line, ≥ 50,000 lines/s parsed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
