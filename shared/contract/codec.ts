import { uuidv7 } from 'uuidv7';
import { formatPath, valueAtPath } from '../errors.ts';
import { DEFAULT_MAX_RECORD_BYTES } from '../kinesis/limits.ts';
import * as z from '../zod.ts';
import { type FieldIssue, RecordDecodeError, RecordTooLargeError, RecordValidationError } from './errors.ts';
import {
  compatibleSchemas,
  type LogPayload,
  SCHEMA_VERSION,
  strictSchemas,
  type TelemetryPayload,
  type TransactionPayload,
  type TributaryRecord,
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
