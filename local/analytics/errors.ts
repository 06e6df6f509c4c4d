import { TributaryError } from '../../shared/errors.ts';

/** Base of every error the analytics control command and launcher raise on purpose. */
export class AnalyticsError extends TributaryError {}

/** The command line is wrong; the message says how. */
export class AnalyticsUsageError extends AnalyticsError {
  constructor(message: string) {
    super('ANALYTICS_USAGE', message);
  }
}

/** A Managed Flink API call failed; `operation` and `application` say which, the message why. */
export class AnalyticsControlError extends AnalyticsError {
  readonly operation: string;
  readonly application: string;

  constructor(
    code: string,
    operation: string,
    application: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, `${operation} ${application}: ${message}`, options);
    this.operation = operation;
    this.application = application;
  }
}
