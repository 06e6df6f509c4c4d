export { FileCheckpointStore, SHARD_END } from './checkpoints.ts';
export { loadStreamMappings, type StreamMappingDefinition, type StreamMappingSettings } from './config.ts';
export { EventSourceMappingError, InvalidBatchResponseError, InvocationTimeoutError } from './errors.ts';
export {
  type EventSource,
  kinesisEvent,
  kinesisEventRecord,
  lambdaContext,
  type ShardRecord,
} from './event.ts';
export { FileOnFailureDestination, type OnFailureRecord, readOnFailureRecords } from './on-failure.ts';
export {
  type EventSourceRunner,
  type EventSourceRunnerOptions,
  LOCAL_HANDLERS,
  type LocalHandlerFactory,
  type RunningMapping,
  startEventSourceRunner,
} from './runner.ts';
export type { MappingStats, StreamHandler } from './shard.ts';
