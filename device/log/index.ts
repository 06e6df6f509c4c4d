// The store refuses an oversized payload with the contract's class: one class per meaning.
export { RecordTooLargeError } from '../../shared/contract/errors.ts';
export { CHECKPOINT_NOTE_MAX_BYTES } from './checkpoint.ts';
export { crc32c } from './crc32c.ts';
export {
  DEFAULT_GROUP_COMMIT_MILLIS,
  DEFAULT_MAX_RECORD_SIZE,
  DEFAULT_MAX_SIZE,
  DEFAULT_SEGMENT_SIZE,
  isValidStreamName,
  parseStreamDefinition,
  type StreamDefinition,
  type StreamDefinitionInput,
} from './definition.ts';
export * from './errors.ts';
export {
  LogStore,
  type LogStoreOptions,
  type RecordsOptions,
  type StorageReport,
  type StreamDescription,
} from './store.ts';
export type { AppendManyResult, AppendResult, LogRecord, ReadOptions, StreamStats } from './stream.ts';
