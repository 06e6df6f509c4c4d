// biome-ignore-all lint/suspicious/noTemplateCurlyInString: serverless.yml variables are literal text in these fixtures
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatStatusLine } from '../../../local/resources/create.ts';
import {
  StackDefinitionError,
  StackSyntaxError,
  StackVariableError,
} from '../../../local/resources/errors.ts';
import {
  type DynamoTableResource,
  type KinesisStreamResource,
  LOCAL_ACCOUNT_ID,
  loadStack,
  parseStack,
  type StackDefinition,
  type StackResource,
} from '../../../local/resources/stack.ts';

const SERVERLESS_YML = new URL('../../../serverless.yml', import.meta.url).pathname;

function resource<K extends StackResource['kind']>(
  stack: StackDefinition,
  logicalId: string,
  kind: K,
): Extract<StackResource, { kind: K }> {
  const found = stack.resources.find((r) => r.logicalId === logicalId);
  expect(found?.kind).toBe(kind);
  return found as Extract<StackResource, { kind: K }>;
}

/** A minimal stack around `resources` (YAML text indented under `Resources:`). */
function stackYaml(resources: string, extra = ''): string {
  return `service: demo
provider:
  name: aws
  stage: \${opt:stage, 'dev'}
  region: \${opt:region, 'eu-west-1'}
${extra}
resources:
  Resources:
${resources
  .split('\n')
  .map((line) => `    ${line}`)
  .join('\n')}
`;
}

/** Runs `parse` and returns the error it throws (fails the test if none). */
function errorOf(action: () => unknown): StackDefinitionError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(StackDefinitionError);
    return error as StackDefinitionError;
  }
  throw new Error('expected a StackDefinitionError');
}

const TABLE = `Table:
  Type: AWS::DynamoDB::Table
  Properties:
    TableName: items
    BillingMode: PAY_PER_REQUEST
    AttributeDefinitions:
      - { AttributeName: pk, AttributeType: S }
      - { AttributeName: sk, AttributeType: N }
    KeySchema:
      - { AttributeName: pk, KeyType: HASH }
      - { AttributeName: sk, KeyType: RANGE }`;

describe('loadStack on the real serverless.yml', () => {
  it('resolves names, tunables and the typed resource list for the default stage', async () => {
    const stack = await loadStack(SERVERLESS_YML, { env: {} });
    expect(stack).toMatchObject({
      service: 'tributary',
      stage: 'dev',
      region: 'us-east-1',
      accountId: LOCAL_ACCOUNT_ID,
      stackName: 'tributary-dev',
    });
    expect(stack.custom).toMatchObject({
      stream: { shardCount: 2, retentionHours: 24 },
      deletionPolicy: 'Delete',
    });

    const stream = resource(stack, 'RecordsStream', 'kinesis-stream');
    expect(stream).toMatchObject({
      name: 'tributary-dev-records',
      arn: 'arn:aws:kinesis:us-east-1:000000000000:stream/tributary-dev-records',
      mode: 'PROVISIONED',
      shardCount: 2,
      retentionHours: 24,
      encryption: 'KMS',
      ignoredLocally: [],
    });
    for (const [id, name] of [
      ['AlertsConsumer', 'alerts'],
      ['AnalyticsConsumer', 'analytics'],
    ] as const) {
      expect(resource(stack, id, 'kinesis-consumer')).toMatchObject({
        name,
        streamName: 'tributary-dev-records',
        streamArn: stream.arn,
      });
    }

    const alerts = resource(stack, 'AlertsTable', 'dynamodb-table');
    expect(alerts.name).toBe('tributary-dev-alerts');
    expect(alerts.keys).toEqual({ hash: 'pk', range: 'sk' });
    expect(alerts.globalIndexes.map((index) => [index.name, index.keys])).toEqual([
      ['open-alerts', { hash: 'openState', range: 'raisedAt' }],
      ['by-entity-time', { hash: 'entityId', range: 'raisedAt' }],
      ['recent-alerts', { hash: 'kind', range: 'raisedAt' }],
    ]);
    expect(alerts.ttlAttribute).toBe('expiresAt');
    expect(alerts.billing).toEqual({ mode: 'PAY_PER_REQUEST' });
    expect(resource(stack, 'CardStateTable', 'dynamodb-table').keys).toEqual({ hash: 'pk' });
    expect(resource(stack, 'AggregatesTable', 'dynamodb-table').attributes).toEqual([
      { name: 'pk', type: 'S' },
      { name: 'sk', type: 'N' },
    ]);

    expect(resource(stack, 'LakeBucket', 's3-bucket').name).toBe('tributary-dev-lake-000000000000-us-east-1');
    expect(resource(stack, 'AlertsDlq', 'sqs-queue')).toMatchObject({
      name: 'tributary-dev-alerts-dlq',
      attributes: { MessageRetentionPeriod: '1209600' },
    });
    for (const id of ['DataKey', 'DataKeyAlias', 'LakeBucketPolicy']) resource(stack, id, 'not-emulated');
  });

  it('follows --stage and --region like osls (names, per-stage deletion policy)', async () => {
    const stack = await loadStack(SERVERLESS_YML, { stage: 'prod', region: 'eu-central-1', env: {} });
    expect(stack.stackName).toBe('tributary-prod');
    expect(stack.custom.deletionPolicy).toBe('Retain');
    expect(resource(stack, 'RecordsStream', 'kinesis-stream').arn).toBe(
      'arn:aws:kinesis:eu-central-1:000000000000:stream/tributary-prod-records',
    );
    expect(resource(stack, 'LakeBucket', 's3-bucket').name).toBe(
      'tributary-prod-lake-000000000000-eu-central-1',
    );
  });
});

describe('serverless variables', () => {
  const stream = (name: string, extra: string) =>
    parseStack(
      stackYaml(
        `Stream:
  Type: AWS::Kinesis::Stream
  Properties:
    Name: ${name}
    ShardCount: \${self:custom.shards}`,
        extra,
      ),
      'inline.yml',
      { env: { SUFFIX: 'from-env' } },
    );

  it('resolves self, sls, opt, aws and env sources, nested variables and fallbacks', () => {
    const stack = stream(
      '"${self:service}-${sls:stage}-${aws:region}-${aws:accountId}-${self:custom.byStage.${sls:stage}, \'none\'}-${env:SUFFIX}"',
      `custom:
  shards: \${self:custom.base}
  base: 3
  byStage:
    dev: devonly`,
    );
    const s = resource(stack, 'Stream', 'kinesis-stream');
    expect(s.name).toBe('demo-dev-eu-west-1-000000000000-devonly-from-env');
    // A string that is exactly one variable keeps the referenced value's type.
    expect(s.shardCount).toBe(3);
  });

  it('uses the literal fallback when the address is missing', () => {
    const stack = stream("${self:custom.missing, 'fallback'}", 'custom:\n  shards: 1');
    expect(resource(stack, 'Stream', 'kinesis-stream').name).toBe('fallback');
  });

  it('names the property path, line and variable when a variable cannot be resolved', () => {
    const error = errorOf(() => stream('${self:custom.nope}', 'custom:\n  shards: 1'));
    expect(error).toBeInstanceOf(StackVariableError);
    expect(error.path).toBe('resources.Resources.Stream.Properties.Name');
    expect(error.logicalId).toBe('Stream');
    expect(error.line).toBe(13);
    expect(error.message).toContain('${self:custom.nope}');
    expect(error.message).toContain('inline.yml:13');
  });

  it('rejects sources that only exist in AWS, circular references and malformed variables', () => {
    expect(errorOf(() => stream('${ssm:/param}', 'custom:\n  shards: 1')).message).toMatch(
      /variable source "ssm" is not resolvable locally/,
    );
    expect(errorOf(() => stream('${file(./x.yml):key}', 'custom:\n  shards: 1')).message).toMatch(
      /file\(\.\.\.\)/,
    );
    expect(
      errorOf(() =>
        stream('${self:custom.a}', 'custom:\n  shards: 1\n  a: ${self:custom.b}\n  b: ${self:custom.a}'),
      ).message,
    ).toMatch(/circular/);
    expect(errorOf(() => stream('"${self:custom.a"', 'custom:\n  shards: 1')).message).toMatch(
      /malformed variable: unterminated/,
    );
  });

  it('leaves plain text and CloudFormation ${AWS::...} / ${Resource.Attr} placeholders alone', () => {
    fc.assert(
      fc.property(
        fc.string().filter((text) => !/\$\{[a-z]/.test(text)),
        (text) => {
          const yaml = stackYaml('', `custom:\n  text: ${JSON.stringify(text)}`);
          expect(parseStack(yaml, 'inline.yml').custom.text).toBe(text);
        },
      ),
    );
  });
});

describe('CloudFormation intrinsics', () => {
  it('evaluates !Ref, !GetAtt, !Sub, !Join, !Select and !Split for names and ARNs', () => {
    const stack = parseStack(
      stackYaml(`Stream:
  Type: AWS::Kinesis::Stream
  Properties:
    Name: !Join ['-', [!Ref AWS::StackName, !Select [1, !Split [',', 'a,records,c']]]]
    ShardCount: 1
Reader:
  Type: AWS::Kinesis::StreamConsumer
  Properties:
    ConsumerName: !Sub '\${Stream}-reader'
    StreamARN: !GetAtt Stream.Arn
Other:
  Type: AWS::Kinesis::StreamConsumer
  Properties:
    ConsumerName: !Sub ['\${Name}-\${AWS::Region}', { Name: !GetAtt [Reader, ConsumerName] }]
    StreamARN: !Sub 'arn:\${AWS::Partition}:kinesis:\${AWS::Region}:\${AWS::AccountId}:stream/\${Stream}'
Bucket:
  Type: AWS::S3::Bucket`),
      'inline.yml',
    );
    expect(resource(stack, 'Stream', 'kinesis-stream').name).toBe('demo-dev-records');
    expect(resource(stack, 'Reader', 'kinesis-consumer')).toMatchObject({
      name: 'demo-dev-records-reader',
      streamName: 'demo-dev-records',
    });
    expect(resource(stack, 'Other', 'kinesis-consumer')).toMatchObject({
      name: 'demo-dev-records-reader-eu-west-1',
      streamArn: 'arn:aws:kinesis:eu-west-1:000000000000:stream/demo-dev-records',
    });
    // No BucketName: CloudFormation would add a random suffix; locally the name is reproducible.
    expect(resource(stack, 'Bucket', 's3-bucket').name).toBe('demo-dev-bucket');
  });

  it('rejects references to unknown resources and values known only after deployment', () => {
    const consumer = (arn: string) =>
      parseStack(
        stackYaml(`Key:
  Type: AWS::KMS::Key
C:
  Type: AWS::Kinesis::StreamConsumer
  Properties:
    ConsumerName: c
    StreamARN: ${arn}`),
        'inline.yml',
      );
    expect(errorOf(() => consumer('!GetAtt Missing.Arn')).message).toMatch(
      /Fn::GetAtt of an unknown resource/,
    );
    expect(errorOf(() => consumer('!Ref Key')).message).toMatch(
      /Ref of AWS::KMS::Key is only known after deployment/,
    );
    expect(errorOf(() => consumer('!GetAtt Key.Arn')).message).toMatch(
      /not known locally before deployment \(got "Key\.Arn"\)/,
    );
    expect(errorOf(() => consumer('!ImportValue shared-stream')).message).toMatch(
      /Fn::ImportValue is not evaluated/,
    );
    expect(errorOf(() => consumer('arn:aws:kinesis:us-east-1:1:stream/x')).path).toBe(
      'resources.Resources.C.Properties.StreamARN',
    );
  });
});

describe('resource validation', () => {
  it('reports a missing ShardCount with logical id, property path and line', () => {
    const error = errorOf(() =>
      parseStack(
        stackYaml('Stream:\n  Type: AWS::Kinesis::Stream\n  Properties:\n    Name: s'),
        'inline.yml',
      ),
    );
    expect(error).toMatchObject({
      logicalId: 'Stream',
      path: 'resources.Resources.Stream.Properties.ShardCount',
      value: undefined,
    });
    expect(error.message).toMatch(/must be an integer from 1 to 100000 \(got undefined\)/);
    // The deepest existing node on the path: Properties, on line 11.
    expect(error.line).toBe(11);
  });

  it('accepts ON_DEMAND streams without a shard count and rejects one with it', () => {
    const onDemand = (extra: string) =>
      parseStack(
        stackYaml(
          `S:\n  Type: AWS::Kinesis::Stream\n  Properties:\n    StreamModeDetails: { StreamMode: ON_DEMAND }${extra}`,
        ),
        'inline.yml',
      );
    expect(
      (resource(onDemand(''), 'S', 'kinesis-stream') as KinesisStreamResource).shardCount,
    ).toBeUndefined();
    expect(errorOf(() => onDemand('\n    ShardCount: 2')).message).toMatch(/omitted for ON_DEMAND/);
    expect(
      errorOf(() =>
        parseStack(stackYaml('S:\n  Type: AWS::Kinesis::Stream\n  Properties:\n    ShardCount: "two"'), 'x'),
      ).value,
    ).toBe('two');
  });

  it('reads StreamEncryption: KMS, NONE when absent, and names a bad type', () => {
    const withEncryption = (encryption: string) =>
      parseStack(
        stackYaml(`S:\n  Type: AWS::Kinesis::Stream\n  Properties:\n    ShardCount: 1${encryption}`),
        'inline.yml',
      );
    const kms = withEncryption('\n    StreamEncryption: { EncryptionType: KMS, KeyId: alias/k }');
    expect(resource(kms, 'S', 'kinesis-stream')).toMatchObject({ encryption: 'KMS', ignoredLocally: [] });
    expect(resource(withEncryption(''), 'S', 'kinesis-stream')).toMatchObject({ encryption: 'NONE' });
    const error = errorOf(() => withEncryption('\n    StreamEncryption: { EncryptionType: AES }'));
    expect(error.value).toBe('AES');
    expect(error.message).toMatch(/StreamEncryption\.EncryptionType/);
  });

  it('reads a valid table', () => {
    const table = resource(
      parseStack(stackYaml(TABLE), 'inline.yml'),
      'Table',
      'dynamodb-table',
    ) as DynamoTableResource;
    expect(table).toMatchObject({
      name: 'items',
      keys: { hash: 'pk', range: 'sk' },
      ttlAttribute: undefined,
    });
  });

  it.each([
    [
      'a key attribute that is not defined',
      TABLE.replace('{ AttributeName: sk, KeyType: RANGE }', '{ AttributeName: skk, KeyType: RANGE }'),
      'KeySchema[1].AttributeName',
      /"skk".*|is not in AttributeDefinitions \(pk, sk\)/,
    ],
    [
      'RANGE before HASH',
      TABLE.replace('KeyType: HASH', 'KeyType: RANGE'),
      'KeySchema[0].KeyType',
      /must be HASH/,
    ],
    [
      'three key elements',
      TABLE.replace('KeySchema:', 'KeySchema:\n      - { AttributeName: pk, KeyType: HASH }'),
      'KeySchema',
      /at most one RANGE/,
    ],
    [
      'an unknown attribute type',
      TABLE.replace('AttributeType: N', 'AttributeType: X'),
      'AttributeDefinitions[1].AttributeType',
      /one of S, N, B/,
    ],
    [
      'an attribute no key uses',
      TABLE.replace(
        '      - { AttributeName: sk, AttributeType: N }',
        '      - { AttributeName: sk, AttributeType: N }\n      - { AttributeName: extra, AttributeType: S }',
      ),
      'AttributeDefinitions[2].AttributeName',
      /used by no key/,
    ],
    [
      'PROVISIONED without throughput',
      TABLE.replace('PAY_PER_REQUEST', 'PROVISIONED'),
      'ProvisionedThroughput',
      /must be a map/,
    ],
    [
      'an INCLUDE index without NonKeyAttributes',
      `${TABLE}\n    GlobalSecondaryIndexes:\n      - IndexName: by-sk\n        KeySchema: [{ AttributeName: sk, KeyType: HASH }]\n        Projection: { ProjectionType: INCLUDE }`,
      'GlobalSecondaryIndexes[0].Projection.NonKeyAttributes',
      /required for INCLUDE/,
    ],
  ])('rejects %s', (_name, yaml, property, reason) => {
    const error = errorOf(() => parseStack(stackYaml(yaml), 'inline.yml'));
    expect(error.path).toBe(`resources.Resources.Table.Properties.${property}`);
    expect(error.logicalId).toBe('Table');
    expect(error.line).toBeGreaterThan(8);
    expect(error.message).toMatch(reason);
  });

  it('rejects bad bucket and queue names', () => {
    expect(
      errorOf(() =>
        parseStack(stackYaml('B:\n  Type: AWS::S3::Bucket\n  Properties:\n    BucketName: Bad_Name'), 'x'),
      ).message,
    ).toMatch(/bucket names/);
    expect(
      errorOf(() =>
        parseStack(
          stackYaml('Q:\n  Type: AWS::SQS::Queue\n  Properties:\n    QueueName: q\n    FifoQueue: true'),
          'x',
        ),
      ).message,
    ).toMatch(/\.fifo/);
  });

  it('rejects resources without a Type', () => {
    expect(errorOf(() => parseStack(stackYaml('R:\n  Properties: {}'), 'x')).path).toBe(
      'resources.Resources.R.Type',
    );
  });
});

describe('YAML problems', () => {
  it('reports syntax errors with their line', () => {
    const error = errorOf(() =>
      parseStack('service: demo\nprovider:\n  name: aws\n  bad: [unclosed\n', 'broken.yml'),
    );
    expect(error).toBeInstanceOf(StackSyntaxError);
    expect(error.message).toMatch(/^broken\.yml:\d+: /);
    expect(error.line).toBeGreaterThanOrEqual(4);
  });

  it('rejects tags CloudFormation does not know and duplicate keys', () => {
    const unknownTag = errorOf(() => parseStack('service: demo\ncustom:\n  x: !Reff Thing\n', 'tags.yml'));
    expect(unknownTag).toBeInstanceOf(StackSyntaxError);
    expect(unknownTag.line).toBe(3);
    expect(unknownTag.message).toMatch(/!Reff/);
    const duplicate = errorOf(() => parseStack('service: demo\nservice: other\n', 'dup.yml'));
    expect(duplicate.line).toBe(2);
  });
});

describe('formatStatusLine', () => {
  it('renders one aligned line per resource', () => {
    expect(
      formatStatusLine({
        logicalId: 'RecordsStream',
        type: 'AWS::Kinesis::Stream',
        physicalName: 'tributary-dev-records',
        status: 'created',
        detail: '2 shards',
      }),
    ).toBe('created      RecordsStream  AWS::Kinesis::Stream  tributary-dev-records  (2 shards)');
    expect(
      formatStatusLine({
        logicalId: 'DataKey',
        type: 'AWS::KMS::Key',
        physicalName: '',
        status: 'not-emulated',
      }),
    ).toBe('not-emulated DataKey  AWS::KMS::Key');
  });
});
