import { TributaryError } from '../errors.ts';

/**
 * An AWS service answered a request with an error. `type` is the service's exception name
 * (`ProvisionedThroughputExceededException`, ...), `status` the HTTP status; network failures are
 * not wrapped and keep their `code` (ECONNREFUSED, ...).
 */
export class AwsServiceError extends TributaryError {
  readonly type: string;
  readonly status: number;
  /** Same shape as an SDK v3 service error, so code that reads SDK errors reads these too. */
  readonly $metadata: { readonly httpStatusCode: number };
  constructor(operation: string, type: string, status: number, message: string) {
    super(type, `${operation}: ${message}`, { retryable: status >= 500 || status === 429 });
    this.type = type;
    this.status = status;
    this.$metadata = { httpStatusCode: status };
  }
}
