/**
 * Messages/s appended to the agent (a separate `tributary.mjs agent run` process, no export) through
 * its two doors, the same ~250-byte contract records each time:
 *  - the official Python Stream Manager SDK (the project venv), one synchronous append at a time, as
 *    a component calls it;
 *  - the official Node SDK, one at a time and 32 in flight on one connection;
 *  - the HTTP API (ApiClient), one record per request one at a time and 32 in flight, and NDJSON
 *    batches of 500.
 * Stream manager appends go to a stream created through the SDK (bytes stored as sent) and to the
 * configured contract stream (validated and encoded like the HTTP API's). Prints the agent's RSS
 * after each run. Run: npm run bench -- stream-manager
 * Figures and their reading: device/PROTOCOL.md, "Throughput".
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { ApiClient } from '../device/api/client.ts';
import { telemetryRecord } from '../test/helpers/records.ts';

const ROOT = join(import.meta.dirname, '..');
const SECONDS = 5;
const run = promisify(execFile);

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

/** The device bundle with device/README.md's launch line (flags and malloc settings). */
const BUNDLE = {
  args: [
    '--max-semi-space-size=1',
    '--max-old-space-size=48',
    '--optimize-for-size',
    join(ROOT, 'dist/device/tributary.mjs'),
  ],
  env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' },
};

async function startAgent(
  config: string,
  launch: { args: string[]; env: Record<string, string> } = {
    args: [join(ROOT, 'bin/tributary.mjs')],
    env: {},
  },
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...launch.args, 'agent', 'run', '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...launch.env },
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    const match = /API http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
    if (match !== null) {
      lines.on('line', () => {});
      return { child, port: Number(match[1]) };
    }
  }
  throw new Error('agent exited before its API came up');
}

function record(): Buffer {
  return Buffer.from(JSON.stringify(telemetryRecord()));
}

/** Runs `window` workers calling `once` until the time is up; messages per second. */
async function loop(
  window: number,
  send: () => Promise<number>,
): Promise<{ count: number; perSecond: number }> {
  const began = performance.now();
  const deadline = began + SECONDS * 1000;
  let count = 0;
  const worker = async () => {
    while (performance.now() < deadline) count += await send();
  };
  await Promise.all(Array.from({ length: window }, worker));
  return { count, perSecond: count / ((performance.now() - began) / 1000) };
}

function print(label: string, figure: { count: number; perSecond: number }, pid: number): void {
  console.log(
    `${label.padEnd(58)} ${Math.round(figure.perSecond).toLocaleString('en').padStart(8)} messages/s  (${figure.count} in ~${SECONDS} s; agent RSS ${rssMb(pid).toFixed(1)} MB)`,
  );
}

const dir = await mkdtemp(join(tmpdir(), 'tributary-sm-bench-'));
const config = join(dir, 'agent.json');
await writeFile(
  config,
  JSON.stringify({
    storeRoot: join(dir, 'store'),
    deviceId: 'bench-01',
    aws: { region: 'us-east-1', endpoint: 'http://127.0.0.1:9' },
    api: { port: 0 },
    streams: [{ name: 'telemetry', maxSize: 2 * 1024 ** 3, strategyOnFull: 'OverwriteOldestData' }],
  }),
);
const agent = await startAgent(config);
const pid = agent.child.pid as number;
try {
  const token = (await readFile(join(dir, 'store', 'api-token'), 'utf8')).trim();
  const env = {
    ...process.env,
    STREAM_MANAGER_SERVER_PORT: String(agent.port),
    AWS_CONTAINER_AUTHORIZATION_TOKEN: token,
  };
  const sample = record().length;
  console.log(
    `records of ~${sample} bytes; ${SECONDS} s per run; idle agent RSS ${rssMb(pid).toFixed(1)} MB`,
  );

  for (const stream of ['py-bench', 'telemetry']) {
    // The Python SDK's own loop, in its process: what a component sees.
    const { stdout } = await run(
      join(ROOT, '.venv/bin/python'),
      [
        '-c',
        `
import json, sys, time, uuid
from stream_manager import StreamManagerClient, MessageStreamDefinition, StrategyOnFull
name = sys.argv[1]
c = StreamManagerClient()
if name not in c.list_streams():
    c.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.OverwriteOldestData))
sample = json.loads(sys.argv[2])
n = 0
began = time.perf_counter()
while time.perf_counter() - began < ${SECONDS}:
    sample["id"] = sample["id"][:-12] + "%012x" % n
    c.append_message(name, json.dumps(sample).encode())
    n += 1
print(json.dumps({"count": n, "perSecond": n / (time.perf_counter() - began)}))
c.close()
`,
        stream,
        record().toString('utf8'),
      ],
      { env, timeout: 120_000 },
    );
    print(`Python SDK append_message → ${stream}, 1 at a time`, JSON.parse(stdout), pid);
  }

  const sm = createRequire(import.meta.url)('aws-greengrass-core-sdk/stream-manager');
  process.env.STREAM_MANAGER_SERVER_PORT = String(agent.port);
  process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = token;
  const client = new sm.StreamManagerClient({ logger: { error() {}, debug() {}, info() {}, warn() {} } });
  await new Promise<void>((resolve, reject) => {
    client.onConnected(resolve);
    client.onError(reject);
  });
  for (const stream of ['py-bench', 'telemetry']) {
    for (const window of [1, 32]) {
      const figure = await loop(window, async () => {
        await client.appendMessage(stream, record());
        return 1;
      });
      print(`Node SDK appendMessage → ${stream}, ${window} in flight`, figure, pid);
    }
  }
  client.close();
  // The Node SDK writes a frame's header and payload separately on a socket with Nagle on: each
  // payload waits for the agent's delayed ACK of the header (~40 ms). The same SDK with its socket
  // set to TCP_NODELAY shows what that costs (patched here only; the SDK is used unchanged above).
  const net = createRequire(import.meta.url)('node:net') as typeof import('node:net');
  const createConnection = net.createConnection;
  Object.assign(net, {
    createConnection: (...args: Parameters<typeof createConnection>) =>
      createConnection(...args).setNoDelay(true),
  });
  const fast = new sm.StreamManagerClient({ logger: { error() {}, debug() {}, info() {}, warn() {} } });
  await new Promise<void>((resolve, reject) => {
    fast.onConnected(resolve);
    fast.onError(reject);
  });
  Object.assign(net, { createConnection });
  const nodelay = await loop(1, async () => {
    await fast.appendMessage('py-bench', record());
    return 1;
  });
  print('Node SDK with TCP_NODELAY (bench patch) → py-bench, 1 in flight', nodelay, pid);
  fast.close();

  const http = new ApiClient({ url: `http://127.0.0.1:${agent.port}`, token });
  for (const window of [1, 32]) {
    const figure = await loop(window, async () => {
      await http.append('telemetry', [telemetryRecord()]);
      return 1;
    });
    print(`HTTP API POST one record → telemetry, ${window} in flight`, figure, pid);
  }
  const batch = await loop(4, async () => {
    await http.append(
      'telemetry',
      Array.from({ length: 500 }, () => telemetryRecord()),
    );
    return 500;
  });
  print('HTTP API NDJSON batches of 500 → telemetry, 4 in flight', batch, pid);
} finally {
  const exited = once(agent.child, 'exit');
  agent.child.kill('SIGTERM');
  await exited;
}

/**
 * RSS of the device bundle (launch line) with both doors busy: 10k messages/s in all, NDJSON
 * batches over HTTP paced to fill what the SDK clients (Node SDK, 32 in flight) leave.
 */
{
  const built = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/build-device.ts')], {
    stdio: 'ignore',
  });
  if (built.status !== 0) throw new Error('npm run build:device failed');
  await rm(join(dir, 'store'), { recursive: true, force: true });
  const bundled = await startAgent(config, BUNDLE);
  const bpid = bundled.child.pid as number;
  try {
    const token = (await readFile(join(dir, 'store', 'api-token'), 'utf8')).trim();
    const idle = rssMb(bpid);
    process.env.STREAM_MANAGER_SERVER_PORT = String(bundled.port);
    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = token;
    const sm = createRequire(import.meta.url)('aws-greengrass-core-sdk/stream-manager');
    const client = new sm.StreamManagerClient({ logger: { error() {}, debug() {}, info() {}, warn() {} } });
    await new Promise<void>((resolve, reject) => {
      client.onConnected(resolve);
      client.onError(reject);
    });
    await client.createMessageStream(
      new sm.MessageStreamDefinition()
        .withName('sm-rss')
        .withStrategyOnFull(sm.StrategyOnFull.OverwriteOldestData),
    );
    const http = new ApiClient({ url: `http://127.0.0.1:${bundled.port}`, token });
    const seconds = 15;
    const target = 10_000;
    const began = performance.now();
    const deadline = began + seconds * 1000;
    let viaSdk = 0;
    let viaHttp = 0;
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssMb(bpid)), 100);
    const sdkWorker = async () => {
      while (performance.now() < deadline) {
        await client.appendMessage('sm-rss', record());
        viaSdk++;
      }
    };
    const httpWorker = async () => {
      while (performance.now() < deadline) {
        const due = Math.floor(((performance.now() - began) / 1000) * target) - viaSdk - viaHttp;
        if (due < 100) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          continue;
        }
        const count = Math.min(500, due);
        await http.append(
          'telemetry',
          Array.from({ length: count }, () => telemetryRecord()),
        );
        viaHttp += count;
      }
    };
    await Promise.all([...Array.from({ length: 32 }, sdkWorker), httpWorker(), httpWorker()]);
    clearInterval(sampler);
    client.close();
    const elapsed = (performance.now() - began) / 1000;
    const sorted = [...samples].sort((a, b) => a - b);
    console.log(
      `device bundle, both doors: ${Math.round((viaSdk + viaHttp) / elapsed).toLocaleString('en')} messages/s (${Math.round(viaSdk / elapsed)}/s Node SDK, ${Math.round(viaHttp / elapsed).toLocaleString('en')}/s HTTP NDJSON) for ${seconds} s: RSS idle ${idle.toFixed(1)} MB, median ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1)} MB, peak ${(sorted.at(-1) ?? 0).toFixed(1)} MB`,
    );
  } finally {
    const exited = once(bundled.child, 'exit');
    bundled.child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}
