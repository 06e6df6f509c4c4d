import { Logger } from '@aws-lambda-powertools/logger';
import { KinesisDataStreamSchema } from '@aws-lambda-powertools/parser/schemas/kinesis';
import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, KinesisStreamBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAlertsHandler } from '../../../functions/alerts/handler.ts';
import { parseRulesConfig } from '../../../functions/alerts/rules/config.ts';
import type { DocumentSender } from '../../../functions/alerts/store/dynamodb.ts';
import { lambdaContext } from '../../../local/esm/event.ts';
import { createLocalResources } from '../../../local/resources/create.ts';
import { loadStack } from '../../../local/resources/stack.ts';
import { startDynamoDb } from '../../../local/servers/dynamodb.ts';
import type { RunningServer } from '../../../local/servers/runtime.ts';
import { type AwsClients, createAwsClients } from '../../../shared/aws/clients.ts';
import { encodeRecord } from '../../../shared/contract/index.ts';
import { aggregatedShardRecord, eventOf, shardRecords } from '../../helpers/kinesis-events.ts';
import { telemetryRecord, transactionRecord } from '../../helpers/records.ts';

vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');

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
const context = (): Context =>
  lambdaContext({
    functionName: 'alerts',
    region: 'us-east-1',
    accountId: '000000000000',
    memoryLimitInMB: 512,
    timeoutMs: 60_000,
    requestId: 'test',
  });

function handlerWith(documents: DocumentSender = clients.documents()) {
  const handler = createAlertsHandler({
    config: rules,
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
