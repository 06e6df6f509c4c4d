import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

/** Codes of `tributary dashboard` (the local page over the deployed read API). */
export const DashboardCommandErrorCodes = errorCodes('local/dashboard', {
  DASHBOARD_STACK_NOT_FOUND: {
    class: 'RemoteDashboardError',
    retryable: false,
    meaning: 'no such stack in this account and region',
  },
  DASHBOARD_URL_OUTPUT_MISSING: {
    class: 'RemoteDashboardError',
    retryable: false,
    meaning:
      "the stack's outputs have no usable function URL of the read API (missing, not a URL, not https)",
  },
  DASHBOARD_NO_CREDENTIALS: {
    class: 'RemoteDashboardError',
    retryable: false,
    meaning: 'no AWS credentials found',
  },
  DASHBOARD_AWS_FAILED: {
    class: 'RemoteDashboardError',
    retryable: true,
    meaning: 'CloudFormation refused or failed the call',
  },
  UPSTREAM_UNREACHABLE: {
    class: '',
    retryable: true,
    http: 502,
    meaning: "the page's signing proxy got no answer from the deployed read API",
  },
});
export type DashboardCommandErrorCode = CodeOf<typeof DashboardCommandErrorCodes>;

/** Base of every error `tributary dashboard` raises on purpose. */
export class DashboardCommandError extends TributaryError<DashboardCommandErrorCode> {}

/** The deployed read API cannot be found or reached; the code says why. */
export class RemoteDashboardError extends DashboardCommandError {
  readonly stackName: string;

  constructor(
    code: Exclude<DashboardCommandErrorCode, 'UPSTREAM_UNREACHABLE'>,
    stackName: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, `stack ${stackName}: ${message}`, options);
    this.stackName = stackName;
  }
}
