import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compatibleSchemas,
  createRecord,
  decodeRecord,
  EVENT_TIME_MAX_MS,
  EVENT_TIME_MIN_MS,
  encodeLogRecord,
  encodeRecord,
  glueColumns,
  LOG_LEVELS,
  type LogRecordParts,
  RecordDecodeError,
  RecordTooLargeError,
  RecordValidationError,
  SCHEMA_VERSION,
  strictSchemas,
  validateRecord,
} from '../../../shared/contract/index.ts';
import { formatPath } from '../../../shared/errors.ts';
import { DEFAULT_MAX_RECORD_BYTES } from '../../../shared/kinesis/limits.ts';
import { partitionKeyProblem } from '../../../shared/kinesis/partition-key.ts';
import { logRecord, recordArb, telemetryRecord, transactionRecord } from '../../helpers/records.ts';

function validationError(fn: () => unknown): RecordValidationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof RecordValidationError) return error;
    throw error;
  }
  throw new Error('expected a RecordValidationError');
}

describe('record contract', () => {
  it('round-trips every valid record through the JSON codec', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        expect(decodeRecord(encodeRecord(record), 'strict')).toEqual(record);
      }),
    );
  });

  it('validates exactly as the zod runtime parser does (validateRecord runs compiled schemas)', () => {
    const keys = [
      'id',
      'schema_version',
      'type',
      'device_id',
      'partition_key',
      'event_time',
      'payload',
      'extra',
    ];
    const payloadKeys = [
      'metric',
      'value',
      'unit',
      'tags',
      'card_token',
      'amount_minor',
      'currency',
      'location',
      'level',
      'message',
      'source',
      'fields',
    ];
    const mutated = fc
      .tuple(
        recordArb,
        fc.constantFrom(...keys.map((key) => [key]), ...payloadKeys.map((key) => ['payload', key])),
        fc.oneof(fc.jsonValue(), fc.constant(undefined)),
        fc.boolean(),
      )
      .map(([record, path, value, mutate]) => {
        const copy = JSON.parse(JSON.stringify(record)) as Record<string, Record<string, unknown>>;
        if (!mutate) return copy;
        const [key, inner] = path as [string, string | undefined];
        if (inner === undefined) (copy as Record<string, unknown>)[key] = value;
        else if (typeof copy[key] === 'object' && copy[key] !== null) copy[key][inner] = value;
        return copy;
      });
    fc.assert(
      fc.property(mutated, fc.constantFrom('strict', 'compatible' as const), (input, mode) => {
        const runtime = (mode === 'strict' ? strictSchemas : compatibleSchemas).record.safeParse(input);
        let compiled: unknown;
        try {
          compiled = validateRecord(input, mode);
        } catch (error) {
          if (!(error instanceof RecordValidationError)) throw error;
          expect(runtime.success).toBe(false);
          const first = runtime.error?.issues[0];
          expect(error.issues[0]?.message).toBe(first?.message);
          expect(error.path.startsWith(formatPath(first?.path ?? []))).toBe(true);
          return;
        }
        expect(runtime.success).toBe(true);
        // Same values and the same key order: the order decides the encoded bytes.
        expect(JSON.stringify(compiled)).toBe(JSON.stringify(runtime.data));
      }),
      { numRuns: 500 },
    );
  });

  it('createRecord fills producer defaults', () => {
    const record = createRecord({
      type: 'telemetry',
      deviceId: 'sensor-7',
      payload: { metric: 'temperature', value: 20, unit: 'Cel' },
    });
    expect(record.partition_key).toBe('sensor-7');
    expect(record.schema_version).toBe(1);
    expect(record.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });

  it('ids created later sort after earlier ones', () => {
    const ids = Array.from({ length: 200 }, () =>
      createRecord({ type: 'telemetry', deviceId: 'd', payload: { metric: 'm', value: 1, unit: 'u' } }),
    ).map((r) => r.id);
    expect([...ids].sort()).toEqual(ids);
  });

  it.each([
    ['event_time', { event_time: 1_700_000_000 }, 'event_time'],
    ['metric', { payload: { metric: 'Bad Metric', value: 1, unit: 'C' } }, 'payload.metric'],
    ['value', { payload: { metric: 'm', value: Number.POSITIVE_INFINITY, unit: 'C' } }, 'payload.value'],
    ['id', { id: 'not-a-uuid' }, 'id'],
    ['schema_version', { schema_version: 99 }, 'schema_version'],
    ['partition_key', { partition_key: '' }, 'partition_key'],
    ['partition_key length', { partition_key: 'é'.repeat(257) }, 'partition_key'],
  ])('names the field path for a bad %s', (_name, override, path) => {
    const error = validationError(() => validateRecord({ ...telemetryRecord(), ...override }));
    expect(error.code).toBe('RECORD_INVALID');
    expect(error.path).toBe(path);
    expect(error.message).toContain(path);
  });

  it('takes a partition key of 1-256 UTF-16 code units without lone surrogates, as the exporter does', () => {
    // Astral characters (two UTF-16 units each), lone surrogates and plain text around the 256 limit.
    const unit = fc.constantFrom('a', 'é', '😀', '\uD800', '\uDC00', '𝄞');
    fc.assert(
      fc.property(fc.array(unit, { minLength: 250, maxLength: 262 }), (parts) => {
        const key = parts.join('');
        const valid = (() => {
          try {
            validateRecord({ ...telemetryRecord(), partition_key: key });
            return true;
          } catch {
            return false;
          }
        })();
        // Kinesis's count (UTF-16 units) and a key that survives UTF-8 unchanged.
        const exportable = key.length <= 256 && Buffer.from(key, 'utf8').toString('utf8') === key;
        expect(valid).toBe(exportable);
        expect(partitionKeyProblem(key) === undefined).toBe(exportable);
      }),
    );
  });

  it('refuses 200 emoji (400 UTF-16 units) and a lone surrogate at append, naming the rule', () => {
    for (const key of ['😀'.repeat(200), 'key\uD800', '\uDC00']) {
      const error = validationError(() => validateRecord({ ...telemetryRecord(), partition_key: key }));
      expect(error.path).toBe('partition_key');
      expect(error.message).toMatch(/UTF-16 code units|lone UTF-16 surrogate/);
    }
    expect(() => validateRecord({ ...telemetryRecord(), partition_key: '😀'.repeat(128) })).not.toThrow();
  });

  it('rejects a raw card number and a bad currency in transactions', () => {
    const base = transactionRecord();
    const pan = validationError(() =>
      validateRecord({ ...base, payload: { ...base.payload, card_token: '4111111111111111' } }),
    );
    expect(pan.path).toBe('payload.card_token');
    // The message names the rule but never carries the number.
    expect(pan.message).toContain('looks like a raw card number');
    expect(pan.message).not.toContain('4111111111111111');
    expect(pan.message).toContain('"411111******1111"');
    expect(pan.issues[0]?.value).toBe('411111******1111');
    const currency = validationError(() =>
      validateRecord({ ...base, payload: { ...base.payload, currency: 'EURO' } }),
    );
    expect(currency.path).toBe('payload.currency');
    expect(currency.value).toBe('EURO');
  });

  it('rejects unknown fields from producers but drops them for consumers', () => {
    const withExtra = { ...telemetryRecord(), firmware: '1.2.3' };
    const error = validationError(() => validateRecord(withExtra, 'strict'));
    expect(error.path).toBe('firmware');
    const decoded = decodeRecord(new TextEncoder().encode(JSON.stringify(withExtra)), 'compatible');
    expect(decoded).not.toHaveProperty('firmware');
  });

  it('rejects a "__proto__" tag, which a JavaScript decoder would silently drop', () => {
    const json = JSON.stringify(telemetryRecord()).replace('"tags":{', '"tags":{"__proto__":"x",');
    const error = validationError(() => decodeRecord(new TextEncoder().encode(json), 'strict'));
    expect(error.path).toMatch(/^payload\.tags/);
  });

  it('takes log lines with an RFC 5424 level, any message and bounded source and fields', () => {
    const bytes = (record: unknown) => new TextEncoder().encode(JSON.stringify(record));
    const line = logRecord();
    expect(decodeRecord(encodeRecord(line), 'strict')).toEqual(line);
    const empty = logRecord({ payload: { level: 'debug', message: '', source: 's' } });
    expect(validateRecord(empty)).toEqual(empty);
    // The message is bounded only by the record size limit.
    const long = logRecord({ payload: { level: 'info', message: 'x'.repeat(500_000), source: 'app' } });
    expect(encodeRecord(long).byteLength).toBeGreaterThan(500_000);
    expect(() => encodeRecord(long, 100_000)).toThrow(RecordTooLargeError);
    const bad = (payload: unknown) =>
      validationError(() => validateRecord({ ...logRecord(), payload })).issues.map((i) => i.path);
    const { payload } = logRecord();
    expect(bad({ ...payload, level: 'warn' })).toEqual(['payload.level']);
    expect(bad({ ...payload, level: 'ERROR' })).toEqual(['payload.level']);
    expect(bad({ ...payload, source: '' })).toEqual(['payload.source']);
    expect(bad({ ...payload, source: 's'.repeat(257) })).toEqual(['payload.source']);
    expect(bad({ ...payload, fields: { offset: 42 } })).toEqual(['payload.fields.offset']);
    expect(bad({ ...payload, fields: { k: 'v'.repeat(8193) } })).toEqual(['payload.fields.k']);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, '']));
    expect(bad({ ...payload, fields: many })).toEqual(['payload.fields']);
    const proto = JSON.stringify(line).replace('"fields":{', '"fields":{"__proto__":"x",');
    expect(validationError(() => decodeRecord(new TextEncoder().encode(proto), 'compatible')).path).toMatch(
      /^payload\.fields/,
    );
    expect(() => decodeRecord(bytes({ ...line, type: 'telemetry' }))).toThrow(RecordValidationError);
  });

  it('rejects an unknown record type at the discriminator', () => {
    const error = validationError(() => validateRecord({ ...telemetryRecord(), type: 'audio' }));
    expect(error.path).toBe('type');
  });

  it('gives a named error for bytes that are not a JSON object', () => {
    for (const bad of ['{"id":', '[1,2]', '42', 'null']) {
      expect(() => decodeRecord(new TextEncoder().encode(bad))).toThrow(RecordDecodeError);
    }
    expect(() => decodeRecord(new Uint8Array([0xff, 0xfe, 0x7b]))).toThrow(RecordDecodeError);
  });

  it('never throws anything but a contract error on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeRecord(bytes);
        } catch (error) {
          expect(error instanceof RecordDecodeError || error instanceof RecordValidationError).toBe(true);
        }
      }),
    );
  });

  it('refuses a record larger than one Kinesis record', () => {
    const big = telemetryRecord({
      payload: { metric: 'blob', value: 1, unit: 'B', tags: { data: 'x'.repeat(256) } },
    });
    expect(() => encodeRecord(big, 300)).toThrow(RecordTooLargeError);
    expect(encodeRecord(big, DEFAULT_MAX_RECORD_BYTES).byteLength).toBeGreaterThan(256);
  });
});

describe('encodeLogRecord', () => {
  /** What encodeRecord gives (bytes, or the error with its code, message and issues). */
  function outcome(encode: () => Uint8Array): unknown {
    try {
      return { bytes: Buffer.from(encode()).toString('hex') };
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      const { code, issues } = error as Error & { code?: string; issues?: unknown };
      return { error: error.constructor.name, code, message: error.message, issues };
    }
  }

  /** The record as a producer would pass it to encodeRecord (keys in the tail's former order). */
  function recordOf(p: LogRecordParts): unknown {
    return {
      id: p.id,
      schema_version: SCHEMA_VERSION,
      type: 'log',
      device_id: p.deviceId,
      partition_key: p.partitionKey,
      event_time: p.eventTime,
      payload: {
        level: p.level,
        message: p.message,
        source: p.source,
        ...(p.fields === undefined ? {} : { fields: p.fields }),
      },
    };
  }

  const hidden = () => {
    const map: Record<string, string> = { a: '1' };
    Object.defineProperty(map, 'b', { value: '2', enumerable: false });
    return map;
  };
  const withSymbol = () => ({ a: '1', [Symbol('s')]: '2' });
  const nullPrototype = () => Object.assign(Object.create(null) as Record<string, string>, { a: '1' });
  // Every part valid most of the time, else a value just past one of the schema's bounds or of the wrong kind.
  const parts = fc.record({
    id: fc.oneof(
      { weight: 8, arbitrary: fc.uuid({ version: 7 }) },
      fc.uuid({ version: 4 }),
      fc.uuid({ version: 7 }).map((u) => u.toUpperCase()),
      fc.string(),
      fc.constant(7 as unknown as string),
    ),
    deviceId: fc.oneof(
      { weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/) },
      fc.constantFrom('', '-gw', 'gw 1', 'x'.repeat(129), 'é', undefined as unknown as string),
    ),
    partitionKey: fc.oneof(
      { weight: 8, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }) },
      fc.constantFrom(
        '',
        'k'.repeat(256),
        'k'.repeat(257),
        '\ud800',
        'a\udc00',
        '😀'.repeat(128),
        '😀'.repeat(129),
        undefined as unknown as string,
      ),
    ),
    eventTime: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: EVENT_TIME_MIN_MS, max: EVENT_TIME_MAX_MS }) },
      fc.constantFrom(
        EVENT_TIME_MIN_MS,
        EVENT_TIME_MAX_MS,
        EVENT_TIME_MIN_MS - 1,
        EVENT_TIME_MAX_MS + 1,
        EVENT_TIME_MIN_MS + 0.5,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        '1765000000000' as unknown as number,
      ),
    ),
    level: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...LOG_LEVELS) },
      fc.constantFrom('warn', 'INFO', '', 3).map((level) => level as LogRecordParts['level']),
    ),
    message: fc.oneof(
      { weight: 8, arbitrary: fc.string({ unit: 'grapheme', maxLength: 300 }) },
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom('', '\ud800 lone', 'quote " and \\ and \n', 42 as unknown as string),
    ),
    source: fc.oneof(
      { weight: 8, arbitrary: fc.string({ minLength: 1, maxLength: 256 }) },
      fc.constantFrom('', 's'.repeat(256), 's'.repeat(257), null as unknown as string),
    ),
    fields: fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      {
        weight: 8,
        arbitrary: fc.dictionary(
          fc.string({ minLength: 1, maxLength: 64 }).filter((key) => key !== '__proto__'),
          fc.string({ maxLength: 300 }),
          { maxKeys: 64, noNullPrototype: true },
        ),
      },
      fc.constant({}),
      fc.constant(Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v']))),
      fc.constant(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))),
      fc.constantFrom(
        { '': 'x' },
        { ['k'.repeat(64)]: 'x' },
        { ['k'.repeat(65)]: 'x' },
        { 10: 'ten', b: 'x' },
      ),
      fc.constantFrom({ v: 'x'.repeat(8192) }, { v: 'x'.repeat(8193) }, { v: 1 }, { v: null }),
      fc.constant(JSON.parse('{"a":"1","__proto__":"x"}') as Record<string, string>),
      fc.constantFrom(null, [], ['a'], new Map([['a', '1']]), 'a=1'),
      fc.constant(null).map(hidden),
      fc.constant(null).map(withSymbol),
      fc.constant(null).map(nullPrototype),
    ) as fc.Arbitrary<Record<string, string> | undefined>,
  });
  const maxRecordBytes = fc.oneof(
    { weight: 4, arbitrary: fc.constant(DEFAULT_MAX_RECORD_BYTES) },
    fc.integer({ min: 200, max: 1200 }),
  );

  it('gives the bytes and the errors encodeRecord gives for the same log record, valid or not', () => {
    fc.assert(
      fc.property(parts, maxRecordBytes, (p, max) => {
        expect(outcome(() => encodeLogRecord(p, max))).toEqual(outcome(() => encodeRecord(recordOf(p), max)));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('Glue column schema', () => {
  it('is derived from the contract with one payload struct for every type', () => {
    const columns = glueColumns();
    expect(columns.map((c) => c.name)).toEqual([
      'id',
      'schema_version',
      'device_id',
      'partition_key',
      'event_time',
      'type',
      'payload',
    ]);
    const payload = columns.find((c) => c.name === 'payload')?.type ?? '';
    expect(payload).toContain('metric:string');
    expect(payload).toContain('amount_minor:bigint');
    expect(payload).toContain('tags:map<string,string>');
    expect(payload).toContain('location:struct<lat:double,lon:double,country:string>');
    expect(payload).toContain('level:string,message:string,source:string,fields:map<string,string>');
    expect(columns.find((c) => c.name === 'event_time')?.type).toBe('bigint');
  });

  it('names only columns that exist as JSON keys of encoded records', () => {
    const names = new Set(glueColumns().map((c) => c.name));
    fc.assert(
      fc.property(recordArb, (record) => {
        for (const key of Object.keys(JSON.parse(new TextDecoder().decode(encodeRecord(record))))) {
          expect(names.has(key)).toBe(true);
        }
      }),
    );
  });
});
