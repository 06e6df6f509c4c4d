import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PROJECT_ROOT, TRIBUTARY_DIR } from '../servers/runtime.ts';
import { AnalyticsBuildError } from './errors.ts';

/**
 * Runs the Flink job of analytics/ locally: the same main class Managed Flink runs
 * (dev.tributary.analytics.AggregatesJob), in a JVM whose StreamExecutionEnvironment is a local
 * MiniCluster, with runtime properties pointing at the local Kinesis and DynamoDB Local. Property
 * groups are written in the application_properties.json shape Managed Flink uses.
 *
 * No orphan: the JVM's standard input is a pipe from this process and the job exits when it closes
 * (TRIBUTARY_ANALYTICS_WATCH_STDIN, see analytics/.../local/LocalRun.java), so it goes away with this
 * process even after SIGKILL; stop() sends SIGTERM, then SIGKILL after a grace period.
 */

export type AnalyticsReaderType = 'EFO' | 'POLLING';

export interface AnalyticsJobOptions {
  /** Kinesis endpoint for the POLLING reader (e.g. the limits proxy, cloud.endpoints.kinesis). */
  kinesisEndpoint: string;
  /**
   * Kinesis endpoint for the EFO reader; default kinesisEndpoint. The Flink connector's SubscribeToShard
   * client speaks HTTP/2 only, which the emulator serves (cloud.endpoints.kinesisEmulator) and the
   * HTTP/1.1 limits proxy does not. The proxy only limits writes, so reading past it loses nothing.
   */
  kinesisEfoEndpoint?: string;
  dynamodbEndpoint: string;
  region: string;
  streamName: string;
  tableName: string;
  /** EFO (default; SubscribeToShard through the stack's AnalyticsConsumer) or POLLING (GetRecords). */
  readerType?: AnalyticsReaderType;
  /** The stream consumer the EFO reader uses (serverless.yml custom.consumers.analytics; default 'analytics'). */
  efoConsumerName?: string;
  /** Where the properties file, the job log and stats.json go (default .tributary/analytics). */
  workDir?: string;
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  checkpointIntervalMs?: number;
  /** How often stats.json is rewritten (default 1000 ms). */
  statsIntervalMs?: number;
  /** Windows group overrides, e.g. { 'out.of.orderness.ms': '1000' }. */
  windows?: Record<string, string>;
}

/** The job's counters, summed over subtasks (analytics/.../local/StatsFileReporter.java). */
export interface AnalyticsStats {
  /** When the JVM wrote them (epoch ms). */
  readonly updatedAt: number;
  /** User records (after KPL deaggregation) read from the stream and parsed. */
  readonly recordsParsed: number;
  /** Records that failed the contract (logged with their reason). */
  readonly recordsInvalid: number;
  /** Window firings: one per window when the watermark passes its end, +1 per late re-firing. */
  readonly windowsEmitted: number;
  /** Aggregate items written to DynamoDB (lags windowsEmitted until the sink flushes). */
  readonly aggregateItemsWritten: number;
  /** Observations past the allowed lateness of their window (side output). */
  readonly lateRecords: number;
  /** `late#...` items written for them. */
  readonly lateItemsWritten: number;
}

export interface RunningAnalyticsJob {
  readonly pid: number | undefined;
  readonly logFile: string;
  /** JSON AnalyticsStats, rewritten every statsIntervalMs while the job runs. */
  readonly statsFile: string;
  /** The latest counters; undefined until the job's first report (a few seconds after start). */
  stats(): Promise<AnalyticsStats | undefined>;
  /** Settles when the JVM exits, however it exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

const ANALYTICS_DIR = join(PROJECT_ROOT, 'analytics');
const POM = join(ANALYTICS_DIR, 'pom.xml');
const CLASSPATH_FILE = join(ANALYTICS_DIR, 'target', 'local-classpath.txt');
const MAIN_CLASS = 'dev.tributary.analytics.AggregatesJob';
const LOG_CONFIG = fileURLToPath(new URL('./log4j2.properties', import.meta.url));
// Flink on Java 17 needs these for Kryo, as its own distribution sets in env.java.opts.all.
const JAVA_OPENS = [
  '--add-opens=java.base/java.util=ALL-UNNAMED',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
];

const STOP_GRACE_MS = 15_000;

export function propertyGroups(
  opts: AnalyticsJobOptions,
): { PropertyGroupId: string; PropertyMap: Record<string, string> }[] {
  const readerType = opts.readerType ?? 'EFO';
  return [
    {
      PropertyGroupId: 'KinesisSource',
      PropertyMap: {
        'stream.name': opts.streamName,
        'aws.region': opts.region,
        'aws.endpoint':
          readerType === 'EFO' ? (opts.kinesisEfoEndpoint ?? opts.kinesisEndpoint) : opts.kinesisEndpoint,
        'starting.position': opts.startingPosition ?? 'TRIM_HORIZON',
        'reader.type': readerType,
        ...(opts.efoConsumerName === undefined ? {} : { 'efo.consumer.name': opts.efoConsumerName }),
      },
    },
    {
      PropertyGroupId: 'AggregatesSink',
      PropertyMap: {
        'table.name': opts.tableName,
        'aws.region': opts.region,
        'aws.endpoint': opts.dynamodbEndpoint,
      },
    },
    { PropertyGroupId: 'Windows', PropertyMap: { ...opts.windows } },
    {
      PropertyGroupId: 'Job',
      PropertyMap: { 'checkpoint.interval.ms': String(opts.checkpointIntervalMs ?? 10_000) },
    },
  ];
}

/** Compiles analytics/ and resolves its full classpath (Flink included) once per pom change. */
export async function analyticsClasspath(): Promise<string> {
  const fresh = await isNewer(CLASSPATH_FILE, POM);
  try {
    const goals = fresh ? ['compile'] : ['compile', 'dependency:build-classpath'];
    await promisify(execFile)(
      'mvn',
      ['-q', '-f', POM, ...goals, `-Dmdep.outputFile=${CLASSPATH_FILE}`, '-Dmdep.includeScope=test'],
      { maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (error) {
    const out = (error as { stdout?: string }).stdout ?? '';
    throw new AnalyticsBuildError(out.split('\n').slice(-20).join('\n') || String(error), { cause: error });
  }
  const deps = (await readFile(CLASSPATH_FILE, 'utf8')).trim();
  return [join(ANALYTICS_DIR, 'target', 'classes'), deps].join(':');
}

async function isNewer(file: string, than: string): Promise<boolean> {
  try {
    return (await stat(file)).mtimeMs > (await stat(than)).mtimeMs;
  } catch {
    return false;
  }
}

/** Reads a stats file written by the job; undefined while there is none (or mid-replace). */
export async function readAnalyticsStats(file: string): Promise<AnalyticsStats | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as AnalyticsStats;
  } catch {
    return undefined;
  }
}

export async function startAnalyticsJob(opts: AnalyticsJobOptions): Promise<RunningAnalyticsJob> {
  const workDir = opts.workDir ?? join(TRIBUTARY_DIR, 'analytics');
  await mkdir(workDir, { recursive: true });
  const propertiesFile = join(workDir, 'application_properties.json');
  await writeFile(propertiesFile, `${JSON.stringify(propertyGroups(opts), null, 2)}\n`);
  const statsFile = join(workDir, 'stats.json');
  await rm(statsFile, { force: true });
  const classpath = await analyticsClasspath();
  const logFile = join(workDir, 'job.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  const java = process.env.JAVA_HOME === undefined ? 'java' : join(process.env.JAVA_HOME, 'bin', 'java');
  const child: ChildProcess = spawn(
    java,
    ['-Xmx768m', ...JAVA_OPENS, `-Dlog4j2.configurationFile=${LOG_CONFIG}`, '-cp', classpath, MAIN_CLASS],
    {
      env: {
        ...process.env,
        TRIBUTARY_ANALYTICS_PROPERTIES: propertiesFile,
        TRIBUTARY_ANALYTICS_STATS: statsFile,
        TRIBUTARY_ANALYTICS_STATS_INTERVAL_MS: String(opts.statsIntervalMs ?? 1_000),
        TRIBUTARY_ANALYTICS_WATCH_STDIN: '1',
        AWS_REGION: opts.region,
      },
      // stdin stays open and unused: its end tells the JVM that this process is gone.
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  child.stdin?.on('error', () => undefined);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid,
    logFile,
    statsFile,
    stats: () => readAnalyticsStats(statsFile),
    exited,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const graceful = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS, false)]);
          if (!graceful) child.kill('SIGKILL');
        }
        await exited;
        child.stdin?.destroy();
        await new Promise<void>((resolve) => log.end(resolve));
      })();
      return stopping;
    },
  };
}
