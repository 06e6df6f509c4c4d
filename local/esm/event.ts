import type {
  Context,
  KinesisStreamEvent,
  KinesisStreamRecord,
  KinesisStreamRecordPayload,
} from 'aws-lambda';

/**
 * Lambda's Kinesis event, built from records read with SubscribeToShard. Field for field what the
 * event source mapping sends (see the Powertools KinesisDataStreamSchema, which the tests parse it with).
 */

/** A record as the runner holds it: the SubscribeToShard record plus where it came from. */
export interface ShardRecord {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
  /** ApproximateArrivalTimestamp, epoch ms. */
  arrivedAt: number;
  encryptionType?: string | undefined;
}

export interface EventSource {
  region: string;
  streamArn: string;
  /** The function's execution role (Lambda puts it in every record). */
  invokeIdentityArn: string;
}

/** The payload as Lambda sends it: @types/aws-lambda lacks `encryptionType`, which KMS streams' records carry. */
export interface KinesisEventPayload extends KinesisStreamRecordPayload {
  encryptionType?: 'KMS';
}

export interface KinesisEventRecord extends KinesisStreamRecord {
  kinesis: KinesisEventPayload;
}

export function kinesisEventRecord(record: ShardRecord, source: EventSource): KinesisEventRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
      data: Buffer.from(record.data).toString('base64'),
      // Seconds with millisecond precision, as Lambda sends it.
      approximateArrivalTimestamp: record.arrivedAt / 1000,
      // Present on every record of a KMS-encrypted stream, absent on an unencrypted one.
      ...(record.encryptionType === 'KMS' ? { encryptionType: 'KMS' as const } : {}),
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${record.shardId}:${record.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: source.invokeIdentityArn,
    awsRegion: source.region,
    eventSourceARN: source.streamArn,
  };
}

export function kinesisEvent(records: readonly ShardRecord[], source: EventSource): KinesisStreamEvent {
  return { Records: records.map((record) => kinesisEventRecord(record, source)) };
}

/** JSON size of one event record, to keep an invocation under Lambda's payload limit without building it twice. */
export function eventRecordBytes(record: ShardRecord, source: EventSource): number {
  const base64 = Math.ceil(record.data.byteLength / 3) * 4;
  return (
    base64 +
    2 * record.sequenceNumber.length +
    Buffer.byteLength(record.partitionKey) +
    record.shardId.length +
    source.invokeIdentityArn.length +
    source.streamArn.length +
    source.region.length +
    // Keys, fixed values and punctuation of one record object (encryptionType included).
    330
  );
}

/** A Lambda context for one local invocation. */
export function lambdaContext(options: {
  functionName: string;
  region: string;
  accountId: string;
  memoryLimitInMB: number;
  timeoutMs: number;
  requestId: string;
  /** Epoch ms; Date.now by default. */
  clock?: () => number;
}): Context {
  const clock = options.clock ?? Date.now;
  const deadline = clock() + options.timeoutMs;
  const arn = `arn:aws:lambda:${options.region}:${options.accountId}:function:${options.functionName}`;
  const unsupported = () => {
    throw new Error('the callback-style context methods are not supported; return a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: arn,
    memoryLimitInMB: String(options.memoryLimitInMB),
    awsRequestId: options.requestId,
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - clock()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
