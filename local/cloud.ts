import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type AwsClients, createAwsClients } from '../shared/aws/clients.ts';
import { DATA_DIR_MARKER, ForeignDataDirError } from './errors.ts';
import { type KinesisLimits, startKinesisLimits } from './kinesis-limits/proxy.ts';
import { createLocalResources, type ResourceStatus } from './resources/create.ts';
import { loadStack, type StackDefinition } from './resources/stack.ts';
import {
  type RunningMqtt,
  type RunningServer,
  type SiteWiseStandIn,
  startDynamoDb,
  startKinesis,
  startMqtt,
  startS3,
  startSiteWise,
} from './servers/index.ts';
import { PROJECT_ROOT, TRIBUTARY_DIR } from './servers/runtime.ts';

/** The embedded cloud: real servers on loopback, the stack's resources created in them. */
export interface LocalCloud {
  readonly region: string;
  /** Absolute folder holding the servers' data and logs. */
  readonly dataDir: string;
  /** Whether Kinesis and DynamoDB state survives a restart. */
  readonly persist: boolean;
  readonly stack: StackDefinition;
  readonly endpoints: {
    kinesis: string;
    kinesisEmulator: string;
    dynamodb: string;
    s3: string;
    /** IoT SiteWise's data plane (BatchPutAssetPropertyValue), for stream manager's SiteWise export. */
    sitewise: string;
    mqtt: string;
  };
  /** The SiteWise stand-in (every property exists): what it accepted, throttling on demand. */
  readonly sitewise: SiteWiseStandIn;
  readonly mqttKind: RunningMqtt['kind'];
  readonly limits: KinesisLimits;
  readonly clients: AwsClients;
  readonly resources: readonly ResourceStatus[];
  /** Process ids of the servers running as child processes (for memory accounting). */
  readonly pids: readonly number[];
  readonly startupMs: number;
  stop(): Promise<void>;
}

export interface LocalCloudOptions {
  /** Where servers keep data and logs; `.tributary/cloud` by default. */
  dataDir?: string;
  /** With persist: start from empty state all the same (removes dataDir first). */
  fresh?: boolean;
  /**
   * One rule for all state: with persist everything is kept in dataDir across restarts (Kinesis,
   * DynamoDB, the lake, agent logs and checkpoints); without it everything starts fresh (dataDir is
   * emptied at start, Kinesis and DynamoDB run in memory).
   */
  persist?: boolean;
  /** AWS-like per-shard write limits in front of the Kinesis emulator (default on). */
  enforceLimits?: boolean;
  stage?: string;
  region?: string;
  serverlessFile?: string;
}

const DEFAULT_REGION = 'us-east-1';

/**
 * Removes a data dir, but only one Tributary made (its marker file), the default one, or an empty
 * one: `--data-dir ~/work` without --persist must not delete someone's files.
 */
export async function emptyDataDir(dataDir: string): Promise<void> {
  const entries = await readdir(dataDir).catch(() => [] as string[]);
  const ours =
    entries.length === 0 || entries.includes(DATA_DIR_MARKER) || dataDir === resolve(TRIBUTARY_DIR, 'cloud');
  if (!ours) throw new ForeignDataDirError(dataDir);
  await rm(dataDir, { recursive: true, force: true });
}

/**
 * Starts every local server in parallel, then creates the resources declared in serverless.yml.
 * Clients from `clients` talk to the limit-enforcing Kinesis endpoint, not the raw emulator.
 * If any step fails, whatever already started is stopped before the error propagates.
 */
export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const began = performance.now();
  const region = options.region ?? DEFAULT_REGION;
  const dataDir = resolve(options.dataDir ?? join(TRIBUTARY_DIR, 'cloud'));
  const persist = options.persist ?? false;
  // Parse first: a broken serverless.yml should fail before any JVM starts.
  const stack = await loadStack(options.serverlessFile ?? join(PROJECT_ROOT, 'serverless.yml'), {
    ...(options.stage === undefined ? {} : { stage: options.stage }),
    region,
  });
  if (options.fresh || !persist) await emptyDataDir(dataDir);
  await mkdir(dataDir, { recursive: true });
  await writeFile(
    join(dataDir, DATA_DIR_MARKER),
    'Tributary local cloud data; emptied by a start without --persist\n',
  );

  const started: { stop(): Promise<void> }[] = [];
  const track = <T extends { stop(): Promise<void> }>(server: T): T => {
    started.push(server);
    return server;
  };
  const stopAll = async () => {
    await Promise.allSettled(started.reverse().map((server) => server.stop()));
  };

  try {
    const [kinesis, dynamodb, s3, mqtt, sitewise] = await Promise.all([
      startKinesis(persist ? { dataDir: join(dataDir, 'kinesis') } : {}).then(track),
      startDynamoDb(persist ? { dataDir: join(dataDir, 'dynamodb') } : {}).then(track),
      startS3({ dataDir: join(dataDir, 's3') }).then(track),
      startMqtt({ dataDir: join(dataDir, 'mqtt') }).then(track),
      startSiteWise().then(track),
    ]);
    const limits = track(
      await startKinesisLimits({ upstream: kinesis.endpoint, enabled: options.enforceLimits ?? true }),
    );
    const clients = createAwsClients({
      kind: 'local',
      region,
      endpoints: {
        kinesis: limits.endpoint,
        dynamodb: dynamodb.endpoint,
        s3: s3.endpoint,
        sitewise: sitewise.endpoint,
      },
    });
    track({ stop: async () => clients.destroy() });
    const resources = await createLocalResources(stack, clients, {
      kinesis: limits.endpoint,
      dynamodb: dynamodb.endpoint,
      s3: s3.endpoint,
    });
    return {
      region,
      dataDir,
      persist,
      stack,
      endpoints: {
        kinesis: limits.endpoint,
        kinesisEmulator: kinesis.endpoint,
        dynamodb: dynamodb.endpoint,
        s3: s3.endpoint,
        sitewise: sitewise.endpoint,
        mqtt: `mqtt://127.0.0.1:${mqtt.port}`,
      },
      sitewise,
      mqttKind: mqtt.kind,
      limits,
      clients,
      resources,
      pids: [kinesis, dynamodb, s3, mqtt]
        .map((server: RunningServer) => server.pid)
        .filter((pid): pid is number => pid !== undefined),
      startupMs: performance.now() - began,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
