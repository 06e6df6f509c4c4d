import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { LocalCloudError } from '../errors.ts';

/** Codes of `tributary scale` (UpdateShardCount with AWS's checks made first). */
export const ScaleErrorCodes = errorCodes('local/scale', {
  SCALE_TOO_FAR: {
    class: 'ScaleRefusedError',
    retryable: false,
    meaning: 'a target above double or below half the open shards (use --stepwise)',
  },
  SCALE_STREAM_LIMIT: {
    class: 'ScaleRefusedError',
    retryable: false,
    meaning: 'a target over the shards one stream may have',
  },
  SCALE_ACCOUNT_QUOTA: {
    class: 'ScaleRefusedError',
    retryable: false,
    meaning: "a target over the account's shard quota (DescribeLimits)",
  },
  SCALE_BUSY: {
    class: 'ScaleRefusedError',
    retryable: true,
    meaning: 'the stream is not ACTIVE: another operation runs',
  },
  SCALE_ON_DEMAND: {
    class: 'ScaleRefusedError',
    retryable: false,
    meaning: 'an on-demand stream has no shard count to set',
  },
  SCALE_LIMIT: {
    class: 'ScaleRefusedError',
    retryable: true,
    meaning: "Kinesis's LimitExceededException: the per-day limit of reshards",
  },
  SCALE_NOT_FOUND: { class: 'ScaleRefusedError', retryable: false, meaning: 'no such stream' },
  SCALE_REJECTED: {
    class: 'ScaleRefusedError',
    retryable: false,
    meaning: 'Kinesis refused the request as invalid',
  },
  SCALE_TIMEOUT: {
    class: 'ScaleRefusedError',
    retryable: true,
    meaning: 'the stream did not become ACTIVE in time',
  },
  SCALE_FAILED: {
    class: 'ScaleRefusedError',
    retryable: true,
    meaning: 'any other failure of a Kinesis call',
  },
});
export type ScaleErrorCode = CodeOf<typeof ScaleErrorCodes>;

/** Base of every error `tributary scale` raises on purpose. */
export class ScaleError extends LocalCloudError<ScaleErrorCode> {}

/** A reshard AWS would refuse, refused here first (the limit is named), or Kinesis refused it; `code` says which. */
export class ScaleRefusedError extends ScaleError {
  readonly stream: string;

  constructor(
    code: ScaleErrorCode,
    stream: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, `${stream}: ${message}`, options);
    this.stream = stream;
  }
}
