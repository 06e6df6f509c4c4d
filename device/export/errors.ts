import { type CodeOf, codeNames, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

/**
 * Codes of the Kinesis exporter. Those with class '' are status codes: an export's `lastError.code`
 * in the agent's and the MQTT status, and (the dead-letter reasons) a dead letter's `reason`. A
 * `lastError` may also carry the code of a log error or the AWS exception name of a failed call.
 */
export const ExportErrorCodes = errorCodes('device/export', {
  EXPORTER_STOPPED: {
    class: 'ExporterStoppedError',
    retryable: false,
    meaning: 'the exporter was stopped; nothing more is sent',
  },
  EXPORT_NOT_FOUND: {
    class: 'ExportNotFoundError',
    retryable: false,
    meaning: 'no Kinesis export is defined for the log stream',
  },
  LOG_READ_FAILED: {
    class: '',
    retryable: true,
    meaning: 'status: reading the log failed with an error that has no code of its own; retried after 1 s',
  },
  DEAD_LETTER_WRITE_FAILED: {
    class: '',
    retryable: true,
    meaning: 'status: appending to the dead-letter stream failed; retried after 1 s',
  },
  CHECKPOINT_FAILED: {
    class: '',
    retryable: true,
    meaning: "status: committing the export's checkpoint failed; retried at the next commit",
  },
  READ_BACK_FAILED: {
    class: '',
    retryable: false,
    meaning:
      'status: reading back at start what the previous run sent failed (no permission, throttled, unreachable); the records past the checkpoint are sent again',
  },
  MISSING_RESULT: {
    class: '',
    retryable: true,
    meaning:
      'status: PutRecords answered without a result (shard and sequence number, or an error code) for an entry; the entry is resent',
  },
  TOO_LARGE: {
    class: '',
    retryable: false,
    meaning: 'dead-letter reason: the record is over what one Kinesis record may carry',
  },
  INVALID_KEY: {
    class: '',
    retryable: false,
    meaning: 'dead-letter reason: the partition key or explicit hash key breaks a Kinesis rule',
  },
  NO_PARTITION_KEY: {
    class: '',
    retryable: false,
    meaning: 'dead-letter reason: no partition key can be taken from the record',
  },
  REJECTED_BY_KINESIS: {
    class: '',
    retryable: false,
    meaning: 'dead-letter reason: Kinesis refused the record itself (the detail has its error code)',
  },
  UNREADABLE_IN_LOG: {
    class: '',
    retryable: false,
    meaning: 'dead-letter reason: the record cannot be read back from the log (corrupt frame)',
  },
});
export type ExportErrorCode = CodeOf<typeof ExportErrorCodes>;
/** The exporter's codes by name, for status reports and dead letters. */
export const ExportStatusCode = codeNames(ExportErrorCodes);

/** Base of every error the Kinesis exporter raises on purpose; KinesisCallError carries AWS's code, so it widens `C`. */
export class ExportError<C extends string = ExportErrorCode> extends TributaryError<C> {}

/** The exporter was stopped; nothing more is sent. */
export class ExporterStoppedError extends ExportError {
  constructor() {
    super('EXPORTER_STOPPED', 'the Kinesis exporter is stopped');
  }
}

/** No export is configured for this log stream. */
export class ExportNotFoundError extends ExportError {
  readonly logStream: string;
  constructor(logStream: string) {
    super('EXPORT_NOT_FOUND', `no Kinesis export is defined for log stream ${JSON.stringify(logStream)}`);
    this.logStream = logStream;
  }
}

/** Why a PutRecords call (or a control-plane call) failed as a whole. */
export type FailureKind = 'unavailable' | 'throttled' | 'stream-missing' | 'invalid' | 'denied';

/**
 * A Kinesis call failed as a whole. Every kind but `invalid` is retried with backoff (the backlog
 * stays in the log); `invalid` isolates the request's entries until the offending record is found.
 */
export class KinesisCallError extends ExportError<string> {
  readonly kind: FailureKind;
  readonly operation: string;
  constructor(operation: string, kind: FailureKind, code: string, message: string, cause: unknown) {
    super(code, `${operation}: ${message}`, { retryable: kind !== 'invalid', cause });
    this.kind = kind;
    this.operation = operation;
  }
}
