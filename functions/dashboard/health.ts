import { z } from 'zod';

/**
 * The pipeline-health document served by `GET /api/health`. Every field is optional: a provider
 * fills what it knows (the local `npm start` knows the agents' exporters, the event source mappings,
 * the lake delivery and the Flink job; the deployed function only probes its tables). Times are
 * epoch milliseconds, durations milliseconds.
 *
 * The router validates a provider's document against this schema, so a provider bug shows up as a
 * 500 with the offending field instead of as a blank panel.
 */

const count = z.number().int().nonnegative();
const millis = z.number().nonnegative();
const epochMs = z.number().int().nonnegative();

export const lastErrorSchema = z.object({
  /** Stable code when the source has one (`ProvisionedThroughputExceededException`, `INTERNAL`, ...). */
  code: z.string().optional(),
  message: z.string(),
  /** When it happened, epoch ms. */
  at: epochMs.optional(),
});

/** One device agent's export of one log stream into Kinesis (device/export ExportStatus). */
export const exportHealthSchema = z.object({
  /** Device (agent) the export runs on. */
  device: z.string().optional(),
  /** The agent's log stream name. */
  logStream: z.string().optional(),
  /** Target Kinesis stream. */
  kinesisStream: z.string().optional(),
  /** 'exporting' | 'idle' | 'backing-off' | 'stopped' | ... */
  state: z.string().optional(),
  backlogRecords: count.optional(),
  backlogBytes: count.optional(),
  /** Age of the oldest record not yet exported. */
  lagMs: millis.optional(),
  recordsAccepted: count.optional(),
  /** Entries answered ProvisionedThroughputExceededException. */
  throttled: count.optional(),
  failedEntries: count.optional(),
  deadLettered: count.optional(),
  lastError: lastErrorSchema.optional(),
});

/** One stream consumer: the alert function's event source mapping, the lake delivery, the Flink source. */
export const consumerHealthSchema = z.object({
  name: z.string(),
  /** 'lambda-esm' | 'firehose' | 'flink' | ... */
  kind: z.string().optional(),
  /** Age of the newest record handed to the consumer (Lambda's IteratorAge metric). */
  iteratorAgeMs: millis.optional(),
  /** Max over shards of MillisBehindLatest from the last read. */
  millisBehindLatest: millis.optional(),
  invocations: count.optional(),
  recordsProcessed: count.optional(),
  /** Function errors / failed deliveries. */
  errors: count.optional(),
  retries: count.optional(),
  /** Records given up on (on-failure destination, DLQ). */
  recordsGivenUp: count.optional(),
  lastError: lastErrorSchema.optional(),
});

export const lakeHealthSchema = z.object({
  recordsDelivered: count.optional(),
  recordsFailed: count.optional(),
  objects: count.optional(),
  bytesWritten: count.optional(),
  /** Failures by reason code (errors/ prefix). */
  failures: z.record(z.string(), count).optional(),
  lastDeliveryAt: epochMs.optional(),
  lastError: lastErrorSchema.optional(),
});

export const analyticsHealthSchema = z.object({
  /** 'RUNNING' | 'READY' | 'STOPPED' | 'not started' | ... */
  state: z.string().optional(),
  windowsEmitted: count.optional(),
  lateRecords: count.optional(),
  invalidRecords: count.optional(),
  /** End of the newest window written to the aggregates table. */
  lastWindowEnd: epochMs.optional(),
  lastError: lastErrorSchema.optional(),
});

/** A table (or other dependency) the API itself reads, probed with one cheap request. */
export const storeHealthSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  latencyMs: millis.optional(),
  error: z.string().optional(),
});

/** Running totals for a one-line summary (records in, exported, alerts, lake files, windows). */
export const totalsSchema = z.object({
  recordsAppended: count.optional(),
  recordsExported: count.optional(),
  alertsRaised: count.optional(),
  lakeObjects: count.optional(),
  windowsEmitted: count.optional(),
});

export const pipelineHealthSchema = z.object({
  /** When the provider took the figures; the router fills in the current time when absent. */
  generatedAt: epochMs.optional(),
  /** Overall verdict; the router derives one from the figures when absent (see deriveStatus). */
  status: z.enum(['ok', 'degraded', 'down']).optional(),
  exports: z.array(exportHealthSchema).optional(),
  consumers: z.array(consumerHealthSchema).optional(),
  lake: lakeHealthSchema.optional(),
  analytics: analyticsHealthSchema.optional(),
  stores: z.array(storeHealthSchema).optional(),
  totals: totalsSchema.optional(),
  /** Free-form lines shown under the health panel. */
  notes: z.array(z.string()).optional(),
});

export type LastError = z.input<typeof lastErrorSchema>;
export type ExportHealth = z.input<typeof exportHealthSchema>;
export type ConsumerHealth = z.input<typeof consumerHealthSchema>;
export type LakeHealth = z.input<typeof lakeHealthSchema>;
export type AnalyticsHealth = z.input<typeof analyticsHealthSchema>;
export type StoreHealth = z.input<typeof storeHealthSchema>;
export type PipelineHealth = z.input<typeof pipelineHealthSchema>;
/** What `GET /api/health` returns: a PipelineHealth with generatedAt and status always set. */
export type PipelineHealthDocument = z.output<typeof pipelineHealthSchema> & {
  generatedAt: number;
  status: 'ok' | 'degraded' | 'down';
};

/** What the lead's `npm start` (or the deployed function) passes to the router. */
export type HealthProvider = () => Promise<PipelineHealth> | PipelineHealth;

/** Thresholds behind the derived status (and the page's colours). */
export const HEALTH_THRESHOLDS = {
  /** Export lag or iterator age above this is 'degraded'. */
  lagDegradedMs: 60_000,
  /** ...and above this 'down' (nothing is getting through). */
  lagDownMs: 15 * 60_000,
  /** A last error younger than this (or with no time) makes the pipeline 'degraded'. */
  recentErrorMs: 5 * 60_000,
} as const;

/**
 * 'down' when a store probe failed or a lag is beyond lagDownMs; 'degraded' when a lag is beyond
 * lagDegradedMs or any part reports a recent last error; else 'ok'. Cumulative counters (errors,
 * failed records) are shown but do not decide: one bad record an hour ago is not an outage.
 */
export function deriveStatus(
  health: z.output<typeof pipelineHealthSchema>,
  now: number,
): 'ok' | 'degraded' | 'down' {
  const lags = [
    ...(health.exports ?? []).map((e) => e.lagMs ?? 0),
    ...(health.consumers ?? []).map((c) => Math.max(c.iteratorAgeMs ?? 0, c.millisBehindLatest ?? 0)),
  ];
  const worstLag = lags.reduce((a, b) => Math.max(a, b), 0);
  if ((health.stores ?? []).some((s) => !s.ok) || worstLag > HEALTH_THRESHOLDS.lagDownMs) return 'down';
  const recent = (error: { at?: number | undefined } | undefined) =>
    error !== undefined && (error.at === undefined || now - error.at <= HEALTH_THRESHOLDS.recentErrorMs);
  const erred = [
    ...(health.exports ?? []).map((e) => e.lastError),
    ...(health.consumers ?? []).map((c) => c.lastError),
    health.lake?.lastError,
    health.analytics?.lastError,
  ].some(recent);
  return worstLag > HEALTH_THRESHOLDS.lagDegradedMs || erred ? 'degraded' : 'ok';
}
