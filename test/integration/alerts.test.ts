import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAlertsHandler } from '../../functions/alerts/handler.ts';
import { bundledRules } from '../../functions/alerts/rules/bundled.ts';
import { cardEntityId } from '../../functions/alerts/rules/fraud.ts';
import { alertIdFor } from '../../functions/alerts/rules/model.ts';
import { deviceEntityId } from '../../functions/alerts/rules/threshold.ts';
import type { DocumentSender } from '../../functions/alerts/store/dynamodb.ts';
import {
  type EventSourceRunner,
  type EventSourceRunnerOptions,
  type OnFailureRecord,
  readOnFailureRecords,
  type StreamHandler,
  startEventSourceRunner,
} from '../../local/esm/index.ts';
import { stackResource } from '../../local/resources/stack.ts';
import {
  encodeRecord,
  type LogLevel,
  type LogRecord,
  type TributaryRecord,
} from '../../shared/contract/index.ts';
import type { UserRecord } from '../../shared/kinesis/aggregation.ts';
import { aggregatedRecord } from '../helpers/aggregated.ts';
import { useLocalCloud } from '../helpers/local-cloud.ts';
import { logRecord, telemetryRecord, transactionRecord } from '../helpers/records.ts';
import { untilWith } from '../helpers/until.ts';

const local = useLocalCloud('alerts');
let alertsTable: string;
let stateTable: string;
let streamName: string;
const runners: EventSourceRunner[] = [];

beforeAll(async () => {
  const table = (logicalId: string) => stackResource(local.cloud.stack, 'dynamodb-table', logicalId).name;
  alertsTable = table('AlertsTable');
  stateTable = table('CardStateTable');
  streamName = stackResource(local.cloud.stack, 'kinesis-stream', 'RecordsStream').name;
});

// One runner at a time: each test's runner is the only consumer of the alerts mapping.
afterEach(async () => {
  await Promise.allSettled(runners.splice(0).map((runner) => runner.stop()));
});

const silent = () => new Logger({ serviceName: 'alerts', logLevel: 'SILENT' });

function alertsHandler(documents: DocumentSender = local.cloud.clients.documents()): StreamHandler {
  const handler = createAlertsHandler({
    config: bundledRules,
    documents,
    alertsTable,
    stateTable,
    logger: silent(),
  });
  return (event, context) => handler(event, context);
}

/** Every test reads the shared stream from TRIM_HORIZON with its own checkpoints: earlier tests' records are replays to it. */
async function runner(
  handler: StreamHandler,
  settings: EventSourceRunnerOptions['settings'] = {},
): Promise<EventSourceRunner> {
  const started = await startEventSourceRunner({
    cloud: local.cloud,
    dataDir: join(local.root, `esm-${randomUUID()}`),
    handlers: { alerts: handler },
    settings: { startingPosition: 'TRIM_HORIZON', ...settings },
    retryDelayMs: 20,
    log: () => undefined,
  });
  runners.push(started);
  return started;
}

async function put(entries: { partitionKey: string; data: Uint8Array }[]): Promise<PutRecordsResultEntry[]> {
  const result = await local.cloud.clients.kinesis().send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: entries.map((e) => ({ PartitionKey: e.partitionKey, Data: e.data })),
    }),
  );
  expect(result.FailedRecordCount).toBe(0);
  return result.Records ?? [];
}

const asEntry = (record: TributaryRecord) => ({
  partitionKey: record.partition_key,
  data: encodeRecord(record),
});

/** Polls until a check holds; the deadline only bounds a hang, no assertion depends on timing. */
const until = untilWith({ timeoutMs: 40_000 });

/** The runner's durable checkpoints cover every record of `put` (all processed or given up). */
function caughtUp(running: EventSourceRunner, put: readonly PutRecordsResultEntry[]): boolean {
  const checkpoints = running.mapping('alerts').checkpoints();
  return put.every((entry) => {
    const checkpoint = checkpoints[entry.ShardId ?? ''];
    return checkpoint !== undefined && BigInt(checkpoint) >= BigInt(entry.SequenceNumber ?? '0');
  });
}

async function alertsOf(entityId: string): Promise<Record<string, unknown>[]> {
  const result = await local.cloud.clients.documents().send(
    new QueryCommand({
      TableName: alertsTable,
      IndexName: 'by-entity-time',
      KeyConditionExpression: 'entityId = :e',
      ExpressionAttributeValues: { ':e': entityId },
    }),
  );
  return result.Items ?? [];
}

const MINUTE = 60_000;
const PARIS = { lat: 48.8566, lon: 2.3522, country: 'FR' };
const NEW_YORK = { lat: 40.7128, lon: -74.006, country: 'US' };

const logRule = (() => {
  const [rule] = bundledRules.logErrorRate;
  if (rule === undefined) throw new Error('rules.json has no log error-rate rule');
  return rule;
})();

/**
 * A gateway whose log reaches the bundled error-rate rule's limit (error lines of every counted
 * level, info and warning lines between them) and then goes quiet: one alert, raised by the
 * `raise`-th error and cleared by the first line that leaves at most `clear` of them in the window.
 * The line before that one leaves `clear + 1`, so a clear one line early is caught.
 */
function gatewayLog(gateway: string, base: number) {
  const line = (seconds: number, level: LogLevel, message: string) =>
    logRecord({
      device_id: gateway,
      partition_key: gateway,
      event_time: base + seconds * 1000,
      payload: { level, message, source: 'diskmon', fields: { file: '/var/log/diskmon.log' } },
    });
  const counted: LogLevel[] = ['error', 'critical', 'alert', 'emergency'];
  const errors = Array.from({ length: logRule.raise }, (_, i) =>
    line(i, counted[i % counted.length] ?? 'error', `write failed on /dev/sda1 (${i})`),
  );
  const windowS = logRule.windowMs / 1000;
  // Errors sit at 0 .. raise-1 s; at T s the window (T - window, T] holds those after T - window.
  const clearAt = windowS + logRule.raise - 1 - logRule.clear;
  const lines = [
    ...errors.flatMap((error, i) => [error, line(i + 0.5, i % 2 === 0 ? 'info' : 'warning', 'retrying')]),
    line(clearAt - 1, 'info', 'disk ok'),
    line(clearAt, 'notice', 'disk ok'),
  ];
  const clearedBy = lines.at(-1) as TributaryRecord;
  return { lines, errors, clearedBy };
}

/**
 * A card that trips every fraud rule once, a sensor that raises and then clears a threshold alert,
 * and a gateway whose log raises and then clears an error-rate alert, with the alert ids the rules
 * must derive. The sensor's records travel KPL-aggregated, and so do half of the gateway's lines.
 */
function scenario(tag: string, base = Date.UTC(2026, 10, 23, 12)) {
  const token = `tok_${tag}_${randomUUID().slice(0, 8)}`;
  const device = `sensor-${tag}-${randomUUID().slice(0, 8)}`;
  const gateway = `gateway-${tag}-${randomUUID().slice(0, 8)}`;
  const txn = (minutes: number, amount: number, location: typeof PARIS) =>
    transactionRecord({
      partition_key: token,
      event_time: base + minutes * MINUTE,
      payload: {
        card_token: token,
        merchant_id: 'merchant-42',
        amount_minor: amount,
        currency: 'EUR',
        location,
        channel: 'card_present',
      },
    });
  const card = [
    ...[0, 1, 2, 3, 4, 5].map((m) => txn(m, 1000 + m * 100, PARIS)),
    txn(25, 1200, NEW_YORK),
    txn(30, 500_000, NEW_YORK),
  ];
  const reading = (seconds: number, value: number) =>
    telemetryRecord({
      device_id: device,
      partition_key: device,
      event_time: base + seconds * 1000,
      payload: { metric: 'temperature', value, unit: 'Cel' },
    });
  const sensor = [reading(0, 31), reading(30, 32), reading(61, 33), reading(120, 27), reading(181, 26)];
  const cardId = cardEntityId(token);
  const deviceId = deviceEntityId(device);
  const gatewayId = deviceEntityId(gateway);
  const log = gatewayLog(gateway, base);
  const id = (i: number) => (card[i] as TributaryRecord).id;
  const expected = {
    [cardId]: [
      alertIdFor('velocity', cardId, [id(5)]),
      alertIdFor('impossible_travel', cardId, [id(5), id(6)]),
      alertIdFor('amount_anomaly', cardId, [id(7)]),
    ].sort(),
    [deviceId]: [
      alertIdFor('temperature-high', deviceId, [
        (sensor[0] as TributaryRecord).id,
        (sensor[2] as TributaryRecord).id,
      ]),
    ],
    [gatewayId]: [
      alertIdFor(logRule.id, gatewayId, [
        (log.errors[0] as TributaryRecord).id,
        (log.errors.at(-1) as TributaryRecord).id,
      ]),
    ],
  };
  const userRecord = (r: TributaryRecord): UserRecord => ({
    partitionKey: r.partition_key,
    data: encodeRecord(r),
  });
  const sensorAggregate = aggregatedRecord(sensor.map(userRecord));
  const half = Math.floor(log.lines.length / 2);
  const entries = [
    ...card.map(asEntry),
    { partitionKey: device, data: sensorAggregate.data },
    { partitionKey: gateway, data: aggregatedRecord(log.lines.slice(0, half).map(userRecord)).data },
    ...log.lines.slice(half).map(asEntry),
  ];
  return { token, device, gateway, cardId, deviceId, gatewayId, card, sensor, log, expected, entries };
}

async function expectScenarioAlerts(s: ReturnType<typeof scenario>): Promise<void> {
  const card = await alertsOf(s.cardId);
  expect(card.map((a) => a.alertId).sort()).toEqual(s.expected[s.cardId]);
  const device = await alertsOf(s.deviceId);
  expect(device.map((a) => a.alertId)).toEqual(s.expected[s.deviceId]);
  expect(device[0]).toMatchObject({
    status: 'CLEARED',
    clearedByRecordId: (s.sensor[4] as TributaryRecord).id,
  });
  expect(device[0]?.openState).toBeUndefined();
  const gateway = await alertsOf(s.gatewayId);
  expect(gateway.map((a) => a.alertId)).toEqual(s.expected[s.gatewayId]);
  const lastError = s.log.errors.at(-1) as LogRecord;
  expect(gateway[0]).toMatchObject({
    ruleId: logRule.id,
    ruleType: 'log_error_rate',
    status: 'CLEARED',
    clearedByRecordId: s.log.clearedBy.id,
    clearValue: logRule.clear,
    details: {
      count: logRule.raise,
      lastLevel: lastError.payload.level,
      lastSource: 'diskmon',
      lastMessage: lastError.payload.message,
      recordIds: s.log.errors.map((line) => line.id),
    },
  });
  expect(gateway[0]?.openState).toBeUndefined();
}

describe('alerts through the local event source runner (EFO)', () => {
  it('raises and clears the expected alerts, exactly once, and a full replay adds nothing', async () => {
    const s = scenario('happy');
    const running = await runner(alertsHandler());
    const written = await put(s.entries);
    await until(() => caughtUp(running, written), 'runner caught up');
    await expectScenarioAlerts(s);
    const state = await local.cloud.clients
      .documents()
      .send(new GetCommand({ TableName: stateTable, Key: { pk: s.cardId } }));
    expect(state.Item?.version).toBe(s.card.length);
    expect(running.mapping('alerts').stats.subscriptions).toBeGreaterThanOrEqual(2);

    // Replay: a second mapping without checkpoints reads the whole stream again.
    await running.stop();
    const replay = await runner(alertsHandler());
    await until(() => caughtUp(replay, written), 'replay caught up');
    await expectScenarioAlerts(s);
    const after = await local.cloud.clients
      .documents()
      .send(new GetCommand({ TableName: stateTable, Key: { pk: s.cardId } }));
    expect(after.Item?.version).toBe(s.card.length);
  });

  it('resumes after a restart from its durable checkpoint', async () => {
    const first = scenario('restart-a');
    const dataDir = join(local.root, `esm-restart-${randomUUID()}`);
    const seen: string[] = [];
    const real = alertsHandler();
    const start = async () => {
      const started = await startEventSourceRunner({
        cloud: local.cloud,
        dataDir,
        handlers: {
          alerts: (event, context) => {
            for (const record of event.Records) seen.push(record.eventID);
            return real(event, context);
          },
        },
        settings: { startingPosition: 'TRIM_HORIZON' },
        log: () => undefined,
      });
      runners.push(started);
      return started;
    };
    const one = await start();
    const written = await put(first.entries);
    await until(() => caughtUp(one, written), 'first run caught up');
    await one.stop();
    const checkpoints = one.mapping('alerts').checkpoints();
    seen.length = 0;

    const second = scenario('restart-b');
    const two = await start();
    const more = await put(second.entries);
    await until(() => caughtUp(two, more), 'second run caught up');
    // Nothing at or before the checkpoint was delivered again.
    const redelivered = seen.filter((eventId) => {
      const [shardId = '', sequence = '0'] = eventId.split(':');
      return BigInt(sequence) <= BigInt(checkpoints[shardId] ?? '0');
    });
    expect(redelivered).toEqual([]);
    // Every record of the second run arrived. Records of earlier tests may follow them: the first
    // run only waited for its own records, so a shard it had not finished continues after its
    // checkpoint, which is delivery, not redelivery.
    const secondIds = more.map((entry) => `${entry.ShardId}:${entry.SequenceNumber}`);
    expect(secondIds.filter((eventId) => !seen.includes(eventId))).toEqual([]);
    await expectScenarioAlerts(second);
  });

  it('quarantines invalid records mid-shard without blocking the records behind them', async () => {
    const s = scenario('invalid');
    const running = await runner(alertsHandler());
    const garbage = new TextEncoder().encode('{"id": "not a record"');
    const corrupt = Buffer.from(
      aggregatedRecord([{ partitionKey: s.token, data: encodeRecord(s.card[0] as TributaryRecord) }]).data,
    );
    corrupt.writeUInt8((corrupt.at(-1) ?? 0) ^ 0xff, corrupt.length - 1); // breaks the MD5 trailer
    // A log line of the gateway the contract refuses (no such level), between its valid lines.
    const poisonLine = new TextEncoder().encode(
      JSON.stringify({
        ...(s.log.errors[0] as LogRecord),
        id: logRecord().id,
        payload: { level: 'fatal', message: 'kernel panic', source: 'kernel' },
      }),
    );
    const [head, ...tail] = s.entries;
    const written = await put([
      head as { partitionKey: string; data: Uint8Array },
      { partitionKey: s.token, data: garbage },
      { partitionKey: s.token, data: corrupt },
      { partitionKey: s.gateway, data: poisonLine },
      ...tail,
    ]);
    await until(() => caughtUp(running, written), 'runner caught up');
    await expectScenarioAlerts(s);
    const quarantined = await Promise.all(
      [written[1], written[2], written[3]].map((entry) =>
        local.cloud.clients.documents().send(
          new GetCommand({
            TableName: alertsTable,
            Key: { pk: `QUARANTINE#${entry?.ShardId}#${entry?.SequenceNumber}#0`, sk: 'QUARANTINE' },
          }),
        ),
      ),
    );
    expect(quarantined.map((q) => q.Item?.reasonCode)).toEqual([
      'RECORD_MALFORMED',
      'AGGREGATION_CORRUPT',
      'RECORD_INVALID',
    ]);
    expect(quarantined[2]?.Item?.reason).toMatch(/payload\.level/);
    expect(await readOnFailureRecords(running.mapping('alerts').onFailureFile ?? '')).toEqual([]);
  });

  it('gives a crashing poison pill up to the on-failure destination and keeps the shard flowing', async () => {
    const s = scenario('pill');
    const pill = transactionRecord({
      partition_key: s.token,
      payload: {
        ...(s.card[0] as TributaryRecord & { type: 'transaction' }).payload,
        merchant_id: 'crashes-the-function',
      },
    });
    // A log line of the gateway that crashes the function too, amid the gateway's lines.
    const logPill = logRecord({
      device_id: s.gateway,
      partition_key: s.gateway,
      event_time: (s.log.errors[0] as LogRecord).event_time,
      payload: { level: 'error', message: 'crashes-the-function', source: 'diskmon' },
    });
    const real = alertsHandler();
    // Fault injection at the edge: the function dies on every invocation that contains a pill.
    const pills = new Set([pill, logPill].map((r) => Buffer.from(encodeRecord(r)).toString('base64')));
    const crashing: StreamHandler = async (event: KinesisStreamEvent, context) => {
      if (event.Records.some((r) => pills.has(r.kinesis.data))) throw new Error('simulated crash');
      return real(event, context);
    };
    const running = await runner(crashing, {
      maximumRetryAttempts: 2,
      bisectBatchOnFunctionError: true,
      batchSize: 10,
    });
    const [a, b, c, ...rest] = s.entries;
    const [lastLine, ...before] = [...rest].reverse();
    const written = await put([a, b, c, asEntry(pill), ...before.reverse(), asEntry(logPill), lastLine] as {
      partitionKey: string;
      data: Uint8Array;
    }[]);
    await until(() => caughtUp(running, written), 'runner caught up');
    const pillEntries = [written[3], written.at(-2)];
    const failures = await readOnFailureRecords(running.mapping('alerts').onFailureFile ?? '');
    expect(failures).toHaveLength(2);
    // One give-up per pill, each the pill alone (the pills may sit on different shards: any order).
    for (const pillEntry of pillEntries) {
      const given = failures.find(
        (f) =>
          f.KinesisBatchInfo.shardId === pillEntry?.ShardId &&
          f.KinesisBatchInfo.startSequenceNumber === pillEntry?.SequenceNumber,
      );
      expect(given?.requestContext.condition).toBe('RetryAttemptsExhausted');
      expect(given?.KinesisBatchInfo).toMatchObject({
        endSequenceNumber: pillEntry?.SequenceNumber,
        batchSize: 1,
      });
    }
    // The gateway's alert still cleared: its last line, behind the log pill, was processed.
    await expectScenarioAlerts(s);
  });

  it('with unlimited retries, gives a pill up once it is older than the maximum record age', async () => {
    const s = scenario('aged-pill');
    const pill = transactionRecord({ partition_key: s.token });
    const pillBytes = Buffer.from(encodeRecord(pill)).toString('base64');
    const real = alertsHandler();
    const crashing: StreamHandler = async (event: KinesisStreamEvent, context) => {
      if (event.Records.some((r) => r.kinesis.data === pillBytes)) throw new Error('simulated crash');
      return real(event, context);
    };
    // Lambda's floor is 60 s; the runner takes a shorter age so the test stays short. Older records
    // of earlier tests expire the same way; only the pill matters here. Not shorter than 8 s: the
    // scenario's records, put once the pill is given up, must not age out too on a loaded machine
    // (at 2 s, CI once gave up the sensor's records and the device had no alert).
    const running = await runner(crashing, { maximumRetryAttempts: -1, maximumRecordAgeInSeconds: 8 });
    const [pillEntry] = await put([asEntry(pill)]);
    const onFailure = running.mapping('alerts').onFailureFile ?? '';
    const coversPill = (f: OnFailureRecord) =>
      f.KinesisBatchInfo.shardId === pillEntry?.ShardId &&
      BigInt(f.KinesisBatchInfo.startSequenceNumber) <= BigInt(pillEntry?.SequenceNumber ?? '0') &&
      BigInt(f.KinesisBatchInfo.endSequenceNumber) >= BigInt(pillEntry?.SequenceNumber ?? '0');
    await until(async () => (await readOnFailureRecords(onFailure)).some(coversPill), 'pill given up');
    const [given] = (await readOnFailureRecords(onFailure)).filter(coversPill);
    expect(given?.requestContext.condition).toBe('RecordAgeExceeded');
    // The shard flows again: records behind the pill are processed.
    const written = await put(s.entries);
    await until(() => caughtUp(running, written), 'runner caught up');
    await expectScenarioAlerts(s);
  });

  it('a crash mid-batch followed by redelivery raises no duplicate alerts', async () => {
    const s = scenario('crash');
    const inner = local.cloud.clients.documents();
    let puts = 0;
    let crashed = 0;
    // The 4th alert/state write of the run fails once, after earlier writes of the batch landed.
    const documents: DocumentSender = {
      send: (async (command: unknown, ...rest: unknown[]) => {
        if (command instanceof PutCommand && ++puts === 4) {
          crashed++;
          throw new Error('simulated crash mid-batch');
        }
        return (inner.send as (c: unknown, ...r: unknown[]) => Promise<unknown>)(command, ...rest);
      }) as DocumentSender['send'],
    };
    const running = await runner(alertsHandler(documents));
    const written = await put(s.entries);
    await until(() => caughtUp(running, written), 'runner caught up');
    expect(crashed).toBe(1);
    expect(running.mapping('alerts').stats.retries).toBeGreaterThan(0);
    await expectScenarioAlerts(s);
  });

  it('rides out throttled DynamoDB writes', async () => {
    const s = scenario('throttle');
    const inner = local.cloud.clients.documents();
    let throttled = 0;
    const documents: DocumentSender = {
      send: (async (command: unknown, ...rest: unknown[]) => {
        // Fewer throttles than maximumRetryAttempts (5): retries must absorb them all.
        if (command instanceof PutCommand && throttled < 3) {
          throttled++;
          throw new ProvisionedThroughputExceededException({
            message: 'Rate of requests exceeds the allowed throughput',
            $metadata: {},
          });
        }
        return (inner.send as (c: unknown, ...r: unknown[]) => Promise<unknown>)(command, ...rest);
      }) as DocumentSender['send'],
    };
    const running = await runner(alertsHandler(documents));
    const written = await put(s.entries);
    await until(() => caughtUp(running, written), 'runner caught up');
    expect(throttled).toBe(3);
    expect(await readOnFailureRecords(running.mapping('alerts').onFailureFile ?? '')).toEqual([]);
    await expectScenarioAlerts(s);
  });
});
