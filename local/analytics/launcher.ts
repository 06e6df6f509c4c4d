import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT, TRIBUTARY_DIR } from '../servers/runtime.ts';
import { AnalyticsError } from './errors.ts';

/**
 * Runs the Flink job of analytics/ locally: the same main class Managed Flink runs
 * (dev.tributary.analytics.AggregatesJob), in a JVM whose StreamExecutionEnvironment is a local
 * MiniCluster, with runtime properties pointing at the local Kinesis and DynamoDB Local. Property
 * groups are written in the application_properties.json shape Managed Flink uses.
 */

export interface AnalyticsJobOptions {
  kinesisEndpoint: string;
  dynamodbEndpoint: string;
  region: string;
  streamName: string;
  tableName: string;
  /** Where the properties file and the job log go (default .tributary/analytics). */
  workDir?: string;
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  checkpointIntervalMs?: number;
  /** Windows group overrides, e.g. { 'out.of.orderness.ms': '1000' }. */
  windows?: Record<string, string>;
}

export interface RunningAnalyticsJob {
  readonly pid: number | undefined;
  readonly logFile: string;
  stop(): Promise<void>;
}

const ANALYTICS_DIR = join(PROJECT_ROOT, 'analytics');
const POM = join(ANALYTICS_DIR, 'pom.xml');
const CLASSPATH_FILE = join(ANALYTICS_DIR, 'target', 'local-classpath.txt');
const MAIN_CLASS = 'dev.tributary.analytics.AggregatesJob';
// Flink on Java 17 needs these for Kryo, as its own distribution sets in env.java.opts.all.
const JAVA_OPENS = [
  '--add-opens=java.base/java.util=ALL-UNNAMED',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
];

export class AnalyticsBuildError extends AnalyticsError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('ANALYTICS_BUILD_FAILED', `building analytics/ with Maven failed: ${detail}`, options);
  }
}

export function propertyGroups(
  opts: AnalyticsJobOptions,
): { PropertyGroupId: string; PropertyMap: Record<string, string> }[] {
  return [
    {
      PropertyGroupId: 'KinesisSource',
      PropertyMap: {
        'stream.name': opts.streamName,
        'aws.region': opts.region,
        'aws.endpoint': opts.kinesisEndpoint,
        'starting.position': opts.startingPosition ?? 'TRIM_HORIZON',
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

export async function startAnalyticsJob(opts: AnalyticsJobOptions): Promise<RunningAnalyticsJob> {
  const workDir = opts.workDir ?? join(TRIBUTARY_DIR, 'analytics');
  await mkdir(workDir, { recursive: true });
  const propertiesFile = join(workDir, 'application_properties.json');
  await writeFile(propertiesFile, `${JSON.stringify(propertyGroups(opts), null, 2)}\n`);
  const classpath = await analyticsClasspath();
  const logFile = join(workDir, 'job.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  const java = process.env.JAVA_HOME === undefined ? 'java' : join(process.env.JAVA_HOME, 'bin', 'java');
  const child: ChildProcess = spawn(java, ['-Xmx768m', ...JAVA_OPENS, '-cp', classpath, MAIN_CLASS], {
    env: { ...process.env, TRIBUTARY_ANALYTICS_PROPERTIES: propertiesFile, AWS_REGION: opts.region },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid,
    logFile,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      log.end();
    },
  };
}
