import { TributaryError } from '../../shared/errors.ts';

/**
 * Stream manager's response status codes (the SDKs' `ResponseStatusCode`), as sent on the wire. A
 * refused request is answered with one of these, and the SDK raises the matching exception.
 */
export const ResponseStatus = {
  Success: 0,
  UnknownFailure: 1,
  Unauthorized: 2,
  InvalidRequest: 3,
  RequestPayloadTooLarge: 4,
  ResourceNotFound: 5,
  ServerTimeout: 6,
  ResponsePayloadTooLarge: 7,
  UnsupportedConnectVersion: 8,
  UnexpectedOperation: 9,
  UnsupportedProtocolVersion: 10,
  InvalidProtocolVersion: 11,
  FailedToConnect: 12,
  NotEnoughMessages: 13,
  MessageStoreReadError: 14,
  OutOfMemoryError: 15,
  UpdateFailed: 16,
  UpdateNotAllowed: 17,
  UnknownOperation: 18,
} as const;
export type ResponseStatusName = keyof typeof ResponseStatus;

/** The closed set of codes this module raises; each answers with one wire status. */
export const SM_ERROR_CODES = {
  SM_INVALID_REQUEST: 'InvalidRequest',
  SM_STREAM_NOT_FOUND: 'ResourceNotFound',
  SM_STREAM_EXISTS: 'InvalidRequest',
  SM_STREAM_FULL: 'InvalidRequest',
  SM_PAYLOAD_TOO_LARGE: 'RequestPayloadTooLarge',
  SM_RESPONSE_TOO_LARGE: 'ResponsePayloadTooLarge',
  SM_NOT_ENOUGH_MESSAGES: 'NotEnoughMessages',
  SM_UPDATE_NOT_ALLOWED: 'UpdateNotAllowed',
  SM_UPDATE_FAILED: 'UpdateFailed',
  SM_EXPORT_UNSUPPORTED: 'InvalidRequest',
  SM_READ_FAILED: 'MessageStoreReadError',
  SM_UNAUTHORIZED: 'Unauthorized',
  SM_UNSUPPORTED_CONNECT_VERSION: 'UnsupportedConnectVersion',
  SM_UNSUPPORTED_PROTOCOL_VERSION: 'UnsupportedProtocolVersion',
  SM_UNKNOWN_OPERATION: 'UnknownOperation',
  SM_UNEXPECTED_OPERATION: 'UnexpectedOperation',
  SM_FRAME_MALFORMED: 'InvalidRequest',
  SM_FAILURE: 'UnknownFailure',
} as const satisfies Record<string, ResponseStatusName>;
export type SmErrorCode = keyof typeof SM_ERROR_CODES;

/** Base of every error of the stream manager door; `status` is what the SDK is answered. */
export class StreamManagerError extends TributaryError {
  declare readonly code: SmErrorCode;
  /** The request field at fault (`definition.exportDefinition.kinesis[0].batchSize`), when one is. */
  readonly path: string | undefined;

  constructor(
    code: SmErrorCode,
    message: string,
    options: { path?: string; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.path = options.path;
  }

  get status(): number {
    return ResponseStatus[SM_ERROR_CODES[this.code]];
  }
}

export class InvalidRequestError extends StreamManagerError {
  constructor(path: string, reason: string) {
    super('SM_INVALID_REQUEST', `${path || 'request'} ${reason}`, { path });
  }
}

export class SmStreamNotFoundError extends StreamManagerError {
  constructor(stream: string) {
    super('SM_STREAM_NOT_FOUND', `stream ${JSON.stringify(stream)} does not exist`, { path: 'name' });
  }
}

export class SmStreamExistsError extends StreamManagerError {
  constructor(stream: string) {
    super('SM_STREAM_EXISTS', `stream ${JSON.stringify(stream)} already exists`, { path: 'definition.name' });
  }
}

export class SmStreamFullError extends StreamManagerError {
  constructor(message: string, cause: unknown) {
    super('SM_STREAM_FULL', message, { retryable: true, cause });
  }
}

export class PayloadTooLargeError extends StreamManagerError {
  constructor(message: string) {
    super('SM_PAYLOAD_TOO_LARGE', message, { path: 'payload' });
  }
}

export class ResponseTooLargeError extends StreamManagerError {
  constructor(message: string) {
    super('SM_RESPONSE_TOO_LARGE', message, { path: 'readMessagesOptions.minMessageCount' });
  }
}

export class NotEnoughMessagesError extends StreamManagerError {
  constructor(message: string) {
    super('SM_NOT_ENOUGH_MESSAGES', message, { retryable: true });
  }
}

export class UpdateNotAllowedError extends StreamManagerError {
  constructor(path: string, reason: string) {
    super('SM_UPDATE_NOT_ALLOWED', `${path} ${reason}`, { path });
  }
}

export class UpdateFailedError extends StreamManagerError {
  constructor(message: string, cause: unknown) {
    super('SM_UPDATE_FAILED', message, { cause });
  }
}

/** An export the agent does not run (IoT Analytics, HTTP); the message says what to use instead. */
export class ExportUnsupportedError extends StreamManagerError {
  constructor(path: string, reason: string) {
    super('SM_EXPORT_UNSUPPORTED', `${path} ${reason}`, { path });
  }
}

export class MessageStoreReadError extends StreamManagerError {
  constructor(message: string, cause: unknown) {
    super('SM_READ_FAILED', message, { retryable: true, cause });
  }
}

export class UnknownOperationError extends StreamManagerError {
  constructor(operation: number) {
    super('SM_UNKNOWN_OPERATION', `operation ${operation} is not a stream manager request`);
  }
}

export class FrameMalformedError extends StreamManagerError {
  constructor(reason: string) {
    super('SM_FRAME_MALFORMED', `frame ${reason}`);
  }
}

/** Anything else that went wrong while serving a request (a failed write, the agent stopping). */
export class SmFailureError extends StreamManagerError {
  constructor(message: string, cause: unknown, retryable = false) {
    super('SM_FAILURE', message, { cause, retryable });
  }
}
