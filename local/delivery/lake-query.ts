import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { verdictOf } from '../../functions/lake-processor/processor.ts';
import { ERROR_OUTPUT_TYPES, type ErrorOutputType } from '../../shared/lake/layout.ts';
import { ParquetEncoder } from '../../shared/lake/parquet.ts';
import { PARTITION_KEYS } from '../../shared/lake/table.ts';
import { LakeQueryError } from './errors.ts';

/**
 * DuckDB over the lake: the bucket's objects are mirrored into a local directory (same keys), then
 * read with hive partitioning, so `record_type`, `dt` and `hour` are columns as in Athena. Views:
 *   records      every delivered row (data/**\/*.parquet); partition columns are strings, as in Glue;
 *                on a lake without data, no rows but the same columns
 *   lake_errors  one row per Firehose error document under errors/ (empty when there are none), both
 *                output types in one shape, with the reason: for a processing-failed record the lake
 *                processor's verdict on its rawData (Firehose's document carries no reason from the
 *                function), for a format-conversion-failed one Firehose's own message
 * `from_unixtime(x)` is defined as in Athena, so `from_unixtime(event_time / 1000e0)` runs on both.
 * The same directory layout comes from the local bucket and from `aws s3 sync` of the real one, so
 * both give the same answers.
 */

export interface SyncResult {
  readonly objects: number;
  readonly downloaded: number;
  readonly removed: number;
}

/** Mirrors `s3://bucket/` into `dir`: downloads new or resized objects, removes local files gone from S3. */
export async function syncLake(s3: S3Client, bucket: string, dir: string): Promise<SyncResult> {
  const remote = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        ...(token === undefined ? {} : { ContinuationToken: token }),
      }),
    );
    for (const object of page.Contents ?? []) {
      if (object.Key !== undefined && !object.Key.endsWith('/')) remote.set(object.Key, object.Size ?? 0);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);

  let downloaded = 0;
  for (const [key, size] of remote) {
    const path = join(dir, ...key.split('/'));
    const local = await stat(path).catch(() => undefined);
    // Keys are deterministic and a rewrite carries the same rows: same key and size = same object.
    if (local?.size === size) continue;
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = await object.Body?.transformToByteArray();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, body ?? new Uint8Array());
    downloaded += 1;
  }
  let removed = 0;
  for (const file of await listFiles(dir)) {
    if (!remote.has(relative(dir, file).split(sep).join('/'))) {
      await rm(file);
      removed += 1;
    }
  }
  return { objects: remote.size, downloaded, removed };
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

export interface QueryResult {
  readonly columns: readonly { name: string; type: string }[];
  /** Rows as JSON values (BIGINT as strings, STRUCT as objects, MAP as key/value lists). */
  readonly rows: readonly Record<string, unknown>[];
}

export interface LakeSession {
  readonly dir: string;
  readonly dataFiles: number;
  readonly errorFiles: number;
  query(sql: string): Promise<QueryResult>;
  close(): void;
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Opens DuckDB over a lake directory (as syncLake leaves it, or an `aws s3 sync` of the real bucket). */
export async function openLake(dir: string): Promise<LakeSession> {
  const files = await listFiles(dir);
  const dataFiles = files.filter((f) => f.startsWith(join(dir, 'data')) && f.endsWith('.parquet')).length;
  const errorFiles = files.filter((f) => f.startsWith(join(dir, 'errors'))).length;
  // No data yet: `records` reads an empty Parquet file of the contract's schema, so every query runs
  // (and answers no rows) on a new lake, as Athena's table does on an empty prefix.
  const schemaDir = dataFiles === 0 ? await mkdtemp(join(tmpdir(), 'tributary-lake-schema-')) : undefined;
  const removeSchemaDir = () => {
    if (schemaDir !== undefined) rmSync(schemaDir, { recursive: true, force: true });
  };
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run('CREATE MACRO from_unixtime(seconds) AS to_timestamp(seconds)');
    const hiveTypes = PARTITION_KEYS.map((key) => `'${key}': VARCHAR`).join(', ');
    const dataGlob = quote(join(dir, 'data', '**', '*.parquet'));
    if (schemaDir === undefined) {
      await connection.run(
        `CREATE VIEW records AS SELECT * FROM read_parquet(${dataGlob}, hive_partitioning = true, hive_types = {${hiveTypes}}, union_by_name = true)`,
      );
    } else {
      const empty = join(schemaDir, 'empty.parquet');
      await writeFile(empty, new ParquetEncoder().encode([], { compression: 'SNAPPY' }));
      const partitions = PARTITION_KEYS.map((key) => `NULL::VARCHAR AS ${key}`).join(', ');
      await connection.run(
        `CREATE VIEW records AS SELECT *, ${partitions} FROM read_parquet(${quote(empty)})`,
      );
    }
    await loadErrors(
      connection,
      dir,
      files.filter((f) => f.startsWith(join(dir, 'errors'))),
    );
  } catch (error) {
    connection.closeSync();
    instance.closeSync();
    removeSchemaDir();
    throw new LakeQueryError('LAKE_QUERY_FAILED', `cannot open the lake at ${dir}: ${message(error)}`, {
      cause: error,
    });
  }
  return {
    dir,
    dataFiles,
    errorFiles,
    query: (sql) => run(connection, sql),
    close: () => {
      connection.closeSync();
      instance.closeSync();
      removeSchemaDir();
    },
  };
}

/** lake_errors columns, in table order. */
const ERROR_COLUMNS = [
  ['error_output_type', 'VARCHAR'],
  ['error_code', 'VARCHAR'],
  ['error_message', 'VARCHAR'],
  ['reason_code', 'VARCHAR'],
  ['field', 'VARCHAR'],
  ['reason', 'VARCHAR'],
  ['arrival_timestamp', 'BIGINT'],
  ['attempt_ending_timestamp', 'BIGINT'],
  ['attempts_made', 'INTEGER'],
  ['raw_data', 'VARCHAR'],
  ['lambda_arn', 'VARCHAR'],
  ['file', 'VARCHAR'],
] as const;

export interface LakeErrorRow {
  error_output_type: ErrorOutputType;
  error_code: string;
  error_message: string;
  reason_code: string;
  /** Dotted path of the offending field; '' for the whole record or when unknown. */
  field: string;
  reason: string;
  arrival_timestamp: number;
  attempt_ending_timestamp: number;
  attempts_made: number;
  raw_data: string;
  lambda_arn: string | null;
  /** Object key under the lake. */
  file: string;
}

/** One error document (a line of an object under errors/<type>/) as a lake_errors row. */
export function lakeErrorRow(
  type: ErrorOutputType,
  file: string,
  document: Record<string, unknown>,
): LakeErrorRow {
  const text = (key: string) => (typeof document[key] === 'string' ? (document[key] as string) : '');
  const number = (key: string) => (typeof document[key] === 'number' ? (document[key] as number) : 0);
  const code = text(type === 'processing-failed' ? 'errorCode' : 'lastErrorCode');
  const message = text(type === 'processing-failed' ? 'errorMessage' : 'lastErrorMessage');
  const rawData = text('rawData');
  const verdict = type === 'processing-failed' ? verdictOf(rawData) : undefined;
  const rejection = verdict?.valid === false ? verdict.rejection : undefined;
  return {
    error_output_type: type,
    error_code: code,
    error_message: message,
    // A record the contract accepts failed for another reason (a function error, a timeout): Firehose's.
    reason_code: rejection?.code ?? code,
    field: rejection?.path ?? '',
    reason: rejection?.reason ?? message,
    arrival_timestamp: number('arrivalTimestamp'),
    attempt_ending_timestamp: number('attemptEndingTimestamp'),
    attempts_made: number('attemptsMade'),
    raw_data: rawData,
    lambda_arn: typeof document.lambdaArn === 'string' ? document.lambdaArn : null,
    file,
  };
}

async function loadErrors(
  connection: DuckDBConnection,
  dir: string,
  files: readonly string[],
): Promise<void> {
  await connection.run(`CREATE TABLE lake_errors (${ERROR_COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})`);
  const appender = await connection.createAppender('lake_errors');
  try {
    for (const path of files) {
      const key = relative(dir, path).split(sep).join('/');
      const type = ERROR_OUTPUT_TYPES.find((t) => key.startsWith(`errors/${t}/`));
      // Other error output types (S3 delivery failures...) are not written by this stack.
      if (type === undefined) continue;
      const lines = (await readFile(path, 'utf8')).split('\n');
      for (const [index, line] of lines.entries()) {
        if (line.trim() === '') continue;
        let document: unknown;
        try {
          document = JSON.parse(line);
        } catch (cause) {
          throw new LakeQueryError(
            'LAKE_QUERY_FAILED',
            `${key}:${index + 1}: not a Firehose error document`,
            {
              cause,
            },
          );
        }
        if (document === null || typeof document !== 'object') {
          throw new LakeQueryError('LAKE_QUERY_FAILED', `${key}:${index + 1}: not a Firehose error document`);
        }
        const row = lakeErrorRow(type, key, document as Record<string, unknown>);
        for (const [name, columnType] of ERROR_COLUMNS) {
          const value = row[name];
          if (value === null) appender.appendNull();
          else if (columnType === 'VARCHAR') appender.appendVarchar(String(value));
          else if (columnType === 'BIGINT') appender.appendBigInt(BigInt(value));
          else appender.appendInteger(Number(value));
        }
        appender.endRow();
      }
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

async function run(connection: DuckDBConnection, sql: string): Promise<QueryResult> {
  try {
    const reader = await connection.runAndReadAll(sql);
    const names = reader.columnNames();
    const types = reader.columnTypes();
    return {
      columns: names.map((name, i) => ({ name, type: String(types[i]) })),
      rows: reader.getRowObjectsJson() as Record<string, unknown>[],
    };
  } catch (error) {
    throw new LakeQueryError('LAKE_QUERY_FAILED', message(error), { cause: error });
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Example queries, printed by `npm run query -- --examples`; those on `records` run unchanged on Athena. */
export const EXAMPLE_QUERIES: readonly { title: string; sql: string }[] = [
  {
    title: 'Records per type and event hour',
    sql: `SELECT record_type, dt, hour, count(*) AS records
FROM records GROUP BY record_type, dt, hour ORDER BY dt, hour, record_type`,
  },
  {
    title: 'Top merchants by amount (minor units, per currency)',
    sql: `SELECT payload.merchant_id AS merchant, payload.currency AS currency,
       count(*) AS transactions, sum(payload.amount_minor) AS amount_minor
FROM records WHERE record_type = 'transaction'
GROUP BY 1, 2 ORDER BY amount_minor DESC LIMIT 10`,
  },
  {
    title: 'Per-device metric summary',
    sql: `SELECT device_id, payload.metric AS metric, payload.unit AS unit, count(*) AS samples,
       min(payload.value) AS min, avg(payload.value) AS avg, max(payload.value) AS max,
       from_unixtime(max(event_time) / 1000e0) AS last_seen
FROM records WHERE record_type = 'telemetry'
GROUP BY 1, 2, 3 ORDER BY device_id, metric`,
  },
  {
    title: 'Log lines per device and level, errors and worse first',
    sql: `SELECT device_id, payload.level AS level, count(*) AS lines,
       from_unixtime(max(event_time) / 1000e0) AS last_line
FROM records WHERE record_type = 'log'
GROUP BY 1, 2 ORDER BY device_id, CASE payload.level WHEN 'emergency' THEN 0 WHEN 'alert' THEN 1
  WHEN 'critical' THEN 2 WHEN 'error' THEN 3 WHEN 'warning' THEN 4 WHEN 'notice' THEN 5
  WHEN 'info' THEN 6 ELSE 7 END`,
  },
  {
    title: 'Dedupe: one row per record id (at-least-once delivery may repeat a record)',
    sql: `SELECT count(*) AS rows, count(DISTINCT id) AS records, count(*) - count(DISTINCT id) AS duplicates
FROM records`,
  },
  {
    title: 'Refused or unconvertible records by reason (lake_errors; empty when nothing failed)',
    sql: `SELECT error_output_type, reason_code, field, count(*) AS records, min(reason) AS example
FROM lake_errors GROUP BY 1, 2, 3 ORDER BY records DESC`,
  },
  {
    title: 'Latest refused records, newest first',
    sql: `SELECT to_timestamp(arrival_timestamp / 1000e0) AS arrived, reason, file
FROM lake_errors ORDER BY arrival_timestamp DESC LIMIT 20`,
  },
];
