import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  ListStreamConsumersCommand,
} from '@aws-sdk/client-kinesis';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_URL_OUTPUT } from '../../local/dashboard/remote.ts';
import {
  createLocalResources,
  type LocalEndpoints,
  type ResourceStatus,
} from '../../local/resources/create.ts';
import { type DynamoTableResource, loadStack, type StackDefinition } from '../../local/resources/stack.ts';
import { type RunningServer, startDynamoDb, startKinesis, startS3 } from '../../local/servers/index.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';
import {
  agentIotRequests,
  grantedActions,
  type IotPolicyDocument,
  iotAllows,
  resolveTemplateValue,
} from '../helpers/iot-policy.ts';
import { buildFunctions, oslsPackage, serviceCopy, standInJar } from '../helpers/osls.ts';
import { useTempDir } from '../helpers/temp-dir.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const SERVERLESS_YML = join(ROOT, 'serverless.yml');
const CFN_LINT = join(ROOT, '.venv', 'bin', 'cfn-lint');

/** Actions that have no resource-level permissions: '*' is the only Resource they accept. */
const RESOURCELESS_ACTIONS = new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']);

/** Allow statements (anywhere inside `value`) whose Resource is or contains '*', for other actions. */
function wildcardAllows(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap(wildcardAllows);
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  const resources = [record.Resource].flat();
  const resourceless = [record.Action].flat().every((action) => RESOURCELESS_ACTIONS.has(String(action)));
  const own = record.Effect === 'Allow' && resources.includes('*') && !resourceless ? [record] : [];
  return [...own, ...Object.values(record).flatMap(wildcardAllows)];
}

function byId(statuses: readonly ResourceStatus[]): Record<string, ResourceStatus> {
  return Object.fromEntries(statuses.map((s) => [s.logicalId, s]));
}

describe('local resources from serverless.yml', () => {
  const data = useTempDir('tributary-resources-');
  let servers: RunningServer[] = [];
  let clients: AwsClients;
  let endpoints: LocalEndpoints;
  let stack: StackDefinition;

  beforeAll(async () => {
    servers = await Promise.all([startKinesis(), startDynamoDb(), startS3({ dataDir: data.path })]);
    const [kinesis, dynamodb, s3] = servers as [RunningServer, RunningServer, RunningServer];
    endpoints = { kinesis: kinesis.endpoint, dynamodb: dynamodb.endpoint, s3: s3.endpoint };
    clients = createAwsClients({ kind: 'local', region: 'us-east-1', endpoints });
    stack = await loadStack(SERVERLESS_YML, { env: {} });
  });

  afterAll(async () => {
    clients?.destroy();
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('creates every emulated resource, then finds them all on a second run', async () => {
    const first = byId(await createLocalResources(stack, clients, endpoints));
    for (const id of [
      'RecordsStream',
      'AlertsConsumer',
      'AnalyticsConsumer',
      'AlertsTable',
      'CardStateTable',
    ]) {
      expect(first[id]?.status, id).toBe('created');
    }
    expect(first.AggregatesTable?.status).toBe('created');
    expect(first.LakeBucket?.status).toBe('created');
    expect(first.AlertsDlq).toMatchObject({ status: 'skipped', detail: 'no local SQS' });
    expect(first.DataKey).toMatchObject({ status: 'not-emulated', detail: 'KMS is not emulated locally' });
    expect(first.LakeBucketPolicy?.status).toBe('not-emulated');
    expect(first.RecordsStream?.detail).toContain('KMS-encrypted');

    const second = await createLocalResources(stack, clients, endpoints);
    for (const status of second) {
      const expected =
        first[status.logicalId]?.status === 'created' ? 'exists' : first[status.logicalId]?.status;
      expect(status.status, status.logicalId).toBe(expected);
    }
  });

  it('the stream has the template shard count and both EFO consumers are ACTIVE', async () => {
    const kinesis = clients.kinesis();
    const { StreamDescriptionSummary: summary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: 'tributary-dev-records' }),
    );
    expect(summary).toMatchObject({
      StreamStatus: 'ACTIVE',
      OpenShardCount: (stack.custom.stream as { shardCount: number }).shardCount,
      RetentionPeriodHours: 24,
      // As the template's StreamEncryption: records read from it then say EncryptionType KMS.
      EncryptionType: 'KMS',
    });
    const { Consumers } = await kinesis.send(
      new ListStreamConsumersCommand({ StreamARN: summary?.StreamARN }),
    );
    expect(Consumers?.map((c) => c.ConsumerName).sort()).toEqual(['alerts', 'analytics']);
    for (const name of ['alerts', 'analytics']) {
      const { ConsumerDescription } = await kinesis.send(
        new DescribeStreamConsumerCommand({ StreamARN: summary?.StreamARN, ConsumerName: name }),
      );
      expect(ConsumerDescription?.ConsumerStatus).toBe('ACTIVE');
    }
  });

  it('tables have the template keys, GSIs and TTL', async () => {
    const tables = stack.resources.filter((r): r is DynamoTableResource => r.kind === 'dynamodb-table');
    expect(tables.map((t) => t.name)).toEqual([
      'tributary-dev-alerts',
      'tributary-dev-card-state',
      'tributary-dev-aggregates',
    ]);
    for (const table of tables) {
      const { Table } = await clients.dynamodb().send(new DescribeTableCommand({ TableName: table.name }));
      const keys = (schema: KeySchemaElement[] | undefined) =>
        Object.fromEntries(
          (schema ?? []).map((k) => [k.KeyType === 'HASH' ? 'hash' : 'range', k.AttributeName]),
        );
      expect(keys(Table?.KeySchema), table.name).toEqual(table.keys);
      expect(
        (Table?.GlobalSecondaryIndexes ?? []).map((index) => [index.IndexName, keys(index.KeySchema)]).sort(),
        table.name,
      ).toEqual(table.globalIndexes.map((index) => [index.name, index.keys]).sort());
      const { TimeToLiveDescription } = await clients
        .dynamodb()
        .send(new DescribeTimeToLiveCommand({ TableName: table.name }));
      expect(TimeToLiveDescription, table.name).toMatchObject({
        TimeToLiveStatus: 'ENABLED',
        AttributeName: 'expiresAt',
      });
    }

    // The sparse open-alerts index answers the dashboard's "open alerts, newest first" query.
    const documents = clients.documents();
    await documents.send(
      new PutCommand({
        TableName: 'tributary-dev-alerts',
        Item: {
          pk: 'ALERT#a1',
          sk: 'ALERT',
          openState: 'OPEN',
          entityId: 'card-1',
          raisedAt: '2026-01-01T00:00:00Z',
        },
      }),
    );
    await documents.send(
      new PutCommand({
        TableName: 'tributary-dev-alerts',
        Item: { pk: 'ALERT#a2', sk: 'ALERT', entityId: 'card-1', raisedAt: '2026-01-02T00:00:00Z' },
      }),
    );
    const open = await documents.send(
      new QueryCommand({
        TableName: 'tributary-dev-alerts',
        IndexName: 'open-alerts',
        KeyConditionExpression: 'openState = :open',
        ExpressionAttributeValues: { ':open': 'OPEN' },
        ScanIndexForward: false,
      }),
    );
    expect(open.Items?.map((item) => item.pk)).toEqual(['ALERT#a1']);
    const history = await documents.send(
      new QueryCommand({
        TableName: 'tributary-dev-alerts',
        IndexName: 'by-entity-time',
        KeyConditionExpression: 'entityId = :e',
        ExpressionAttributeValues: { ':e': 'card-1' },
      }),
    );
    expect(history.Items?.map((item) => item.pk)).toEqual(['ALERT#a1', 'ALERT#a2']);
  });

  it('the lake bucket exists', async () => {
    await expect(
      clients.s3().send(new HeadBucketCommand({ Bucket: 'tributary-dev-lake-000000000000-us-east-1' })),
    ).resolves.toBeDefined();
  });
});

describe('osls package (offline) and cfn-lint', () => {
  const out = useTempDir('tributary-package-');
  let template: string;

  let service: string;

  beforeAll(async () => {
    // Function artifacts (dist/*.zip) must exist before osls packages them, as in `npm run package`.
    await buildFunctions();
    // A copy: osls works in the service's .serverless, which another test file may be packaging in.
    service = await serviceCopy();
    await oslsPackage(service, out.path, await standInJar(join(out.path, 'jar'), 'resources test'));
    template = join(out.path, 'cloudformation-template-update-stack.json');
  }, 120_000);

  afterAll(async () => {
    if (service !== undefined) await rm(service, { recursive: true, force: true });
  });

  it('compiles the same names and tunables that the local cloud uses', async () => {
    const compiled = JSON.parse(await readFile(template, 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    const stack = await loadStack(SERVERLESS_YML, { env: {} });
    const nameProperty: Record<string, string> = {
      'AWS::Kinesis::Stream': 'Name',
      'AWS::Kinesis::StreamConsumer': 'ConsumerName',
      'AWS::DynamoDB::Table': 'TableName',
      'AWS::SQS::Queue': 'QueueName',
    };
    for (const resource of stack.resources) {
      const properties = compiled.Resources[resource.logicalId]?.Properties ?? {};
      expect(compiled.Resources[resource.logicalId]?.Type, resource.logicalId).toBe(resource.type);
      const property = nameProperty[resource.type];
      if (property !== undefined && 'name' in resource) {
        expect(properties[property], resource.logicalId).toBe(resource.name);
      }
    }
    expect(compiled.Resources.RecordsStream?.Properties).toMatchObject({
      ShardCount: 2,
      RetentionPeriodHours: 24,
    });
    expect(compiled.Resources.LakeBucket?.Properties?.BucketName).toEqual({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub template
      'Fn::Sub': 'tributary-dev-lake-${AWS::AccountId}-${AWS::Region}',
    });
    // Least privilege: no Allow statement anywhere grants actions on every resource ('*').
    for (const [id, resource] of Object.entries(compiled.Resources)) {
      if (resource.Type === 'AWS::KMS::Key') continue; // in a key policy, Resource '*' means "this key"
      expect(wildcardAllows(resource), id).toEqual([]);
    }
  });

  it('names functions as the local stack does; Firehose runs the lake processor; the dashboard URL is an output', async () => {
    const compiled = JSON.parse(await readFile(template, 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
      Outputs: Record<string, { Value: unknown }>;
    };
    const stack = await loadStack(SERVERLESS_YML, { env: {} });
    expect(stack.functions.map((f) => f.key).sort()).toEqual(['alerts', 'dashboard', 'lakeProcessor']);
    for (const fn of stack.functions) {
      expect(compiled.Resources[fn.logicalId]?.Type, fn.logicalId).toBe('AWS::Lambda::Function');
      expect(compiled.Resources[fn.logicalId]?.Properties?.FunctionName, fn.logicalId).toBe(fn.name);
    }
    const destination = compiled.Resources.LakeDeliveryStream?.Properties
      ?.ExtendedS3DestinationConfiguration as {
      ProcessingConfiguration: {
        Processors: { Type: string; Parameters: { ParameterName: string; ParameterValue: unknown }[] }[];
      };
    };
    const [processor] = destination.ProcessingConfiguration.Processors;
    expect(processor?.Type).toBe('Lambda');
    expect(
      Object.fromEntries(processor?.Parameters.map((p) => [p.ParameterName, p.ParameterValue]) ?? []),
    ).toEqual({
      LambdaArn: { 'Fn::GetAtt': ['LakeProcessorLambdaFunction', 'Arn'] },
      BufferSizeInMBs: '1',
      BufferIntervalInSeconds: '60',
      NumberOfRetries: '3',
    });
    // `tributary dashboard --stage` reads the read API's URL from this output.
    expect(compiled.Outputs[FUNCTION_URL_OUTPUT]?.Value).toEqual({
      'Fn::GetAtt': ['DashboardLambdaFunctionUrl', 'FunctionUrl'],
    });
  });

  it('the packaged DevicePolicy allows what the agent does for its own thing and nothing for another', async () => {
    const compiled = JSON.parse(await readFile(template, 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    const context = {
      partition: 'aws',
      region: 'eu-west-1',
      accountId: '123456789012',
      resources: compiled.Resources,
    };
    const policy = resolveTemplateValue(
      compiled.Resources.DevicePolicy?.Properties?.PolicyDocument,
      context,
    ) as IotPolicyDocument;
    const roleAliasArn = resolveTemplateValue(
      { 'Fn::GetAtt': ['DeviceRoleAlias', 'RoleAliasArn'] },
      context,
    ) as string;
    const own = await agentIotRequests('gw-0042', context, roleAliasArn);
    const self = { clientId: 'gw-0042', thingName: 'gw-0042' };
    const other = { clientId: 'gw-0043', thingName: 'gw-0043' };
    for (const { action, resource } of own) {
      expect(iotAllows([policy], action, resource, self), `${action} ${resource}`).toBe(true);
      // Another device's certificate: nothing of gw-0042's, only the shared role alias.
      const shared = action === 'iot:AssumeRoleWithCertificate';
      expect(iotAllows([policy], action, resource, other), `other: ${action} ${resource}`).toBe(shared);
    }
    // Nothing beyond: no action the agent does not use, no other topic, no wildcard subscription.
    expect(grantedActions(policy).sort()).toEqual([...new Set(own.map((r) => r.action))].sort());
    const arn = (kind: string, name: string) => `arn:aws:iot:eu-west-1:123456789012:${kind}/${name}`;
    for (const [action, resource] of [
      ['iot:Publish', arn('topic', 'tributary/gw-0042/commands')],
      ['iot:Publish', arn('topic', 'tributary/gw-0043/status')],
      ['iot:RetainPublish', arn('topic', 'tributary/gw-0042/responses')],
      ['iot:Subscribe', arn('topicfilter', 'tributary/#')],
      ['iot:Subscribe', arn('topicfilter', 'tributary/+/commands')],
      ['iot:Receive', arn('topic', 'tributary/gw-0042/status')],
      ['iot:Connect', arn('client', 'gw-0043')],
      ['iot:UpdateThingShadow', arn('thing', 'gw-0042')],
    ] as const) {
      expect(iotAllows([policy], action, resource, self), `${action} ${resource}`).toBe(false);
    }
  });

  // CI (.ci/run) installs the venv, so there a missing linter fails instead of skipping.
  const lint = existsSync(CFN_LINT) || process.env.CI === 'true';
  it.skipIf(!lint)(
    `cfn-lint with the serverless rules passes on the packaged template${lint ? '' : ' [SKIPPED: no .venv/bin/cfn-lint; python3 -m venv .venv && .venv/bin/pip install -r scripts/cfn-lint-requirements.txt]'}`,
    async () => {
      const script = join(ROOT, 'scripts', 'cfn-lint.ts');
      const clean = await run(process.execPath, ['--import', 'tsx', script, template], { cwd: ROOT });
      expect(clean.stdout).toContain('clean');

      // Control: the linter really checks (a broken copy must fail with the expected rule).
      const broken = JSON.parse(await readFile(template, 'utf8'));
      broken.Resources.RecordsStream.Properties.ShardCount = 'two';
      const brokenPath = join(out.path, 'broken.json');
      await writeFile(brokenPath, JSON.stringify(broken));
      const failure = await run(process.execPath, ['--import', 'tsx', script, brokenPath], {
        cwd: ROOT,
      }).then(
        () => undefined,
        (error: { code?: number; stdout?: string }) => error,
      );
      expect(failure?.code).not.toBe(0);
      expect(failure?.stdout).toContain('E3012');

      // Control: the serverless rules run too (an untraced function fails with WS1000).
      const untraced = JSON.parse(await readFile(template, 'utf8'));
      delete untraced.Resources.AlertsLambdaFunction.Properties.TracingConfig;
      const untracedPath = join(out.path, 'untraced.json');
      await writeFile(untracedPath, JSON.stringify(untraced));
      const untracedFailure = await run(process.execPath, ['--import', 'tsx', script, untracedPath], {
        cwd: ROOT,
      }).then(
        () => undefined,
        (error: { code?: number; stdout?: string }) => error,
      );
      expect(untracedFailure?.code).not.toBe(0);
      expect(untracedFailure?.stdout).toContain('WS1000');
    },
  );
});
