/**
 * The event source runner's public surface: start it, read what it gave up. Shards, events and
 * checkpoints are internals.
 */
export { loadStreamMappings, type StreamMappingDefinition, type StreamMappingSettings } from './config.ts';
export { EventSourceMappingError, InvalidBatchResponseError, InvocationTimeoutError } from './errors.ts';
export { type OnFailureRecord, readOnFailureRecords } from './on-failure.ts';
export {
  type EventSourceRunner,
  type EventSourceRunnerOptions,
  LOCAL_HANDLERS,
  type LocalHandlerFactory,
  type RunningMapping,
  startEventSourceRunner,
} from './runner.ts';
export type { MappingStats, StreamHandler } from './shard.ts';
