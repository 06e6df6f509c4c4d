import { TributaryError } from '../../shared/errors.ts';

/** A limit, fault plan or proxy option is out of range; the caller must fix it. */
export class LimitsOptionError extends TributaryError {
  readonly option: string;

  constructor(option: string, reason: string) {
    super('KINESIS_LIMITS_OPTION_INVALID', `kinesis-limits option ${option}: ${reason}`);
    this.option = option;
  }
}

/** The upstream emulator did not answer a call the proxy made on its own (ListShards). */
export class UpstreamError extends TributaryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('KINESIS_LIMITS_UPSTREAM', message, { retryable: true, ...options });
  }
}
