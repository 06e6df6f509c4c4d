import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  type AnalyticsJobOptions,
  type RunningAnalyticsJob,
  startAnalyticsJob,
} from './analytics/launcher.ts';
import type { LocalCloud } from './cloud.ts';
import { type LakeDelivery, startLakeDelivery } from './delivery/delivery.ts';
import { type EventSourceRunner, startEventSourceRunner } from './esm/index.ts';
import { type FleetOptions, type PublishedBatch, type RunningFleet, startFleet } from './fleet/index.ts';
import type { StackResource } from './resources/stack.ts';

/**
 * The stack's moving parts on a running local cloud: the device agents and the simulated fleet
 * publishing through them, the alert function on its event source mapping, the Firehose-equivalent
 * lake delivery and the Flink job. `npm start`, the end-to-end test and the pipeline benchmark all
 * start it through here, so they run the same thing.
 */

export interface PipelineOptions {
  readonly cloud: LocalCloud;
  /** Undefined: no agents, no simulator. */
  readonly fleet?: FleetOptions;
  /** Run the Flink job (needs Java 17 and Maven). Default true. */
  readonly analytics?: boolean;
  /** Window settings for the Flink job (`Windows` property group), e.g. a longer out-of-orderness. */
  readonly analyticsWindows?: AnalyticsJobOptions['windows'];
  /** Firehose buffering interval for the lake; default 60 s (Firehose's minimum with partitioning). */
  readonly lakeIntervalMs?: number;
  readonly onPublished?: (batch: PublishedBatch) => void;
  readonly log?: (message: string) => void;
}

export interface PipelineStats {
  readonly fleet:
    | {
        readonly generated: number;
        readonly published: number;
        readonly refused: number;
        readonly anomalies: number;
        readonly exported: number;
        readonly backlog: number;
        readonly exportLagMillis: number;
        readonly exportErrors: readonly string[];
      }
    | undefined;
  readonly functions: readonly {
    readonly functionName: string;
    readonly invocations: number;
    readonly recordsSucceeded: number;
    readonly recordsGivenUp: number;
    readonly functionErrors: number;
    readonly iteratorAgeMillis: number;
  }[];
  readonly alerts: number;
  readonly lake: { readonly delivered: number; readonly failed: number; readonly objects: number };
  readonly analytics: { readonly running: boolean } | undefined;
}

export interface RunningPipeline {
  readonly functions: EventSourceRunner;
  readonly lake: LakeDelivery;
  readonly fleet: RunningFleet | undefined;
  readonly analytics: RunningAnalyticsJob | undefined;
  readonly streamName: string;
  readonly alertsTable: string;
  readonly aggregatesTable: string;
  stats(): Promise<PipelineStats>;
  /** Stops the fleet first (nothing new comes in), then the consumers; the cloud stays up. */
  stop(): Promise<void>;
}

const DEFAULT_LAKE_INTERVAL_MS = 60_000;

function stackResource<K extends StackResource['kind']>(
  cloud: LocalCloud,
  kind: K,
  logicalId: string,
): Extract<StackResource, { kind: K }> {
  const found = cloud.stack.resources.find((r) => r.kind === kind && r.logicalId === logicalId);
  if (found === undefined) throw new Error(`${cloud.stack.file} declares no ${kind} ${logicalId}`);
  return found as Extract<StackResource, { kind: K }>;
}

export async function startPipeline(options: PipelineOptions): Promise<RunningPipeline> {
  const { cloud } = options;
  const log = options.log ?? ((message: string) => console.error(message));
  const stream = stackResource(cloud, 'kinesis-stream', 'RecordsStream');
  const alertsTable = stackResource(cloud, 'dynamodb-table', 'AlertsTable');
  const aggregatesTable = stackResource(cloud, 'dynamodb-table', 'AggregatesTable');
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.reverse()) await stop().catch((error: unknown) => log(String(error)));
  };
  try {
    // Checkpoints name stream positions: they only make sense while the stream's data persists.
    const esmDir = join(cloud.dataDir, 'esm');
    const analyticsDir = join(cloud.dataDir, 'analytics');
    if (!cloud.persist) {
      await rm(esmDir, { recursive: true, force: true });
      await rm(analyticsDir, { recursive: true, force: true });
    }
    const functions = await startEventSourceRunner({ cloud, dataDir: esmDir, log });
    stoppers.push(() => functions.stop());
    const lake = await startLakeDelivery({
      stack: cloud.stack,
      clients: cloud.clients,
      dataDir: join(cloud.dataDir, 'delivery'),
      buffering: { intervalMs: options.lakeIntervalMs ?? DEFAULT_LAKE_INTERVAL_MS },
    });
    stoppers.push(() => lake.stop());
    lake.done.catch((error: unknown) => log(`lake delivery stopped: ${errorText(error)}`));
    let analytics: RunningAnalyticsJob | undefined;
    if (options.analytics ?? true) {
      analytics = await startAnalyticsJob({
        kinesisEndpoint: cloud.endpoints.kinesis,
        dynamodbEndpoint: cloud.endpoints.dynamodb,
        region: cloud.region,
        streamName: stream.name,
        tableName: aggregatesTable.name,
        workDir: analyticsDir,
        ...(options.analyticsWindows === undefined ? {} : { windows: options.analyticsWindows }),
      });
      const job = analytics;
      stoppers.push(() => job.stop());
    }
    let fleet: RunningFleet | undefined;
    if (options.fleet !== undefined) {
      fleet = await startFleet({
        fleet: options.fleet,
        dataDir: join(cloud.dataDir, 'fleet'),
        region: cloud.region,
        kinesisEndpoint: cloud.endpoints.kinesis,
        kinesisStreamName: stream.name,
        ...(options.onPublished === undefined ? {} : { onPublished: options.onPublished }),
        onError: (error) => log(`[fleet] ${error.message}`),
      });
      const running = fleet;
      stoppers.push(() => running.stop());
    }
    const dynamodb = cloud.clients.dynamodb();
    const countAlerts = async (): Promise<number> => {
      let count = 0;
      let start: Record<string, never> | undefined;
      do {
        const page = await dynamodb.send(
          new ScanCommand({
            TableName: alertsTable.name,
            Select: 'COUNT',
            FilterExpression: 'sk = :alert',
            ExpressionAttributeValues: { ':alert': { S: 'ALERT' } },
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        );
        count += page.Count ?? 0;
        start = page.LastEvaluatedKey as Record<string, never> | undefined;
      } while (start !== undefined);
      return count;
    };
    return {
      functions,
      lake,
      fleet,
      analytics,
      streamName: stream.name,
      alertsTable: alertsTable.name,
      aggregatesTable: aggregatesTable.name,
      async stats() {
        const lakeStats = lake.stats();
        return {
          fleet: fleet === undefined ? undefined : await fleetStats(fleet),
          functions: functions.mappings.map(({ definition, stats }) => ({
            functionName: definition.functionName,
            invocations: stats.invocations,
            recordsSucceeded: stats.recordsSucceeded,
            recordsGivenUp: stats.recordsGivenUp,
            functionErrors: stats.functionErrors,
            iteratorAgeMillis: stats.iteratorAgeMillis,
          })),
          alerts: await countAlerts().catch(() => -1),
          lake: { delivered: lakeStats.delivered, failed: lakeStats.failed, objects: lakeStats.objects },
          analytics: analytics === undefined ? undefined : { running: true },
        };
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function fleetStats(fleet: RunningFleet): Promise<NonNullable<PipelineStats['fleet']>> {
  const publisher = fleet.publisher.stats();
  let exported = 0;
  let backlog = 0;
  let exportLagMillis = 0;
  const exportErrors: string[] = [];
  const statuses = await Promise.allSettled(fleet.agents.map((agent) => agent.status()));
  statuses.forEach((result, index) => {
    const name = fleet.agents[index]?.name ?? String(index);
    if (result.status === 'rejected') {
      exportErrors.push(`${name}: ${errorText(result.reason)}`);
      return;
    }
    for (const stream of result.value.streams) {
      const status = stream.export;
      if (status === undefined) continue;
      exported += status.counters.recordsAccepted;
      backlog += status.backlog.records;
      exportLagMillis = Math.max(exportLagMillis, status.lagMillis);
      if (status.lastError !== undefined)
        exportErrors.push(`${name}/${stream.name}: ${status.lastError.message}`);
    }
  });
  return {
    generated: publisher.generated,
    published: publisher.published,
    refused: publisher.refused,
    anomalies: fleet.scenario.anomalies.length,
    exported,
    backlog,
    exportLagMillis,
    exportErrors,
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What runs where, printed once at start. */
export function describePipeline(
  pipeline: RunningPipeline,
  cloud: LocalCloud,
  lakeIntervalMs: number,
): string {
  const lines: string[] = [];
  const { fleet, lake, functions, analytics } = pipeline;
  for (const agent of fleet?.agents ?? []) {
    lines.push(
      `device agent ${agent.name}   ${agent.url}   (tributary append --url ${agent.url} --stream telemetry|transactions; config ${agent.configFile})`,
    );
  }
  if (fleet !== undefined) {
    const { sensors, terminals } = fleet.scenario.options;
    lines.push(
      sensors + terminals === 0
        ? 'fleet: no simulator; append your own records to the agent above'
        : `fleet: ${sensors} sensors and ${terminals} card terminals (seed ${fleet.scenario.options.seed}), anomalies every ${fleet.scenario.options.anomalyIntervalMs / 1000} simulated s`,
    );
  }
  for (const mapping of functions.mappings) {
    lines.push(
      `function ${mapping.definition.functionName} on ${mapping.consumerArn} (local event source mapping; on-failure: ${mapping.onFailureFile ?? 'none'})`,
    );
  }
  lines.push(
    `lake: ${lake.deliveryStream.logicalId} writes Parquet to s3://${lake.bucket}/ every ${lakeIntervalMs / 1000} s; TRIBUTARY_S3_ENDPOINT=${cloud.endpoints.s3} npm run query -- --examples`,
  );
  lines.push(
    analytics === undefined
      ? 'analytics: off (--no-analytics)'
      : `analytics: Flink job (MiniCluster) → ${pipeline.aggregatesTable}; log ${analytics.logFile}`,
  );
  return lines.join('\n');
}

/** The live one-line summary: records in, exported, alerts, lake files, windows. */
export function formatPipelineLine(stats: PipelineStats): string {
  const parts: string[] = [];
  if (stats.fleet !== undefined) {
    const { published, exported, backlog, exportLagMillis, anomalies, refused } = stats.fleet;
    parts.push(`in ${published}`);
    parts.push(`exported ${exported} (backlog ${backlog}, lag ${(exportLagMillis / 1000).toFixed(1)} s)`);
    parts.push(`anomalies ${anomalies}`);
    if (refused > 0) parts.push(`REFUSED ${refused}`);
  }
  const age = Math.max(0, ...stats.functions.map((f) => f.iteratorAgeMillis));
  const given = stats.functions.reduce((n, f) => n + f.recordsGivenUp, 0);
  parts.push(
    `alerts ${stats.alerts < 0 ? '?' : stats.alerts} (iterator age ${(age / 1000).toFixed(1)} s${given > 0 ? `, ${given} given up` : ''})`,
  );
  parts.push(
    `lake ${stats.lake.delivered} records in ${stats.lake.objects} files${stats.lake.failed > 0 ? `, ${stats.lake.failed} errors` : ''}`,
  );
  if (stats.analytics !== undefined) parts.push(`windows ${stats.analytics.running ? 'running' : 'stopped'}`);
  return parts.join(' · ');
}
