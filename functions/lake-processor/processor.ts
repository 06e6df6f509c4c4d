import type { FirehoseTransformationResultRecord } from 'aws-lambda';
import { decodeRecord } from '../../shared/contract/codec.ts';
import {
  ContractError,
  type ContractErrorCode,
  RecordValidationError,
} from '../../shared/contract/errors.ts';
import { deaggregate, isAggregated } from '../../shared/kinesis/aggregation.ts';
import { AggregationCorruptError, type KinesisErrorCode } from '../../shared/kinesis/errors.ts';
import { partitionValues } from '../../shared/lake/table.ts';

/**
 * The lake's Firehose data-transformation processor, without Lambda around it: the record contract
 * decides what enters the lake. A valid record comes back `Ok`, re-serialised as the contract decoded
 * it (compatible mode: a newer producer's extra fields are dropped, so the Parquet conversion sees
 * exactly what was validated) with the dynamic-partitioning keys in `metadata.partitionKeys`
 * (https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning-partitioning-keys.html).
 * An invalid one comes back `ProcessingFailed` with its original bytes, so Firehose writes it under
 * the `processing-failed` error output
 * (https://docs.aws.amazon.com/firehose/latest/dev/data-transformation-failure-handling.html).
 * Firehose's error document carries no reason from the function, so the reason is returned here for
 * the handler to log, and `verdictOf` derives it again from an error document's rawData.
 *
 * The deployed handler (handler.ts) and the local delivery (local/delivery) both call `transformRecords`.
 */

/** One record of a Firehose transformation event, as far as the processor reads it. */
export interface TransformInput {
  readonly recordId: string;
  /** Base64, as Firehose sends it. */
  readonly data: string;
}

/** Why a record was refused: the contract's code, the offending field and every issue. */
export interface Rejection {
  readonly recordId: string;
  /** RECORD_INVALID, RECORD_MALFORMED or AGGREGATION_CORRUPT. */
  readonly code: string;
  /** Dotted path of the first offending field, '' for the whole record. */
  readonly path: string;
  readonly reason: string;
}

export interface TransformOutput {
  /** One per input record, same order and ids: Firehose treats a missing id as a failed transformation. */
  readonly records: FirehoseTransformationResultRecord[];
  readonly rejected: Rejection[];
}

export function transformRecords(records: readonly TransformInput[]): TransformOutput {
  const out: FirehoseTransformationResultRecord[] = [];
  const rejected: Rejection[] = [];
  for (const { recordId, data } of records) {
    const verdict = verdictOf(data, recordId);
    if (verdict.valid) {
      out.push({
        recordId,
        result: 'Ok',
        data: Buffer.from(JSON.stringify(verdict.record), 'utf8').toString('base64'),
        metadata: { partitionKeys: { ...partitionValues(verdict.record) } },
      });
    } else {
      out.push({ recordId, result: 'ProcessingFailed', data });
      rejected.push(verdict.rejection);
    }
  }
  return { records: out, rejected };
}

type Verdict =
  | { valid: true; record: ReturnType<typeof decodeRecord> }
  | { valid: false; rejection: Rejection };

/**
 * The contract's verdict on one record's base64 data. Only contract errors make a record invalid;
 * anything else is a bug and propagates, so Firehose retries the invocation instead of filing good
 * data as bad.
 */
export function verdictOf(data: string, recordId = ''): Verdict {
  const bytes = Buffer.from(data, 'base64');
  try {
    if (isAggregated(bytes)) {
      // Firehose deaggregates KPL records before invoking the function; one that still arrives
      // aggregated failed deaggregation. Say why instead of "not valid UTF-8".
      deaggregate(bytes, { partitionKey: '' });
      return reject(recordId, 'AGGREGATION_CORRUPT', '', 'a KPL aggregate reached the processor whole');
    }
    return { valid: true, record: decodeRecord(bytes, 'compatible') };
  } catch (error) {
    if (error instanceof ContractError) return reject(recordId, error.code, error.path, reasonOf(error));
    if (error instanceof AggregationCorruptError) return reject(recordId, error.code, '', error.message);
    throw error;
  }
}

function reject(
  recordId: string,
  code: ContractErrorCode | KinesisErrorCode,
  path: string,
  reason: string,
): Verdict {
  return { valid: false, rejection: { recordId, code, path, reason } };
}

/** Every field at fault, not just the first: the error listing is where an operator looks. */
export function reasonOf(error: ContractError): string {
  if (error instanceof RecordValidationError && error.issues.length > 1) {
    return `${error.message}; ${error.issues.map((issue) => `${issue.path || '<root>'}: ${issue.message}`).join('; ')}`;
  }
  return error.message;
}
