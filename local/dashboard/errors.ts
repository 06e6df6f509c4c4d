import { TributaryError } from '../../shared/errors.ts';

/** Base of every error `tributary dashboard` raises on purpose. */
export class DashboardCommandError extends TributaryError {}

/** The command line is wrong; the message says how. */
export class DashboardUsageError extends DashboardCommandError {
  constructor(message: string) {
    super('DASHBOARD_USAGE', message);
  }
}

/**
 * The deployed read API cannot be found or reached: no such stack (DASHBOARD_STACK_NOT_FOUND), no
 * function URL among its outputs (DASHBOARD_URL_OUTPUT_MISSING), no AWS credentials
 * (DASHBOARD_NO_CREDENTIALS), or CloudFormation refused or failed (DASHBOARD_AWS_FAILED).
 */
export class RemoteDashboardError extends DashboardCommandError {
  readonly stackName: string;

  constructor(
    code:
      | 'DASHBOARD_STACK_NOT_FOUND'
      | 'DASHBOARD_URL_OUTPUT_MISSING'
      | 'DASHBOARD_NO_CREDENTIALS'
      | 'DASHBOARD_AWS_FAILED',
    stackName: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, `stack ${stackName}: ${message}`, options);
    this.stackName = stackName;
  }
}
