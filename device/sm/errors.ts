import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
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

/**
 * Codes of the stream manager door. Each is answered with one wire status (SM_WIRE_STATUS), which the
 * SDK raises as its exception; those with class '' are handshake refusals, answered in the
 * ConnectResponse before the connection closes (the SDK raises ConnectFailedException).
 */
export const SmErrorCodes = errorCodes('device/sm', {
  SM_INVALID_REQUEST: {
    class: 'InvalidRequestError',
    retryable: false,
    meaning:
      'InvalidRequest: a request field is out of bounds or unknown (the message names its path and value)',
  },
  SM_STREAM_NOT_FOUND: {
    class: 'SmStreamNotFoundError',
    retryable: false,
    meaning: 'ResourceNotFound: no stream of that name',
  },
  SM_STREAM_EXISTS: {
    class: 'SmStreamExistsError',
    retryable: false,
    meaning: 'InvalidRequest: CreateMessageStream of a name that exists',
  },
  SM_STREAM_FULL: {
    class: 'SmStreamFullError',
    retryable: true,
    meaning: 'InvalidRequest: an append to a RejectNewData stream at its maxSize',
  },
  SM_PAYLOAD_TOO_LARGE: {
    class: 'PayloadTooLargeError',
    retryable: false,
    meaning: "RequestPayloadTooLarge: a message over the stream's record limit, or a frame over the agent's",
  },
  SM_RESPONSE_TOO_LARGE: {
    class: 'ResponseTooLargeError',
    retryable: false,
    meaning: 'ResponsePayloadTooLarge: minMessageCount messages exceed the 4 MiB answer limit',
  },
  SM_NOT_ENOUGH_MESSAGES: {
    class: 'NotEnoughMessagesError',
    retryable: true,
    meaning: 'NotEnoughMessages: fewer than minMessageCount messages after readTimeoutMillis',
  },
  SM_UPDATE_NOT_ALLOWED: {
    class: 'UpdateNotAllowedError',
    retryable: false,
    meaning: "UpdateNotAllowed: changing persistence, or updating a stream of the agent's config file",
  },
  SM_UPDATE_FAILED: {
    class: 'UpdateFailedError',
    retryable: false,
    meaning: 'UpdateFailed: the new definition could not be applied to the log',
  },
  SM_EXPORT_UNSUPPORTED: {
    class: 'ExportUnsupportedError',
    retryable: false,
    meaning: 'InvalidRequest: an IoT Analytics or HTTP export (the message says what to use instead)',
  },
  SM_READ_FAILED: {
    class: 'MessageStoreReadError',
    retryable: true,
    meaning: 'MessageStoreReadError: the log could not be read (a damaged segment)',
  },
  SM_UNAUTHORIZED: {
    class: '',
    retryable: false,
    meaning: 'connect refusal Unauthorized: authToken missing or not the agent token',
  },
  SM_UNSUPPORTED_CONNECT_VERSION: {
    class: '',
    retryable: false,
    meaning: 'connect refusal UnsupportedConnectVersion: the first byte is not connect version 1',
  },
  SM_UNSUPPORTED_PROTOCOL_VERSION: {
    class: '',
    retryable: false,
    meaning:
      'connect refusal UnsupportedProtocolVersion: no protocol version in common (the agent speaks 1.1.0, 1.0.0)',
  },
  SM_UNEXPECTED_OPERATION: {
    class: '',
    retryable: false,
    meaning: 'connect refusal UnexpectedOperation: the first frame is not Connect',
  },
  SM_UNKNOWN_OPERATION: {
    class: 'UnknownOperationError',
    retryable: false,
    meaning: 'UnknownOperation: an operation code the agent does not know',
  },
  SM_FRAME_MALFORMED: {
    class: 'FrameMalformedError',
    retryable: false,
    meaning: 'InvalidRequest: a frame that is not one CBOR item, or a length below 1',
  },
  SM_S3_KEY_PATTERN: {
    class: 'S3KeyPatternError',
    retryable: false,
    meaning:
      "S3 export task failure (status stream, Describe's errorMessage): the key's !{…} placeholder is not !{timestamp:<DateTimeFormatter pattern>} the agent formats",
  },
  SM_FAILURE: {
    class: 'SmFailureError',
    retryable: 'varies',
    meaning: 'UnknownFailure: the agent is stopping, the disk is full, a write failed',
  },
});
export type SmErrorCode = CodeOf<typeof SmErrorCodes>;

/** The wire status each code is answered with. */
export const SM_WIRE_STATUS = {
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
  SM_S3_KEY_PATTERN: 'InvalidRequest',
  SM_FAILURE: 'UnknownFailure',
} as const satisfies Record<SmErrorCode, ResponseStatusName>;

/** Base of every error of the stream manager door; `status` is what the SDK is answered. */
export class StreamManagerError extends TributaryError<SmErrorCode> {
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
    return ResponseStatus[SM_WIRE_STATUS[this.code]];
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

/** An S3 export task's key placeholder the agent cannot resolve; the task fails with this message. */
export class S3KeyPatternError extends StreamManagerError {
  constructor(pattern: string, reason: string) {
    super('SM_S3_KEY_PATTERN', `key pattern ${JSON.stringify(pattern)}: ${reason}`, { path: 'key' });
  }
}
