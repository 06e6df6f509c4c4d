import { uuidv7 } from 'uuidv7';
import { formatPath, valueAtPath } from '../errors.ts';
import { DEFAULT_MAX_RECORD_BYTES } from '../kinesis/limits.ts';
import { partitionKeyProblem } from '../kinesis/partition-key.ts';
import * as z from '../zod.ts';
import { type FieldIssue, RecordDecodeError, RecordTooLargeError, RecordValidationError } from './errors.ts';
import {
  compatibleSchemas,
  DEVICE_ID,
  EVENT_TIME_MAX_MS,
  EVENT_TIME_MIN_MS,
  LOG_FIELD_VALUE_MAX_CHARS,
  LOG_FIELDS_MAX_ENTRIES,
  LOG_LEVELS,
  LOG_SOURCE_MAX_CHARS,
  type LogLevel,
  type LogPayload,
  SCHEMA_VERSION,
  STRING_MAP_KEY_MAX_CHARS,
  SUPPORTED_SCHEMA_VERSIONS,
  strictSchemas,
  type TelemetryPayload,
  type TransactionPayload,
  type TributaryRecord,
  UUID_V7,
} from './schema.ts';

export type ValidationMode = 'strict' | 'compatible';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** A new record id: UUIDv7, time-ordered and unique per producer without coordination. */
export function newRecordId(): string {
  return uuidv7();
}

function toIssues(input: unknown, error: z.core.$ZodError): FieldIssue[] {
  return error.issues.flatMap((issue) => {
    // An unknown key is reported at the key itself, which is the field a user must fix; each one.
    if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) {
      return issue.keys.map((key, index) => {
        const path = [...issue.path, key];
        // The first keeps zod's wording (the same issue as the runtime parser's), the others name their key.
        const message = index === 0 ? issue.message : `Unrecognized key: ${JSON.stringify(key)}`;
        return { path: formatPath(path), message, value: valueAtPath(input, path) };
      });
    }
    return [{ path: formatPath(issue.path), message: issue.message, value: valueAtPath(input, issue.path) }];
  });
}

/**
 * zod's compiled parsers: straight-line code generated from the schemas, about twice as fast per
 * record as the runtime parser (bench/contract.bench.ts) with the same results and the same issues
 * (an invalid input is handed back to the runtime parser, which reports it; unit-tested). Compiled
 * on first use, so the agent never compiles the consumer schema nor a Lambda the producer one.
 */
const compiled: Partial<Record<ValidationMode, typeof strictSchemas.record>> = {};

function recordSchema(mode: ValidationMode): typeof strictSchemas.record {
  compiled[mode] ??= z.compile(mode === 'strict' ? strictSchemas.record : compatibleSchemas.record);
  return compiled[mode];
}

/**
 * Validates an unknown value against the contract. `strict` (producers) rejects unknown keys;
 * `compatible` (consumers) drops them so an older reader accepts a newer producer's additions.
 */
export function validateRecord(input: unknown, mode: ValidationMode = 'strict'): TributaryRecord {
  const schema = recordSchema(mode);
  const result = schema.safeParse(input);
  if (!result.success) throw new RecordValidationError(toIssues(input, result.error));
  return result.data as TributaryRecord;
}

/** Size Kinesis counts for a record: data bytes plus the partition key's UTF-8 bytes. */
export function kinesisRecordSize(data: Uint8Array, partitionKey: string): number {
  return data.byteLength + Buffer.byteLength(partitionKey, 'utf8');
}

/**
 * Validates and encodes a record as UTF-8 JSON, the format Firehose's OpenX JSON SerDe reads.
 * `maxRecordBytes` is the stream's MaxRecordSize (1 MiB unless raised).
 */
export function encodeRecord(record: unknown, maxRecordBytes: number = DEFAULT_MAX_RECORD_BYTES): Uint8Array {
  const valid = validateRecord(record, 'strict');
  // Buffer.from carves small records out of Node's shared 8 KiB pool: one allocation per ~30 records
  // instead of one ArrayBuffer each (TextEncoder), which matters at 10k appends/s on a device.
  const data = Buffer.from(JSON.stringify(valid), 'utf8');
  const size = kinesisRecordSize(data, valid.partition_key);
  if (size > maxRecordBytes) throw new RecordTooLargeError(size, maxRecordBytes);
  return data;
}

/** What a producer of many `log` records (the file tail) fills in; the rest is the contract's. */
export interface LogRecordParts {
  readonly id: string;
  readonly deviceId: string;
  readonly partitionKey: string;
  readonly eventTime: number;
  readonly level: LogLevel;
  readonly message: string;
  readonly source: string;
  /** Left out of the record when undefined; `{}` is kept as an empty map. */
  readonly fields?: Readonly<Record<string, string>> | undefined;
}

/** The record the parts make, keys in the order the schema outputs them (so its JSON is the validated record's). */
function logRecordOf(parts: LogRecordParts, fields: Readonly<Record<string, string>> | undefined) {
  return {
    id: parts.id,
    schema_version: SCHEMA_VERSION,
    device_id: parts.deviceId,
    partition_key: parts.partitionKey,
    event_time: parts.eventTime,
    type: 'log',
    payload: {
      level: parts.level,
      message: parts.message,
      source: parts.source,
      ...(fields === undefined ? {} : { fields }),
    },
  };
}

const LEVELS: ReadonlySet<unknown> = new Set(LOG_LEVELS);
const VERSION_SUPPORTED = (SUPPORTED_SCHEMA_VERSIONS as readonly number[]).includes(SCHEMA_VERSION);
const isString = (v: unknown): v is string => typeof v === 'string';

/**
 * A copy of `map` when it is an ordinary object of string keys and values the log schema's `fields`
 * accepts as it is, else undefined. Conservative: anything unusual (another prototype, symbol keys,
 * a `__proto__` key, a bound exceeded) is left to the schema.
 */
function plainFields(map: unknown): Record<string, string> | undefined {
  if (map === null || typeof map !== 'object' || Object.getPrototypeOf(map) !== Object.prototype) {
    return undefined;
  }
  if (Object.hasOwn(map, '__proto__') || Object.getOwnPropertySymbols(map).length > 0) return undefined;
  const copy: Record<string, string> = {};
  let entries = 0;
  for (const key of Object.keys(map)) {
    const value: unknown = (map as Record<string, unknown>)[key];
    if (key.length < 1 || key.length > STRING_MAP_KEY_MAX_CHARS) return undefined;
    if (!isString(value) || value.length > LOG_FIELD_VALUE_MAX_CHARS) return undefined;
    if (++entries > LOG_FIELDS_MAX_ENTRIES) return undefined;
    copy[key] = value;
  }
  return copy;
}

// A producer repeats its device id and partition key record after record: the last valid ones are
// remembered so that each is checked once, not per line.
let validDeviceId: string | undefined;
let validPartitionKey: string | undefined;

function deviceIdValid(v: unknown): boolean {
  if (!isString(v)) return false;
  if (v === validDeviceId) return true;
  if (!DEVICE_ID.test(v)) return false;
  validDeviceId = v;
  return true;
}

function partitionKeyValid(v: unknown): boolean {
  if (!isString(v)) return false;
  if (v === validPartitionKey) return true;
  if (partitionKeyProblem(v) !== undefined) return false;
  validPartitionKey = v;
  return true;
}

/** Every check the strict `log` schema makes of the parts' scalars (its `fields`: plainFields). */
function logScalarsValid(p: LogRecordParts): boolean {
  return (
    isString(p.id) &&
    UUID_V7.test(p.id) &&
    VERSION_SUPPORTED &&
    deviceIdValid(p.deviceId) &&
    partitionKeyValid(p.partitionKey) &&
    Number.isSafeInteger(p.eventTime) &&
    p.eventTime >= EVENT_TIME_MIN_MS &&
    p.eventTime <= EVENT_TIME_MAX_MS &&
    LEVELS.has(p.level) &&
    isString(p.message) &&
    isString(p.source) &&
    p.source.length >= 1 &&
    p.source.length <= LOG_SOURCE_MAX_CHARS
  );
}

/**
 * encodeRecord for a `log` record given by its parts, with the same bytes and the same errors: parts
 * that plainly satisfy the strict schema are encoded without running it (the tail appends 100k
 * lines/s; the schema's parse was a fifth of a line's CPU); anything else goes through encodeRecord,
 * so every refusal is the schema's own (property-tested against encodeRecord).
 */
export function encodeLogRecord(
  parts: LogRecordParts,
  maxRecordBytes: number = DEFAULT_MAX_RECORD_BYTES,
): Uint8Array {
  const fields = parts.fields === undefined ? undefined : plainFields(parts.fields);
  if ((parts.fields !== undefined && fields === undefined) || !logScalarsValid(parts)) {
    return encodeRecord(logRecordOf(parts, parts.fields), maxRecordBytes);
  }
  const data = Buffer.from(JSON.stringify(logRecordOf(parts, fields)), 'utf8');
  const size = kinesisRecordSize(data, parts.partitionKey);
  if (size > maxRecordBytes) throw new RecordTooLargeError(size, maxRecordBytes);
  return data;
}

/** Decodes bytes from a stream into a validated record (compatible mode unless told otherwise). */
export function decodeRecord(data: Uint8Array, mode: ValidationMode = 'compatible'): TributaryRecord {
  let text: string;
  try {
    text = decoder.decode(data);
  } catch (cause) {
    throw new RecordDecodeError('bytes are not valid UTF-8', { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new RecordDecodeError(cause instanceof Error ? cause.message : String(cause), { cause });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RecordDecodeError(
      `expected a JSON object, got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`,
    );
  }
  return validateRecord(parsed, mode);
}

interface NewRecordBase {
  deviceId: string;
  partitionKey?: string;
  eventTime?: number;
  id?: string;
}

/**
 * Builds a valid record with producer defaults: a fresh UUIDv7 id, the current contract version,
 * now as event time and the device id as partition key (keeps one device's records in order).
 */
export function createRecord(
  input: NewRecordBase &
    (
      | { type: 'telemetry'; payload: TelemetryPayload }
      | { type: 'transaction'; payload: TransactionPayload }
      | { type: 'log'; payload: LogPayload }
    ),
): TributaryRecord {
  return validateRecord({
    id: input.id ?? newRecordId(),
    schema_version: SCHEMA_VERSION,
    type: input.type,
    device_id: input.deviceId,
    partition_key: input.partitionKey ?? input.deviceId,
    event_time: input.eventTime ?? Date.now(),
    payload: input.payload,
  });
}
