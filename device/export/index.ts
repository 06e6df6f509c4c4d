export { type ExportDefinition, type ExportDefinitionInput, parseExportDefinitions } from './definition.ts';
export * from './errors.ts';
export {
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_IN_FLIGHT_REQUESTS,
  type ExportStatus,
  encodeDeadLetter,
  exporterLimitFields,
  KinesisExporter,
  type KinesisExporterOptions,
} from './exporter.ts';
export {
  classifyFailure,
  httpKinesisApi,
  KINESIS_TARGET,
  type KinesisApi,
  putRecordsBody,
} from './kinesis.ts';
export { fullJitterDelay, type RetryPolicy, ShardPacer, TokenBucket, type WriteLimits } from './pacing.ts';
export {
  keyLane,
  type PendingRecord,
  type Plan,
  type PlanLimits,
  type PlannedEntry,
  planBatch,
} from './planner.ts';
export { partitionKeyOf, partitionKeyProblem, type Route, type RouteFunction } from './routing.ts';
export {
  type DeadLetter,
  type EntryOutcome,
  type ExportCounters,
  ExportState,
  type ExportStateOptions,
  type LastError,
  THROTTLED_CODE,
} from './state.ts';
