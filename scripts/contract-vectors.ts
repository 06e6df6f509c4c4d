/**
 * Writes shared/contract/vectors/records.json: JSON test vectors produced by running the TypeScript
 * record contract (`decodeRecord(bytes, 'compatible')`, the consumer's mode) over a fixed set of
 * inputs. The Java Flink job (analytics/) parses the same inputs in its tests and must agree: valid
 * inputs decode to `expected`, invalid ones are rejected with the same error code. It also writes the
 * currency list the runtime's `Intl` knows into the Java module's resources, so both sides accept the
 * same ISO 4217 codes. test/unit/analytics/contract-vectors.test.ts fails when a file is stale (the
 * JSON files are compared by value: they are written in Biome's layout).
 * Run after changing the contract: `npm run contract-vectors`.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ContractError,
  decodeRecord,
  EVENT_TIME_MAX_MS,
  EVENT_TIME_MIN_MS,
  SUPPORTED_SCHEMA_VERSIONS,
} from '../shared/contract/index.ts';
import { aggregateRecords } from '../shared/kinesis/aggregation.ts';

export const VECTORS_FILE = fileURLToPath(
  new URL('../shared/contract/vectors/records.json', import.meta.url),
);
export const KPL_VECTORS_FILE = fileURLToPath(
  new URL('../shared/contract/vectors/kpl.json', import.meta.url),
);
export const CURRENCIES_FILE = fileURLToPath(
  new URL('../analytics/src/main/resources/tributary/currencies.txt', import.meta.url),
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface VectorInput {
  name: string;
  /** The record's text (encoded as UTF-8), or raw bytes for non-UTF-8 cases. */
  text?: string;
  bytes?: number[];
}

export interface ContractVector {
  name: string;
  /** Exactly one of `text` (UTF-8 JSON text) and `base64` (raw bytes). */
  text?: string;
  base64?: string;
  valid: boolean;
  expected?: Json;
  code?: string;
  paths?: string[];
}

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

const telemetry = {
  id: '019ab4e1-8c2a-7d43-9f1e-2b6c7d8e9f01',
  schema_version: 1,
  type: 'telemetry',
  device_id: 'sensor-0001',
  partition_key: 'sensor-0001',
  event_time: T0,
  payload: { metric: 'temperature', value: 21.5, unit: 'Cel', tags: { room: 'lab' } },
};

const transaction = {
  id: '019ab4e1-8c2a-7d43-9f1e-2b6c7d8e9f02',
  schema_version: 1,
  type: 'transaction',
  device_id: 'terminal-0001',
  partition_key: 'tok_4f9a1c2b7d',
  event_time: T0,
  payload: {
    card_token: 'tok_4f9a1c2b7d',
    merchant_id: 'merchant-42',
    merchant_category: '5411',
    amount_minor: 1299,
    currency: 'EUR',
    location: { lat: 48.8566, lon: 2.3522, country: 'FR' },
    channel: 'contactless',
  },
};

const log = {
  id: '019ab4e1-8c2a-7d43-9f1e-2b6c7d8e9f03',
  schema_version: 1,
  type: 'log',
  device_id: 'gateway-0001',
  partition_key: 'gateway-0001',
  event_time: T0,
  payload: {
    level: 'error',
    message: 'disk /dev/sda1 is 97% full',
    source: '/var/log/diskmon.log',
    fields: { pid: '4211', file: '/var/log/diskmon.log', offset: '4096' },
  },
};

type Rec = Record<string, unknown>;

function withField(base: Rec, path: string, value: unknown): Rec {
  const copy = structuredClone(base);
  const keys = path.split('.');
  let target: Rec = copy;
  for (const key of keys.slice(0, -1)) target = target[key] as Rec;
  const last = keys[keys.length - 1] as string;
  if (value === undefined) delete target[last];
  else target[last] = value;
  return copy;
}

const json = (value: unknown): string => JSON.stringify(value);

function variants(): VectorInput[] {
  const out: VectorInput[] = [];
  const tel = (name: string, path: string, value: unknown) =>
    out.push({ name: `telemetry ${name}`, text: json(withField(telemetry, path, value)) });
  const txn = (name: string, path: string, value: unknown) =>
    out.push({ name: `transaction ${name}`, text: json(withField(transaction, path, value)) });
  const lg = (name: string, path: string, value: unknown) =>
    out.push({ name: `log ${name}`, text: json(withField(log, path, value)) });

  out.push({ name: 'telemetry full', text: json(telemetry) });
  out.push({ name: 'transaction full', text: json(transaction) });
  out.push({ name: 'log full', text: json(log) });
  out.push({ name: 'contract example', text: json({ ...transaction, event_time: 1795435200000 }) });

  // Envelope.
  tel('without tags', 'payload.tags', undefined);
  tel('unknown top-level key dropped', 'extra_field', 'x');
  tel('unknown payload key dropped', 'payload.future', { nested: true });
  tel('missing id', 'id', undefined);
  tel('uppercase id', 'id', '019AB4E1-8C2A-7D43-9F1E-2B6C7D8E9F01');
  tel('uuid v4 id', 'id', '9b2c6d1e-4f3a-4b5c-8d7e-6f5a4b3c2d1e');
  tel('bad variant id', 'id', '019ab4e1-8c2a-7d43-cf1e-2b6c7d8e9f01');
  tel('schema_version 2', 'schema_version', 2);
  tel('schema_version 1.0', 'schema_version', 1.0);
  tel('schema_version string', 'schema_version', '1');
  tel('unknown type', 'type', 'trace');
  tel('type in capitals', 'type', 'Log');
  tel('missing type', 'type', undefined);
  tel('device_id 128 chars', 'device_id', `d${'x'.repeat(127)}`);
  tel('device_id 129 chars', 'device_id', `d${'x'.repeat(128)}`);
  tel('device_id starts with dash', 'device_id', '-sensor');
  tel('device_id with colon dot underscore', 'device_id', 'a.b_c:d-e');
  tel('device_id with space', 'device_id', 'a b');
  tel('device_id empty', 'device_id', '');
  tel('partition_key empty', 'partition_key', '');
  tel('partition_key 256 UTF-16 units (astral)', 'partition_key', '😀'.repeat(128));
  tel('partition_key 200 astral code points (400 UTF-16 units)', 'partition_key', '😀'.repeat(200));
  tel('partition_key 257 code points', 'partition_key', 'k'.repeat(257));
  tel('partition_key lone surrogate', 'partition_key', 'key\uD800');
  tel('partition_key unicode', 'partition_key', 'clé-Ω');
  tel('event_time min', 'event_time', EVENT_TIME_MIN_MS);
  tel('event_time max', 'event_time', EVENT_TIME_MAX_MS);
  tel('event_time below min', 'event_time', EVENT_TIME_MIN_MS - 1);
  tel('event_time above max', 'event_time', EVENT_TIME_MAX_MS + 1);
  tel('event_time in seconds', 'event_time', Math.floor(T0 / 1000));
  tel('event_time fractional', 'event_time', T0 + 0.5);
  tel('event_time string', 'event_time', String(T0));
  out.push({
    name: 'event_time exponent notation',
    text: json(telemetry).replace(String(T0), '1.7939016e12'),
  });
  tel('payload missing', 'payload', undefined);
  tel('payload array', 'payload', []);
  tel('payload null', 'payload', null);

  // Telemetry payload.
  tel('metric dotted', 'payload.metric', 'cpu.load_1m');
  tel('metric uppercase', 'payload.metric', 'Temperature');
  tel('metric 128 chars', 'payload.metric', `m${'a'.repeat(127)}`);
  tel('metric 129 chars', 'payload.metric', `m${'a'.repeat(128)}`);
  tel('metric starts with digit', 'payload.metric', '1temp');
  tel('value negative', 'payload.value', -40.25);
  tel('value zero', 'payload.value', 0);
  tel('value integer', 'payload.value', 42);
  tel('value large', 'payload.value', 1.7976931348623157e308);
  tel('value tiny', 'payload.value', 5e-324);
  tel('value string', 'payload.value', '1');
  tel('value null', 'payload.value', null);
  out.push({ name: 'telemetry value overflow to infinity', text: json(telemetry).replace('21.5', '1e400') });
  out.push({ name: 'telemetry value negative zero', text: json(telemetry).replace('21.5', '-0') });
  out.push({ name: 'telemetry value NaN literal', text: json(telemetry).replace('21.5', 'NaN') });
  tel('unit empty', 'payload.unit', '');
  tel('unit 32 chars', 'payload.unit', 'u'.repeat(32));
  tel('unit 33 chars', 'payload.unit', 'u'.repeat(33));
  tel('unit percent', 'payload.unit', '%');
  tel('unit 32 astral chars', 'payload.unit', '𝄞'.repeat(32));
  tel('unit 33 astral chars', 'payload.unit', '𝄞'.repeat(33));
  tel('tags empty', 'payload.tags', {});
  tel(
    'tags 32',
    'payload.tags',
    Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, `v${i}`])),
  );
  tel(
    'tags 33',
    'payload.tags',
    Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, `v${i}`])),
  );
  tel('tag key empty', 'payload.tags', { '': 'v' });
  tel('tag key 64 chars', 'payload.tags', { ['k'.repeat(64)]: 'v' });
  tel('tag key 65 chars', 'payload.tags', { ['k'.repeat(65)]: 'v' });
  tel('tag value empty', 'payload.tags', { k: '' });
  tel('tag value 256 chars', 'payload.tags', { k: 'v'.repeat(256) });
  tel('tag value 257 chars', 'payload.tags', { k: 'v'.repeat(257) });
  tel('tag value number', 'payload.tags', { k: 1 });
  tel('tags array', 'payload.tags', ['a']);
  tel('transaction payload on telemetry', 'payload', transaction.payload);

  // Transaction payload.
  txn('without optional fields', 'payload', {
    card_token: 'tok_4f9a1c2b7d',
    merchant_id: 'm',
    amount_minor: 0,
    currency: 'JPY',
    channel: 'online',
  });
  txn('card_token 8 chars', 'payload.card_token', 'tok_1234');
  txn('card_token 7 chars', 'payload.card_token', 'tok_123');
  txn('card_token 64 chars', 'payload.card_token', 't'.repeat(64));
  txn('card_token 65 chars', 'payload.card_token', 't'.repeat(65));
  txn('card_token raw PAN', 'payload.card_token', '4111111111111111');
  txn('card_token PAN with spaces', 'payload.card_token', '4111 1111 1111 1111');
  txn('card_token PAN with dashes', 'payload.card_token', '4111-1111-1111-1111');
  txn('card_token digits failing Luhn', 'payload.card_token', '4111111111111112');
  txn('card_token 11 digits', 'payload.card_token', '79927398713');
  txn('card_token 20 digits', 'payload.card_token', '41111111111111111113');
  txn('merchant_id empty', 'payload.merchant_id', '');
  txn('merchant_id 64 chars', 'payload.merchant_id', 'm'.repeat(64));
  txn('merchant_id 65 chars', 'payload.merchant_id', 'm'.repeat(65));
  txn('merchant_id 64 astral chars', 'payload.merchant_id', '😀'.repeat(64));
  txn('card_token 4 astral chars (8 UTF-16 units)', 'payload.card_token', '😀'.repeat(4));
  txn('merchant_category 3 digits', 'payload.merchant_category', '541');
  txn('merchant_category letters', 'payload.merchant_category', 'ABCD');
  txn('amount_minor max safe', 'payload.amount_minor', Number.MAX_SAFE_INTEGER);
  out.push({
    name: 'transaction amount_minor above max safe',
    text: json(transaction).replace('1299', '9007199254740993'),
  });
  txn('amount_minor negative', 'payload.amount_minor', -1);
  txn('amount_minor fractional', 'payload.amount_minor', 12.5);
  out.push({ name: 'transaction amount_minor 1299.0', text: json(transaction).replace('1299', '1299.0') });
  out.push({ name: 'transaction amount_minor 1.299e3', text: json(transaction).replace('1299', '1.299e3') });
  txn('currency lowercase', 'payload.currency', 'eur');
  txn('currency unknown', 'payload.currency', 'XYZ');
  txn('currency USD', 'payload.currency', 'USD');
  txn('currency XAU', 'payload.currency', 'XAU');
  txn('location without country', 'payload.location', { lat: -90, lon: 180 });
  txn('location lat 90.0001', 'payload.location', { lat: 90.0001, lon: 0 });
  txn('location lon -180.5', 'payload.location', { lat: 0, lon: -180.5 });
  txn('location country lowercase', 'payload.location', { lat: 0, lon: 0, country: 'fr' });
  txn('location unknown key dropped', 'payload.location', { lat: 1, lon: 2, alt: 3 });
  txn('channel atm', 'payload.channel', 'atm');
  txn('channel card_present', 'payload.channel', 'card_present');
  txn('channel unknown', 'payload.channel', 'mail');
  txn('telemetry payload on transaction', 'payload', telemetry.payload);

  // Log payload.
  for (const level of ['emergency', 'alert', 'critical', 'warning', 'notice', 'info', 'debug']) {
    lg(`level ${level}`, 'payload.level', level);
  }
  lg('level uppercase', 'payload.level', 'ERROR');
  lg('level warn (not an RFC 5424 name)', 'payload.level', 'warn');
  lg('level number', 'payload.level', 3);
  lg('level missing', 'payload.level', undefined);
  lg('message empty', 'payload.message', '');
  lg('message multi-line unicode', 'payload.message', 'Traceback:\n  at main()\n\tcafé ☕ 😀');
  lg('message 20000 chars', 'payload.message', 'm'.repeat(20_000));
  lg('message null', 'payload.message', null);
  lg('message missing', 'payload.message', undefined);
  lg('source 1 char', 'payload.source', 's');
  lg('source 256 chars', 'payload.source', 's'.repeat(256));
  // Lengths count code points (zod's rule), not UTF-16 units; only the partition key counts units.
  lg('source 256 astral chars (512 UTF-16 units)', 'payload.source', '😀'.repeat(256));
  lg('source 257 astral chars', 'payload.source', '😀'.repeat(257));
  lg('field key 64 astral chars', 'payload.fields', { ['😀'.repeat(64)]: 'v' });
  lg('field value 8192 chars with a lone surrogate', 'payload.fields', { k: `\uD800${'v'.repeat(8191)}` });
  lg('source 257 chars', 'payload.source', 's'.repeat(257));
  lg('source empty', 'payload.source', '');
  lg('source missing', 'payload.source', undefined);
  lg('without fields', 'payload.fields', undefined);
  lg('fields empty', 'payload.fields', {});
  lg(
    'fields 64',
    'payload.fields',
    Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`f${i}`, `v${i}`])),
  );
  lg(
    'fields 65',
    'payload.fields',
    Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, `v${i}`])),
  );
  lg('field key empty', 'payload.fields', { '': 'v' });
  lg('field key 64 chars', 'payload.fields', { ['k'.repeat(64)]: 'v' });
  lg('field key 65 chars', 'payload.fields', { ['k'.repeat(65)]: 'v' });
  lg('field value empty', 'payload.fields', { k: '' });
  lg('field value 8192 chars', 'payload.fields', { k: 'v'.repeat(8192) });
  lg('field value 8193 chars', 'payload.fields', { k: 'v'.repeat(8193) });
  lg('field value number', 'payload.fields', { offset: 4096 });
  lg('field value null', 'payload.fields', { k: null });
  lg('fields array', 'payload.fields', ['a']);
  lg('unknown payload key dropped', 'payload.thread', 'main');
  lg('telemetry payload on log', 'payload', telemetry.payload);
  tel('log payload on telemetry', 'payload', log.payload);
  out.push({
    name: 'log __proto__ field key',
    text: json(log).replace('{"pid":', '{"__proto__":"x","pid":'),
  });
  out.push({
    name: 'telemetry __proto__ tag key',
    text: json(telemetry).replace('{"room":', '{"__proto__":"x","room":'),
  });

  // Malformed bytes.
  out.push({ name: 'malformed truncated', text: json(telemetry).slice(0, 40) });
  out.push({ name: 'malformed array', text: '[1,2]' });
  out.push({ name: 'malformed null', text: 'null' });
  out.push({ name: 'malformed string', text: '"x"' });
  out.push({ name: 'malformed number', text: '42' });
  out.push({ name: 'malformed empty', text: '' });
  out.push({ name: 'malformed trailing garbage', text: `${json(telemetry)} x` });
  out.push({ name: 'malformed two objects', text: `${json(telemetry)}${json(telemetry)}` });
  out.push({ name: 'malformed single quotes', text: "{'id':1}" });
  out.push({ name: 'malformed trailing comma', text: json(telemetry).replace(/}$/, ',}') });
  out.push({ name: 'whitespace around object', text: ` \n\t${json(telemetry)}\r\n ` });
  out.push({
    name: 'duplicate key last wins',
    text: json(telemetry).replace('{"id"', '{"device_id":"x y","id"'),
  });
  out.push({
    name: 'invalid UTF-8 bytes',
    bytes: [...Buffer.from(json(telemetry).replace('Cel', 'C\u0000l'))].map((b) => (b === 0 ? 0xff : b)),
  });
  out.push({ name: 'escaped unicode', text: json(telemetry).replace('"Cel"', '"\\u00b0C"') });
  return out;
}

function run(input: VectorInput): ContractVector {
  const bytes =
    input.bytes !== undefined ? Uint8Array.from(input.bytes) : new TextEncoder().encode(input.text);
  const vector: ContractVector = { name: input.name, valid: false };
  if (input.bytes !== undefined) vector.base64 = Buffer.from(bytes).toString('base64');
  else vector.text = input.text as string;
  try {
    const record = decodeRecord(bytes, 'compatible');
    vector.valid = true;
    vector.expected = JSON.parse(JSON.stringify(record)) as Json;
  } catch (error) {
    if (!(error instanceof ContractError)) throw error;
    vector.code = error.code;
    vector.paths =
      'issues' in error
        ? [...new Set((error.issues as { path: string }[]).map((i) => i.path))]
        : [error.path];
  }
  return vector;
}

/** The vectors file's exact text, so the staleness test compares bytes. */
export function vectorsJson(): string {
  const vectors = variants().map(run);
  const names = new Set(vectors.map((v) => v.name));
  if (names.size !== vectors.length) throw new Error('contract vectors: duplicate vector names');
  const doc = {
    description:
      "Produced by scripts/contract-vectors.ts from shared/contract (decodeRecord(bytes, 'compatible')). Do not edit.",
    mode: 'compatible',
    supportedSchemaVersions: [...SUPPORTED_SCHEMA_VERSIONS],
    eventTimeMinMs: EVENT_TIME_MIN_MS,
    eventTimeMaxMs: EVENT_TIME_MAX_MS,
    vectors,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * KPL aggregated records built by shared/kinesis/aggregation.ts, with the user records inside, so the
 * Java deaggregator is checked against the same encoder the device exporter uses.
 */
export function kplVectorsJson(): string {
  const encoder = new TextEncoder();
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  const cases = [
    { name: 'three records, two keys', keys: ['sensor-0001', 'sensor-0002', 'sensor-0001'] },
    { name: 'unicode partition key', keys: ['clé-Ω-😀'] },
    { name: 'many records', keys: Array.from({ length: 40 }, (_, i) => `k${i % 7}`) },
  ].map(({ name, keys }) => {
    const records = keys.map((partitionKey, i) => ({
      partitionKey,
      data: encoder.encode(json({ ...telemetry, device_id: `d${i}`, partition_key: partitionKey })),
    }));
    const entries = aggregateRecords(records, { maxBytes: 1024 * 1024 });
    return {
      name,
      aggregated: entries.map((e) => ({
        partitionKey: e.partitionKey,
        base64: b64(e.data),
        records: e.records,
      })),
      records: records.map((r) => ({ partitionKey: r.partitionKey, base64: b64(r.data) })),
    };
  });
  const doc = {
    description: 'Produced by scripts/contract-vectors.ts from shared/kinesis/aggregation.ts. Do not edit.',
    cases,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** ISO 4217 codes the runtime's Intl accepts, one per line, sorted. */
export function currenciesText(): string {
  return `${[...Intl.supportedValuesOf('currency')].sort().join('\n')}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await mkdir(dirname(VECTORS_FILE), { recursive: true });
  await mkdir(dirname(CURRENCIES_FILE), { recursive: true });
  await writeFile(VECTORS_FILE, vectorsJson());
  await writeFile(KPL_VECTORS_FILE, kplVectorsJson());
  await writeFile(CURRENCIES_FILE, currenciesText());
  // Biome's layout (short arrays on one line), so `npm run lint` accepts the files as written.
  const biome = fileURLToPath(new URL('../node_modules/.bin/biome', import.meta.url));
  execFileSync(biome, ['format', '--write', VECTORS_FILE, KPL_VECTORS_FILE], { stdio: 'inherit' });
  console.log(`wrote ${VECTORS_FILE}, ${KPL_VECTORS_FILE} and ${CURRENCIES_FILE}`);
}
