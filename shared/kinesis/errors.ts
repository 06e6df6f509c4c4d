import { type CodeOf, errorCodes } from '../error-codes.ts';
import { TributaryError } from '../errors.ts';

/** Codes of KPL aggregation (shared/kinesis/aggregation.ts). */
export const KinesisErrorCodes = errorCodes('shared/kinesis', {
  AGGREGATION_CORRUPT: {
    class: 'AggregationCorruptError',
    retryable: false,
    meaning:
      'an aggregated record whose body cannot be trusted (bad MD5, broken protobuf); `reason` says which',
  },
  AGGREGATION_INVALID_RECORD: {
    class: 'InvalidUserRecordError',
    retryable: false,
    meaning: 'a user record offered for aggregation breaks a Kinesis rule (partition key, explicit hash key)',
  },
  AGGREGATION_RECORD_TOO_LARGE: {
    class: 'AggregationRecordTooLargeError',
    retryable: false,
    meaning: "a user record that alone is over the aggregated record's byte budget",
  },
  AGGREGATION_EMPTY: {
    class: 'EmptyAggregationError',
    retryable: false,
    meaning: 'build() on a builder holding no records (a caller bug)',
  },
});
export type KinesisErrorCode = CodeOf<typeof KinesisErrorCodes>;

/** Base of every error of shared/kinesis. */
export class KinesisError extends TributaryError<KinesisErrorCode> {}

/** Why an aggregated Kinesis record could not be decoded. */
export type AggregationCorruptReason =
  | 'TRUNCATED'
  | 'CHECKSUM_MISMATCH'
  | 'MALFORMED_PROTOBUF'
  | 'MISSING_FIELD'
  | 'INDEX_OUT_OF_RANGE'
  | 'INVALID_UTF8'
  | 'INVALID_EXPLICIT_HASH_KEY';

/**
 * A Kinesis record starts with the KPL magic bytes but its body cannot be trusted (bad MD5,
 * broken protobuf, dangling key index). Never retryable: the same bytes fail the same way, so
 * the record belongs in a dead-letter destination, identified by `partitionKey`/`sequenceNumber`.
 */
export class AggregationCorruptError extends KinesisError {
  readonly reason: AggregationCorruptReason;
  readonly partitionKey: string;
  readonly sequenceNumber: string | undefined;

  constructor(
    reason: AggregationCorruptReason,
    detail: string,
    record: { partitionKey: string; sequenceNumber?: string | undefined },
    options: { cause?: unknown } = {},
  ) {
    const at = record.sequenceNumber === undefined ? '' : ` seq ${record.sequenceNumber}`;
    super(
      'AGGREGATION_CORRUPT',
      `aggregated record (key ${JSON.stringify(record.partitionKey)}${at}) is corrupt: ${reason}: ${detail}`,
      options,
    );
    this.reason = reason;
    this.partitionKey = record.partitionKey;
    this.sequenceNumber = record.sequenceNumber;
  }
}

/** A user record offered for aggregation breaks a Kinesis rule (partition key, explicit hash key). */
export class InvalidUserRecordError extends KinesisError {
  constructor(message: string) {
    super('AGGREGATION_INVALID_RECORD', message);
  }
}

/** A single user record is larger than the byte budget even on its own, so it can never be sent. */
export class AggregationRecordTooLargeError extends KinesisError {
  readonly bytes: number;
  readonly maxBytes: number;

  constructor(bytes: number, maxBytes: number) {
    super('AGGREGATION_RECORD_TOO_LARGE', `user record needs ${bytes} bytes, budget is ${maxBytes}`);
    this.bytes = bytes;
    this.maxBytes = maxBytes;
  }
}

/** `build()` was called on a builder holding no records: a caller bug, not a data problem. */
export class EmptyAggregationError extends KinesisError {
  constructor() {
    super('AGGREGATION_EMPTY', 'cannot build an aggregated record from zero user records');
  }
}
