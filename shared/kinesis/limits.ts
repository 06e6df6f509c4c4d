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
