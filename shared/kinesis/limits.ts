/**
 * AWS limits of the streaming path (Kinesis Data Streams, the Lambda event source mapping reading it,
 * Firehose delivering it), in one place. Every other module imports from here.
 * Kinesis source: https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html
 */

const MiB = 1024 * 1024;

/** Per-shard write throughput: 1 MiB/s (data + partition key bytes). Same doc, "Data write throughput". */
export const SHARD_WRITE_BYTES_PER_SECOND = 1 * MiB;

/** Per-shard write rate: 1,000 records/s. Same doc. */
export const SHARD_WRITE_RECORDS_PER_SECOND = 1000;

/** Per-shard read throughput shared by polling consumers, and per EFO consumer: 2 MiB/s. Same doc. */
export const SHARD_READ_BYTES_PER_SECOND = 2 * MiB;

/**
 * GetRecords: up to 5 calls per second per shard (shared by every polling consumer of the shard),
 * each returning at most 10,000 records and 10 MiB.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html
 */
export const GET_RECORDS_CALLS_PER_SECOND = 5;
export const GET_RECORDS_MAX_RECORDS = 10_000;

/**
 * PutRecords: at most 500 records per request.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
 */
export const PUT_RECORDS_MAX_RECORDS = 500;

/** PutRecords: at most 5 MiB per request, counting data and partition keys. Same API page. */
export const PUT_RECORDS_MAX_BYTES = 5 * MiB;

/**
 * Default maximum size of one record's data blob plus partition key: 1 MiB. A stream's
 * MaxRecordSize can be raised up to 10 MiB; see the limits page above.
 */
export const DEFAULT_MAX_RECORD_BYTES = 1 * MiB;

/** Upper bound for a stream's raised MaxRecordSize. Same limits page. */
export const MAX_RECORD_BYTES_CEILING = 10 * MiB;

/**
 * Partition keys are 1 to 256 Unicode characters; MD5 maps them to a 128-bit hash key.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecordsRequestEntry.html
 */
export const PARTITION_KEY_MIN_CHARS = 1;
export const PARTITION_KEY_MAX_CHARS = 256;

/** ExplicitHashKey is a decimal in [0, 2^128 - 1]. Same API page. */
export const HASH_KEY_MAX = (1n << 128n) - 1n;

/**
 * Retention: 24 hours by default, raisable to 8760 hours (365 days).
 * https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html
 */
export const RETENTION_HOURS_DEFAULT = 24;
export const RETENTION_HOURS_MAX = 8760;

/** Enhanced fan-out: up to 20 registered consumers per stream. Limits page above. */
export const EFO_MAX_CONSUMERS_PER_STREAM = 20;

/**
 * SubscribeToShard: a subscription pushes events for up to 5 minutes, then the consumer subscribes
 * again. A second call for the same consumer and shard within 5 seconds of a successful one fails
 * with ResourceInUseException; 5 seconds or more after it, the new call takes over and the previous
 * connection fails with ResourceInUseException.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_SubscribeToShard.html
 */
export const EFO_SUBSCRIPTION_LIFETIME_MS = 5 * 60_000;
export const EFO_SUBSCRIBE_TAKEOVER_MS = 5_000;

/**
 * Enhanced fan-out message propagation delay (PutRecords to the consumer): typically an average of
 * 70 ms, whether one consumer or five (shared-throughput polling: around 200 ms with one consumer,
 * around 1000 ms with five). Table "Differences between shared throughput consumer and enhanced fan-out
 * consumer", https://docs.aws.amazon.com/streams/latest/dev/enhanced-consumers.html
 */
export const EFO_PROPAGATION_DELAY_MS = 70;

/**
 * Lambda Kinesis event source mapping: BatchSize 1..10,000; ParallelizationFactor 1..10.
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 */
export const ESM_MAX_BATCH_SIZE = 10_000;
export const ESM_MAX_PARALLELIZATION_FACTOR = 10;

/**
 * Event source mapping retries and record age: MaximumRetryAttempts -1 (infinite) or 0..10,000;
 * MaximumRecordAgeInSeconds -1 (infinite) or 60..604,800; MaximumBatchingWindowInSeconds 0..300.
 * https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
 */
export const ESM_MAX_RETRY_ATTEMPTS = 10_000;
export const ESM_MIN_RECORD_AGE_SECONDS = 60;
export const ESM_MAX_RECORD_AGE_SECONDS = 604_800;
export const ESM_MAX_BATCHING_WINDOW_SECONDS = 300;

/**
 * Lambda invocation payload (request) limit for synchronous invokes, which the Kinesis event source
 * mapping uses: 6 MB. A batch stops growing before its event would exceed it.
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
export const ESM_MAX_EVENT_BYTES = 6 * 1024 * 1024;

/**
 * Firehose buffering hints: 1–128 MiB and 0–900 s; record format conversion needs ≥ 64 MiB and
 * dynamic partitioning ≥ 60 s.
 * https://docs.aws.amazon.com/firehose/latest/APIReference/API_BufferingHints.html
 * https://docs.aws.amazon.com/firehose/latest/dev/buffering.html
 */
export const FIREHOSE_BUFFER_MIN_MIB = 1;
export const FIREHOSE_BUFFER_MAX_MIB = 128;
export const FIREHOSE_INTERVAL_MAX_SECONDS = 900;
export const FIREHOSE_MIN_CONVERSION_BUFFER_BYTES = 64 * MiB;
export const FIREHOSE_MIN_PARTITIONING_INTERVAL_MS = 60_000;

/**
 * Firehose's Lambda processor batches (ProcessorParameter BufferSizeInMBs 0.2-3, default 1;
 * BufferIntervalInSeconds 0-900, default 60; NumberOfRetries default 3):
 * https://docs.aws.amazon.com/firehose/latest/APIReference/API_ProcessorParameter.html
 * https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html
 */
export const FIREHOSE_PROCESSOR_BUFFER_MIN_MB = 0.2;
export const FIREHOSE_PROCESSOR_BUFFER_MAX_MB = 3;
export const FIREHOSE_PROCESSOR_BUFFER_DEFAULT_MB = 1;
export const FIREHOSE_PROCESSOR_INTERVAL_DEFAULT_SECONDS = 60;
export const FIREHOSE_PROCESSOR_RETRIES_DEFAULT = 3;

/** Lambda's payload limit for a synchronous invocation's request and response, 6 MB each:
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html */
export const LAMBDA_SYNC_PAYLOAD_MAX_BYTES = 6 * 1024 * 1024;

/** A Lambda function's timeout: 1 to 900 seconds (15 minutes):
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

/**
 * UpdateShardCount's default limits: at most ten scaling operations per rolling 24 hours per stream, a
 * target of at most double and at least half the current open shards, at most 10,000 shards per
 * stream (a stream above 10,000 scales down only to below 10,000), and within the account's shard quota.
 * The stream must be ACTIVE (UPDATING means an operation is under way: ResourceInUseException).
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_UpdateShardCount.html
 */
export const UPDATE_SHARD_COUNT_MAX_PER_DAY = 10;
export const UPDATE_SHARD_COUNT_MAX_FACTOR = 2;
export const UPDATE_SHARD_COUNT_MAX_SHARDS = 10_000;

/**
 * Default shard quota per account and Region: 20,000 in us-east-1, us-west-2 and eu-west-1; 1,000 or
 * 6,000 elsewhere (the lower is assumed for planning). Raisable through Service Quotas.
 * https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html
 */
export const ACCOUNT_SHARD_QUOTA_LARGE_REGIONS: readonly string[] = ['us-east-1', 'us-west-2', 'eu-west-1'];
export const ACCOUNT_SHARD_QUOTA_LARGE = 20_000;
export const ACCOUNT_SHARD_QUOTA_OTHER = 1_000;

/**
 * A PUT payload unit, what provisioned-mode PUTs are billed by: each record counts in 25 KB chunks
 * (a 5 KB record is one unit, a 45 KB record two). https://aws.amazon.com/kinesis/data-streams/pricing/
 */
export const PUT_PAYLOAD_UNIT_BYTES = 25 * 1024;

/**
 * Managed Service for Apache Flink: one KPU is 1 vCPU and 4 GB; KPUs = Parallelism / ParallelismPerKPU,
 * Parallelism 1..256 by default, ParallelismPerKPU 1..8, 64 KPUs per application by default, and one
 * more KPU per application is billed for orchestration.
 * https://docs.aws.amazon.com/managed-flink/latest/java/how-scaling.html
 * https://docs.aws.amazon.com/managed-flink/latest/java/how-resources.html
 */
export const FLINK_MAX_PARALLELISM = 256;
export const FLINK_MAX_PARALLELISM_PER_KPU = 8;
export const FLINK_MAX_KPUS_PER_APPLICATION = 64;
export const FLINK_ORCHESTRATION_KPUS = 1;

/**
 * DynamoDB on-demand: a standard write request unit writes an item of up to 1 KB; larger items take one
 * unit per started KB (a conditional write that fails still consumes them).
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/capacity-mode.html
 */
export const DYNAMODB_WRITE_UNIT_BYTES = 1024;

/** Lambda's default concurrent executions per account and Region: 1,000 (a quota that can be raised).
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html */
export const LAMBDA_DEFAULT_CONCURRENCY = 1000;
