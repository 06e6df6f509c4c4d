/**
 * The record contract's public surface: what the device, the functions, the local cloud and the
 * tests import. Anything else (the schemas' parts, the codec's and scanner's helpers) is internal to
 * shared/contract; add a name here when a module outside needs it.
 */
export {
  createRecord,
  decodeRecord,
  encodeLogRecord,
  encodeRecord,
  type LogRecordParts,
  newRecordId,
  validateRecord,
} from './codec.ts';
export {
  ContractError,
  RecordDecodeError,
  RecordTooComplexError,
  RecordTooLargeError,
  RecordValidationError,
} from './errors.ts';
export { glueColumns } from './glue.ts';
export { isBlankLine, type JsonLimits, JsonScanner, type JsonScanOptions } from './json-scan.ts';
export {
  compatibleSchemas,
  EVENT_TIME_MAX_MS,
  EVENT_TIME_MIN_MS,
  LOG_FIELD_VALUE_MAX_CHARS,
  LOG_LEVELS,
  LOG_SOURCE_MAX_CHARS,
  type LogLevel,
  type LogRecord,
  RECORD_TYPES,
  type RecordType,
  SCHEMA_VERSION,
  SUPPORTED_SCHEMA_VERSIONS,
  strictSchemas,
  type TelemetryRecord,
  type TransactionRecord,
  type TributaryRecord,
} from './schema.ts';
