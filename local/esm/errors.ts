import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { LocalCloudError } from '../errors.ts';

/** Codes of the local event source mappings (Lambda's Kinesis poller, emulated). */
export const EsmErrorCodes = errorCodes('local/esm', {
  LOCAL_ESM_INVALID: {
    class: 'EventSourceMappingError',
    retryable: false,
    meaning: 'a mapping cannot start (unknown stream or consumer, no handler for the function)',
  },
  LOCAL_ESM_TIMEOUT: {
    class: 'InvocationTimeoutError',
    retryable: true,
    meaning: "an invocation ran past the function's timeout (a function error, as in Lambda)",
  },
  LOCAL_ESM_BAD_RESPONSE: {
    class: 'InvalidBatchResponseError',
    retryable: true,
    meaning: 'the handler returned a batchItemFailures entry Lambda would reject; the whole batch failed',
  },
});
export type EsmErrorCode = CodeOf<typeof EsmErrorCodes>;

/** The event source runner cannot start a mapping (unknown stream/consumer, no handler for a function). */
export class EventSourceMappingError extends LocalCloudError<EsmErrorCode> {
  readonly functionName: string;

  constructor(functionName: string, reason: string, options: { cause?: unknown } = {}) {
    super('LOCAL_ESM_INVALID', `event source mapping of function ${functionName}: ${reason}`, options);
    this.functionName = functionName;
  }
}

/** An invocation ran past the function's timeout; Lambda reports this as a function error. */
export class InvocationTimeoutError extends LocalCloudError<EsmErrorCode> {
  constructor(functionName: string, timeoutSeconds: number) {
    super('LOCAL_ESM_TIMEOUT', `${functionName} timed out after ${timeoutSeconds} s`, { retryable: true });
  }
}

/** The handler returned a batchItemFailures entry Lambda would reject; the whole batch counts as failed. */
export class InvalidBatchResponseError extends LocalCloudError<EsmErrorCode> {
  constructor(functionName: string, detail: string) {
    super('LOCAL_ESM_BAD_RESPONSE', `${functionName} returned an invalid partial batch response: ${detail}`, {
      retryable: true,
    });
  }
}
