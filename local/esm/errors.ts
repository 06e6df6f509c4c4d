import { LocalCloudError } from '../errors.ts';

/** The event source runner cannot start a mapping (unknown stream/consumer, no handler for a function). */
export class EventSourceMappingError extends LocalCloudError {
  readonly functionName: string;

  constructor(functionName: string, reason: string, options: { cause?: unknown } = {}) {
    super('LOCAL_ESM_INVALID', `event source mapping of function ${functionName}: ${reason}`, options);
    this.functionName = functionName;
  }
}

/** An invocation ran past the function's timeout; Lambda reports this as a function error. */
export class InvocationTimeoutError extends LocalCloudError {
  constructor(functionName: string, timeoutSeconds: number) {
    super('LOCAL_ESM_TIMEOUT', `${functionName} timed out after ${timeoutSeconds} s`, { retryable: true });
  }
}

/** The handler returned a batchItemFailures entry Lambda would reject; the whole batch counts as failed. */
export class InvalidBatchResponseError extends LocalCloudError {
  constructor(functionName: string, detail: string) {
    super('LOCAL_ESM_BAD_RESPONSE', `${functionName} returned an invalid partial batch response: ${detail}`, {
      retryable: true,
    });
  }
}
