import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  type ChildShard,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  type Shard,
  type StartingPosition,
} from '@aws-sdk/client-kinesis';
import { createAlertsHandler } from '../../functions/alerts/handler.ts';
import { bundledRules } from '../../functions/alerts/rules/bundled.ts';
import type { AwsClients } from '../../shared/aws/clients.ts';
import type { StackDefinition } from '../resources/stack.ts';
import { TRIBUTARY_DIR } from '../servers/runtime.ts';
import { FileCheckpointStore, SHARD_END } from './checkpoints.ts';
import { loadStreamMappings, type StreamMappingDefinition, type StreamMappingSettings } from './config.ts';
import { EventSourceMappingError } from './errors.ts';
import { FileOnFailureDestination } from './on-failure.ts';
import { type MappingRuntime, type MappingStats, ShardWorker, type StreamHandler } from './shard.ts';

/**
 * The local event source runner: every Kinesis `stream` event of every function in serverless.yml,
 * run in this process the way Lambda's event source mapping runs it (see shard.ts for the semantics).
 * Local stand-ins, under `dataDir/<function>/`: `checkpoints.json` (durable shard checkpoints) and
 * `on-failure.jsonl` (the on-failure destination; there is no local SQS).
 */

/** Builds a function's handler for the local cloud from its serverless.yml environment. */
export type LocalHandlerFactory = (
  environment: Readonly<Record<string, string>>,
  clients: AwsClients,
) => StreamHandler;

/** Functions the runner knows how to wire locally, by serverless.yml function name. */
export const LOCAL_HANDLERS: Readonly<Record<string, LocalHandlerFactory>> = {
  alerts: (environment, clients) => {
    const table = (name: string) => {
      const value = environment[name];
      if (value === undefined) throw new EventSourceMappingError('alerts', `environment has no ${name}`);
      return value;
    };
    const handler = createAlertsHandler({
      config: bundledRules,
      documents: clients.documents(),
      alertsTable: table('ALERTS_TABLE'),
      stateTable: table('CARD_STATE_TABLE'),
      // Per-batch INFO lines would flood `npm start`; POWERTOOLS_LOG_LEVEL turns them back on.
      logger: new Logger({
        serviceName: 'alerts',
        ...(process.env.POWERTOOLS_LOG_LEVEL === undefined ? { logLevel: 'WARN' as const } : {}),
      }),
    });
    return (event, context) => handler(event, context);
  },
};

export interface EventSourceRunnerOptions {
  /** The running local cloud (or anything with its clients and stack). */
  cloud: { clients: AwsClients; stack: StackDefinition; region: string };
  /** Checkpoints and on-failure files; `.tributary/esm` by default. */
  dataDir?: string;
  /** Handlers by function name; defaults to LOCAL_HANDLERS. */
  handlers?: Readonly<Record<string, StreamHandler>>;
  /** Only run these functions' mappings (default: all of them). */
  functions?: readonly string[];
  /** Overrides of the serverless.yml settings (tests use short ages and few retries). */
  settings?: Partial<StreamMappingSettings>;
  /** Pause before a retry; default 200 ms. */
  retryDelayMs?: number;
  /** Epoch ms for record ages, batching windows and timestamps; Date.now by default. */
  clock?: () => number;
  log?: (message: string) => void;
}

export interface RunningMapping {
  readonly definition: StreamMappingDefinition;
  readonly settings: StreamMappingSettings;
  readonly consumerArn: string;
  readonly checkpointFile: string;
  /** Local on-failure destination (JSON lines), when the mapping declares one. */
  readonly onFailureFile: string | undefined;
  readonly stats: Readonly<MappingStats>;
  checkpoints(): Readonly<Record<string, string>>;
}

export interface EventSourceRunner {
  readonly mappings: readonly RunningMapping[];
  mapping(functionName: string): RunningMapping;
  stop(): Promise<void>;
}

const LOCAL_ROLE = 'arn:aws:iam::000000000000:role/tributary-local-function';

export async function startEventSourceRunner(options: EventSourceRunnerOptions): Promise<EventSourceRunner> {
  const { cloud } = options;
  const dataDir = options.dataDir ?? join(TRIBUTARY_DIR, 'esm');
  const log = options.log ?? ((message: string) => console.error(`[esm] ${message}`));
  const kinesis = cloud.clients.kinesis();
  const definitions = (await loadStreamMappings(cloud.stack)).filter(
    (d) => options.functions === undefined || options.functions.includes(d.functionName),
  );

  const workers: ShardWorker[] = [];
  const mappings: RunningMapping[] = [];
  let stopping = false;
  try {
    for (const definition of definitions) {
      const { functionName } = definition;
      const handler =
        options.handlers?.[functionName] ??
        LOCAL_HANDLERS[functionName]?.(definition.environment, cloud.clients);
      if (handler === undefined)
        throw new EventSourceMappingError(
          functionName,
          'no local handler (see LOCAL_HANDLERS in local/esm/runner.ts)',
        );
      const summary = await kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: definition.streamName }),
      );
      const streamArn = summary.StreamDescriptionSummary?.StreamARN;
      if (streamArn === undefined)
        throw new EventSourceMappingError(functionName, `stream ${definition.streamName} has no ARN`);
      const consumer = await kinesis.send(
        new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: definition.consumerName }),
      );
      const consumerArn = consumer.ConsumerDescription?.ConsumerARN;
      if (consumerArn === undefined || consumer.ConsumerDescription?.ConsumerStatus !== 'ACTIVE')
        throw new EventSourceMappingError(functionName, `consumer ${definition.consumerName} is not ACTIVE`);

      const settings = { ...definition.settings, ...options.settings };
      const directory = join(dataDir, functionName);
      const checkpoints = await FileCheckpointStore.open(join(directory, 'checkpoints.json'));
      const onFailure =
        definition.onFailure === undefined
          ? undefined
          : new FileOnFailureDestination(join(directory, 'on-failure.jsonl'));
      const stats: MappingStats = {
        invocations: 0,
        functionErrors: 0,
        partialFailures: 0,
        bisections: 0,
        retries: 0,
        recordsSucceeded: 0,
        userRecordsSucceeded: 0,
        recordsGivenUp: 0,
        subscriptions: 0,
        iteratorAgeMillis: 0,
      };
      const runtime: MappingRuntime = {
        functionName,
        handler,
        settings,
        source: { region: cloud.region, streamArn, invokeIdentityArn: LOCAL_ROLE },
        accountId: cloud.stack.accountId,
        consumerArn,
        kinesis,
        checkpoints,
        onFailure,
        stats,
        retryDelayMs: options.retryDelayMs ?? 200,
        clock: options.clock ?? Date.now,
        log,
      };

      const started = new Set<string>();
      const ended = new Set<string>();
      const start = (shardId: string, position: StartingPosition) => {
        if (stopping || started.has(shardId)) return;
        started.add(shardId);
        workers.push(
          new ShardWorker(runtime, shardId, position, (children) => {
            ended.add(shardId);
            startChildren(children);
          }),
        );
      };
      // A child starts once all its parents were read to the end (Lambda's order across reshards).
      const startChildren = (children: readonly (ChildShard | Shard)[]) => {
        for (const child of children) {
          const parents =
            'ParentShards' in child
              ? (child.ParentShards ?? [])
              : [child.ParentShardId, child.AdjacentParentShardId].filter(
                  (p): p is string => p !== undefined,
                );
          if (child.ShardId !== undefined && parents.every((p) => ended.has(p)))
            start(child.ShardId, positionFor(child.ShardId, { Type: 'TRIM_HORIZON' }));
        }
      };
      const positionFor = (shardId: string, initial: StartingPosition): StartingPosition => {
        const checkpoint = checkpoints.get(shardId);
        return checkpoint === undefined
          ? initial
          : { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: checkpoint };
      };

      const shards = await listShards(kinesis, definition.streamName);
      const known = new Set(shards.map((s) => s.ShardId));
      for (const shard of shards) {
        if (shard.ShardId !== undefined && checkpoints.get(shard.ShardId) === SHARD_END)
          ended.add(shard.ShardId);
      }
      for (const shard of shards) {
        const shardId = shard.ShardId;
        if (shardId === undefined || ended.has(shardId)) continue;
        const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
          (p): p is string => p !== undefined && known.has(p),
        );
        if (parents.length === 0) start(shardId, positionFor(shardId, { Type: settings.startingPosition }));
        else startChildren([shard]);
      }

      mappings.push({
        definition,
        settings,
        consumerArn,
        checkpointFile: checkpoints.path,
        onFailureFile: onFailure?.path,
        stats,
        checkpoints: () => checkpoints.all(),
      });
    }
  } catch (error) {
    stopping = true;
    await Promise.allSettled(workers.map((worker) => worker.stop()));
    throw error;
  }

  return {
    mappings,
    mapping(functionName) {
      const found = mappings.find((m) => m.definition.functionName === functionName);
      if (found === undefined) throw new EventSourceMappingError(functionName, 'is not running');
      return found;
    },
    async stop() {
      stopping = true;
      await Promise.allSettled(workers.map((worker) => worker.stop()));
    },
  };
}

async function listShards(kinesis: ReturnType<AwsClients['kinesis']>, streamName: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await kinesis.send(
      nextToken === undefined
        ? new ListShardsCommand({ StreamName: streamName })
        : new ListShardsCommand({ NextToken: nextToken }),
    );
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return shards;
}
