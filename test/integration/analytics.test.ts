import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { type AttributeValue, QueryCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AnalyticsStats,
  type RunningAnalyticsJob,
  startAnalyticsJob,
} from '../../local/analytics/launcher.ts';
import { type StackResource, stackResource } from '../../local/resources/stack.ts';
import { PROJECT_ROOT } from '../../local/servers/runtime.ts';
import { encodeRecord, type TributaryRecord } from '../../shared/contract/index.ts';
import { aggregatedRecord } from '../helpers/aggregated.ts';
import { useLocalCloud } from '../helpers/local-cloud.ts';
import { telemetryRecord, transactionRecord } from '../helpers/records.ts';
import { type Until, until } from '../helpers/until.ts';

/**
 * The Flink job (analytics/) end to end on the local cloud: records put into the stack's stream are read
 * through the EFO reader (SubscribeToShard via the stack's AnalyticsConsumer), KPL-aggregated ones
 * deaggregated, windowed by event time and upserted into the aggregates table of DynamoDB Local.
 *
 * Windows group: out-of-orderness 5 s, idleness 1 s (the other source subtask and shard carry no
 * data), allowed lateness 120 s. All records share one partition key, so one shard keeps their order.
 * Watermark = max event time seen - 5 s - 1 ms. Phase 1 ends with a record at T0+10 min, which moves
 * the watermark to T0+594.999 s and closes every window ending before it; phase 2 (after those windows
 * are in the table) sends a record within its window's lateness (re-fires it, revision 2) and one past
 * the lateness of all its windows (side output: `late#` items and the lateRecords counter).
 */

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const S = 1_000;
const M = 60_000;
const KEY = 'it-analytics';
const SENSOR = 'device#it-sensor#temperature';
const MERCHANT = 'merchant#it-merchant';
const CARD = 'card#tok_itanalytics';

const local = useLocalCloud('analytics');
let job: RunningAnalyticsJob | undefined;

function resource<K extends StackResource['kind']>(kind: K, logicalId: string) {
  return stackResource(local.cloud.stack, kind, logicalId);
}

beforeAll(async () => {
  const consumer = resource('kinesis-consumer', 'AnalyticsConsumer');
  job = await startAnalyticsJob({
    kinesisEndpoint: local.cloud.endpoints.kinesis,
    kinesisEfoEndpoint: local.cloud.endpoints.kinesisEmulator,
    dynamodbEndpoint: local.cloud.endpoints.dynamodb,
    region: local.cloud.region,
    streamName: resource('kinesis-stream', 'RecordsStream').name,
    tableName: resource('dynamodb-table', 'AggregatesTable').name,
    readerType: 'EFO',
    efoConsumerName: consumer.name,
    workDir: join(local.cloud.dataDir, 'analytics'),
    // The sink flushes on checkpoints: a short interval makes items visible soon after a window fires.
    checkpointIntervalMs: 1_000,
    statsIntervalMs: 200,
    windows: { 'out.of.orderness.ms': '5000', 'idleness.ms': '1000', 'allowed.lateness.ms': '120000' },
  });
});

afterAll(async () => {
  const pid = job?.pid;
  await job?.stop();
  if (pid !== undefined) expect(alive(pid)).toBe(false);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const telemetry = (offsetMs: number, value: number, device = 'it-sensor', metric = 'temperature') =>
  telemetryRecord({
    device_id: device,
    partition_key: KEY,
    event_time: T0 + offsetMs,
    payload: { metric, value, unit: 'Cel' },
  });

const transaction = (offsetMs: number, amount: number) => {
  const base = transactionRecord();
  return transactionRecord({
    partition_key: KEY,
    event_time: T0 + offsetMs,
    payload: {
      ...base.payload,
      card_token: 'tok_itanalytics',
      merchant_id: 'it-merchant',
      amount_minor: amount,
    },
  });
};

const entry = (record: TributaryRecord): PutRecordsRequestEntry => ({
  PartitionKey: KEY,
  Data: encodeRecord(record),
});

async function put(entries: PutRecordsRequestEntry[]): Promise<void> {
  const out = await local.cloud.clients.kinesis().send(
    new PutRecordsCommand({
      StreamName: resource('kinesis-stream', 'RecordsStream').name,
      Records: entries,
    }),
  );
  expect(out.FailedRecordCount ?? 0).toBe(0);
}

interface Item {
  sk: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  p95: number;
  p99: number;
  revision: number;
}

const num = (v: AttributeValue | undefined) => Number(v?.N);

async function query(pk: string): Promise<Record<string, AttributeValue>[]> {
  const out = await local.cloud.clients.dynamodb().send(
    new QueryCommand({
      TableName: resource('dynamodb-table', 'AggregatesTable').name,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: pk } },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

async function windows(pk: string): Promise<Item[]> {
  return (await query(pk)).map((i) => ({
    sk: num(i.sk),
    count: num(i.count),
    sum: num(i.sum),
    min: num(i.min),
    max: num(i.max),
    mean: num(i.mean),
    p95: num(i.p95),
    p99: num(i.p99),
    revision: num(i.revision),
  }));
}

/** Exact statistics of `values` as the job computes them (p95/p99 are checked separately). */
function expected(sk: number, values: number[], revision = 1) {
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    sk,
    count: values.length,
    sum,
    min: Math.min(...values),
    max: Math.max(...values),
    mean: sum / values.length,
    revision,
  };
}

const stripSketch = (items: Item[]) => items.map(({ p95: _p95, p99: _p99, ...rest }) => rest);

/** Polls the job's results; gives up at once if the job exits. */
const untilJob: Until = (read, options = {}) =>
  until(read, {
    timeoutMs: 90_000,
    intervalMs: 200,
    abort: job?.exited.then(
      (exit) => new Error(`the job exited (${JSON.stringify(exit)}); see ${job?.logFile}`),
    ),
    ...(typeof options === 'string' ? { what: options } : options),
  });

describe('analytics job on the local cloud (EFO reader)', () => {
  it('windows records from the stream into DynamoDB, re-fires late windows and keeps too-late records', async () => {
    const running = job;
    if (running === undefined) throw new Error('job not started');

    // Phase 1. KPL-aggregated: two sensor values and both transactions.
    const aggregate = aggregatedRecord(
      [telemetry(20 * S, 30), telemetry(40 * S, 20), transaction(15 * S, 1299), transaction(45 * S, 500)].map(
        (r) => ({ partitionKey: KEY, data: encodeRecord(r) }),
      ),
    );
    await put([
      entry(telemetry(10 * S, 10)),
      { PartitionKey: aggregate.partitionKey, Data: aggregate.data },
      entry(telemetry(35 * S, -5)), // out of order (after T0+40 s), within the 5 s bound: on time
      { PartitionKey: KEY, Data: Buffer.from('not json') }, // invalid: counted, never blocks the shard
      entry(telemetry(65 * S, 50)),
      entry(telemetry(70 * S, 100)),
      entry(telemetry(8 * M + 30 * S, 3)),
      entry(telemetry(10 * M, 0, 'it-clock', 'tick')), // moves the watermark to T0+594.999 s
    ]);

    const phase1 = [expected(T0, [10, 30, 20, -5]), expected(T0 + M, [50, 100]), expected(T0 + 8 * M, [3])];
    // 22 firings (sensor 1m 3, 5m 7; merchant and card 1 + 5 each), all flushed to the table.
    await untilJob(() => running.stats(), {
      what: 'phase 1 windows in the table',
      done: (s) => s !== undefined && s.aggregateItemsWritten >= 22,
    });
    expect(stripSketch(await windows(`${SENSOR}#1m`))).toEqual(phase1);

    // Phase 2: the watermark is past T0+9 min. T0+8m40s is within the lateness of [T0+8m, T0+9m);
    // T0+30 s is past the lateness of every window holding it (latest cleanup: T0+5m+120s).
    const tooLate = telemetry(30 * S, 999);
    await put([entry(telemetry(8 * M + 40 * S, 7)), entry(tooLate)]);

    const stats = await untilJob<AnalyticsStats | undefined>(() => running.stats(), {
      what: 'stats of both phases',
      done: (s) => s !== undefined && s.lateItemsWritten >= 2 && s.aggregateItemsWritten >= 24,
    });

    expect(stripSketch(await windows(`${SENSOR}#1m`))).toEqual([
      phase1[0],
      phase1[1],
      expected(T0 + 8 * M, [3, 7], 2),
    ]);
    const all = [10, 30, 20, -5, 50, 100];
    expect(stripSketch(await windows(`${SENSOR}#5m`))).toEqual([
      expected(T0 - 4 * M, [10, 30, 20, -5]),
      expected(T0 - 3 * M, all),
      expected(T0 - 2 * M, all),
      expected(T0 - 1 * M, all),
      expected(T0, all),
      expected(T0 + M, [50, 100]),
      expected(T0 + 4 * M, [3, 7], 2),
    ]);
    for (const pk of [MERCHANT, CARD]) {
      expect(stripSketch(await windows(`${pk}#1m`))).toEqual([expected(T0, [1299, 500])]);
      expect(stripSketch(await windows(`${pk}#5m`))).toEqual(
        [-4, -3, -2, -1, 0].map((m) => expected(T0 + m * M, [1299, 500])),
      );
    }
    // The clock's windows are still open; the sketch quantiles stay within [min, max].
    expect(await windows('device#it-clock#tick#1m')).toEqual([]);
    for (const item of await windows(`${SENSOR}#5m`)) {
      expect(item.p95).toBeGreaterThanOrEqual(item.min);
      expect(item.p99).toBeGreaterThanOrEqual(item.p95);
      expect(item.p99).toBeLessThanOrEqual(item.max);
    }

    // The too-late record: kept once per window size, not counted into any window.
    for (const size of ['1m', '5m']) {
      const late = await query(`late#${SENSOR}#${size}`);
      expect(
        late.map((i) => ({ recordId: i.recordId?.S, eventTime: num(i.eventTime), value: num(i.value) })),
      ).toEqual([{ recordId: tooLate.id, eventTime: T0 + 30 * S, value: 999 }]);
    }

    // 13 user records in (1 invalid); firings: sensor 1m 3+1, 5m 7+1; merchant and card 1+5 each.
    expect(stats).toMatchObject({
      recordsParsed: 13,
      recordsInvalid: 1,
      windowsEmitted: 24,
      aggregateItemsWritten: 24,
      lateRecords: 2,
      lateItemsWritten: 2,
    });
  }, 180_000);

  it('the JVM exits when the process that launched it dies, even by SIGKILL', async () => {
    // A launcher in its own Node process; the job points nowhere and keeps restarting its source.
    const script = `
      import { startAnalyticsJob } from './local/analytics/launcher.ts';
      const job = await startAnalyticsJob({ kinesisEndpoint: 'http://127.0.0.1:9', dynamodbEndpoint: 'http://127.0.0.1:9',
        region: 'us-east-1', streamName: 'none', tableName: 'none', readerType: 'POLLING',
        workDir: ${JSON.stringify(join(local.cloud.dataDir, 'orphan'))} });
      console.log(job.pid);
      setInterval(() => {}, 1000);`;
    const launcher = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const jvm = await new Promise<number>((resolve, reject) => {
      launcher.stdout.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim())));
      launcher.once('exit', (code) => reject(new Error(`launcher exited with ${code}`)));
    });
    expect(alive(jvm)).toBe(true);
    launcher.kill('SIGKILL');
    const deadline = Date.now() + 30_000;
    while (alive(jvm) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const survived = alive(jvm);
    if (survived) process.kill(jvm, 'SIGKILL');
    expect(survived).toBe(false);
  }, 120_000);
});
