import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { PARTITION_KEYS } from '../../shared/lake/table.ts';
import { LakeQueryError } from './errors.ts';

/**
 * DuckDB over the lake: the bucket's objects are mirrored into a local directory (same keys), then
 * read with hive partitioning, so `record_type`, `dt` and `hour` are columns as in Athena. Views:
 *   records      every delivered row (data/**\/*.parquet); partition columns are strings, as in Glue
 *   lake_errors  Firehose error documents (errors/**), when there are any
 * `from_unixtime(x)` is defined as in Athena, so `from_unixtime(event_time / 1000e0)` runs on both.
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
  if (dataFiles === 0 && errorFiles === 0) {
    throw new LakeQueryError(
      'LAKE_EMPTY',
      `the lake at ${dir} is empty: no objects under data/ or errors/ yet. Is the delivery running (npm start), ` +
        'and has its buffer interval passed since records were put?',
    );
  }
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run('CREATE MACRO from_unixtime(seconds) AS to_timestamp(seconds)');
    const hiveTypes = PARTITION_KEYS.map((key) => `'${key}': VARCHAR`).join(', ');
    const dataGlob = quote(join(dir, 'data', '**', '*.parquet'));
    await connection.run(
      dataFiles === 0
        ? // No data yet: an empty view with the partition columns keeps queries from failing on a missing table.
          `CREATE VIEW records AS SELECT NULL::VARCHAR AS ${PARTITION_KEYS.join(', NULL::VARCHAR AS ')} WHERE false`
        : `CREATE VIEW records AS SELECT * FROM read_parquet(${dataGlob}, hive_partitioning = true, hive_types = {${hiveTypes}}, union_by_name = true)`,
    );
    if (errorFiles > 0) {
      await connection.run(
        `CREATE VIEW lake_errors AS SELECT * FROM read_json(${quote(join(dir, 'errors', '**', '*'))}, format = 'newline_delimited', filename = true)`,
      );
    }
  } catch (error) {
    connection.closeSync();
    instance.closeSync();
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
    },
  };
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
    title: 'Dedupe: one row per record id (at-least-once delivery may repeat a record)',
    sql: `SELECT count(*) AS rows, count(DISTINCT id) AS records, count(*) - count(DISTINCT id) AS duplicates
FROM records`,
  },
  {
    title: 'Quarantined records by reason (lake_errors exists once something failed)',
    sql: `SELECT lastErrorCode, count(*) AS records, min(lastErrorMessage) AS example
FROM lake_errors GROUP BY 1 ORDER BY records DESC`,
  },
];
