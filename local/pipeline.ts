import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { ALERT_SK } from '../functions/alerts/store/layout.ts';
import type { PipelineHealth } from '../functions/dashboard/health.ts';
import {
  type AnalyticsJobOptions,
  type RunningAnalyticsJob,
  startAnalyticsJob,
} from './analytics/launcher.ts';
import type { LocalCloud } from './cloud.ts';
import { type DashboardServer, startDashboardServer } from './dashboard/server.ts';
import { type LakeDelivery, startLakeDelivery } from './delivery/delivery.ts';
import { type EventSourceRunner, startEventSourceRunner } from './esm/index.ts';
import {
  type FleetOptions,
  type PublishedBatch,
  type RunningFleet,
  startFleet,
  type WrittenLogLines,
} from './fleet/index.ts';
import { DEFAULT_GATEWAY_LOG } from './fleet/logs.ts';
import { stackResource } from './resources/stack.ts';

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
  /** Serve the dashboard (read API + page) on this port; 0 picks a free one; undefined: no dashboard. */
  readonly dashboardPort?: number;
  /** Firehose buffering interval for the lake; default 60 s (Firehose's minimum with partitioning). */
  readonly lakeIntervalMs?: number;
  readonly onPublished?: (batch: PublishedBatch) => void;
  /** Lines the fleet wrote to its gateways' syslog files (the agents tail them into `logs`). */
  readonly onLogWritten?: (written: WrittenLogLines) => void;
  readonly log?: (message: string) => void;
}

export interface RunningPipeline {
  readonly functions: EventSourceRunner;
  readonly lake: LakeDelivery;
  readonly fleet: RunningFleet | undefined;
  readonly analytics: RunningAnalyticsJob | undefined;
  readonly dashboard: DashboardServer | undefined;
  readonly streamName: string;
  readonly alertsTable: string;
  readonly aggregatesTable: string;
  /** Every part's figures in the dashboard's health shape (also what the status line prints). */
  health(): Promise<PipelineHealth>;
  /** Stops the fleet first (nothing new comes in), then the consumers; the cloud stays up. */
  stop(): Promise<void>;
}

const DEFAULT_LAKE_INTERVAL_MS = 60_000;

export async function startPipeline(options: PipelineOptions): Promise<RunningPipeline> {
  const { cloud } = options;
  const log = options.log ?? ((message: string) => console.error(message));
  const stream = stackResource(cloud.stack, 'kinesis-stream', 'RecordsStream');
  const alertsTable = stackResource(cloud.stack, 'dynamodb-table', 'AlertsTable');
  const aggregatesTable = stackResource(cloud.stack, 'dynamodb-table', 'AggregatesTable');
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.reverse()) await stop().catch((error: unknown) => log(String(error)));
  };
  try {
    // Checkpoints name stream positions: kept exactly when the stream's data is (the cloud empties its
    // data dir unless --persist).
    const esmDir = join(cloud.dataDir, 'esm');
    const analyticsDir = join(cloud.dataDir, 'analytics');
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
    let analyticsRunning = false;
    let stopping = false;
    if (options.analytics ?? true) {
      analyticsRunning = true;
      log('analytics: building the Flink job with Maven (the first run downloads its dependencies)...');
      analytics = await startAnalyticsJob({
        kinesisEndpoint: cloud.endpoints.kinesis,
        // The Flink connector's EFO client speaks HTTP/2 only, which the limits proxy does not; the
        // proxy limits writes, so reading from the emulator directly changes nothing else.
        kinesisEfoEndpoint: cloud.endpoints.kinesisEmulator,
        dynamodbEndpoint: cloud.endpoints.dynamodb,
        region: cloud.region,
        streamName: stream.name,
        tableName: aggregatesTable.name,
        workDir: analyticsDir,
        ...(options.analyticsWindows === undefined ? {} : { windows: options.analyticsWindows }),
      });
      const job = analytics;
      stoppers.push(async () => {
        stopping = true;
        await job.stop();
      });
      job.exited.then(({ code, signal }) => {
        analyticsRunning = false;
        if (!stopping)
          log(`analytics: the Flink job exited (code ${code}, signal ${signal}); see ${job.logFile}`);
      });
    }
    let fleet: RunningFleet | undefined;
    if (options.fleet !== undefined) {
      fleet = await startFleet({
        fleet: options.fleet,
        dataDir: join(cloud.dataDir, 'fleet'),
        region: cloud.region,
        kinesisEndpoint: cloud.endpoints.kinesis,
        kinesisStreamName: stream.name,
        s3Endpoint: cloud.endpoints.s3,
        siteWiseEndpoint: cloud.endpoints.sitewise,
        ...(options.onPublished === undefined ? {} : { onPublished: options.onPublished }),
        ...(options.onLogWritten === undefined ? {} : { onLogWritten: options.onLogWritten }),
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
            ExpressionAttributeValues: { ':alert': { S: ALERT_SK } },
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        );
        count += page.Count ?? 0;
        start = page.LastEvaluatedKey as Record<string, never> | undefined;
      } while (start !== undefined);
      return count;
    };
    const health = async (): Promise<PipelineHealth> =>
      pipelineHealth({
        fleet,
        functions,
        lake,
        analytics,
        analyticsRunning,
        alertsCount: await countAlerts().catch(() => undefined),
      });
    let dashboard: DashboardServer | undefined;
    if (options.dashboardPort !== undefined) {
      dashboard = await startDashboardServer({
        clients: cloud.clients,
        stack: cloud.stack,
        health,
        port: options.dashboardPort,
      });
      const server = dashboard;
      stoppers.push(() => server.stop());
    }
    return {
      functions,
      lake,
      fleet,
      analytics,
      dashboard,
      streamName: stream.name,
      alertsTable: alertsTable.name,
      aggregatesTable: aggregatesTable.name,
      health,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

interface HealthSources {
  readonly fleet: RunningFleet | undefined;
  readonly functions: EventSourceRunner;
  readonly lake: LakeDelivery;
  readonly analytics: RunningAnalyticsJob | undefined;
  readonly analyticsRunning: boolean;
  readonly alertsCount: number | undefined;
}

/** Every agent's exported streams, as the health document lists them (an unreachable agent included). */
export async function agentExports(
  fleet: RunningFleet | undefined,
): Promise<NonNullable<PipelineHealth['exports']>> {
  return (await agentStatus(fleet)).exports;
}

/**
 * Every agent's exported streams, and the records its logs hold counts of: appended is every
 * record any client appended (the fleet, `tributary append`, the HTTP API), exported is the part
 * no longer in an export backlog. Both come from the log's sequences, so they agree with each other
 * and keep counting across restarts when the log is kept (`--persist`).
 */
export async function agentStatus(fleet: RunningFleet | undefined): Promise<{
  exports: NonNullable<PipelineHealth['exports']>;
  appended: number;
  exported: number;
}> {
  const exports: NonNullable<PipelineHealth['exports']> = [];
  let appended = 0;
  let exported = 0;
  const statuses = await Promise.allSettled((fleet?.agents ?? []).map((agent) => agent.status()));
  statuses.forEach((result, index) => {
    const device = fleet?.agents[index]?.name ?? String(index);
    if (result.status === 'rejected') {
      exports.push({ device, state: 'unreachable', lastError: { message: errorText(result.reason) } });
      return;
    }
    for (const stream of result.value.streams) {
      const status = stream.export;
      appended += stream.log.nextSequence;
      if (status === undefined) continue;
      exported += Math.max(0, stream.log.nextSequence - status.backlog.records);
      exports.push({
        device,
        logStream: stream.name,
        kinesisStream: status.kinesisStreamName,
        state: status.state,
        backlogRecords: status.backlog.records,
        backlogBytes: status.backlog.bytes,
        lagMs: status.lagMillis,
        recordsAccepted: status.counters.recordsAccepted,
        throttled: status.counters.throttled,
        failedEntries: status.counters.failedEntries,
        deadLettered: status.counters.deadLettered,
        ...(status.lastError === undefined ? {} : { lastError: status.lastError }),
      });
    }
  });
  return { exports, appended, exported };
}

async function pipelineHealth(sources: HealthSources): Promise<PipelineHealth> {
  const { fleet, functions, lake, analytics } = sources;
  const { exports, appended, exported } = await agentStatus(fleet);
  const notes: string[] = [];
  const consumers: NonNullable<PipelineHealth['consumers']> = functions.mappings.map(
    ({ definition, stats }) => ({
      name: `function ${definition.functionName}`,
      kind: 'lambda-esm',
      iteratorAgeMs: stats.iteratorAgeMillis,
      invocations: stats.invocations,
      recordsProcessed: stats.userRecordsSucceeded,
      errors: stats.functionErrors,
      retries: stats.retries,
      recordsGivenUp: stats.recordsGivenUp,
    }),
  );
  const lakeStats = lake.stats();
  consumers.push({
    name: `lake ${lakeStats.deliveryStream}`,
    kind: 'firehose',
    millisBehindLatest: Math.max(0, ...Object.values(lakeStats.millisBehindLatest)),
    recordsProcessed: lakeStats.delivered,
    errors: lakeStats.failed,
  });
  let windowsEmitted: number | undefined;
  let analyticsHealth: PipelineHealth['analytics'];
  if (analytics !== undefined) {
    const stats = await analytics.stats().catch(() => undefined);
    windowsEmitted = stats?.windowsEmitted;
    analyticsHealth = {
      state: sources.analyticsRunning ? 'RUNNING' : 'STOPPED',
      ...(stats === undefined
        ? {}
        : {
            windowsEmitted: stats.windowsEmitted,
            lateRecords: stats.lateRecords,
            invalidRecords: stats.recordsInvalid,
          }),
    };
    if (stats !== undefined)
      consumers.push({ name: 'flink aggregates', kind: 'flink', recordsProcessed: stats.recordsParsed });
  }
  const publisher = fleet?.publisher.stats();
  if (fleet !== undefined && publisher !== undefined) {
    notes.push(
      `fleet: ${fleet.scenario.anomalies.length} anomalies injected; ${publisher.published} of ${publisher.generated} records appended, ${publisher.retries} appends retried`,
    );
    const logs = fleet.logs?.stats();
    if (logs !== undefined)
      notes.push(
        `fleet: ${logs.linesWritten} syslog lines written on the gateways (${logs.rotations} rotations), tailed by their agents`,
      );
    if (publisher.refused > 0)
      notes.push(`fleet: ${publisher.refused} records refused by the agent (${publisher.lastError ?? ''})`);
  }
  return {
    generatedAt: Date.now(),
    exports,
    consumers,
    lake: {
      recordsDelivered: lakeStats.delivered,
      recordsFailed: lakeStats.failed,
      objects: lakeStats.objects,
      bytesWritten: lakeStats.bytesWritten,
      failures: { ...lakeStats.failures },
    },
    ...(analyticsHealth === undefined ? {} : { analytics: analyticsHealth }),
    totals: {
      recordsAppended: appended,
      recordsExported: exported,
      ...(sources.alertsCount === undefined ? {} : { alertsRaised: sources.alertsCount }),
      lakeObjects: lakeStats.objects,
      ...(windowsEmitted === undefined ? {} : { windowsEmitted }),
    },
    notes,
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
  const { fleet, lake, functions, analytics, dashboard } = pipeline;
  if (dashboard !== undefined)
    lines.push(`dashboard   ${dashboard.url}   (read API: ${new URL('api', dashboard.url).href})`);
  for (const agent of fleet?.agents ?? []) {
    lines.push(
      `device agent ${agent.name}   ${agent.url}   (tributary append --config ${agent.configFile} --stream telemetry|transactions|logs)`,
    );
  }
  if (fleet !== undefined) {
    const { sensors, terminals } = fleet.scenario.options;
    lines.push(
      sensors + terminals === 0
        ? 'fleet: no simulator; append your own records to the agent above'
        : `fleet: ${sensors} sensors and ${terminals} card terminals (seed ${fleet.scenario.options.seed}), anomalies every ${fleet.scenario.options.anomalyIntervalMs / 1000} simulated s`,
    );
    for (const agent of fleet.agents) {
      if (agent.syslogPattern !== undefined)
        lines.push(
          `gateway syslog ${agent.syslogPattern}   (RFC 5424, rotated every ${DEFAULT_GATEWAY_LOG.rotateEveryMs / 60_000} simulated min; ${agent.name} tails it into its logs stream)`,
        );
    }
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
export function formatPipelineLine(health: PipelineHealth): string {
  const totals = health.totals ?? {};
  const exports = health.exports ?? [];
  const consumers = health.consumers ?? [];
  const backlog = exports.reduce((n, e) => n + (e.backlogRecords ?? 0), 0);
  const lag = Math.max(0, ...exports.map((e) => e.lagMs ?? 0));
  const age = Math.max(0, ...consumers.map((c) => c.iteratorAgeMs ?? 0));
  const givenUp = consumers.reduce((n, c) => n + (c.recordsGivenUp ?? 0), 0);
  const parts = [
    `in ${totals.recordsAppended ?? '-'}`,
    `exported ${totals.recordsExported ?? 0} (backlog ${backlog}, lag ${seconds(lag)})`,
    `alerts ${totals.alertsRaised ?? '?'} (iterator age ${seconds(age)}${givenUp > 0 ? `, ${givenUp} given up` : ''})`,
    `lake ${health.lake?.recordsDelivered ?? 0} records in ${totals.lakeObjects ?? 0} files${(health.lake?.recordsFailed ?? 0) > 0 ? `, ${health.lake?.recordsFailed} to errors/` : ''}`,
  ];
  if (health.analytics !== undefined) {
    parts.push(
      `windows ${health.analytics.windowsEmitted ?? 0}${health.analytics.state === 'STOPPED' ? ' (job stopped)' : ''}`,
    );
  }
  const errors = exports.filter((e) => e.lastError !== undefined).length;
  if (errors > 0) parts.push(`${errors} export errors`);
  return parts.join(' · ');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
