import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { glueColumns } from '../../../shared/contract/index.ts';
import { LakeEncodeError } from '../../../shared/lake/errors.ts';
import { parseGlueType, renderGlueType } from '../../../shared/lake/glue-types.ts';
import { lakeColumns, ParquetEncoder } from '../../../shared/lake/parquet.ts';
import { logRecord, recordArb, telemetryRecord, transactionRecord } from '../../helpers/records.ts';
import { useTempDir } from '../../helpers/temp-dir.ts';
import { EXPECTED_COLUMN_TYPES, expectedRow } from './lake-rows.ts';

const tmp = useTempDir('lake-parquet-');
let duck: DuckDBInstance;

beforeAll(async () => {
  duck = await DuckDBInstance.create(':memory:');
});

afterAll(async () => {
  duck.closeSync();
});

let files = 0;
async function readBack(bytes: Uint8Array, sql = 'SELECT * FROM f') {
  const path = join(tmp.path, `f${files++}.parquet`);
  await writeFile(path, bytes);
  const connection = await duck.connect();
  try {
    await connection.run(`CREATE OR REPLACE TEMP VIEW f AS SELECT * FROM read_parquet('${path}')`);
    const reader = await connection.runAndReadAll(sql);
    return {
      types: Object.fromEntries(reader.columnNames().map((n, i) => [n, String(reader.columnTypes()[i])])),
      rows: reader.getRowObjectsJson() as Record<string, unknown>[],
    };
  } finally {
    connection.closeSync();
  }
}

describe('Glue types', () => {
  it('parses and prints back every column type the contract derives', () => {
    for (const column of glueColumns()) expect(renderGlueType(parseGlueType(column.type))).toBe(column.type);
  });

  it('rejects types it cannot map to Parquet', () => {
    expect(() => parseGlueType('decimal(10,2)')).toThrow(/unsupported type "decimal"/);
    expect(() => parseGlueType('struct<a:string')).toThrow(/expected/);
  });
});

describe('ParquetEncoder', () => {
  const encoder = new ParquetEncoder();

  it('writes the column types Firehose gives the Glue schema, all nullable', async () => {
    const { types } = await readBack(encoder.encode([telemetryRecord(), transactionRecord(), logRecord()]));
    expect(types).toEqual(EXPECTED_COLUMN_TYPES);
  });

  it("lays the file out as Hive's Parquet writer does: optional columns, UTF8 strings, a MAP group", async () => {
    const path = join(tmp.path, 'schema.parquet');
    await writeFile(path, encoder.encode([telemetryRecord()]));
    const connection = await duck.connect();
    try {
      const reader = await connection.runAndReadAll(
        `SELECT name, type, converted_type, repetition_type FROM parquet_schema('${path}') OFFSET 1`,
      );
      const rows = reader
        .getRowObjectsJson()
        .map((r) => [r.name, r.type, r.converted_type, r.repetition_type]);
      expect(rows).toEqual([
        ['id', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['schema_version', 'INT32', null, 'OPTIONAL'],
        ['device_id', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['partition_key', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['event_time', 'INT64', null, 'OPTIONAL'],
        ['type', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['payload', null, null, 'OPTIONAL'],
        ['metric', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['value', 'DOUBLE', null, 'OPTIONAL'],
        ['unit', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['tags', null, 'MAP', 'OPTIONAL'],
        ['entries', null, null, 'REPEATED'],
        ['key', 'BYTE_ARRAY', 'UTF8', 'REQUIRED'],
        ['value', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['card_token', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['merchant_id', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['merchant_category', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['amount_minor', 'INT64', null, 'OPTIONAL'],
        ['currency', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['location', null, null, 'OPTIONAL'],
        ['lat', 'DOUBLE', null, 'OPTIONAL'],
        ['lon', 'DOUBLE', null, 'OPTIONAL'],
        ['country', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['channel', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['level', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['message', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['source', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
        ['fields', null, 'MAP', 'OPTIONAL'],
        ['entries', null, null, 'REPEATED'],
        ['key', 'BYTE_ARRAY', 'UTF8', 'REQUIRED'],
        ['value', 'BYTE_ARRAY', 'UTF8', 'OPTIONAL'],
      ]);
    } finally {
      connection.closeSync();
    }
  });

  it('round-trips any valid record with identical values (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(recordArb, { minLength: 1, maxLength: 20 }), async (records) => {
        const { rows } = await readBack(encoder.encode(records));
        expect(rows).toEqual(records.map(expectedRow));
      }),
      { numRuns: 25 },
    );
  });

  it('keeps an empty map apart from a missing one, as the OpenX SerDe does', async () => {
    const { rows } = await readBack(
      encoder.encode([
        telemetryRecord({ payload: { metric: 'a', value: 1, unit: '%', tags: {} } }),
        telemetryRecord({ payload: { metric: 'a', value: 1, unit: '%' } }),
      ]),
      'SELECT payload.tags AS tags FROM f',
    );
    expect(rows).toEqual([{ tags: [] }, { tags: null }]);
  });

  it('is deterministic: the same rows give the same bytes (replays overwrite identical objects)', () => {
    const records = [telemetryRecord(), transactionRecord()];
    const metadata = { 'tributary.source.shard': 'shardId-000000000000' };
    expect(Buffer.from(encoder.encode(records, { metadata }))).toEqual(
      Buffer.from(encoder.encode(records, { metadata })),
    );
  });

  it('stores footer metadata and the chosen codec', async () => {
    const bytes = encoder.encode([telemetryRecord()], { compression: 'GZIP', metadata: { k: 'v' } });
    const path = join(tmp.path, 'meta.parquet');
    await writeFile(path, bytes);
    const connection = await duck.connect();
    try {
      const kv = await connection.runAndReadAll(
        `SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata('${path}') WHERE decode(key) = 'k'`,
      );
      expect(kv.getRowObjectsJson()).toEqual([{ key: 'k', value: 'v' }]);
      const codecs = await connection.runAndReadAll(
        `SELECT DISTINCT compression FROM parquet_metadata('${path}')`,
      );
      expect(codecs.getRowObjectsJson()).toEqual([{ compression: 'GZIP' }]);
    } finally {
      connection.closeSync();
    }
  });

  it('refuses a value that does not fit its column instead of writing null', () => {
    const bad = { ...telemetryRecord(), event_time: '1795435200000' } as unknown as Record<string, unknown>;
    expect(() => encoder.encode([bad])).toThrow(LakeEncodeError);
    expect(() => encoder.encode([bad])).toThrow(/event_time: expected a safe integer/);
  });

  it('derives its columns from the contract', () => {
    expect(lakeColumns().map((c) => `${c.name} ${c.glueType}`)).toEqual(
      glueColumns().map((c) => `${c.name} ${c.type}`),
    );
  });
});
