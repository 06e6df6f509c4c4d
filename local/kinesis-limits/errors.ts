import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { type ConfigIssue, type ConfigIssues, describeIssue, TributaryError } from '../../shared/errors.ts';

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

/**
 * A limit, fault plan or proxy option is out of range; the caller must fix it. `option` and `value`
 * are the first problem; `issues` holds every problem found (the first included).
 */
export class LimitsOptionError extends KinesisLimitsError {
  readonly option: string;
  readonly value: unknown;
  readonly issues: ConfigIssues;

  constructor(
    option: string,
    value: unknown,
    reason: string,
    options: { cause?: unknown; also?: readonly ConfigIssue[] } = {},
  ) {
    const issues: ConfigIssues = [{ path: option, value, reason }, ...(options.also ?? [])];
    super(
      'KINESIS_LIMITS_OPTION_INVALID',
      `kinesis-limits option ${issues.map(describeIssue).join('; ')}`,
      options,
    );
    this.option = option;
    this.value = value;
    this.issues = issues;
  }
}

/** The `error` of parseOptions for this module: one LimitsOptionError naming every issue. */
export function limitsOptionError([first, ...rest]: ConfigIssues): LimitsOptionError {
  return new LimitsOptionError(first.path, first.value, first.reason, { also: rest });
}

/** The upstream emulator did not answer a call the proxy made on its own (ListShards). */
export class UpstreamError extends KinesisLimitsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('KINESIS_LIMITS_UPSTREAM', message, { retryable: true, ...options });
  }
}
