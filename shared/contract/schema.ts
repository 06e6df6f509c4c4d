import { partitionKeyProblem } from '../kinesis/partition-key.ts';
import { looksLikePan } from '../pan.ts';
import * as z from '../zod.ts';

/**
 * The record contract: the one definition every stage reads. Wire names are snake_case so the JSON
 * keys equal the Glue/Parquet column names (the OpenX JSON SerDe matches keys to columns by name).
 * `glueType` metadata overrides the type derived for the lake where JSON Schema is too coarse.
 * Evolution rules live in shared/CONTRACT.md.
 */

export const SCHEMA_VERSION = 1;
export const SUPPORTED_SCHEMA_VERSIONS = [1] as const;

/** RFC 9562 UUIDv7, lowercase canonical text: time-ordered, so ids sort by creation time. */
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const METRIC = /^[a-z][a-z0-9_.]{0,127}$/;
const MERCHANT_CATEGORY_CODE = /^[0-9]{4}$/;
const COUNTRY = /^[A-Z]{2}$/;

/** 2000-01-01T00:00:00Z .. 2100-01-01T00:00:00Z: catches seconds-vs-millis mix-ups and garbage clocks. */
export const EVENT_TIME_MIN_MS = 946_684_800_000;
export const EVENT_TIME_MAX_MS = 4_102_444_800_000;

/** A log record's `source` (logger, program or file): 1 to this many characters. */
export const LOG_SOURCE_MAX_CHARS = 256;
/** A log record's `fields`: at most this many entries, keys of 1 to STRING_MAP_KEY_MAX_CHARS characters. */
export const LOG_FIELDS_MAX_ENTRIES = 64;
export const LOG_FIELD_VALUE_MAX_CHARS = 8192;
export const STRING_MAP_KEY_MAX_CHARS = 64;

/** RFC 5424 severities 0..7 by their lowercase names, most severe first (the index is the severity). */
export const LOG_LEVELS = [
  'emergency',
  'alert',
  'critical',
  'error',
  'warning',
  'notice',
  'info',
  'debug',
] as const;

let currencies: ReadonlySet<string> | undefined;

/** ICU's ISO 4217 list, loaded on the first transaction: telemetry-only devices never page it in. */
function isCurrency(code: string): boolean {
  currencies ??= new Set(Intl.supportedValuesOf('currency'));
  return currencies.has(code);
}

type ObjectFactory = typeof z.strictObject;

/**
 * Builds the schemas with a chosen object factory: producers validate strictly (an unknown key is a
 * typo to report), consumers decode compatibly (a newer producer's additive fields are dropped).
 */
function buildSchemas(object: ObjectFactory) {
  const envelope = {
    id: z
      .string()
      .check(
        z.regex(UUID_V7, 'must be a lowercase UUIDv7'),
        z.describe('Producer-assigned unique record id'),
      ),
    schema_version: z.int().check(
      z.refine((v) => (SUPPORTED_SCHEMA_VERSIONS as readonly number[]).includes(v), {
        message: `must be one of ${SUPPORTED_SCHEMA_VERSIONS.join(', ')}`,
      }),
      z.meta({ glueType: 'int', description: 'Contract version the producer wrote' }),
    ),
    device_id: z
      .string()
      .check(z.regex(DEVICE_ID, 'must be 1-128 chars of A-Z a-z 0-9 . _ : - starting alphanumeric')),
    partition_key: z.string().check(
      z.superRefine((v, ctx) => {
        const problem = partitionKeyProblem(v);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: v });
      }),
      z.describe('Kinesis partition key (1-256 UTF-16 code units, no lone surrogate); defaults to device_id'),
    ),
    event_time: z
      .int()
      .check(
        z.gte(EVENT_TIME_MIN_MS),
        z.lte(EVENT_TIME_MAX_MS),
        z.describe('Event time, epoch milliseconds UTC'),
      ),
  };

  /**
   * A string map (tags, log fields). zod (like most JavaScript decoders) drops a "__proto__" key
   * without a word: it is refused instead.
   */
  const stringMap = (maxEntries: number, maxValueChars: number, what: string) =>
    z.pipe(
      z.transform((input: unknown, ctx) => {
        if (input !== null && typeof input === 'object' && Object.hasOwn(input, '__proto__')) {
          ctx.issues.push({ code: 'custom', message: '"__proto__" is reserved', path: ['__proto__'], input });
        }
        return input;
      }),
      z
        .record(
          z.string().check(z.minLength(1), z.maxLength(STRING_MAP_KEY_MAX_CHARS)),
          z.string().check(z.maxLength(maxValueChars)),
        )
        .check(
          z.refine((map) => Object.keys(map).length <= maxEntries, {
            message: `at most ${maxEntries} ${what}`,
          }),
        ),
    );

  const telemetryPayload = object({
    metric: z.string().check(z.regex(METRIC, 'must match [a-z][a-z0-9_.]{0,127}')),
    value: z.number().check(z.refine(Number.isFinite, { message: 'must be a finite number' })),
    unit: z.string().check(z.minLength(1), z.maxLength(32)),
    tags: z.optional(stringMap(32, 256, 'tags')),
  });

  const location = object({
    lat: z.number().check(z.gte(-90), z.lte(90)),
    lon: z.number().check(z.gte(-180), z.lte(180)),
    country: z.optional(z.string().check(z.regex(COUNTRY, 'must be an ISO 3166-1 alpha-2 code'))),
  });

  const transactionPayload = object({
    card_token: z.string().check(
      z.minLength(8),
      z.maxLength(64),
      z.refine((v) => !looksLikePan(v), { message: 'looks like a raw card number; send a token' }),
    ),
    merchant_id: z.string().check(z.minLength(1), z.maxLength(64)),
    merchant_category: z.optional(z.string().check(z.regex(MERCHANT_CATEGORY_CODE, 'must be a 4-digit MCC'))),
    amount_minor: z
      .int()
      .check(
        z.gte(0),
        z.lte(Number.MAX_SAFE_INTEGER),
        z.describe('Amount in the currency minor unit (cents)'),
      ),
    currency: z.string().check(z.refine(isCurrency, { message: 'must be an ISO 4217 currency code' })),
    location: z.optional(location),
    channel: z.enum(['card_present', 'contactless', 'online', 'atm']),
  });

  const logPayload = object({
    level: z.enum(LOG_LEVELS),
    // Any text, empty included: bounded only by the record size limit (encodeRecord).
    message: z.string(),
    source: z.string().check(z.minLength(1), z.maxLength(LOG_SOURCE_MAX_CHARS)),
    fields: z.optional(stringMap(LOG_FIELDS_MAX_ENTRIES, LOG_FIELD_VALUE_MAX_CHARS, 'fields')),
  });

  const telemetry = object({ ...envelope, type: z.literal('telemetry'), payload: telemetryPayload });
  const transaction = object({ ...envelope, type: z.literal('transaction'), payload: transactionPayload });
  const log = object({ ...envelope, type: z.literal('log'), payload: logPayload });
  const record = z.discriminatedUnion('type', [telemetry, transaction, log]);
  return { record, telemetry, transaction, log, telemetryPayload, transactionPayload, logPayload };
}

export const strictSchemas = buildSchemas(z.strictObject);
export const compatibleSchemas = buildSchemas(z.object as unknown as ObjectFactory);

export type TributaryRecord = z.output<typeof strictSchemas.record>;
export type TelemetryRecord = z.output<typeof strictSchemas.telemetry>;
export type TransactionRecord = z.output<typeof strictSchemas.transaction>;
export type LogRecord = z.output<typeof strictSchemas.log>;
export type RecordType = TributaryRecord['type'];
export type TelemetryPayload = TelemetryRecord['payload'];
export type TransactionPayload = TransactionRecord['payload'];
export type LogPayload = LogRecord['payload'];
export type LogLevel = LogPayload['level'];
export const RECORD_TYPES: readonly RecordType[] = ['telemetry', 'transaction', 'log'];
