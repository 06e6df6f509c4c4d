import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

/** Codes of `tributary analytics` (Managed Flink control) and the local Flink launcher. */
export const AnalyticsErrorCodes = errorCodes('local/analytics', {
  ANALYTICS_NOT_FOUND: {
    class: 'AnalyticsControlError',
    retryable: false,
    meaning:
      'no such Managed Flink application in the region (deploy the stack, or pass --app/--stage/--region)',
  },
  ANALYTICS_BUSY: {
    class: 'AnalyticsControlError',
    retryable: true,
    meaning: 'the application is busy with another operation',
  },
  ANALYTICS_REJECTED: {
    class: 'AnalyticsControlError',
    retryable: false,
    meaning: 'Managed Flink refused the request as invalid (configuration, argument)',
  },
  ANALYTICS_CONCURRENT_UPDATE: {
    class: 'AnalyticsControlError',
    retryable: true,
    meaning: 'the application changed meanwhile',
  },
  ANALYTICS_NO_CREDENTIALS: {
    class: 'AnalyticsControlError',
    retryable: false,
    meaning: 'no AWS credentials found',
  },
  ANALYTICS_NOT_READY: {
    class: 'AnalyticsControlError',
    retryable: true,
    meaning: 'start asked of an application that is not READY',
  },
  ANALYTICS_FAILED: {
    class: 'AnalyticsControlError',
    retryable: 'varies',
    meaning: 'any other failure of a Managed Flink call',
  },
  ANALYTICS_BUILD_FAILED: {
    class: 'AnalyticsBuildError',
    retryable: false,
    meaning: 'building analytics/ with Maven failed (the local launcher)',
  },
});
export type AnalyticsErrorCode = CodeOf<typeof AnalyticsErrorCodes>;

/** Base of every error the analytics control command and launcher raise on purpose. */
export class AnalyticsError extends TributaryError<AnalyticsErrorCode> {}

/** A Managed Flink API call failed; `operation` and `application` say which, the message why. */
export class AnalyticsControlError extends AnalyticsError {
  readonly operation: string;
  readonly application: string;

  constructor(
    code: Exclude<AnalyticsErrorCode, 'ANALYTICS_BUILD_FAILED'>,
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

/** Building the Flink job (analytics/) with Maven failed; the message has the tail of its output. */
export class AnalyticsBuildError extends AnalyticsError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('ANALYTICS_BUILD_FAILED', `building analytics/ with Maven failed: ${detail}`, options);
  }
}
