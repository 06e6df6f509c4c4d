import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type KeySchemaElement,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DecreaseStreamRetentionPeriodCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  IncreaseStreamRetentionPeriodCommand,
  type KinesisClient,
  RegisterStreamConsumerCommand,
  StartStreamEncryptionCommand,
} from '@aws-sdk/client-kinesis';
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  HeadBucketCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AwsClients } from '../../shared/aws/clients.ts';
import { LocalResourceError } from './errors.ts';
import type {
  DynamoTableResource,
  KeySchema,
  KinesisStreamResource,
  S3BucketResource,
  SqsQueueResource,
  StackDefinition,
  StackResource,
  StreamConsumerResource,
} from './stack.ts';

export interface ResourceStatus {
  readonly logicalId: string;
  readonly type: string;
  /** Stream/table/bucket/queue/consumer name; empty for resources that are not emulated. */
  readonly physicalName: string;
  readonly status: 'created' | 'exists' | 'skipped' | 'not-emulated';
  readonly detail?: string;
}

/** Which local services are running; a resource whose service has no endpoint is skipped. */
export interface LocalEndpoints {
  readonly kinesis?: string;
  readonly dynamodb?: string;
  readonly s3?: string;
  readonly sqs?: string;
}

export interface CreateOptions {
  /** Give up waiting for a stream, consumer or table to become ACTIVE after this long. Default 60 s. */
  readonly activeTimeoutMs?: number;
}

/**
 * Creates every supported resource of the stack against the local endpoints. Idempotent: a resource
 * that already exists is reported as `exists` (with any drift from the template in `detail`).
 * Results come back in template order; consumers are created after their stream.
 */
export async function createLocalResources(
  stack: StackDefinition,
  clients: AwsClients,
  endpoints: LocalEndpoints,
  options: CreateOptions = {},
): Promise<ResourceStatus[]> {
  const timeoutMs = options.activeTimeoutMs ?? 60_000;
  const results = new Map<string, ResourceStatus>();
  const pending: Promise<void>[] = [];
  const run = (resource: StackResource, action: () => Promise<ResourceStatus>) =>
    action().then((status) => {
      results.set(resource.logicalId, status);
    });

  const streams = stack.resources.filter((r): r is KinesisStreamResource => r.kind === 'kinesis-stream');
  const consumers = stack.resources.filter((r): r is StreamConsumerResource => r.kind === 'kinesis-consumer');
  if (endpoints.kinesis === undefined) {
    for (const resource of [...streams, ...consumers])
      results.set(resource.logicalId, skipped(resource, 'Kinesis'));
  } else {
    const kinesis = clients.kinesis();
    pending.push(
      (async () => {
        await Promise.all(streams.map((s) => run(s, () => createStream(kinesis, s, timeoutMs))));
        // Kinesis allows only a few consumer registrations in flight per stream: one at a time.
        for (const consumer of consumers)
          await run(consumer, () => createConsumer(kinesis, consumer, timeoutMs));
      })(),
    );
  }

  for (const resource of stack.resources) {
    switch (resource.kind) {
      case 'dynamodb-table':
        if (endpoints.dynamodb === undefined) results.set(resource.logicalId, skipped(resource, 'DynamoDB'));
        else pending.push(run(resource, () => createTable(clients.dynamodb(), resource, timeoutMs)));
        break;
      case 's3-bucket':
        if (endpoints.s3 === undefined) results.set(resource.logicalId, skipped(resource, 'S3'));
        else pending.push(run(resource, () => createBucket(clients.s3(), resource, stack.region)));
        break;
      case 'sqs-queue':
        if (endpoints.sqs === undefined) results.set(resource.logicalId, skipped(resource, 'SQS'));
        else pending.push(run(resource, () => createQueue(clients.sqs(), resource)));
        break;
      case 'firehose-delivery-stream':
        // Nothing to create: local/delivery runs it (startLakeDelivery) from these same settings.
        results.set(resource.logicalId, {
          logicalId: resource.logicalId,
          type: resource.type,
          physicalName: resource.name,
          status: 'skipped',
          detail: `delivered by the local delivery runner: ${resource.sourceStreamName} -> s3://${resource.bucketName}/${resource.prefix}`,
        });
        break;
      case 'not-emulated':
        results.set(resource.logicalId, {
          logicalId: resource.logicalId,
          type: resource.type,
          physicalName: '',
          status: 'not-emulated',
          detail: notEmulatedDetail(resource.type),
        });
        break;
      default:
        // Streams and consumers are handled above.
        break;
    }
  }

  const outcomes = await Promise.allSettled(pending);
  const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return stack.resources.map((resource) => results.get(resource.logicalId) as ResourceStatus);
}

/** One line per resource, e.g. `created      RecordsStream  AWS::Kinesis::Stream  tributary-dev-records  (2 shards)`. */
export function formatStatusLine(status: ResourceStatus): string {
  const name = status.physicalName === '' ? '' : `  ${status.physicalName}`;
  const detail = status.detail === undefined ? '' : `  (${status.detail})`;
  return `${status.status.padEnd(12)} ${status.logicalId}  ${status.type}${name}${detail}`;
}

/** Services the local cloud runs; their other resource types (bucket policies, ...) are just not applied. */
const EMULATED_SERVICES = new Set(['Kinesis', 'DynamoDB', 'S3', 'SQS']);

function notEmulatedDetail(type: string): string {
  const service = type.split('::')[1] ?? type;
  return EMULATED_SERVICES.has(service)
    ? `${type} is not applied locally`
    : `${service} is not emulated locally`;
}

function skipped(
  resource: Exclude<StackResource, { kind: 'not-emulated' }>,
  service: string,
): ResourceStatus {
  return {
    logicalId: resource.logicalId,
    type: resource.type,
    physicalName: resource.name,
    status: 'skipped',
    detail: `no local ${service}`,
  };
}

function status(
  resource: Exclude<StackResource, { kind: 'not-emulated' }>,
  created: boolean,
  notes: readonly (string | undefined)[],
): ResourceStatus {
  const all = [...notes];
  if (resource.ignoredLocally.length > 0) all.push(`ignored locally: ${resource.ignoredLocally.join(', ')}`);
  const detail = all.filter((note): note is string => note !== undefined && note !== '').join('; ');
  return {
    logicalId: resource.logicalId,
    type: resource.type,
    physicalName: resource.name,
    status: created ? 'created' : 'exists',
    ...(detail === '' ? {} : { detail }),
  };
}

function isNamed(error: unknown, ...names: string[]): boolean {
  return error instanceof Error && names.includes(error.name);
}

async function attempt<T>(resource: StackResource, action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof LocalResourceError) throw error;
    throw new LocalResourceError(resource.logicalId, resource.type, action, error);
  }
}

/** Polls until `probe` returns a value; emulators need from milliseconds to a few seconds. */
async function waitFor<T>(
  resource: StackResource,
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delayMs = 50;
  for (;;) {
    const value = await attempt(resource, `waiting for ${what}`, probe);
    if (value !== undefined) return value;
    if (Date.now() >= deadline) {
      const timeout = new Error(`not ${what} after ${timeoutMs} ms`);
      timeout.name = 'TimeoutError';
      throw new LocalResourceError(resource.logicalId, resource.type, `waiting for ${what}`, timeout);
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 500);
  }
}

const LOCAL_STREAM_KEY = 'alias/aws/kinesis';

async function createStream(
  kinesis: KinesisClient,
  stream: KinesisStreamResource,
  timeoutMs: number,
): Promise<ResourceStatus> {
  const created = await attempt(stream, 'CreateStream', async () => {
    try {
      await kinesis.send(
        new CreateStreamCommand({
          StreamName: stream.name,
          StreamModeDetails: { StreamMode: stream.mode },
          ...(stream.shardCount === undefined ? {} : { ShardCount: stream.shardCount }),
        }),
      );
      return true;
    } catch (error) {
      if (isNamed(error, 'ResourceInUseException')) return false;
      throw error;
    }
  });
  const summary = await waitFor(stream, 'ACTIVE', timeoutMs, async () => {
    const { StreamDescriptionSummary: s } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: stream.name }),
    );
    return s?.StreamStatus === 'ACTIVE' ? s : undefined;
  });

  const notes: string[] = [`${summary.OpenShardCount ?? '?'} shards`];
  if (!created && stream.shardCount !== undefined && summary.OpenShardCount !== stream.shardCount) {
    notes.push(`template says ${stream.shardCount} shards; existing stream left as is`);
  }
  const retention = summary.RetentionPeriodHours;
  if (retention !== undefined && retention !== stream.retentionHours) {
    const input = { StreamName: stream.name, RetentionPeriodHours: stream.retentionHours };
    await attempt(stream, 'set retention', () =>
      kinesis.send(
        retention < stream.retentionHours
          ? new IncreaseStreamRetentionPeriodCommand(input)
          : new DecreaseStreamRetentionPeriodCommand(input),
      ),
    );
    notes.push(`retention ${retention} h -> ${stream.retentionHours} h`);
    await waitFor(stream, 'ACTIVE after retention change', timeoutMs, async () => {
      const { StreamDescriptionSummary: s } = await kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: stream.name }),
      );
      return s?.StreamStatus === 'ACTIVE' ? true : undefined;
    });
  }
  if (stream.encryption === 'KMS' && summary.EncryptionType !== 'KMS') {
    // Records then carry EncryptionType KMS, as the stack's stream's do. The emulator has no KMS:
    // the key is a name only (the AWS-managed Kinesis key's alias).
    await attempt(stream, 'StartStreamEncryption', () =>
      kinesis.send(
        new StartStreamEncryptionCommand({
          StreamName: stream.name,
          EncryptionType: 'KMS',
          KeyId: LOCAL_STREAM_KEY,
        }),
      ),
    );
    notes.push('KMS-encrypted');
    await waitFor(stream, 'ACTIVE after encryption', timeoutMs, async () => {
      const { StreamDescriptionSummary: s } = await kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: stream.name }),
      );
      return s?.StreamStatus === 'ACTIVE' ? true : undefined;
    });
  }
  return status(stream, created, notes);
}

async function createConsumer(
  kinesis: KinesisClient,
  consumer: StreamConsumerResource,
  timeoutMs: number,
): Promise<ResourceStatus> {
  // The template's ARN uses the fake local account; ask the emulator for the ARN it actually uses.
  const summary = await attempt(consumer, `DescribeStreamSummary ${consumer.streamName}`, () =>
    kinesis.send(new DescribeStreamSummaryCommand({ StreamName: consumer.streamName })),
  );
  const streamArn = summary.StreamDescriptionSummary?.StreamARN;
  if (streamArn === undefined) {
    throw new LocalResourceError(
      consumer.logicalId,
      consumer.type,
      'DescribeStreamSummary',
      'no StreamARN returned',
    );
  }
  const created = await attempt(consumer, 'RegisterStreamConsumer', async () => {
    try {
      await kinesis.send(
        new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumer.name }),
      );
      return true;
    } catch (error) {
      if (isNamed(error, 'ResourceInUseException')) return false;
      throw error;
    }
  });
  await waitFor(consumer, 'ACTIVE', timeoutMs, async () => {
    const { ConsumerDescription: d } = await kinesis.send(
      new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumer.name }),
    );
    return d?.ConsumerStatus === 'ACTIVE' ? true : undefined;
  });
  return status(consumer, created, [`on ${consumer.streamName}`]);
}

function keySchema(keys: KeySchema): KeySchemaElement[] {
  const elements: KeySchemaElement[] = [{ AttributeName: keys.hash, KeyType: 'HASH' }];
  if (keys.range !== undefined) elements.push({ AttributeName: keys.range, KeyType: 'RANGE' });
  return elements;
}

async function createTable(
  dynamodb: DynamoDBClient,
  table: DynamoTableResource,
  timeoutMs: number,
): Promise<ResourceStatus> {
  const input: CreateTableCommandInput = {
    TableName: table.name,
    AttributeDefinitions: table.attributes.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
    KeySchema: keySchema(table.keys),
    BillingMode: table.billing.mode,
    ...(table.billing.mode === 'PROVISIONED'
      ? {
          ProvisionedThroughput: {
            ReadCapacityUnits: table.billing.throughput.read,
            WriteCapacityUnits: table.billing.throughput.write,
          },
        }
      : {}),
    ...(table.globalIndexes.length === 0
      ? {}
      : {
          GlobalSecondaryIndexes: table.globalIndexes.map((index) => ({
            IndexName: index.name,
            KeySchema: keySchema(index.keys),
            Projection: {
              ProjectionType: index.projection.type,
              ...(index.projection.nonKeyAttributes === undefined
                ? {}
                : { NonKeyAttributes: [...index.projection.nonKeyAttributes] }),
            },
            ...(index.throughput === undefined
              ? {}
              : {
                  ProvisionedThroughput: {
                    ReadCapacityUnits: index.throughput.read,
                    WriteCapacityUnits: index.throughput.write,
                  },
                }),
          })),
        }),
  };
  const created = await attempt(table, 'CreateTable', async () => {
    try {
      await dynamodb.send(new CreateTableCommand(input));
      return true;
    } catch (error) {
      if (isNamed(error, 'ResourceInUseException')) return false;
      throw error;
    }
  });
  await waitFor(table, 'ACTIVE', timeoutMs, async () => {
    const { Table: t } = await dynamodb.send(new DescribeTableCommand({ TableName: table.name }));
    return t?.TableStatus === 'ACTIVE' ? true : undefined;
  });

  const notes: string[] = [];
  if (table.ttlAttribute !== undefined) {
    const ttl = await attempt(table, 'DescribeTimeToLive', () =>
      dynamodb.send(new DescribeTimeToLiveCommand({ TableName: table.name })),
    );
    const current = ttl.TimeToLiveDescription;
    const enabled = current?.TimeToLiveStatus === 'ENABLED' || current?.TimeToLiveStatus === 'ENABLING';
    if (!enabled) {
      await attempt(table, 'UpdateTimeToLive', () =>
        dynamodb.send(
          new UpdateTimeToLiveCommand({
            TableName: table.name,
            TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
          }),
        ),
      );
      notes.push(`TTL on ${table.ttlAttribute}`);
    } else if (current?.AttributeName !== table.ttlAttribute) {
      notes.push(`TTL is on ${current?.AttributeName}, template says ${table.ttlAttribute}; left as is`);
    }
  }
  return status(table, created, notes);
}

async function createBucket(s3: S3Client, bucket: S3BucketResource, region: string): Promise<ResourceStatus> {
  const exists = await attempt(bucket, 'HeadBucket', async () => {
    try {
      await s3.send(new HeadBucketCommand({ Bucket: bucket.name }));
      return true;
    } catch (error) {
      if (isNamed(error, 'NotFound', 'NoSuchBucket')) return false;
      throw error;
    }
  });
  let created = false;
  if (!exists) {
    created = await attempt(bucket, 'CreateBucket', async () => {
      try {
        await s3.send(
          new CreateBucketCommand({
            Bucket: bucket.name,
            // us-east-1 is the one region that rejects an explicit LocationConstraint.
            ...(region === 'us-east-1'
              ? {}
              : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
          }),
        );
        return true;
      } catch (error) {
        if (isNamed(error, 'BucketAlreadyOwnedByYou', 'BucketAlreadyExists')) return false;
        throw error;
      }
    });
  }
  return status(bucket, created, []);
}

async function createQueue(sqs: SQSClient, queue: SqsQueueResource): Promise<ResourceStatus> {
  const exists = await attempt(queue, 'GetQueueUrl', async () => {
    try {
      await sqs.send(new GetQueueUrlCommand({ QueueName: queue.name }));
      return true;
    } catch (error) {
      if (isNamed(error, 'QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue')) return false;
      throw error;
    }
  });
  if (!exists) {
    await attempt(queue, 'CreateQueue', () =>
      sqs.send(new CreateQueueCommand({ QueueName: queue.name, Attributes: { ...queue.attributes } })),
    );
  }
  return status(queue, !exists, []);
}
