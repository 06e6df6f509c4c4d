import fc from 'fast-check';
import { uuidv7 } from 'uuidv7';
import {
  EVENT_TIME_MAX_MS,
  EVENT_TIME_MIN_MS,
  LOG_LEVELS,
  type LogRecord,
  SCHEMA_VERSION,
  type TelemetryRecord,
  type TransactionRecord,
  type TributaryRecord,
} from '../../shared/contract/index.ts';

/** Factories for contract records: plain ones for examples, arbitraries for property tests. */

export function telemetryRecord(overrides: Partial<TelemetryRecord> = {}): TelemetryRecord {
  const deviceId = overrides.device_id ?? 'sensor-0001';
  return {
    id: uuidv7(),
    schema_version: SCHEMA_VERSION,
    type: 'telemetry',
    device_id: deviceId,
    partition_key: deviceId,
    event_time: Date.UTC(2026, 10, 23, 12, 0, 0),
    payload: { metric: 'temperature', value: 21.5, unit: 'Cel', tags: { room: 'lab' } },
    ...overrides,
  };
}

export function transactionRecord(overrides: Partial<TransactionRecord> = {}): TransactionRecord {
  const deviceId = overrides.device_id ?? 'terminal-0001';
  return {
    id: uuidv7(),
    schema_version: SCHEMA_VERSION,
    type: 'transaction',
    device_id: deviceId,
    partition_key: 'tok_4f9a1c2b7d',
    event_time: Date.UTC(2026, 10, 23, 12, 0, 0),
    payload: {
      card_token: 'tok_4f9a1c2b7d',
      merchant_id: 'merchant-42',
      merchant_category: '5411',
      amount_minor: 1299,
      currency: 'EUR',
      location: { lat: 48.8566, lon: 2.3522, country: 'FR' },
      channel: 'contactless',
    },
    ...overrides,
  };
}

export function logRecord(overrides: Partial<LogRecord> = {}): LogRecord {
  const deviceId = overrides.device_id ?? 'gateway-0001';
  return {
    id: uuidv7(),
    schema_version: SCHEMA_VERSION,
    type: 'log',
    device_id: deviceId,
    partition_key: deviceId,
    event_time: Date.UTC(2026, 10, 23, 12, 0, 0),
    payload: {
      level: 'error',
      message: 'disk /dev/sda1 is 97% full',
      source: 'diskmon',
      fields: { file: '/var/log/diskmon.log', offset: '4096' },
    },
    ...overrides,
  };
}

const deviceIdArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,40}$/);
const idArb = fc.uuid({ version: 7 });
const eventTimeArb = fc.integer({ min: EVENT_TIME_MIN_MS, max: EVENT_TIME_MAX_MS });
const partitionKeyArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 });

export const telemetryRecordArb: fc.Arbitrary<TelemetryRecord> = fc.record({
  id: idArb,
  schema_version: fc.constant(SCHEMA_VERSION),
  type: fc.constant('telemetry' as const),
  device_id: deviceIdArb,
  partition_key: partitionKeyArb,
  event_time: eventTimeArb,
  payload: fc.record(
    {
      metric: fc.stringMatching(/^[a-z][a-z0-9_.]{0,30}$/),
      // JSON has no negative zero: -0 encodes as 0, so generate the value JSON can carry.
      value: fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => v + 0),
      unit: fc.string({ minLength: 1, maxLength: 32 }),
      tags: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 64 }).filter((key) => key !== '__proto__'),
        fc.string({ maxLength: 256 }),
        {
          maxKeys: 32,
          noNullPrototype: true,
        },
      ),
    },
    { requiredKeys: ['metric', 'value', 'unit'] },
  ),
});

export const transactionRecordArb: fc.Arbitrary<TransactionRecord> = fc.record({
  id: idArb,
  schema_version: fc.constant(SCHEMA_VERSION),
  type: fc.constant('transaction' as const),
  device_id: deviceIdArb,
  partition_key: partitionKeyArb,
  event_time: eventTimeArb,
  payload: fc.record(
    {
      card_token: fc.stringMatching(/^tok_[a-z0-9]{4,40}$/),
      merchant_id: fc.string({ minLength: 1, maxLength: 64 }),
      merchant_category: fc.stringMatching(/^[0-9]{4}$/),
      amount_minor: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      currency: fc.constantFrom('EUR', 'USD', 'JPY', 'GBP', 'CHF', 'BHD'),
      location: fc.record(
        {
          lat: fc.double({ min: -90, max: 90, noNaN: true }).map((v) => v + 0),
          lon: fc.double({ min: -180, max: 180, noNaN: true }).map((v) => v + 0),
          country: fc.stringMatching(/^[A-Z]{2}$/),
        },
        { requiredKeys: ['lat', 'lon'] },
      ),
      channel: fc.constantFrom(
        'card_present' as const,
        'contactless' as const,
        'online' as const,
        'atm' as const,
      ),
    },
    { requiredKeys: ['card_token', 'merchant_id', 'amount_minor', 'currency', 'channel'] },
  ),
});

export const logRecordArb: fc.Arbitrary<LogRecord> = fc.record({
  id: idArb,
  schema_version: fc.constant(SCHEMA_VERSION),
  type: fc.constant('log' as const),
  device_id: deviceIdArb,
  partition_key: partitionKeyArb,
  event_time: eventTimeArb,
  payload: fc.record(
    {
      level: fc.constantFrom(...LOG_LEVELS),
      message: fc.string({ unit: 'grapheme', maxLength: 200 }),
      source: fc.string({ minLength: 1, maxLength: 256 }),
      fields: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 64 }).filter((key) => key !== '__proto__'),
        fc.string({ maxLength: 300 }),
        { maxKeys: 64, noNullPrototype: true },
      ),
    },
    { requiredKeys: ['level', 'message', 'source'] },
  ),
});

export const recordArb: fc.Arbitrary<TributaryRecord> = fc.oneof(
  telemetryRecordArb,
  transactionRecordArb,
  logRecordArb,
);
