import { TributaryError } from '../../shared/errors.ts';

/** Base of every error the Kinesis exporter raises on purpose. */
export class ExportError extends TributaryError {}

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
export class KinesisCallError extends ExportError {
  readonly kind: FailureKind;
  readonly operation: string;
  constructor(operation: string, kind: FailureKind, code: string, message: string, cause: unknown) {
    super(code, `${operation}: ${message}`, { retryable: kind !== 'invalid', cause });
    this.kind = kind;
    this.operation = operation;
  }
}
