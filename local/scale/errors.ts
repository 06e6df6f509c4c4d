import { LocalCloudError } from '../errors.ts';

/** Base of every error `tributary scale` raises on purpose. */
export class ScaleError extends LocalCloudError {}

/** The command line is wrong; the message says how. */
export class ScaleUsageError extends ScaleError {
  constructor(message: string) {
    super('SCALE_USAGE', message);
  }
}

/**
 * A reshard AWS would refuse, refused here first (the limit is named), or Kinesis refused it. `code`:
 * SCALE_TOO_FAR (more than double or below half), SCALE_STREAM_LIMIT, SCALE_ACCOUNT_QUOTA,
 * SCALE_BUSY (not ACTIVE: another operation runs), SCALE_ON_DEMAND, SCALE_LIMIT (Kinesis's
 * LimitExceededException: the per-day limit), SCALE_NOT_FOUND, SCALE_TIMEOUT, SCALE_FAILED.
 */
export class ScaleRefusedError extends ScaleError {
  readonly stream: string;

  constructor(
    code: string,
    stream: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, `${stream}: ${message}`, options);
    this.stream = stream;
  }
}
