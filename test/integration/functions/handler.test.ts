import { Logger } from '@aws-lambda-powertools/logger';
import { KinesisDataStreamSchema } from '@aws-lambda-powertools/parser/schemas/kinesis';
import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, KinesisStreamBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlertsHandler } from '../../../functions/alerts/handler.ts';
import {
  BatchPipeline,
  type BatchReport,
  type PipelineDeps,
  type StreamRecord,
} from '../../../functions/alerts/pipeline.ts';
import { parseRulesConfig } from '../../../functions/alerts/rules/config.ts';
import { cardEntityId } from '../../../functions/alerts/rules/fraud.ts';
import { deviceEntityId } from '../../../functions/alerts/rules/threshold.ts';
import {
  type DocumentSender,
  DynamoAlertStore,
  DynamoStateStore,
} from '../../../functions/alerts/store/dynamodb.ts';
import { createLocalResources } from '../../../local/resources/create.ts';
import { loadStack } from '../../../local/resources/stack.ts';
import { startDynamoDb } from '../../../local/servers/dynamodb.ts';
import type { RunningServer } from '../../../local/servers/runtime.ts';
import { type AwsClients, createAwsClients } from '../../../shared/aws/clients.ts';
import { encodeRecord, type LogLevel } from '../../../shared/contract/index.ts';
import { aggregatedShardRecord, eventOf, shardRecords } from '../../helpers/kinesis-events.ts';
import { testContext } from '../../helpers/lambda.ts';
import { logRecord, telemetryRecord, transactionRecord } from '../../helpers/records.ts';

let dynamodb: RunningServer;
let clients: AwsClients;
let alertsTable: string;
let stateTable: string;

beforeAll(async () => {
  dynamodb = await startDynamoDb();
  clients = createAwsClients({
    kind: 'local',
    region: 'us-east-1',
    endpoints: { dynamodb: dynamodb.endpoint },
  });
  const stack = await loadStack('serverless.yml', { stage: 'handlertest' });
  const created = await createLocalResources(stack, clients, { dynamodb: dynamodb.endpoint });
  const name = (id: string) => created.find((r) => r.logicalId === id)?.physicalName ?? '';
  alertsTable = name('AlertsTable');
  stateTable = name('CardStateTable');
});

afterAll(async () => {
  clients?.destroy();
  await dynamodb?.stop();
});

const rules = parseRulesConfig({
  threshold: [{ id: 'hot', metric: 'temperature', direction: 'above', raise: 30, clear: 28 }],
  fraud: { velocity: { maxTransactions: 2 } },
});
const context = (): Context => testContext('alerts', { memoryLimitInMB: 512 });

function handlerWith(documents: DocumentSender = clients.documents(), config = rules) {
  const handler = createAlertsHandler({
    config,
    documents,
    alertsTable,
    stateTable,
    logger: new Logger({ serviceName: 'alerts', logLevel: 'SILENT' }),
  });
  return (event: unknown) => handler(event, context()) as Promise<KinesisStreamBatchResponse>;
}

async function items(prefix: string): Promise<Record<string, unknown>[]> {
  const result = await clients.documents().send(new ScanCommand({ TableName: alertsTable }));
  return (result.Items ?? []).filter(
    (item) => String(item.entityId ?? '').startsWith(prefix) || String(item.pk).startsWith(prefix),
  );
}

const card = (token: string, minute: number) =>
  transactionRecord({
    partition_key: token,
    event_time: Date.UTC(2026, 10, 23, 12, minute),
    payload: { card_token: token, merchant_id: 'm', amount_minor: 1000, currency: 'EUR', channel: 'online' },
  });

describe('alert handler', () => {
  it('builds events the stock Powertools Kinesis schema accepts', () => {
    const event = eventOf(shardRecords([card('tok_schema_1', 0), telemetryRecord()]));
    expect(KinesisDataStreamSchema.safeParse(event).success).toBe(true);
  });

  it('deaggregates, evaluates and writes alerts; a replay of the event writes nothing new', async () => {
    const handler = handlerWith();
    const token = 'tok_handler_1';
    const sensor = 'sensor-handler-1';
    const hot = telemetryRecord({
      device_id: sensor,
      partition_key: sensor,
      payload: { metric: 'temperature', value: 35, unit: 'Cel' },
    });
    const records = [
      aggregatedShardRecord([card(token, 0), card(token, 1)], { firstIndex: 0 }),
      ...shardRecords([card(token, 2), hot], { firstIndex: 1 }),
    ];
    expect(await handler(eventOf(records))).toEqual({ batchItemFailures: [] });
    const raised = await items(`card:${token}`);
    expect(raised.map((a) => a.ruleId)).toEqual(['velocity']);
    expect(await items(`device:${sensor}`)).toHaveLength(1);

    expect(await handler(eventOf(records))).toEqual({ batchItemFailures: [] });
    expect(await items(`card:${token}`)).toHaveLength(1);
    expect(await items(`device:${sensor}`)).toHaveLength(1);
  });

  it('quarantines undecodable records and reports the batch as processed', async () => {
    const handler = handlerWith();
    const records = shardRecords(
      [
        { partitionKey: 'pk-bad', data: new TextEncoder().encode('not json') },
        { partitionKey: 'pk-bad', data: encodeRecord(card('tok_handler_2', 0)).subarray(0, 20) },
        card('tok_handler_2', 1),
      ],
      { firstIndex: 100 },
    );
    expect(await handler(eventOf(records))).toEqual({ batchItemFailures: [] });
    const quarantined = (await items('QUARANTINE#')).filter(
      (q) => String(q.sequenceNumber) === records[0]?.sequenceNumber,
    );
    expect(quarantined).toMatchObject([
      { reasonCode: 'RECORD_MALFORMED', partitionKey: 'pk-bad', dataTruncated: false },
    ]);
  });

  it('passes log lines through as unrouted: no failure, no quarantine, no state', async () => {
    const sensor = 'sensor-handler-log';
    const lines = ['error', 'info', 'emergency'].map((level, i) =>
      logRecord({
        device_id: sensor,
        partition_key: sensor,
        event_time: Date.UTC(2026, 10, 23, 12, i),
        payload: { level: level as 'error', message: `line ${i}`, source: 'app' },
      }),
    );
    const records = shardRecords(lines, { firstIndex: 600 });
    const documents = clients.documents();
    const pipeline = new BatchPipeline(
      {
        config: rules,
        states: new DynamoStateStore(documents, stateTable, { ttlSeconds: rules.stateTtlSeconds }),
        alerts: new DynamoAlertStore(documents, alertsTable, { ttlSeconds: rules.alertTtlSeconds }),
      },
      records,
    );
    for (const r of records) await pipeline.outcome(r.sequenceNumber);
    expect(pipeline.report).toMatchObject({ userRecords: 3, unrouted: 3, applied: 0, quarantined: [] });
    expect(await handlerWith()(eventOf(records))).toEqual({ batchItemFailures: [] });
    const sequences = new Set(records.map((r) => r.sequenceNumber));
    expect((await items('QUARANTINE#')).filter((q) => sequences.has(String(q.sequenceNumber)))).toEqual([]);
    expect(await items(`device:${sensor}`)).toEqual([]);
  });

  it('raises and clears a log error-rate alert per device through DynamoDB; a replay and a poison line change nothing', async () => {
    const withLogRule = parseRulesConfig({
      threshold: [{ id: 'hot', metric: 'temperature', direction: 'above', raise: 30, clear: 28 }],
      logErrorRate: [{ id: 'log-errors', raise: 3, clear: 0, windowMs: 60_000, severity: 'critical' }],
    });
    const handler = handlerWith(clients.documents(), withLogRule);
    const line = (gateway: string, seconds: number, level: LogLevel) =>
      logRecord({
        device_id: gateway,
        partition_key: gateway,
        event_time: Date.UTC(2026, 10, 23, 12) + seconds * 1000,
        payload: { level, message: `${level} at ${seconds}`, source: 'app' },
      });
    const [noisy, quiet] = ['gateway-handler-noisy', 'gateway-handler-quiet'];
    const noisyLines = [
      line(noisy, 0, 'error'),
      line(noisy, 1, 'info'),
      line(noisy, 2, 'critical'),
      line(noisy, 3, 'alert'),
      line(noisy, 30, 'error'),
      line(noisy, 90, 'info'),
    ];
    // Errors a minute apart: never three within the window.
    const quietLines = [0, 61, 122].map((s) => line(quiet, s, 'error'));
    const poison = new TextEncoder().encode(
      JSON.stringify({ ...line(noisy, 4, 'error'), payload: { level: 'error', message: 'no source' } }),
    );
    const records = [
      aggregatedShardRecord(noisyLines.slice(0, 3), { firstIndex: 700 }),
      ...shardRecords([{ partitionKey: noisy, data: poison }, ...noisyLines.slice(3), ...quietLines], {
        firstIndex: 701,
      }),
    ];
    expect(await handler(eventOf(records))).toEqual({ batchItemFailures: [] });
    const alerts = await items(deviceEntityId(noisy));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      ruleId: 'log-errors',
      ruleType: 'log_error_rate',
      severity: 'critical',
      triggerRecordIds: [noisyLines[0]?.id, noisyLines[3]?.id],
      status: 'CLEARED',
      clearedByRecordId: noisyLines[5]?.id,
      clearValue: 0,
      details: { count: 3, lastLevel: 'alert', recordIds: [0, 2, 3].map((i) => noisyLines[i]?.id) },
    });
    expect(await items(deviceEntityId(quiet))).toEqual([]);
    const quarantined = (await items('QUARANTINE#')).filter(
      (q) => q.sequenceNumber === records[1]?.sequenceNumber,
    );
    expect(quarantined).toMatchObject([{ reasonCode: 'RECORD_INVALID', partitionKey: noisy }]);
    expect(String(quarantined[0]?.reason)).toMatch(/payload\.source/);
    // The noisy gateway's state is empty again and was not rewritten by its last healthy line's replay.
    const state = async () =>
      (
        await clients.documents().send(
          new GetCommand({
            TableName: stateTable,
            Key: { pk: deviceEntityId(noisy) },
            ConsistentRead: true,
          }),
        )
      ).Item;
    const before = await state();
    expect(JSON.parse(String(before?.state))).toEqual({ thresholds: {}, errorRates: {} });

    expect(await handler(eventOf(records))).toEqual({ batchItemFailures: [] });
    expect(await items(deviceEntityId(noisy))).toEqual(alerts);
    expect((await state())?.version).toBe(before?.version);
  });

  it('reports the first failed record of an entity and keeps other entities flowing', async () => {
    const inner = clients.documents();
    const failing = 'card:tok_handler_fail';
    const documents: DocumentSender = {
      send: (async (command: unknown, ...rest: unknown[]) => {
        if (command instanceof PutCommand && command.input.Item?.pk === failing)
          throw new Error('disk on fire');
        return (inner.send as (c: unknown, ...r: unknown[]) => Promise<unknown>)(command, ...rest);
      }) as DocumentSender['send'],
    };
    const records = shardRecords(
      [
        card('tok_handler_ok', 0),
        card('tok_handler_fail', 1),
        card('tok_handler_ok', 2),
        card('tok_handler_fail', 3),
      ],
      { firstIndex: 200 },
    );
    const response = await handlerWith(documents)(eventOf(records));
    // Both of the failing card's records are reported; the lowest one is where Lambda resumes.
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      records[1]?.sequenceNumber,
      records[3]?.sequenceNumber,
    ]);
  });

  it('fails the invocation on an event that is not a Kinesis event', async () => {
    await expect(handlerWith()({ Records: [{ eventSource: 'aws:sqs' }] })).rejects.toThrow();
  });
});

describe('alert pipeline state conflicts', () => {
  const stores = (documents: DocumentSender): PipelineDeps => ({
    config: rules,
    states: new DynamoStateStore(documents, stateTable, { ttlSeconds: rules.stateTtlSeconds }),
    alerts: new DynamoAlertStore(documents, alertsTable, { ttlSeconds: rules.alertTtlSeconds }),
  });

  /**
   * Documents whose first `times` state writes for `entityId` each wait until `meanwhile` has finished:
   * the pipeline has read the state, and another writer changes it before the conditional put lands.
   */
  function racedOnStateWrite(entityId: string, meanwhile: () => Promise<void>, times = 1): DocumentSender {
    const inner = clients.documents();
    let raced = 0;
    return {
      send: (async (command: unknown, ...rest: unknown[]) => {
        if (
          raced < times &&
          command instanceof PutCommand &&
          command.input.TableName === stateTable &&
          command.input.Item?.pk === entityId
        ) {
          raced++;
          await meanwhile();
        }
        return (inner.send as (c: unknown, ...r: unknown[]) => Promise<unknown>)(command, ...rest);
      }) as DocumentSender['send'],
    };
  }

  /** Runs `records` through a fresh pipeline on `documents`; every record must succeed. */
  async function run(documents: DocumentSender, records: readonly StreamRecord[]): Promise<BatchReport> {
    const pipeline = new BatchPipeline(stores(documents), records);
    for (const record of records) await pipeline.outcome(record.sequenceNumber);
    return pipeline.report;
  }

  it('a record delivered twice at once raises one alert: the loser of the state write re-reads and skips', async () => {
    const sensor = 'sensor-conflict-1';
    const records = shardRecords(
      [
        telemetryRecord({
          device_id: sensor,
          partition_key: sensor,
          payload: { metric: 'temperature', value: 35, unit: 'Cel' },
        }),
      ],
      { firstIndex: 300 },
    );
    let other: BatchReport | undefined;
    const first = await run(
      racedOnStateWrite(deviceEntityId(sensor), async () => {
        other = await run(clients.documents(), records);
      }),
      records,
    );
    // The overlapping delivery wrote the state first; its alert put found the alert already there.
    expect(other).toMatchObject({ applied: 1, raised: 0, duplicateRaises: 1, stateConflicts: 0 });
    // The conflict was retried: the re-read shows the record applied, so it counts as a replay.
    expect(first).toMatchObject({ stateConflicts: 1, replayed: 1, applied: 0, raised: 1 });
    const alerts = await items(deviceEntityId(sensor));
    expect(alerts.map((a) => a.ruleId)).toEqual(['hot']);
  });

  it('a state changed between read and write is re-read and built on: no transaction is lost', async () => {
    const token = 'tok_conflict_2';
    const [t0, t1, t2] = [card(token, 0), card(token, 1), card(token, 2)];
    const [r0, r1, r2] = shardRecords([t0, t1, t2], { firstIndex: 400 });
    if (r0 === undefined || r1 === undefined || r2 === undefined) throw new Error('three records expected');
    // t1's pipeline reads the empty state; before its write, another writer applies t0.
    const first = await run(
      racedOnStateWrite(cardEntityId(token), async () => {
        expect(await run(clients.documents(), [r0])).toMatchObject({ applied: 1, stateConflicts: 0 });
      }),
      [r1],
    );
    expect(first).toMatchObject({ stateConflicts: 1, applied: 1, raised: 0 });
    // A third transaction exceeds maxTransactions (2) only if the state kept both t0 and t1.
    expect(await run(clients.documents(), [r2])).toMatchObject({ applied: 1, raised: 1 });
    const alerts = await items(cardEntityId(token));
    expect(alerts.map((a) => a.ruleId)).toEqual(['velocity']);
    expect(alerts[0]?.details).toMatchObject({ count: 3, recordIds: [t0.id, t1.id, t2.id] });
  });

  it('gives a record back for redelivery after four conflicts in a row; the redelivery applies it', async () => {
    const token = 'tok_conflict_3';
    // The other writer's transactions come from another shard, 20 minutes apart (no velocity alert).
    const others = shardRecords(
      [0, 20, 40, 60].map((minute) => card(token, minute)),
      { shardId: 'shardId-000000000001', firstIndex: 500 },
    );
    const [mine] = shardRecords([card(token, 80)], { firstIndex: 500 });
    if (mine === undefined) throw new Error('one record expected');
    const pipeline = new BatchPipeline(
      stores(
        racedOnStateWrite(
          cardEntityId(token),
          async () => {
            const next = others.shift();
            if (next !== undefined) await run(clients.documents(), [next]);
          },
          4,
        ),
      ),
      [mine],
    );
    await expect(pipeline.outcome(mine.sequenceNumber)).rejects.toMatchObject({
      code: 'ALERTS_STATE_CONFLICT',
      retryable: true,
    });
    expect(pipeline.report).toMatchObject({ stateConflicts: 4, applied: 0 });
    expect(await run(clients.documents(), [mine])).toMatchObject({ applied: 1, stateConflicts: 0 });
    const { Item: state } = await clients
      .documents()
      .send(
        new GetCommand({ TableName: stateTable, Key: { pk: cardEntityId(token) }, ConsistentRead: true }),
      );
    // Four writes by the other writer, then the redelivered record's on top of them.
    expect(state).toMatchObject({
      version: 5,
      appliedShard: mine.shardId,
      appliedSequence: mine.sequenceNumber,
    });
  });
});
