import { readFile } from 'node:fs/promises';
import { formatPath } from '../../shared/errors.ts';
import {
  FIREHOSE_BUFFER_MAX_MIB,
  FIREHOSE_BUFFER_MIN_MIB,
  FIREHOSE_INTERVAL_MAX_SECONDS,
  FIREHOSE_PROCESSOR_BUFFER_DEFAULT_MB,
  FIREHOSE_PROCESSOR_BUFFER_MAX_MB,
  FIREHOSE_PROCESSOR_BUFFER_MIN_MB,
  FIREHOSE_PROCESSOR_INTERVAL_DEFAULT_SECONDS,
  FIREHOSE_PROCESSOR_RETRIES_DEFAULT,
  RETENTION_HOURS_DEFAULT,
  RETENTION_HOURS_MAX,
} from '../../shared/kinesis/limits.ts';
import { StackDefinitionError } from './errors.ts';
import { evaluate, type IntrinsicContext, type Path } from './intrinsics.ts';
import { VariableResolver } from './variables.ts';
import { parseStackYaml } from './yaml.ts';

/** Account id the local cloud pretends to be (`${aws:accountId}`, `AWS::AccountId`). */
export const LOCAL_ACCOUNT_ID = '000000000000';

export interface LoadStackOptions {
  /** Like `--stage`; defaults to provider.stage, then 'dev'. */
  stage?: string;
  /** Like `--region`; defaults to provider.region, then 'us-east-1'. */
  region?: string;
  /** Source of `${env:NAME}`; defaults to process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

interface BaseResource {
  readonly logicalId: string;
  /** Template properties that exist in AWS but are not applied locally (encryption, PITR, ...). */
  readonly ignoredLocally: readonly string[];
}

export interface KinesisStreamResource extends BaseResource {
  readonly kind: 'kinesis-stream';
  readonly type: 'AWS::Kinesis::Stream';
  readonly name: string;
  readonly arn: string;
  readonly mode: 'PROVISIONED' | 'ON_DEMAND';
  /** Set for PROVISIONED streams only. */
  readonly shardCount: number | undefined;
  readonly retentionHours: number;
  /** StreamEncryption.EncryptionType; locally the stream is encrypted too, so records say 'KMS' as on AWS. */
  readonly encryption: 'KMS' | 'NONE';
}

export interface StreamConsumerResource extends BaseResource {
  readonly kind: 'kinesis-consumer';
  readonly type: 'AWS::Kinesis::StreamConsumer';
  readonly name: string;
  readonly streamArn: string;
  readonly streamName: string;
}

export type AttributeType = 'S' | 'N' | 'B';

export interface KeySchema {
  readonly hash: string;
  readonly range?: string;
}

export interface Throughput {
  readonly read: number;
  readonly write: number;
}

export interface GlobalIndex {
  readonly name: string;
  readonly keys: KeySchema;
  readonly projection: {
    readonly type: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
    readonly nonKeyAttributes?: readonly string[];
  };
  /** Present when the table is PROVISIONED. */
  readonly throughput?: Throughput;
}

export interface DynamoTableResource extends BaseResource {
  readonly kind: 'dynamodb-table';
  readonly type: 'AWS::DynamoDB::Table';
  readonly name: string;
  readonly arn: string;
  readonly attributes: readonly { readonly name: string; readonly type: AttributeType }[];
  readonly keys: KeySchema;
  readonly globalIndexes: readonly GlobalIndex[];
  readonly billing:
    | { readonly mode: 'PAY_PER_REQUEST' }
    | { readonly mode: 'PROVISIONED'; readonly throughput: Throughput };
  /** TTL attribute when TimeToLiveSpecification is enabled. */
  readonly ttlAttribute: string | undefined;
}

export interface S3BucketResource extends BaseResource {
  readonly kind: 's3-bucket';
  readonly type: 'AWS::S3::Bucket';
  readonly name: string;
  readonly arn: string;
}

export interface SqsQueueResource extends BaseResource {
  readonly kind: 'sqs-queue';
  readonly type: 'AWS::SQS::Queue';
  readonly name: string;
  readonly arn: string;
  /** CreateQueue attributes taken from the template (retention, visibility, FIFO, ...). */
  readonly attributes: Readonly<Record<string, string>>;
}

/**
 * A Firehose delivery stream from a Kinesis stream to S3. Nothing is created for it; the local
 * delivery runner (local/delivery) reads these settings and delivers with the same layout.
 */
export interface DeliveryStreamResource extends BaseResource {
  readonly kind: 'firehose-delivery-stream';
  readonly type: 'AWS::KinesisFirehose::DeliveryStream';
  readonly name: string;
  readonly sourceStreamName: string;
  readonly bucketName: string;
  readonly prefix: string;
  readonly errorOutputPrefix: string;
  readonly fileExtension: string;
  readonly bufferSizeBytes: number;
  readonly bufferIntervalSeconds: number;
  /** Parquet codec when record format conversion to Parquet is on, else undefined. */
  readonly parquetCompression: string | undefined;
  readonly dynamicPartitioning: boolean;
  /** The Lambda data-transformation processor, if any. */
  readonly processor: LambdaProcessor | undefined;
  /** Glue table of the format conversion (database and table names), if any. */
  readonly catalogTable: { readonly databaseName: string; readonly tableName: string } | undefined;
}

/** A Firehose `Lambda` processor: which function of the service, and how Firehose batches its invocations. */
export interface LambdaProcessor {
  /** Logical id the LambdaArn's `!GetAtt <id>.Arn` names (osls: `<FunctionName>LambdaFunction`). */
  readonly functionLogicalId: string;
  readonly bufferSizeMB: number;
  readonly bufferIntervalSeconds: number;
  readonly retries: number;
}

/** A function of the service (serverless.yml `functions:`), as osls names it. */
export interface FunctionDefinition {
  /** Key under `functions:`, e.g. `lakeProcessor`. */
  readonly key: string;
  /** `<Key with a capital first letter, - as Dash, _ as Underscore>LambdaFunction`, as osls names it. */
  readonly logicalId: string;
  /** `<service>-<stage>-<key>` unless the function sets `name`. */
  readonly name: string;
  readonly arn: string;
  /** serverless handler string, e.g. `functions/lake-processor/handler.handler`. */
  readonly handler: string;
}

/** Any other resource type (KMS, IAM, bucket policies, ...): listed, never created locally. */
export interface NotEmulatedResource extends BaseResource {
  readonly kind: 'not-emulated';
  readonly type: string;
}

export type StackResource =
  | KinesisStreamResource
  | StreamConsumerResource
  | DynamoTableResource
  | S3BucketResource
  | SqsQueueResource
  | DeliveryStreamResource
  | NotEmulatedResource;

export interface StackDefinition {
  readonly file: string;
  readonly service: string;
  readonly stage: string;
  readonly region: string;
  readonly accountId: string;
  /** osls names the stack `<service>-<stage>`. */
  readonly stackName: string;
  /** The resolved `custom:` section (tunables), CloudFormation functions left as written. */
  readonly custom: Readonly<Record<string, unknown>>;
  /** Resources in template order. */
  readonly resources: readonly StackResource[];
  /** Functions in template order. */
  readonly functions: readonly FunctionDefinition[];
}

/** The stack's resource of this kind and logical id; StackDefinitionError (STACK_RESOURCE_MISSING) when absent. */
export function stackResource<K extends StackResource['kind']>(
  stack: StackDefinition,
  kind: K,
  logicalId: string,
): Extract<StackResource, { kind: K }> {
  const found = stack.resources.find((r) => r.kind === kind && r.logicalId === logicalId);
  if (found === undefined) {
    throw new StackDefinitionError(
      `resources.Resources.${logicalId}`,
      undefined,
      `the local pipeline needs a ${kind} with this logical id`,
      { file: stack.file },
      { code: 'STACK_RESOURCE_MISSING' },
    );
  }
  return found as Extract<StackResource, { kind: K }>;
}

/** Reads serverless.yml, resolves its variables and returns the typed resource list. No side effects. */
export async function loadStack(path: string, options: LoadStackOptions = {}): Promise<StackDefinition> {
  return parseStack(await readFile(path, 'utf8'), path, options);
}

/** Same as loadStack, from YAML text. `file` only labels error messages. */
export function parseStack(source: string, file: string, options: LoadStackOptions = {}): StackDefinition {
  return new StackBuilder(source, file, options).build();
}

const NAME_PROPERTY: Readonly<Record<string, string>> = {
  'AWS::Kinesis::Stream': 'Name',
  'AWS::Kinesis::StreamConsumer': 'ConsumerName',
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::S3::Bucket': 'BucketName',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::KinesisFirehose::DeliveryStream': 'DeliveryStreamName',
};

/** SQS CloudFormation properties that are also CreateQueue attribute names. */
const QUEUE_ATTRIBUTES = [
  'DelaySeconds',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'ReceiveMessageWaitTimeSeconds',
  'VisibilityTimeout',
  'FifoQueue',
  'ContentBasedDeduplication',
] as const;

const APPLIED: Readonly<Record<string, ReadonlySet<string>>> = {
  'AWS::Kinesis::Stream': new Set([
    'Name',
    'ShardCount',
    'RetentionPeriodHours',
    'StreamModeDetails',
    'StreamEncryption',
  ]),
  'AWS::Kinesis::StreamConsumer': new Set(['ConsumerName', 'StreamARN']),
  'AWS::DynamoDB::Table': new Set([
    'TableName',
    'AttributeDefinitions',
    'KeySchema',
    'GlobalSecondaryIndexes',
    'BillingMode',
    'ProvisionedThroughput',
    'TimeToLiveSpecification',
  ]),
  'AWS::S3::Bucket': new Set(['BucketName']),
  'AWS::SQS::Queue': new Set(['QueueName', ...QUEUE_ATTRIBUTES]),
  'AWS::KinesisFirehose::DeliveryStream': new Set([
    'DeliveryStreamName',
    'DeliveryStreamType',
    'KinesisStreamSourceConfiguration',
    'ExtendedS3DestinationConfiguration',
  ]),
};

const STREAM_ARN = /^arn:[^:]+:kinesis:[^:]*:\d{12}:stream\/([a-zA-Z0-9_.-]{1,128})$/;

interface RawResource {
  readonly type: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

class StackBuilder {
  private readonly file: string;
  private readonly resolver: VariableResolver;
  private readonly raw = new Map<string, RawResource>();
  private readonly names = new Map<string, string>();
  private readonly naming = new Set<string>();
  private readonly intrinsics: IntrinsicContext;
  private stage = '';
  private region = '';
  private stackName = '';

  constructor(source: string, file: string, options: LoadStackOptions) {
    const parsed = parseStackYaml(source, file);
    this.file = file;
    this.resolver = new VariableResolver(parsed.value, {
      file,
      options: {
        ...(options.stage === undefined ? {} : { stage: options.stage }),
        ...(options.region === undefined ? {} : { region: options.region }),
      },
      env: options.env ?? process.env,
      accountId: LOCAL_ACCOUNT_ID,
      lineOf: (path) => parsed.lineOf(path),
    });
    this.intrinsics = {
      pseudo: (name) => this.pseudo(name),
      ref: (logicalId, path) => this.ref(logicalId, path),
      getAtt: (logicalId, attribute, path) => this.getAtt(logicalId, attribute, path),
      fail: (path, value, reason) => this.fail(path, value, reason),
    };
  }

  build(): StackDefinition {
    const service = this.resolver.resolve(['service']);
    if (typeof service !== 'string' || service === '')
      this.fail(['service'], service, 'must be a non-empty string');
    this.stage = this.resolver.stage();
    this.region = this.resolver.region();
    this.stackName = `${service}-${this.stage}`;

    const custom = this.resolver.resolve(['custom']) ?? {};
    if (!isRecord(custom)) this.fail(['custom'], custom, 'must be a map');

    const resourcesPath = ['resources', 'Resources'];
    const resources = this.resolver.resolve(resourcesPath) ?? {};
    if (!isRecord(resources))
      this.fail(resourcesPath, resources, 'must be a map of logical ids to resources');
    for (const [logicalId, resource] of Object.entries(resources)) {
      const path = [...resourcesPath, logicalId];
      if (!/^[A-Za-z0-9]+$/.test(logicalId)) this.fail(path, logicalId, 'logical ids are alphanumeric');
      if (!isRecord(resource)) this.fail(path, resource, 'must be a map with Type and Properties');
      const { Type: type, Properties: properties = {} } = resource;
      if (typeof type !== 'string' || type === '')
        this.fail([...path, 'Type'], type, 'must be a resource type');
      if (!isRecord(properties)) this.fail([...path, 'Properties'], properties, 'must be a map');
      this.raw.set(logicalId, { type, properties });
    }

    return {
      file: this.file,
      service,
      stage: this.stage,
      region: this.region,
      accountId: LOCAL_ACCOUNT_ID,
      stackName: this.stackName,
      custom,
      resources: [...this.raw.keys()].map((logicalId) => this.typed(logicalId)),
      functions: this.functions(service),
    };
  }

  private functions(service: string): FunctionDefinition[] {
    const functions = this.resolver.resolve(['functions']) ?? {};
    if (!isRecord(functions))
      this.fail(['functions'], functions, 'must be a map of function names to functions');
    return Object.entries(functions).map(([key, raw]) => {
      const path = ['functions', key];
      const fn = this.record(path, raw);
      const name =
        fn.name === undefined ? `${service}-${this.stage}-${key}` : this.string([...path, 'name'], fn.name);
      const normalized = key.replaceAll('-', 'Dash').replaceAll('_', 'Underscore');
      return {
        key,
        logicalId: `${normalized.charAt(0).toUpperCase()}${normalized.slice(1)}LambdaFunction`,
        name,
        arn: `arn:aws:lambda:${this.region}:${LOCAL_ACCOUNT_ID}:function:${name}`,
        handler: this.string([...path, 'handler'], fn.handler),
      };
    });
  }

  private typed(logicalId: string): StackResource {
    const resource = this.raw.get(logicalId) as RawResource;
    const applied = APPLIED[resource.type];
    const ignoredLocally = Object.keys(resource.properties).filter((key) => applied?.has(key) !== true);
    const base = { logicalId, ignoredLocally };
    switch (resource.type) {
      case 'AWS::Kinesis::Stream':
        return { ...base, ...this.stream(logicalId, resource.properties) };
      case 'AWS::Kinesis::StreamConsumer':
        return { ...base, ...this.consumer(logicalId, resource.properties) };
      case 'AWS::DynamoDB::Table':
        return { ...base, ...this.table(logicalId, resource.properties) };
      case 'AWS::S3::Bucket':
        return {
          ...base,
          kind: 's3-bucket',
          type: resource.type,
          name: this.name(logicalId),
          arn: this.arn(logicalId),
        };
      case 'AWS::SQS::Queue':
        return { ...base, ...this.queue(logicalId, resource.properties) };
      case 'AWS::KinesisFirehose::DeliveryStream':
        return { ...base, ...this.deliveryStream(logicalId, resource.properties) };
      default:
        return { ...base, kind: 'not-emulated', type: resource.type };
    }
  }

  private stream(logicalId: string, props: Readonly<Record<string, unknown>>) {
    const at = propertyPath(logicalId);
    const details = this.value(at('StreamModeDetails'), props.StreamModeDetails);
    const mode =
      details === undefined
        ? 'PROVISIONED'
        : this.oneOf(
            at('StreamModeDetails', 'StreamMode'),
            this.record(at('StreamModeDetails'), details).StreamMode,
            ['PROVISIONED', 'ON_DEMAND'],
          );
    const shardCount = this.value(at('ShardCount'), props.ShardCount);
    if (mode === 'ON_DEMAND') {
      if (shardCount !== undefined)
        this.fail(at('ShardCount'), shardCount, 'must be omitted for ON_DEMAND streams');
    } else {
      this.integer(at('ShardCount'), shardCount, 1, 100_000);
    }
    const retention = this.value(at('RetentionPeriodHours'), props.RetentionPeriodHours) ?? 24;
    // Only the type: the key (a KMS key of the stack) does not exist locally, and the emulator
    // accepts any.
    const encryption: 'KMS' | 'NONE' =
      props.StreamEncryption === undefined
        ? 'NONE'
        : this.oneOf(
            at('StreamEncryption', 'EncryptionType'),
            this.value(
              at('StreamEncryption', 'EncryptionType'),
              this.record(at('StreamEncryption'), props.StreamEncryption).EncryptionType,
            ),
            ['KMS'],
          );
    return {
      kind: 'kinesis-stream' as const,
      type: 'AWS::Kinesis::Stream' as const,
      name: this.name(logicalId),
      arn: this.arn(logicalId),
      mode,
      shardCount: shardCount as number | undefined,
      retentionHours: this.integer(
        at('RetentionPeriodHours'),
        retention,
        RETENTION_HOURS_DEFAULT,
        RETENTION_HOURS_MAX,
      ),
      encryption,
    };
  }

  private consumer(logicalId: string, props: Readonly<Record<string, unknown>>) {
    const at = propertyPath(logicalId);
    const streamArn = this.value(at('StreamARN'), props.StreamARN);
    const match = typeof streamArn === 'string' ? STREAM_ARN.exec(streamArn) : null;
    if (match?.[1] === undefined) this.fail(at('StreamARN'), streamArn, 'must be a Kinesis stream ARN');
    return {
      kind: 'kinesis-consumer' as const,
      type: 'AWS::Kinesis::StreamConsumer' as const,
      name: this.name(logicalId),
      streamArn: streamArn as string,
      streamName: match[1],
    };
  }

  private table(logicalId: string, props: Readonly<Record<string, unknown>>) {
    const at = propertyPath(logicalId);
    const definitions = this.list(
      at('AttributeDefinitions'),
      this.value(at('AttributeDefinitions'), props.AttributeDefinitions),
    );
    const attributes = definitions.map((definition, index) => {
      const path = at('AttributeDefinitions', index);
      const entry = this.record(path, definition);
      const name = this.string([...path, 'AttributeName'], entry.AttributeName);
      const type = this.oneOf([...path, 'AttributeType'], entry.AttributeType, ['S', 'N', 'B']);
      return { name, type };
    });
    const defined = new Set<string>();
    attributes.forEach(({ name }, index) => {
      if (defined.has(name))
        this.fail(at('AttributeDefinitions', index, 'AttributeName'), name, 'is defined twice');
      defined.add(name);
    });

    const used = new Set<string>();
    const keySchema = (path: Path, value: unknown): KeySchema => {
      const elements = this.list(path, value);
      if (elements.length < 1 || elements.length > 2)
        this.fail(path, value, 'must have a HASH key and at most one RANGE key');
      const names = elements.map((element, index) => {
        const entry = this.record([...path, index], element);
        const name = this.string([...path, index, 'AttributeName'], entry.AttributeName);
        const expected = index === 0 ? 'HASH' : 'RANGE';
        if (entry.KeyType !== expected) {
          this.fail(
            [...path, index, 'KeyType'],
            entry.KeyType,
            `must be ${expected} (HASH first, then RANGE)`,
          );
        }
        if (!defined.has(name)) {
          this.fail(
            [...path, index, 'AttributeName'],
            name,
            `is not in AttributeDefinitions (${[...defined].join(', ')})`,
          );
        }
        used.add(name);
        return name;
      });
      const [hash, range] = names as [string, string | undefined];
      return range === undefined ? { hash } : { hash, range };
    };

    const billingMode = this.oneOf(
      at('BillingMode'),
      this.value(at('BillingMode'), props.BillingMode) ?? 'PROVISIONED',
      ['PROVISIONED', 'PAY_PER_REQUEST'],
    );
    const throughput = (path: Path, value: unknown): Throughput => {
      const entry = this.record(path, value);
      return {
        read: this.integer([...path, 'ReadCapacityUnits'], entry.ReadCapacityUnits, 1, 1_000_000),
        write: this.integer([...path, 'WriteCapacityUnits'], entry.WriteCapacityUnits, 1, 1_000_000),
      };
    };

    const keys = keySchema(at('KeySchema'), this.value(at('KeySchema'), props.KeySchema));
    const indexNames = new Set<string>();
    const gsiValue = this.value(at('GlobalSecondaryIndexes'), props.GlobalSecondaryIndexes) ?? [];
    const globalIndexes = this.list(at('GlobalSecondaryIndexes'), gsiValue).map((raw, index): GlobalIndex => {
      const path = at('GlobalSecondaryIndexes', index);
      const entry = this.record(path, raw);
      const name = this.string([...path, 'IndexName'], entry.IndexName);
      if (indexNames.has(name)) this.fail([...path, 'IndexName'], name, 'is used by two indexes');
      indexNames.add(name);
      const projection = this.record([...path, 'Projection'], entry.Projection);
      const type = this.oneOf(
        [...path, 'Projection', 'ProjectionType'],
        projection.ProjectionType ?? 'INCLUDE',
        ['ALL', 'KEYS_ONLY', 'INCLUDE'],
      );
      const nonKey = projection.NonKeyAttributes;
      if (type === 'INCLUDE' && nonKey === undefined) {
        this.fail([...path, 'Projection', 'NonKeyAttributes'], nonKey, 'is required for INCLUDE projections');
      }
      const nonKeyAttributes =
        nonKey === undefined
          ? undefined
          : this.list([...path, 'Projection', 'NonKeyAttributes'], nonKey).map((item, i) =>
              this.string([...path, 'Projection', 'NonKeyAttributes', i], item),
            );
      return {
        name,
        keys: keySchema([...path, 'KeySchema'], entry.KeySchema),
        projection: nonKeyAttributes === undefined ? { type } : { type, nonKeyAttributes },
        ...(billingMode === 'PROVISIONED'
          ? { throughput: throughput([...path, 'ProvisionedThroughput'], entry.ProvisionedThroughput) }
          : {}),
      };
    });
    attributes.forEach(({ name }, index) => {
      if (!used.has(name)) {
        this.fail(at('AttributeDefinitions', index, 'AttributeName'), name, 'is defined but used by no key');
      }
    });

    const ttl = this.value(at('TimeToLiveSpecification'), props.TimeToLiveSpecification);
    let ttlAttribute: string | undefined;
    if (ttl !== undefined) {
      const entry = this.record(at('TimeToLiveSpecification'), ttl);
      if (typeof entry.Enabled !== 'boolean') {
        this.fail(at('TimeToLiveSpecification', 'Enabled'), entry.Enabled, 'must be true or false');
      }
      if (entry.Enabled)
        ttlAttribute = this.string(at('TimeToLiveSpecification', 'AttributeName'), entry.AttributeName);
    }

    return {
      kind: 'dynamodb-table' as const,
      type: 'AWS::DynamoDB::Table' as const,
      name: this.name(logicalId),
      arn: this.arn(logicalId),
      attributes,
      keys,
      globalIndexes,
      billing:
        billingMode === 'PAY_PER_REQUEST'
          ? { mode: billingMode }
          : {
              mode: billingMode,
              throughput: throughput(at('ProvisionedThroughput'), props.ProvisionedThroughput),
            },
      ttlAttribute,
    };
  }

  private queue(logicalId: string, props: Readonly<Record<string, unknown>>) {
    const at = propertyPath(logicalId);
    const attributes: Record<string, string> = {};
    for (const key of QUEUE_ATTRIBUTES) {
      const value = this.value(at(key), props[key]);
      if (value === undefined) continue;
      if (typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'string') {
        this.fail(at(key), value, 'must be a number, boolean or string');
      }
      attributes[key] = String(value);
    }
    const name = this.name(logicalId);
    if ((attributes.FifoQueue === 'true') !== name.endsWith('.fifo')) {
      this.fail(at('QueueName'), name, 'FIFO queues, and only they, have names ending in .fifo');
    }
    return {
      kind: 'sqs-queue' as const,
      type: 'AWS::SQS::Queue' as const,
      name,
      arn: this.arn(logicalId),
      attributes,
    };
  }

  /** Only what a local delivery needs is evaluated: role ARNs, KMS and logging exist in AWS only. */
  private deliveryStream(logicalId: string, props: Readonly<Record<string, unknown>>) {
    const at = propertyPath(logicalId);
    this.oneOf(at('DeliveryStreamType'), props.DeliveryStreamType, ['KinesisStreamAsSource']);
    const sourcePath = at('KinesisStreamSourceConfiguration');
    const source = this.record(sourcePath, props.KinesisStreamSourceConfiguration);
    const streamArn = this.value([...sourcePath, 'KinesisStreamARN'], source.KinesisStreamARN);
    const stream = typeof streamArn === 'string' ? STREAM_ARN.exec(streamArn) : null;
    if (stream?.[1] === undefined) {
      this.fail([...sourcePath, 'KinesisStreamARN'], streamArn, 'must be a Kinesis stream ARN');
    }
    const destPath = at('ExtendedS3DestinationConfiguration');
    const dest = this.record(destPath, props.ExtendedS3DestinationConfiguration);
    const bucketArn = this.string(
      [...destPath, 'BucketARN'],
      this.value([...destPath, 'BucketARN'], dest.BucketARN),
    );
    if (!bucketArn.startsWith('arn:aws:s3:::'))
      this.fail([...destPath, 'BucketARN'], bucketArn, 'must be an S3 bucket ARN');
    const optionalString = (key: string): string | undefined => {
      const value = this.value([...destPath, key], dest[key]);
      return value === undefined ? undefined : this.string([...destPath, key], value);
    };
    const hints =
      dest.BufferingHints === undefined
        ? {}
        : this.record([...destPath, 'BufferingHints'], dest.BufferingHints);
    const sizeMiB = this.integer(
      [...destPath, 'BufferingHints', 'SizeInMBs'],
      hints.SizeInMBs ?? 5,
      FIREHOSE_BUFFER_MIN_MIB,
      FIREHOSE_BUFFER_MAX_MIB,
    );
    const interval = this.integer(
      [...destPath, 'BufferingHints', 'IntervalInSeconds'],
      hints.IntervalInSeconds ?? 300,
      0,
      FIREHOSE_INTERVAL_MAX_SECONDS,
    );

    const conversionPath = [...destPath, 'DataFormatConversionConfiguration'];
    const conversion =
      dest.DataFormatConversionConfiguration === undefined
        ? undefined
        : this.record(conversionPath, dest.DataFormatConversionConfiguration);
    let parquetCompression: string | undefined;
    let catalogTable: DeliveryStreamResource['catalogTable'];
    if (conversion !== undefined && conversion.Enabled !== false) {
      const serializer = this.record(
        [...conversionPath, 'OutputFormatConfiguration', 'Serializer'],
        this.record([...conversionPath, 'OutputFormatConfiguration'], conversion.OutputFormatConfiguration)
          .Serializer,
      );
      if (serializer.ParquetSerDe === undefined) {
        this.fail(
          [...conversionPath, 'OutputFormatConfiguration', 'Serializer'],
          serializer,
          'only ParquetSerDe is delivered locally',
        );
      }
      const parquet = this.record(
        [...conversionPath, 'OutputFormatConfiguration', 'Serializer', 'ParquetSerDe'],
        serializer.ParquetSerDe,
      );
      parquetCompression = this.oneOf(
        [...conversionPath, 'OutputFormatConfiguration', 'Serializer', 'ParquetSerDe', 'Compression'],
        parquet.Compression ?? 'SNAPPY',
        ['SNAPPY', 'GZIP', 'UNCOMPRESSED'],
      );
      const schemaPath = [...conversionPath, 'SchemaConfiguration'];
      const schema = this.record(schemaPath, conversion.SchemaConfiguration);
      catalogTable = {
        databaseName: this.string(
          [...schemaPath, 'DatabaseName'],
          this.value([...schemaPath, 'DatabaseName'], schema.DatabaseName),
        ),
        tableName: this.string(
          [...schemaPath, 'TableName'],
          this.value([...schemaPath, 'TableName'], schema.TableName),
        ),
      };
    }

    const partitioning =
      dest.DynamicPartitioningConfiguration === undefined
        ? {}
        : this.record(
            [...destPath, 'DynamicPartitioningConfiguration'],
            dest.DynamicPartitioningConfiguration,
          );
    const processing =
      dest.ProcessingConfiguration === undefined
        ? {}
        : this.record([...destPath, 'ProcessingConfiguration'], dest.ProcessingConfiguration);
    const processors =
      processing.Enabled === false || processing.Processors === undefined
        ? []
        : this.list([...destPath, 'ProcessingConfiguration', 'Processors'], processing.Processors);
    let processor: LambdaProcessor | undefined;
    processors.forEach((raw, index) => {
      const path = [...destPath, 'ProcessingConfiguration', 'Processors', index];
      const entry = this.record(path, raw);
      if (entry.Type !== 'Lambda' || processor !== undefined) {
        this.fail(
          [...path, 'Type'],
          entry.Type,
          'the local delivery runs exactly one processor, of type Lambda',
        );
      }
      processor = this.lambdaProcessor([...path, 'Parameters'], entry.Parameters);
    });

    return {
      kind: 'firehose-delivery-stream' as const,
      type: 'AWS::KinesisFirehose::DeliveryStream' as const,
      name: this.name(logicalId),
      sourceStreamName: stream[1],
      bucketName: bucketArn.slice('arn:aws:s3:::'.length),
      prefix: optionalString('Prefix') ?? '',
      errorOutputPrefix: optionalString('ErrorOutputPrefix') ?? '',
      fileExtension: optionalString('FileExtension') ?? '',
      bufferSizeBytes: sizeMiB * 1024 * 1024,
      bufferIntervalSeconds: interval,
      parquetCompression,
      dynamicPartitioning: partitioning.Enabled === true,
      processor,
      catalogTable,
    };
  }

  /**
   * A Lambda processor's parameters. LambdaArn is read as written (`!GetAtt <Function>LambdaFunction.Arn`):
   * osls adds the function resources when it packages, so they are not in `resources:`.
   */
  private lambdaProcessor(path: Path, raw: unknown): LambdaProcessor {
    const parameters = new Map<string, { value: unknown; index: number }>();
    this.list(path, raw).forEach((item, index) => {
      const entry = this.record([...path, index], item);
      parameters.set(this.string([...path, index, 'ParameterName'], entry.ParameterName), {
        value: entry.ParameterValue,
        index,
      });
    });
    const arn = parameters.get('LambdaArn');
    const getAtt = isRecord(arn?.value) ? arn.value['Fn::GetAtt'] : undefined;
    const target = Array.isArray(getAtt) ? getAtt : typeof getAtt === 'string' ? getAtt.split('.') : [];
    if (arn === undefined || target.length !== 2 || target[1] !== 'Arn' || typeof target[0] !== 'string') {
      return this.fail(
        [...path, arn?.index ?? 0, 'ParameterValue'],
        arn?.value,
        'LambdaArn must be !GetAtt <Function>LambdaFunction.Arn of a function of this service',
      );
    }
    const number = (name: string, fallback: number, min: number, max: number, integer: boolean): number => {
      const parameter = parameters.get(name);
      if (parameter === undefined) return fallback;
      const at = [...path, parameter.index, 'ParameterValue'];
      const value = this.value(at, parameter.value);
      // CloudFormation types ParameterValue as a string; a bare number would fail cfn-lint.
      const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
      if (!(parsed >= min && parsed <= max) || (integer && !Number.isInteger(parsed))) {
        return this.fail(
          at,
          value,
          `must be a string holding ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`,
        );
      }
      return parsed;
    };
    return {
      functionLogicalId: target[0],
      bufferSizeMB: number(
        'BufferSizeInMBs',
        FIREHOSE_PROCESSOR_BUFFER_DEFAULT_MB,
        FIREHOSE_PROCESSOR_BUFFER_MIN_MB,
        FIREHOSE_PROCESSOR_BUFFER_MAX_MB,
        false,
      ),
      bufferIntervalSeconds: number(
        'BufferIntervalInSeconds',
        FIREHOSE_PROCESSOR_INTERVAL_DEFAULT_SECONDS,
        0,
        FIREHOSE_INTERVAL_MAX_SECONDS,
        true,
      ),
      retries: number(
        'NumberOfRetries',
        FIREHOSE_PROCESSOR_RETRIES_DEFAULT,
        0,
        Number.MAX_SAFE_INTEGER,
        true,
      ),
    };
  }

  /** Physical name: the template's name property, else a deterministic `<stack>-<LogicalId>`. */
  private name(logicalId: string): string {
    const known = this.names.get(logicalId);
    if (known !== undefined) return known;
    const resource = this.raw.get(logicalId) as RawResource;
    const property = NAME_PROPERTY[resource.type] as string;
    const path = propertyPath(logicalId)(property);
    if (this.naming.has(logicalId)) this.fail(path, resource.properties[property], 'name refers to itself');
    this.naming.add(logicalId);
    try {
      const value = this.value(path, resource.properties[property]);
      let name: string;
      if (value === undefined) {
        if (resource.type === 'AWS::Kinesis::StreamConsumer') this.fail(path, value, 'is required');
        // CloudFormation would add a random suffix; locally the name must be reproducible.
        name = `${this.stackName}-${logicalId}`;
        if (resource.type === 'AWS::S3::Bucket') name = name.toLowerCase();
      } else {
        name = this.string(path, value);
      }
      if (resource.type === 'AWS::S3::Bucket' && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) {
        this.fail(path, name, 'bucket names are 3-63 lowercase letters, digits, dots and hyphens');
      }
      if (resource.type !== 'AWS::S3::Bucket' && !/^[a-zA-Z0-9_.-]{1,255}$/.test(name)) {
        this.fail(path, name, 'names are letters, digits, "_", "." and "-"');
      }
      this.names.set(logicalId, name);
      return name;
    } finally {
      this.naming.delete(logicalId);
    }
  }

  private arn(logicalId: string): string {
    const resource = this.raw.get(logicalId) as RawResource;
    const name = this.name(logicalId);
    const prefix = 'arn:aws:';
    switch (resource.type) {
      case 'AWS::Kinesis::Stream':
        return `${prefix}kinesis:${this.region}:${LOCAL_ACCOUNT_ID}:stream/${name}`;
      case 'AWS::DynamoDB::Table':
        return `${prefix}dynamodb:${this.region}:${LOCAL_ACCOUNT_ID}:table/${name}`;
      case 'AWS::S3::Bucket':
        return `${prefix}s3:::${name}`;
      default:
        // SQS; other types have no locally known ARN and never get here.
        return `${prefix}sqs:${this.region}:${LOCAL_ACCOUNT_ID}:${name}`;
    }
  }

  private pseudo(name: string): string | undefined {
    switch (name) {
      case 'AWS::Region':
        return this.region;
      case 'AWS::AccountId':
        return LOCAL_ACCOUNT_ID;
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      default:
        return undefined;
    }
  }

  private ref(logicalId: string, path: Path): string {
    const resource = this.raw.get(logicalId);
    if (resource === undefined)
      return this.fail(path, logicalId, 'Ref to an unknown resource or pseudo parameter');
    switch (resource.type) {
      case 'AWS::Kinesis::Stream':
      case 'AWS::DynamoDB::Table':
      case 'AWS::S3::Bucket':
      case 'AWS::KinesisFirehose::DeliveryStream':
        return this.name(logicalId);
      case 'AWS::Glue::Database':
        return this.glueName(logicalId, 'DatabaseInput');
      case 'AWS::Glue::Table':
        return this.glueName(logicalId, 'TableInput');
      default:
        return this.fail(path, logicalId, `Ref of ${resource.type} is only known after deployment`);
    }
  }

  /** Glue resources are named inside their input block (`DatabaseInput.Name`, `TableInput.Name`). */
  private glueName(logicalId: string, input: 'DatabaseInput' | 'TableInput'): string {
    const resource = this.raw.get(logicalId) as RawResource;
    const at = propertyPath(logicalId);
    const block = this.record(at(input), resource.properties[input]);
    return this.string(at(input, 'Name'), this.value(at(input, 'Name'), block.Name));
  }

  private getAtt(logicalId: string, attribute: string, path: Path): string {
    const resource = this.raw.get(logicalId);
    if (resource === undefined) return this.fail(path, logicalId, 'Fn::GetAtt of an unknown resource');
    const known: Readonly<Record<string, readonly string[]>> = {
      'AWS::Kinesis::Stream': ['Arn'],
      'AWS::DynamoDB::Table': ['Arn'],
      'AWS::S3::Bucket': ['Arn'],
      'AWS::SQS::Queue': ['Arn', 'QueueName'],
      'AWS::Kinesis::StreamConsumer': ['ConsumerName'],
    };
    if (known[resource.type]?.includes(attribute) !== true) {
      return this.fail(path, `${logicalId}.${attribute}`, `is not known locally before deployment`);
    }
    return attribute === 'Arn' ? this.arn(logicalId) : this.name(logicalId);
  }

  /** Evaluates the CloudFormation functions in a property value. */
  private value(path: Path, value: unknown): unknown {
    return value === undefined ? undefined : evaluate(value, path, this.intrinsics);
  }

  private record(path: Path, value: unknown): Record<string, unknown> {
    if (!isRecord(value)) return this.fail(path, value, 'must be a map');
    return value;
  }

  private list(path: Path, value: unknown): unknown[] {
    if (!Array.isArray(value)) return this.fail(path, value, 'must be a list');
    return value;
  }

  private string(path: Path, value: unknown): string {
    if (typeof value !== 'string' || value === '')
      return this.fail(path, value, 'must be a non-empty string');
    return value;
  }

  private oneOf<T extends string>(path: Path, value: unknown, allowed: readonly T[]): T {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      return this.fail(path, value, `must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  private integer(path: Path, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return this.fail(path, value, `must be an integer from ${min} to ${max}`);
    }
    return value;
  }

  private fail(path: Path, value: unknown, reason: string): never {
    throw new StackDefinitionError(formatPath(path), value, reason, this.resolver.location(path));
  }
}

function propertyPath(logicalId: string) {
  return (...rest: (string | number)[]): Path => ['resources', 'Resources', logicalId, 'Properties', ...rest];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
