/**
 * What every chaos scenario shares: the device bundle run with the launch line of device/README.md,
 * raw HTTP against its API, Kinesis (the local emulator behind the limits proxy) and the ledger that
 * turns "what the client was told" and "what Kinesis holds" into acked / lost / duplicated figures.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { type KinesisLimits, startKinesisLimits } from '../../local/kinesis-limits/proxy.ts';
import { freePort, type RunningServer, startKinesis } from '../../local/servers/index.ts';
import { PROJECT_ROOT } from '../../local/servers/runtime.ts';
import { createAwsClients } from '../../shared/aws/clients.ts';
import { createRecord, decodeRecord, type TributaryRecord } from '../../shared/contract/index.ts';
import { createActiveStream, userRecordsIn } from '../helpers/kinesis-stream.ts';

export const REGION = 'us-east-1';
/** The agent stream every scenario appends to. */
export const STREAM = 'telemetry';
/** Peak RSS the agent may reach under the hostile corpus (issue 17). */
export const RSS_LIMIT_BYTES = 90 * 1e6;
/** Extra copies over the kill loop, as a fraction of acknowledged records (issue 17). */
export const DUPLICATE_LIMIT = 0.1;

export interface ScenarioResult {
  readonly scenario: string;
  /** Records the client got a 2xx for; undefined where the scenario appends nothing of note. */
  readonly acked?: number;
  readonly lost?: number;
  /** Extra copies in Kinesis (all copies minus distinct ids). */
  readonly duplicated?: number;
  /** Agent exits nobody asked for, and failed starts. */
  readonly crashes: number;
  /** Highest VmHWM of any agent process the scenario ran. */
  readonly peakRssBytes: number;
  readonly outcome: 'pass' | 'FAIL' | 'skipped';
  /** Why it failed or was skipped, one line each. */
  readonly findings: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// The agent process

export interface LaunchLine {
  readonly env: Readonly<Record<string, string>>;
  readonly nodeFlags: readonly string[];
}

/**
 * The device launch line as device/README.md documents it (the `sh` block that runs
 * `tributary.mjs agent run`), so the suite runs what devices run and follows the README when it changes.
 */
export async function readLaunchLine(): Promise<LaunchLine> {
  const readme = await readFile(join(PROJECT_ROOT, 'device', 'README.md'), 'utf8');
  const line = readme
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .find((text) => /\bnode\b.*tributary\.mjs agent run/.test(text));
  if (line === undefined)
    throw new Error('device/README.md has no launch line running tributary.mjs agent run');
  const words = line.trim().split(/\s+/);
  const nodeAt = words.indexOf('node');
  const bundleAt = words.indexOf('tributary.mjs');
  const env: Record<string, string> = {};
  for (const word of words.slice(0, nodeAt)) {
    const [name, value] = word.split('=');
    if (name !== undefined && value !== undefined) env[name] = value;
  }
  return { env, nodeFlags: words.slice(nodeAt + 1, bundleAt) };
}

/** Builds the device bundle into `outdir` (scripts/build-device.ts); returns the entry file. */
export function buildDeviceBundle(outdir = join(PROJECT_ROOT, 'dist', 'device')): string {
  const built = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(PROJECT_ROOT, 'scripts', 'build-device.ts'), outdir],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (built.status !== 0) throw new Error(`building the device bundle failed (exit ${built.status})`);
  return join(outdir, 'tributary.mjs');
}

/** Writes a 0600 token file (what a careful user does) and returns the token. */
export async function writeTokenFile(file: string): Promise<string> {
  const token = 'chaos-token-0123456789abcdef';
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return token;
}

/** Starts and watches one agent process. An exit nobody asked for is a crash. */
export class AgentProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  url = '';
  /** Output tail (stdout and stderr), for reports. */
  output = '';
  /** Set once the harness sent a signal: a later exit is expected. */
  private signalled = false;
  /** Exit of a process nobody signalled: code and signal. */
  unexpectedExit: string | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess, logFile: string | undefined) {
    this.child = child;
    this.pid = child.pid ?? -1;
    const full = logFile === undefined ? undefined : createWriteStream(logFile, { flags: 'a' });
    child.once('exit', () => full?.end());
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-8192);
      full?.write(chunk);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.signalled) this.unexpectedExit = `exit code ${code}, signal ${signal}`;
        resolve({ code, signal });
      });
    });
  }

  /** Spawns the bundle with the launch line and waits for its API to come up (or its exit). */
  static async start(
    bundle: string,
    config: string,
    launch: LaunchLine,
    timeoutMillis = 30_000,
    /** Appends all of the agent's output here (the `output` field keeps only its tail). */
    logFile?: string,
  ): Promise<AgentProcess> {
    const child = spawn(process.execPath, [...launch.nodeFlags, bundle, 'agent', 'run', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...launch.env },
    });
    const agent = new AgentProcess(child, logFile);
    const deadline = Date.now() + timeoutMillis;
    while (agent.url === '') {
      const found = / API (http:\/\/127\.0\.0\.1:\d+)/.exec(agent.output)?.[1];
      if (found !== undefined) agent.url = found;
      else if (agent.unexpectedExit !== undefined)
        throw new AgentStartError(`agent exited at start (${agent.unexpectedExit}): ${agent.tail()}`);
      else if (Date.now() > deadline) {
        agent.kill('SIGKILL');
        throw new AgentStartError(`agent API not up after ${timeoutMillis} ms: ${agent.tail()}`);
      } else await sleep(5);
    }
    return agent;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  tail(chars = 600): string {
    return this.output.slice(-chars).replace(/\s+/g, ' ').trim();
  }

  kill(signal: NodeJS.Signals): void {
    this.signalled = true;
    this.child.kill(signal);
  }

  /** Peak resident set (VmHWM) so far; 0 once the process is gone. */
  async peakRss(): Promise<number> {
    try {
      const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
      return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      return 0;
    }
  }

  /**
   * Lets the agent run `lifeMillis`, then SIGKILLs it (unless it died on its own: the exit and the
   * output tail as a finding) and waits for the exit; returns its peak RSS.
   */
  async liveThenKill(lifeMillis: number): Promise<{ peakRss: number; diedOnItsOwn?: string }> {
    await sleep(lifeMillis);
    const peakRss = await this.peakRss();
    const died = this.unexpectedExit;
    if (died === undefined) this.kill('SIGKILL');
    await this.exited;
    return died === undefined ? { peakRss } : { peakRss, diedOnItsOwn: `${died}: ${this.tail()}` };
  }

  /** SIGTERM (clean stop) and the exit code; SIGKILL after `graceMillis`. */
  async stop(graceMillis = 30_000): Promise<number | null> {
    if (!this.alive) return (await this.exited).code;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMillis);
    const { code } = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export class AgentStartError extends Error {
  override readonly name = 'AgentStartError';
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** `code` of the JSON error body, if any. */
  readonly code: string | undefined;
}

export interface RequestOptions {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string | number>;
  readonly body?: string | Buffer;
  readonly timeoutMillis?: number;
}

/** One request on a fresh connection (no pooling, so an agent restart never hits a stale socket). */
export function request(baseUrl: string, options: RequestOptions): Promise<Reply> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers ?? {},
        agent: false,
        timeout: options.timeoutMillis ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let code: string | undefined;
          try {
            const parsed = JSON.parse(text) as { code?: unknown };
            if (typeof parsed.code === 'string') code = parsed.code;
          } catch {
            // Not a JSON error body.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, code });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMillis ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Whether the agent answers GET /v1/status with 200. */
export async function statusAnswers(baseUrl: string, token: string): Promise<boolean> {
  try {
    const reply = await request(baseUrl, {
      path: '/v1/status',
      headers: { authorization: `Bearer ${token}` },
      timeoutMillis: 10_000,
    });
    return reply.status === 200;
  } catch {
    return false;
  }
}

export interface StreamState {
  readonly backlog: number;
  readonly deadLettered: number;
  readonly lastError: string | undefined;
}

/** The export state of one stream from GET /v1/streams/{name}. */
export async function streamState(baseUrl: string, token: string, stream: string): Promise<StreamState> {
  const reply = await request(baseUrl, {
    path: `/v1/streams/${encodeURIComponent(stream)}`,
    headers: { authorization: `Bearer ${token}` },
  });
  if (reply.status !== 200)
    throw new Error(`GET stream ${stream}: ${reply.status} ${reply.text.slice(0, 200)}`);
  const status = JSON.parse(reply.text) as {
    export?: {
      backlog: { records: number };
      counters: Record<string, number>;
      lastError?: { code: string; message: string };
    };
  };
  const exported = status.export;
  return {
    backlog: exported?.backlog.records ?? 0,
    deadLettered: exported?.counters.recordsDeadLettered ?? 0,
    lastError:
      exported?.lastError === undefined
        ? undefined
        : `${exported.lastError.code}: ${exported.lastError.message}`,
  };
}

/** Waits until the stream's export backlog is 0; false after `timeoutMillis`. */
export async function waitDrained(
  baseUrl: string,
  token: string,
  stream: string,
  timeoutMillis: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMillis;
  while (Date.now() < deadline) {
    if ((await streamState(baseUrl, token, stream)).backlog === 0) return true;
    await sleep(100);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Kinesis

/** One user record as found in Kinesis, in shard order. */
export interface KinesisCopy {
  readonly id: string;
  readonly partitionKey: string;
  readonly shardId: string;
}

/** The Kinesis emulator behind the limits proxy; the proxy can be stopped and started on its port. */
/** How long ChaosKinesis.up() keeps trying to get its port back. */
const REBIND_WINDOW_MILLIS = 15_000;

/** The Kinesis proxy's port stayed taken by another process: the agents cannot follow it elsewhere. */
export class ProxyPortTakenError extends Error {
  override readonly name = 'ProxyPortTakenError';
  constructor(port: number, windowMillis: number, cause: unknown) {
    super(
      `Kinesis proxy cannot listen on 127.0.0.1:${port} again: another process held the port for ${windowMillis} ms, and the agents under test are configured with it`,
      { cause },
    );
  }
}

export class ChaosKinesis {
  private constructor(
    readonly emulator: RunningServer,
    public proxy: KinesisLimits,
    readonly port: number,
    private readonly client: KinesisClient,
    /** Whether stop() stops the emulator too (false for a proxy of its own over a shared one). */
    private readonly ownsEmulator: boolean,
  ) {}

  static async start(emulator?: RunningServer): Promise<ChaosKinesis> {
    const upstream = emulator ?? (await startKinesis());
    const port = await freePort();
    const proxy = await startKinesisLimits({ upstream: upstream.endpoint, port });
    const client = createAwsClients({
      kind: 'local',
      region: REGION,
      endpoints: { kinesis: proxy.endpoint },
    }).kinesis();
    return new ChaosKinesis(upstream, proxy, port, client, emulator === undefined);
  }

  /** The same emulator behind a proxy of its own, so an outage or storm there leaves others alone. */
  separateProxy(): Promise<ChaosKinesis> {
    return ChaosKinesis.start(this.emulator);
  }

  /** What agents are configured with; stays the same across proxy restarts. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private reachable = true;

  /** Kinesis unreachable: the proxy's port refuses connections. */
  async down(): Promise<void> {
    if (!this.reachable) return;
    this.reachable = false;
    await this.proxy.stop();
  }

  /**
   * Kinesis reachable again, on the same port: the agents' configs name it and they keep running
   * through the outage. A port freed by down() can be handed by the kernel to a port-0 bind of
   * another process meanwhile, so a taken port is tried again with a growing delay for up to
   * `windowMillis`; past that, ProxyPortTakenError. `onPortBusy` sees each refused attempt.
   */
  async up(options: { windowMillis?: number; onPortBusy?: () => void } = {}): Promise<void> {
    if (this.reachable) return;
    const windowMillis = options.windowMillis ?? REBIND_WINDOW_MILLIS;
    const deadline = Date.now() + windowMillis;
    for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
      try {
        this.proxy = await startKinesisLimits({ upstream: this.emulator.endpoint, port: this.port });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
        options.onPortBusy?.();
        if (Date.now() + delay > deadline) throw new ProxyPortTakenError(this.port, windowMillis, error);
        await sleep(delay);
      }
    }
    this.reachable = true;
  }

  createStream(name: string, shards: number): Promise<void> {
    return createActiveStream(this.client, name, shards);
  }

  /** The ids of every user record in the stream, each shard in order. */
  async copies(stream: string): Promise<KinesisCopy[]> {
    return (await this.records(stream)).map(({ record, partitionKey, shardId }) => ({
      id: record.id,
      partitionKey,
      shardId,
    }));
  }

  /** Every user record in the stream, decoded, KPL aggregates unpacked, each shard in order. */
  async records(stream: string): Promise<(Omit<KinesisCopy, 'id'> & { record: TributaryRecord })[]> {
    return (await userRecordsIn(this.client, stream)).map(({ data, partitionKey, shardId }) => ({
      record: decodeRecord(data),
      partitionKey,
      shardId,
    }));
  }

  async stop(): Promise<void> {
    if (this.reachable) await this.proxy.stop();
    this.client.destroy();
    if (this.ownsEmulator) await this.emulator.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Appending and accounting

interface Sent {
  readonly key: string;
  /** Order of the record among its key's records. */
  readonly seq: number;
}

/** What the client sent and what it was told. */
export class Ledger {
  readonly sent = new Map<string, Sent>();
  readonly acked = new Set<string>();
  private readonly nextSeq = new Map<string, number>();

  record(key: string): TributaryRecord {
    const seq = this.nextSeq.get(key) ?? 0;
    this.nextSeq.set(key, seq + 1);
    const record = createRecord({
      type: 'telemetry',
      deviceId: key,
      payload: { metric: 'chaos', value: seq, unit: '1', tags: { key } },
    });
    this.sent.set(record.id, { key, seq });
    return record;
  }
}

export interface Tally {
  readonly acked: number;
  /** Acked ids never seen in Kinesis. */
  readonly lost: number;
  /** All copies minus distinct ids. */
  readonly duplicated: number;
  readonly mostCopies: number;
  /** Keys whose records reached Kinesis out of append order (first copies compared). */
  readonly keysOutOfOrder: number;
  /** Ids in Kinesis this ledger never sent. */
  readonly strangers: number;
}

export function tally(ledger: Ledger, copies: readonly KinesisCopy[]): Tally {
  const count = new Map<string, number>();
  const lastSeq = new Map<string, number>();
  const disordered = new Set<string>();
  let strangers = 0;
  for (const copy of copies) {
    const seen = count.get(copy.id) ?? 0;
    count.set(copy.id, seen + 1);
    const sent = ledger.sent.get(copy.id);
    if (sent === undefined) {
      strangers++;
      continue;
    }
    if (seen > 0) continue;
    if ((lastSeq.get(sent.key) ?? -1) > sent.seq) disordered.add(sent.key);
    lastSeq.set(sent.key, sent.seq);
  }
  let lost = 0;
  for (const id of ledger.acked) if (!count.has(id)) lost++;
  let mostCopies = 0;
  for (const n of count.values()) mostCopies = Math.max(mostCopies, n);
  return {
    acked: ledger.acked.size,
    lost,
    duplicated: copies.length - count.size,
    mostCopies,
    keysOutOfOrder: disordered.size,
    strangers,
  };
}

export interface AppenderOptions {
  readonly token: string;
  readonly stream: string;
  /** Concurrent clients; each owns its keys so per-key order is the order it appends in. */
  readonly workers: number;
  readonly keysPerWorker: number;
  readonly batch: number;
}

/**
 * Clients appending NDJSON batches in a loop until stopped. A 202 marks the batch's ids acked;
 * anything else (refused, connection reset by a kill) leaves them unacked and the client moves on.
 */
export class Appender {
  readonly ledger = new Ledger();
  readonly statuses = new Map<string, number>();
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly url: () => string,
    private readonly options: AppenderOptions,
  ) {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.options.workers }, (_, w) => this.loop(w));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Appends `batches` batches from worker 0 and resolves when done. */
  async appendBatches(batches: number): Promise<void> {
    for (let i = 0; i < batches; i++) await this.appendOnce(0, i);
  }

  private async loop(worker: number): Promise<void> {
    for (let round = 0; this.running; round++) {
      const ok = await this.appendOnce(worker, round);
      if (!ok) await sleep(10);
    }
  }

  private async appendOnce(worker: number, round: number): Promise<boolean> {
    const { batch, keysPerWorker, stream, token } = this.options;
    const records = Array.from({ length: batch }, (_, i) =>
      this.ledger.record(`w${worker}-k${(round * batch + i) % keysPerWorker}`),
    );
    let label: string;
    try {
      const reply = await request(this.url(), {
        method: 'POST',
        path: `/v1/streams/${encodeURIComponent(stream)}/records`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
        body: records.map((r) => JSON.stringify(r)).join('\n'),
        timeoutMillis: 15_000,
      });
      label = `${reply.status}${reply.code === undefined ? '' : ` ${reply.code}`}`;
      if (reply.status >= 200 && reply.status < 300) for (const r of records) this.ledger.acked.add(r.id);
    } catch (error) {
      label = (error as NodeJS.ErrnoException).code ?? 'error';
    }
    this.statuses.set(label, (this.statuses.get(label) ?? 0) + 1);
    return label.startsWith('2');
  }
}

/** A loopback agent config file; returns its path. */
export async function writeAgentConfig(
  dir: string,
  options: {
    storeRoot: string;
    port: number;
    tokenFile: string;
    kinesisEndpoint: string;
    streams: object[];
    extra?: object;
  },
): Promise<string> {
  const file = join(dir, 'agent.json');
  await writeFile(
    file,
    JSON.stringify({
      storeRoot: options.storeRoot,
      deviceId: 'chaos-gateway',
      aws: { region: REGION, endpoint: options.kinesisEndpoint },
      api: { port: options.port, authTokenFile: options.tokenFile },
      ...options.extra,
      streams: options.streams,
    }),
  );
  return file;
}

/** One scenario's agent on loopback: its folder, Kinesis stream, API token, port and URL. */
export interface ScenarioAgent {
  readonly dir: string;
  readonly kinesisStream: string;
  readonly tokenFile: string;
  readonly token: string;
  readonly port: number;
  readonly url: string;
}

/** Makes the scenario's folder and Kinesis stream, a token file and a free port for its agent. */
export async function prepareScenario(
  kinesis: ChaosKinesis,
  baseDir: string,
  tag: string,
  shards: number,
): Promise<ScenarioAgent> {
  const dir = join(baseDir, tag);
  await mkdir(dir, { recursive: true });
  const kinesisStream = `chaos-${tag}-${Date.now()}`;
  await kinesis.createStream(kinesisStream, shards);
  const tokenFile = join(dir, 'api-token');
  const token = await writeTokenFile(tokenFile);
  const port = await freePort();
  return { dir, kinesisStream, tokenFile, token, port, url: `http://127.0.0.1:${port}` };
}

/**
 * The agent config of a scenario with one stream exporting to its Kinesis stream. An agent restarted
 * over and over takes port 0 and is found at its `url`: a fixed port freed by a kill can be handed to
 * a scenario running beside it before the next start.
 */
export function writeScenarioConfig(
  agent: ScenarioAgent,
  kinesis: ChaosKinesis,
  port = agent.port,
): Promise<string> {
  return writeAgentConfig(agent.dir, {
    storeRoot: join(agent.dir, 'store'),
    port,
    tokenFile: agent.tokenFile,
    kinesisEndpoint: kinesis.endpoint,
    streams: [{ name: STREAM, export: { kinesisStreamName: agent.kinesisStream } }],
  });
}

/** What no scenario tolerates: acknowledged records missing from Kinesis, or a key out of order. */
export function lossFindings(counted: Tally): string[] {
  const findings: string[] = [];
  if (counted.lost > 0) findings.push(`${counted.lost} acknowledged records never reached Kinesis`);
  if (counted.keysOutOfOrder > 0)
    findings.push(`${counted.keysOutOfOrder} keys reached Kinesis out of order`);
  return findings;
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function percent(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${((part / whole) * 100).toFixed(1)}%`;
}

export { once, sleep };
