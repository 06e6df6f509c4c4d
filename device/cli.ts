/**
 * `tributary` command line: runs the agent in the foreground and talks to a running agent's API.
 * Exit codes: 0 ok, 1 runtime error, 2 usage or config error, 3 agent not reachable,
 * 4 the agent refused the request (invalid record, unknown stream, auth), 5 the agent is busy (stream
 * full, stopping): retry later.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, TributaryError } from '../shared/errors.ts';
import type { AgentStatus, StreamStatus } from './agent.ts';
import { ApiClient } from './api/client.ts';
import { loadAuthToken, startApiServer } from './api/server.ts';
import { API_HOST, DEFAULT_API_PORT, loadConfig } from './config.ts';
import { AgentUnreachableError, ApiRequestError, UsageError } from './errors.ts';
import { fullGc, startCollector } from './memory.ts';

export const EXIT = {
  ok: 0,
  runtime: 1,
  usage: 2,
  unreachable: 3,
  refused: 4,
  busy: 5,
  /** The device's disk is full (STORAGE_FULL): retrying soon does not help until space is freed. */
  storageFull: 6,
} as const;

export const USAGE = `Usage:
  tributary agent run --config <file> [--drain-timeout <ms>]
  tributary append --stream <name> [--record <json> | --file <ndjson file, - for stdin>] [connection]
  tributary status [--json] [connection]
  tributary streams [--json] [connection]
  tributary help

connection (to a running agent; default http://${API_HOST}:${DEFAULT_API_PORT}, no token):
  --config <file>      take the API port and token file from the agent's config
  --url <url>          the agent's API address
  --token-file <file>  bearer token file

append reads NDJSON from stdin when neither --record nor --file is given.
Exit codes: 0 ok, 1 runtime error, 2 usage or config error, 3 agent not reachable,
4 request refused (invalid record, unknown stream, auth), 5 agent busy (stream full, stopping; retry).
`;

/** Records per request when appending a file; each request is all or none. */
const APPEND_BATCH_RECORDS = 500;
const APPEND_BATCH_BYTES = 1024 * 1024;
/** A full GC per half second in which records flowed (see memory.ts). */
const COLLECT_INTERVAL_MILLIS = 500;

interface Io {
  readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  readonly err: NodeJS.WritableStream;
}

const connectionOptions = {
  config: { type: 'string' },
  url: { type: 'string' },
  'token-file': { type: 'string' },
} as const;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

type OptionsConfig = NonNullable<Parameters<typeof parseArgs>[0]>['options'] & {};

function parse<T extends OptionsConfig>(args: string[], options: T) {
  try {
    return parseArgs({
      args,
      options: { ...options, ...HELP } as T & typeof HELP,
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function connect(values: { config?: string; url?: string; 'token-file'?: string }): Promise<ApiClient> {
  if (values.config !== undefined && values.url !== undefined)
    throw new UsageError('give --config or --url, not both');
  let url = values.url ?? `http://${API_HOST}:${DEFAULT_API_PORT}`;
  let tokenFile = values['token-file'];
  if (values.config !== undefined) {
    const config = await loadConfig(values.config);
    url = `http://${API_HOST}:${config.api.port}`;
    tokenFile ??= config.api.authTokenFile;
  }
  const token = tokenFile === undefined ? undefined : await loadAuthToken(tokenFile);
  return new ApiClient({ url, ...(token === undefined ? {} : { token }) });
}

function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function describeStream(s: StreamStatus): string[] {
  const lines = [
    `${s.name}: ${formatCount(s.log.records)} records, ${formatBytes(s.log.bytes)} (${s.definition.persistence})`,
  ];
  const e = s.export;
  if (e !== undefined) {
    lines.push(
      `  → kinesis ${e.kinesisStreamName}: ${e.state}, backlog ${formatCount(e.backlog.records)} records (${formatBytes(e.backlog.bytes)}), ` +
        `last exported #${e.lastExportedSequence ?? '-'}, lag ${(e.lagMillis / 1000).toFixed(1)} s, ` +
        `accepted ${formatCount(e.counters.recordsAccepted)}, dead-lettered ${e.counters.deadLettered}`,
    );
    if (e.lastError !== undefined) {
      lines.push(
        `  last error ${e.lastError.code} at ${new Date(e.lastError.at).toISOString()}: ${e.lastError.message}`,
      );
    }
  }
  return lines;
}

async function statusCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { ...connectionOptions, json: { type: 'boolean' } });
  if (values.help) return help(io);
  const status: AgentStatus = await (await connect(values)).status();
  if (values.json) {
    io.out.write(`${JSON.stringify(status, null, 2)}\n`);
    return EXIT.ok;
  }
  io.out.write(
    `agent ${status.deviceId}: ${status.state} since ${new Date(status.startedAt).toISOString()}\n`,
  );
  for (const s of status.streams) io.out.write(`${describeStream(s).join('\n')}\n`);
  return EXIT.ok;
}

async function streamsCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { ...connectionOptions, json: { type: 'boolean' } });
  if (values.help) return help(io);
  const streams = await (await connect(values)).streams();
  if (values.json) {
    io.out.write(`${JSON.stringify(streams, null, 2)}\n`);
    return EXIT.ok;
  }
  for (const s of streams) {
    const target = s.export === undefined ? '' : ` → ${s.export.kinesisStreamName}`;
    io.out.write(`${s.name}\t${s.log.records} records\t${formatBytes(s.log.bytes)}${target}\n`);
  }
  return EXIT.ok;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function appendCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, {
    ...connectionOptions,
    stream: { type: 'string' },
    record: { type: 'string' },
    file: { type: 'string' },
  });
  if (values.help) return help(io);
  if (values.stream === undefined) throw new UsageError('--stream is required');
  if (values.record !== undefined && values.file !== undefined)
    throw new UsageError('give --record or --file, not both');
  const client = await connect(values);
  if (values.record !== undefined) {
    let record: unknown;
    try {
      record = JSON.parse(values.record);
    } catch (error) {
      throw new UsageError(`--record is not JSON: ${(error as Error).message}`);
    }
    const result = await client.append(values.stream, [record]);
    io.out.write(`appended 1 record to ${result.stream} (sequence ${result.firstSequence})\n`);
    return EXIT.ok;
  }
  if (values.file === undefined && process.stdin.isTTY) {
    throw new UsageError('give --record, --file, or NDJSON on stdin');
  }
  const text =
    values.file === undefined || values.file === '-'
      ? await readStdin()
      : await readFile(values.file, 'utf8');
  // Line numbers for messages: the NDJSON line each record came from.
  const lines = text
    .split('\n')
    .flatMap((line, index) => (line.trim() === '' ? [] : [{ line, number: index + 1 }]));
  let appended = 0;
  let first: number | undefined;
  let last: number | undefined;
  for (let start = 0; start < lines.length; ) {
    let end = start;
    let bytes = 0;
    while (
      end < lines.length &&
      end - start < APPEND_BATCH_RECORDS &&
      (end === start || bytes < APPEND_BATCH_BYTES)
    ) {
      bytes += (lines[end]?.line.length ?? 0) + 1;
      end++;
    }
    const batch = lines.slice(start, end);
    try {
      const result = await client.appendNdjson(values.stream, batch.map((l) => l.line).join('\n'));
      first ??= result.firstSequence;
      last = result.firstSequence + result.count - 1;
      appended += result.count;
    } catch (error) {
      if (error instanceof ApiRequestError && error.index !== undefined) {
        const at = batch[error.index]?.number;
        io.err.write(`line ${at}: refused; ${appended} records before its batch were appended\n`);
      } else if (appended > 0) io.err.write(`${appended} records were appended before the failure\n`);
      throw error;
    }
    start = end;
  }
  io.out.write(
    appended === 0
      ? 'no records in the input\n'
      : `appended ${appended} records to ${values.stream} (sequences ${first}..${last})\n`,
  );
  return EXIT.ok;
}

/** `exported 120000/250000 records (48%), 9.4k rec/s, lag 3.2 s` over all exported streams. */
class Progress {
  #base: number | undefined;
  #samples: { at: number; accepted: number }[] = [];

  line(streams: readonly StreamStatus[], now: number): string | undefined {
    let accepted = 0;
    let backlog = 0;
    let lag = 0;
    for (const s of streams) {
      if (s.export === undefined) continue;
      accepted += s.export.counters.recordsAccepted;
      backlog += s.export.backlog.records;
      lag = Math.max(lag, s.export.lagMillis);
    }
    this.#samples.push({ at: now, accepted });
    // Rate over the last ~5 s.
    while ((this.#samples[0]?.at ?? now) < now - 5_000) this.#samples.shift();
    if (backlog === 0) {
      this.#base = undefined;
      return undefined;
    }
    this.#base ??= accepted;
    const done = accepted - this.#base;
    const total = done + backlog;
    const oldest = this.#samples[0] ?? { at: now, accepted };
    const seconds = (now - oldest.at) / 1000;
    const rate = seconds > 0 ? (accepted - oldest.accepted) / seconds : 0;
    const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
    return `exported ${done}/${total} records (${percent}%), ${formatCount(rate)} rec/s, lag ${(lag / 1000).toFixed(1)} s`;
  }
}

async function agentRun(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' }, 'drain-timeout': { type: 'string' } });
  if (values.help) return help(io);
  if (values.config === undefined) throw new UsageError('--config is required');
  const drainText = values['drain-timeout'];
  const drainTimeoutMillis = drainText === undefined ? undefined : Number(drainText);
  if (
    drainTimeoutMillis !== undefined &&
    !(Number.isInteger(drainTimeoutMillis) && drainTimeoutMillis >= 0)
  ) {
    throw new UsageError(
      `--drain-timeout must be a whole number of milliseconds, got ${JSON.stringify(drainText)}`,
    );
  }
  const config = await loadConfig(values.config);
  const token =
    config.api.authTokenFile === undefined ? undefined : await loadAuthToken(config.api.authTokenFile);
  // A closed terminal or log pipe must not stop ingestion.
  io.out.on('error', () => {});
  const tty = io.out.isTTY === true;
  const log = (line: string) => io.out.write(`${tty ? '\r\x1b[K' : `${new Date().toISOString()} `}${line}\n`);
  // Loaded here so the client commands do not pay for the AWS SDK.
  const { Agent } = await import('./agent.ts');
  const agent = await Agent.start(config, { log });
  let api: Awaited<ReturnType<typeof startApiServer>>;
  try {
    api = await startApiServer({
      agent,
      port: config.api.port,
      maxBodyBytes: config.api.maxBodyBytes,
      ...(token === undefined ? {} : { authToken: token }),
    });
  } catch (error) {
    await agent.stop({ drainTimeoutMillis: 0 });
    throw error;
  }
  const exported = config.streams.flatMap((s) =>
    s.export === undefined ? [] : [`${s.definition.name} → ${s.export.kinesisStreamName}`],
  );
  log(
    `agent ${config.deviceId} running: store ${config.storeRoot}, API ${api.url}${token === undefined ? '' : ' (token)'}`,
  );
  log(
    `streams: ${config.streams.map((s) => s.definition.name).join(', ')}; exporting ${exported.join(', ') || 'nothing'}`,
  );
  const mqtt = agent.status().mqtt;
  if (mqtt !== undefined) log(`status over MQTT: ${mqtt.endpoint}, topic ${mqtt.statusTopic}`);

  const progress = new Progress();
  const lastErrors = new Map<string, number>();
  let ticks = 0;
  const report = () => {
    const streams = agent.status().streams;
    for (const s of streams) {
      const error = s.export?.lastError;
      if (error !== undefined && lastErrors.get(s.name) !== error.at) {
        lastErrors.set(s.name, error.at);
        log(`export ${s.name}: ${error.code}: ${error.message}`);
      }
    }
    const line = progress.line(streams, Date.now());
    // TTY: one line redrawn every second; otherwise a log line every 10 s while there is a backlog.
    if (tty) io.out.write(line === undefined ? '\r\x1b[K' : `\r\x1b[K${line}`);
    else if (line !== undefined && ticks % 10 === 0) log(line);
    ticks++;
  };
  const timer = setInterval(report, 1_000);
  const collector = startCollector({
    collect: fullGc(),
    activity: () =>
      agent
        .status()
        .streams.reduce((sum, s) => sum + s.log.nextSequence + (s.export?.counters.recordsSent ?? 0), 0),
    intervalMillis: COLLECT_INTERVAL_MILLIS,
  });

  const signalled = new Promise<string>((resolve) => {
    let count = 0;
    const onSignal = (signal: string) => {
      count++;
      if (count === 1) resolve(signal);
      else {
        // The log is durable; what was not checkpointed is resent at the next start.
        log(`${signal} again: exiting without waiting`);
        process.exit(EXIT.runtime);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const signal = await signalled;
  const drain = drainTimeoutMillis ?? config.shutdown.drainTimeoutMillis;
  log(`${signal}: stopping${drain > 0 ? `, draining up to ${drain} ms` : ''}`);
  await api.close();
  const result = await agent.stop({ drainTimeoutMillis: drain });
  clearInterval(timer);
  collector.stop();
  if (tty) io.out.write('\r\x1b[K');
  const left = Object.entries(result.backlog).filter(([, n]) => n > 0);
  log(
    left.length === 0
      ? 'stopped; nothing left to export'
      : `stopped; left in the log for the next start: ${left.map(([s, n]) => `${s} ${n} records`).join(', ')}`,
  );
  return EXIT.ok;
}

function help(io: Io): number {
  io.out.write(USAGE);
  return EXIT.ok;
}

function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof ConfigError) return EXIT.usage;
  if (error instanceof AgentUnreachableError) return EXIT.unreachable;
  if (error instanceof TributaryError && error.code === 'STORAGE_FULL') return EXIT.storageFull;
  if (error instanceof ApiRequestError) return error.retryable ? EXIT.busy : EXIT.refused;
  return EXIT.runtime;
}

/** Runs one command; resolves with the process exit code. */
export async function main(
  argv: readonly string[],
  io: Io = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'agent':
        if (rest[0] !== 'run')
          throw new UsageError(`unknown agent command ${JSON.stringify(rest[0] ?? '')}; use "agent run"`);
        return await agentRun(rest.slice(1), io);
      case 'append':
        return await appendCommand(rest, io);
      case 'status':
        return await statusCommand(rest, io);
      case 'streams':
        return await streamsCommand(rest, io);
      case 'help':
      case '--help':
      case '-h':
        return help(io);
      default:
        throw new UsageError(
          command === undefined ? 'no command given' : `unknown command ${JSON.stringify(command)}`,
        );
    }
  } catch (error) {
    const code = exitCodeOf(error);
    const message = error instanceof TributaryError ? `${error.code}: ${error.message}` : String(error);
    io.err.write(`tributary: ${message}\n`);
    if (code === EXIT.usage && error instanceof UsageError) io.err.write(`\n${USAGE}`);
    return code;
  }
}
