import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

/** Codes of the Kinesis limits proxy (local/kinesis-limits). */
export const KinesisLimitsErrorCodes = errorCodes('local/kinesis-limits', {
  KINESIS_LIMITS_OPTION_INVALID: {
    class: 'LimitsOptionError',
    retryable: false,
    meaning: 'a limit, fault plan or proxy option is out of range',
  },
  KINESIS_LIMITS_UPSTREAM: {
    class: 'UpstreamError',
    retryable: true,
    meaning: 'the upstream emulator did not answer a call the proxy made on its own (ListShards)',
  },
});
export type KinesisLimitsErrorCode = CodeOf<typeof KinesisLimitsErrorCodes>;

/** Base of every error of the Kinesis limits proxy. */
export class KinesisLimitsError extends TributaryError<KinesisLimitsErrorCode> {}

/** A limit, fault plan or proxy option is out of range; the caller must fix it. */
export class LimitsOptionError extends KinesisLimitsError {
  readonly option: string;

  constructor(option: string, reason: string) {
    super('KINESIS_LIMITS_OPTION_INVALID', `kinesis-limits option ${option}: ${reason}`);
    this.option = option;
  }
}

/** The upstream emulator did not answer a call the proxy made on its own (ListShards). */
export class UpstreamError extends KinesisLimitsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('KINESIS_LIMITS_UPSTREAM', message, { retryable: true, ...options });
  }
}
