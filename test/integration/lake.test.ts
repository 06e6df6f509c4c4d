import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { type DeliveryEvent, type LakeDelivery, startLakeDelivery } from '../../local/delivery/delivery.ts';
import { EXAMPLE_QUERIES, openLake, syncLake } from '../../local/delivery/lake-query.ts';
import { encodeRecord, type TributaryRecord } from '../../shared/contract/index.ts';
import { ParquetEncoder } from '../../shared/lake/parquet.ts';
import { partitionValues } from '../../shared/lake/table.ts';
import { aggregatedRecord } from '../helpers/aggregated.ts';
import { useLocalCloud } from '../helpers/local-cloud.ts';
import { logRecord, telemetryRecord, transactionRecord } from '../helpers/records.ts';
import { useTempDir } from '../helpers/temp-dir.ts';
import { until } from '../helpers/until.ts';
import { EXPECTED_COLUMN_TYPES, expectedRow } from '../unit/lake/lake-rows.ts';

/**
 * The local Firehose end to end: records put into the local stream come out of the lake (DuckDB over
 * the mirrored bucket) with identical values and types, partitioned as the template declares; bad
 * records land under the error prefix with their reason; a crash between writing objects and the
 * checkpoint loses nothing and duplicates nothing.
 */

const local = useLocalCloud('lake');
const tmp = useTempDir('lake-it-');
const streamName = () => {
  const stream = local.cloud.stack.resources.find((r) => r.kind === 'kinesis-stream');
  if (stream === undefined) throw new Error('no stream in the stack');
  return stream.name;
};

async function put(entries: PutRecordsRequestEntry[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 500) {
    const out = await local.cloud.clients
      .kinesis()
      .send(new PutRecordsCommand({ StreamName: streamName(), Records: entries.slice(i, i + 500) }));
    expect(out.FailedRecordCount ?? 0).toBe(0);
  }
}

const entry = (record: TributaryRecord): PutRecordsRequestEntry => ({
  PartitionKey: record.partition_key,
  Data: encodeRecord(record),
});

function start(
  checkpoints: string,
  onEvent?: (event: DeliveryEvent) => void | Promise<void>,
): Promise<LakeDelivery> {
  return startLakeDelivery({
    stack: local.cloud.stack,
    clients: local.cloud.clients,
    dataDir: checkpoints,
    // Small hints so the test sees data in well under a second; key layout and semantics are the template's.
    buffering: { sizeBytes: 256 * 1024, intervalMs: 300 },
    pollIntervalMs: 50,
    ...(onEvent === undefined ? {} : { onEvent }),
  });
}

async function mirror(): Promise<string> {
  const dir = join(tmp.path, `lake-${Date.now()}`);
  const bucket = local.cloud.stack.resources.find(
    (r) => r.kind === 's3-bucket' && r.logicalId === 'LakeBucket',
  );
  await syncLake(local.cloud.clients.s3(), bucket?.kind === 's3-bucket' ? bucket.name : '', dir);
  return dir;
}

async function lakeRows(sql: string) {
  const lake = await openLake(await mirror());
  try {
    return await lake.query(sql);
  } finally {
    lake.close();
  }
}

describe('lake delivery', () => {
  const checkpoints = () => join(tmp.path, 'checkpoints');

  it('round-trips records into partitioned Parquet with identical values and types, and quarantines bad ones', async () => {
    const hour = (h: number, m = 0) => Date.UTC(2026, 10, 23, h, m);
    const telemetry = Array.from({ length: 60 }, (_, i) =>
      telemetryRecord({
        device_id: `rt-sensor-${i % 3}`,
        partition_key: `rt-sensor-${i % 3}`,
        event_time: hour(9 + (i % 2), i),
        payload: {
          metric: i % 2 ? 'cpu.load' : 'temperature',
          value: i / 7,
          unit: '%',
          tags: { i: String(i) },
        },
      }),
    );
    const transactions = Array.from({ length: 40 }, (_, i) =>
      transactionRecord({ device_id: `rt-terminal-${i % 2}`, event_time: hour(10, i) }),
    );
    const logs = (['error', 'warning', 'info', 'debug'] as const).map((level, i) =>
      logRecord({
        device_id: 'rt-gateway-0',
        partition_key: 'rt-gateway-0',
        event_time: hour(11, i),
        payload: {
          level,
          message: i === 3 ? '' : `line ${i}\nsecond line`,
          source: '/var/log/app.log',
          ...(i === 0 ? {} : { fields: { file: '/var/log/app.log', offset: String(i * 200) } }),
        },
      }),
    );
    // KPL-aggregated records are deaggregated, as Firehose does for a Kinesis source.
    const [first, ...rest] = transactions;
    const aggregate = aggregatedRecord(
      rest.slice(0, 20).map((r) => ({ partitionKey: r.partition_key, data: encodeRecord(r) })),
    );
    const bad: PutRecordsRequestEntry[] = [
      { PartitionKey: 'bad', Data: Buffer.from('{"id": "truncated') },
      { PartitionKey: 'bad', Data: Buffer.from(JSON.stringify({ ...telemetryRecord(), device_id: '' })) },
    ];
    await put([
      ...telemetry.map(entry),
      ...(first === undefined ? [] : [entry(first)]),
      { PartitionKey: aggregate.partitionKey, Data: aggregate.data },
      ...rest.slice(20).map(entry),
      ...logs.map(entry),
      ...bad,
    ]);

    const delivery = await start(checkpoints());
    await until(() => delivery.stats().delivered + delivery.stats().failed >= 106, 'all records delivered');
    await delivery.stop();
    expect(delivery.stats()).toMatchObject({ delivered: 104, failed: 2 });

    const all = [...telemetry, ...transactions, ...logs];
    const result = await lakeRows(
      "SELECT * EXCLUDE (record_type, dt, hour), record_type, dt, hour FROM records WHERE device_id LIKE 'rt-%' ORDER BY id",
    );
    const byId = new Map(all.map((r) => [r.id, r]));
    expect(result.rows).toHaveLength(all.length);
    for (const row of result.rows) {
      const record = byId.get(row.id as string);
      expect(record).toBeDefined();
      const { record_type, dt, hour: h, ...data } = row;
      expect(data).toEqual(expectedRow(record as TributaryRecord));
      expect({ record_type, dt, hour: h }).toEqual(partitionValues(record as TributaryRecord));
    }
    const types = Object.fromEntries(result.columns.map((c) => [c.name, c.type]));
    expect(types).toEqual({
      ...EXPECTED_COLUMN_TYPES,
      record_type: 'VARCHAR',
      dt: 'VARCHAR',
      hour: 'VARCHAR',
    });

    // Refused by the lake processor (the function the stack deploys as Firehose's Lambda processor),
    // filed as Firehose files them, and listed with the contract's reason.
    const errors = await lakeRows(
      'SELECT error_output_type, error_code, error_message, reason_code, field, reason, raw_data, lambda_arn, file FROM lake_errors ORDER BY reason_code',
    );
    expect(errors.rows.map((r) => [r.error_output_type, r.error_code, r.reason_code, r.field])).toEqual([
      ['processing-failed', 'Lambda.ProcessingFailedStatus', 'RECORD_INVALID', 'device_id'],
      ['processing-failed', 'Lambda.ProcessingFailedStatus', 'RECORD_MALFORMED', ''],
    ]);
    expect(errors.rows[0]?.reason).toMatch(/^record device_id: /);
    expect(errors.rows[1]?.reason).toMatch(/not valid JSON/);
    expect(errors.rows.map((r) => Buffer.from(r.raw_data as string, 'base64').toString()).sort()).toEqual(
      bad.map((b) => Buffer.from(b.Data as Uint8Array).toString()).sort(),
    );
    for (const row of errors.rows) {
      expect(row.lambda_arn).toBe(
        'arn:aws:lambda:us-east-1:000000000000:function:tributary-dev-lakeProcessor',
      );
      expect(String(row.file)).toMatch(
        /^errors\/processing-failed\/dt=\d{4}-\d\d-\d\d\/hour=\d\d\/tributary-dev-lake-1-\d{4}(-\d\d){5}-[0-9a-f-]{36}$/,
      );
    }
    // The objects themselves are Firehose's processing-failed documents, nothing more.
    const [errorKey] = errors.rows.map((r) => String(r.file));
    const errorObject = await local.cloud.clients
      .s3()
      .send(new GetObjectCommand({ Bucket: delivery.bucket, Key: errorKey }));
    const lines = (await errorObject.Body?.transformToString())?.trim().split('\n') ?? [];
    expect(Object.keys(JSON.parse(lines[0] ?? '{}')).sort()).toEqual(
      [
        'attemptEndingTimestamp',
        'arrivalTimestamp',
        'attemptsMade',
        'errorCode',
        'errorMessage',
        'lambdaArn',
        'rawData',
      ].sort(),
    );

    const keys = await local.cloud.clients.s3().send(
      new ListObjectsV2Command({
        Bucket: delivery.bucket,
        Prefix: 'data/record_type=telemetry/dt=2026-11-23/hour=09/',
      }),
    );
    for (const object of keys.Contents ?? []) {
      expect(object.Key).toMatch(/\/tributary-dev-lake-1-\d{4}(-\d\d){5}-[0-9a-f-]{36}\.parquet$/);
    }
    // Log lines have a type partition of their own, beside dt and hour, as in AWS.
    const logKeys = await local.cloud.clients
      .s3()
      .send(new ListObjectsV2Command({ Bucket: delivery.bucket, Prefix: 'data/record_type=log/' }));
    expect((logKeys.Contents ?? []).map((o) => o.Key)).toEqual([
      expect.stringMatching(
        /^data\/record_type=log\/dt=2026-11-23\/hour=11\/tributary-dev-lake-1-\d{4}(-\d\d){5}-[0-9a-f-]{36}\.parquet$/,
      ),
    ]);
    const errorsByLevel = await lakeRows(
      "SELECT payload.level AS level, count(*) AS n FROM records WHERE record_type = 'log' AND device_id = 'rt-gateway-0' GROUP BY 1 ORDER BY 1",
    );
    expect(errorsByLevel.rows.map((r) => [r.level, Number(r.n)])).toEqual([
      ['debug', 1],
      ['error', 1],
      ['info', 1],
      ['warning', 1],
    ]);
  });

  it('a crash between writing objects and the checkpoint loses nothing and duplicates nothing', async () => {
    const records = Array.from({ length: 400 }, (_, i) =>
      telemetryRecord({
        device_id: `crash-${i % 4}`,
        partition_key: `crash-${i % 4}`,
        event_time: Date.UTC(2026, 10, 24, 1, i % 60),
      }),
    );
    await put(records.map(entry));
    // Counts continue from what earlier runs on these checkpoints committed (the first test's records).
    const committedOnDisk = async (): Promise<number> => {
      const files = (await readdir(checkpoints())).filter((f) => f.endsWith('.checkpoint.json'));
      expect(files).toHaveLength(1);
      const file = JSON.parse(await readFile(join(checkpoints(), files[0] ?? ''), 'utf8')) as {
        totals?: { delivered: number };
      };
      return file.totals?.delivered ?? 0;
    };
    const earlier = await committedOnDisk();
    expect(earlier).toBeGreaterThan(0);

    // First run "crashes" right after its first objects are written, before it checkpoints them.
    let crashedKeys: readonly string[] = [];
    let crashedRecords = 0;
    const crashing = await start(checkpoints(), (event) => {
      if (event.type === 'objects-written' && crashedKeys.length === 0) {
        crashedKeys = event.keys;
        crashedRecords = event.delivered;
        throw new Error('simulated crash before the checkpoint');
      }
    });
    await expect(crashing.done).rejects.toThrow(/simulated crash/);
    await crashing.stop().catch(() => undefined);
    expect(crashedKeys.length).toBeGreaterThan(0);
    expect(crashing.stats().delivered).toBeGreaterThanOrEqual(earlier + crashedRecords);

    // The restart replays the pending range first and writes the same keys again.
    const replayed: string[] = [];
    const restarted = await start(checkpoints(), (event) => {
      if (event.type === 'objects-written' && event.reason === 'replay') replayed.push(...event.keys);
    });
    expect(restarted.stats().delivered).toBeGreaterThanOrEqual(earlier);
    await until(() => restarted.stats().delivered >= earlier + records.length, 'the rest delivered');
    await restarted.stop();
    expect(replayed).toEqual(crashedKeys);
    // Cumulative and exact: the batch written twice is counted once, in the run that committed it.
    expect(restarted.stats().delivered).toBe(earlier + records.length);
    expect(await committedOnDisk()).toBe(earlier + records.length);

    // The documented dedupe query finds nothing to remove: every record exactly once.
    const counts = await lakeRows(
      "SELECT count(*) AS rows, count(DISTINCT id) AS records FROM records WHERE device_id LIKE 'crash-%'",
    );
    expect(counts.rows).toEqual([{ rows: String(records.length), records: String(records.length) }]);
    const ids = await lakeRows("SELECT id FROM records WHERE device_id LIKE 'crash-%' ORDER BY id");
    expect(ids.rows.map((r) => r.id)).toEqual(records.map((r) => r.id).sort());
  });

  it('runs every example query on an empty lake, on one without errors and on one with them; bad SQL fails clearly', async () => {
    // Nothing delivered yet (or a --dir not synced): both tables exist, with their columns, and no rows.
    const nothing = await openLake(join(tmp.path, 'nothing-here'));
    try {
      expect([nothing.dataFiles, nothing.errorFiles]).toEqual([0, 0]);
      for (const example of EXAMPLE_QUERIES) {
        // No rows, or an aggregate's single row of zeros (the dedupe query counts).
        const { rows } = await nothing.query(example.sql);
        expect(rows.flatMap((row) => Object.values(row)).every((v) => v === '0' || v === null)).toBe(true);
      }
      const columns = (await nothing.query('SELECT * FROM records')).columns.map((c) => c.name);
      expect(columns).toEqual(
        expect.arrayContaining(['id', 'event_time', 'payload', 'record_type', 'dt', 'hour']),
      );
      expect((await nothing.query('SELECT count(*) AS n FROM lake_errors')).rows).toEqual([{ n: '0' }]);
    } finally {
      nothing.close();
    }
    const clean = join(tmp.path, 'clean-lake');
    await mkdir(join(clean, 'data', 'record_type=telemetry', 'dt=2026-11-23', 'hour=09'), {
      recursive: true,
    });
    await writeFile(
      join(clean, 'data', 'record_type=telemetry', 'dt=2026-11-23', 'hour=09', 'x.parquet'),
      new ParquetEncoder().encode([telemetryRecord()], { compression: 'SNAPPY' }),
    );
    for (const lake of [await openLake(clean), await openLake(await mirror())]) {
      try {
        for (const example of EXAMPLE_QUERIES) await lake.query(example.sql);
      } finally {
        lake.close();
      }
    }
    const empty = await openLake(clean);
    try {
      expect((await empty.query('SELECT count(*) AS n FROM lake_errors')).rows).toEqual([{ n: '0' }]);
    } finally {
      empty.close();
    }
    await expect(lakeRows('SELECT nope FROM records')).rejects.toMatchObject({ code: 'LAKE_QUERY_FAILED' });
  });
});
