import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { describeValue, TributaryError } from '../../shared/errors.ts';

/**
 * Codes of the AWS IoT side of the agent. COMMAND_* are the answers on the MQTT response topic;
 * codes with class '' appear only as the MQTT status's `lastError`.
 */
export const IotErrorCodes = errorCodes('device/iot', {
  IOT_CREDENTIALS_FORBIDDEN: {
    class: 'IotCredentialsForbiddenError',
    retryable: false,
    meaning:
      'credentials provider 403: the certificate may not assume the role alias (policy, thing, inactive certificate)',
  },
  IOT_CREDENTIALS_UNAUTHORIZED: {
    class: 'IotCredentialsUnauthorizedError',
    retryable: false,
    meaning: 'credentials provider 401: the TLS client certificate was not accepted',
  },
  IOT_ROLE_ALIAS_NOT_FOUND: {
    class: 'IotRoleAliasNotFoundError',
    retryable: false,
    meaning: 'credentials provider 404: the role alias does not exist',
  },
  IOT_CREDENTIALS_THROTTLED: {
    class: 'IotCredentialsThrottledError',
    retryable: true,
    meaning: 'credentials provider 429: this device is throttled',
  },
  IOT_CREDENTIALS_UNAVAILABLE: {
    class: 'IotCredentialsUnavailableError',
    retryable: true,
    meaning: 'credentials provider 5xx, network or TLS failure, timeout, or an undocumented answer',
  },
  IOT_CREDENTIALS_REJECTED: {
    class: 'IotCredentialsError',
    retryable: false,
    meaning: 'credentials provider refused the request with another 4xx status (`status` says which)',
  },
  MQTT_SDK_UNAVAILABLE: {
    class: 'MqttSdkUnavailableError',
    retryable: false,
    meaning: 'iot.mqtt is configured but aws-iot-device-sdk-v2 (and its aws-crt) cannot be loaded',
  },
  MQTT_SETUP_FAILED: {
    class: 'MqttSetupError',
    retryable: false,
    meaning: 'the MQTT client could not be set up (unreadable certificate or key, bad TLS material)',
  },
  MQTT_PUBLISH_FAILED: {
    class: 'MqttPublishError',
    retryable: true,
    meaning: 'a status publish failed (not connected, refused, timeout); counted, never fatal',
  },
  MQTT_CLIENT_ERROR: { class: '', retryable: true, meaning: 'the MQTT client reported an error' },
  MQTT_CONNECT_FAILED: {
    class: '',
    retryable: true,
    meaning: 'the connection to the AWS IoT endpoint failed',
  },
  MQTT_DISCONNECTED: {
    class: '',
    retryable: true,
    meaning: 'the connection to the AWS IoT endpoint dropped',
  },
  MQTT_SUBSCRIBE_FAILED: {
    class: '',
    retryable: true,
    meaning: 'the subscription to the commands topic was refused or failed',
  },
  COMMAND_MALFORMED: {
    class: 'MqttCommandMalformedError',
    retryable: false,
    meaning: 'a command payload that is not a JSON object',
  },
  COMMAND_UNKNOWN: {
    class: 'MqttCommandUnknownError',
    retryable: false,
    meaning: '`command` names no command this agent knows',
  },
  COMMAND_INVALID: {
    class: 'MqttCommandInvalidError',
    retryable: false,
    meaning: 'a field of a known command has a bad value; `path` names it',
  },
  COMMAND_FAILED: {
    class: 'MqttCommandFailedError',
    retryable: false,
    meaning:
      "a valid command failed with an error that has no code of its own (else the answer carries the cause's code)",
  },
  COMMAND_BUSY: {
    class: 'MqttCommandBusyError',
    retryable: true,
    meaning: 'too many commands are being answered at once',
  },
});
export type IotErrorCode = CodeOf<typeof IotErrorCodes>;

/**
 * Base of every error the AWS IoT side of the agent (credentials provider, MQTT status) raises on
 * purpose. MqttCommandFailedError carries its cause's code, so it widens `C`.
 */
export class IotError<C extends string = IotErrorCode> extends TributaryError<C> {}

/**
 * The AWS IoT credentials provider refused or failed a request. `status` is the HTTP status (0 when
 * no response came back). Throttling, 5xx and network failures are retryable; the rest need a fix
 * on the device or in AWS IoT (certificate, policy, role alias).
 */
export class IotCredentialsError extends IotError {
  readonly status: number;
  constructor(
    code: IotErrorCode,
    status: number,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.status = status;
  }
}

/** 403: the certificate is not allowed to assume the role alias (policy lacks iot:AssumeRoleWithCertificate, thing not attached, certificate inactive). */
export class IotCredentialsForbiddenError extends IotCredentialsError {
  constructor(message: string) {
    super('IOT_CREDENTIALS_FORBIDDEN', 403, message);
  }
}

/** 401: the TLS client certificate was not accepted. */
export class IotCredentialsUnauthorizedError extends IotCredentialsError {
  constructor(message: string) {
    super('IOT_CREDENTIALS_UNAUTHORIZED', 401, message);
  }
}

/** 404: the role alias does not exist. */
export class IotRoleAliasNotFoundError extends IotCredentialsError {
  constructor(message: string) {
    super('IOT_ROLE_ALIAS_NOT_FOUND', 404, message);
  }
}

/** 429: the provider throttles this device; retryable. */
export class IotCredentialsThrottledError extends IotCredentialsError {
  constructor(message: string) {
    super('IOT_CREDENTIALS_THROTTLED', 429, message, { retryable: true });
  }
}

/** 5xx, connection or TLS failure, timeout, or a response that is not the documented JSON; retryable. */
export class IotCredentialsUnavailableError extends IotCredentialsError {
  constructor(status: number, message: string, cause?: unknown) {
    super('IOT_CREDENTIALS_UNAVAILABLE', status, message, { retryable: true, cause });
  }
}

/** Base of the MQTT status publisher's errors. */
export class MqttError<C extends string = IotErrorCode> extends IotError<C> {}

/** `iot.mqtt` is configured but aws-iot-device-sdk-v2 (and its native aws-crt) cannot be loaded. */
export class MqttSdkUnavailableError extends MqttError {
  constructor(cause: unknown) {
    super(
      'MQTT_SDK_UNAVAILABLE',
      `iot.mqtt needs aws-iot-device-sdk-v2 installed beside the agent (npm install aws-iot-device-sdk-v2): ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/** The MQTT client could not be set up (unreadable certificate or key, bad TLS material). */
export class MqttSetupError extends MqttError {
  constructor(message: string, cause: unknown) {
    super('MQTT_SETUP_FAILED', message, { cause });
  }
}

/** A status publish failed (not connected, broker refused, timeout); counted, never fatal. */
export class MqttPublishError extends MqttError {
  constructor(topic: string, reason: string, cause?: unknown) {
    super('MQTT_PUBLISH_FAILED', `publish to ${topic} failed: ${reason}`, { retryable: true, cause });
  }
}

/** A request on the commands topic was refused; the error is the answer on the response topic. */
export class MqttCommandError<C extends string = IotErrorCode> extends MqttError<C> {}

/** The command payload is not a JSON object. */
export class MqttCommandMalformedError extends MqttCommandError {
  constructor(reason: string) {
    super('COMMAND_MALFORMED', `command is not a JSON object: ${reason}`);
  }
}

/** The `command` field names no command this agent knows. */
export class MqttCommandUnknownError extends MqttCommandError {
  constructor(command: unknown, known: readonly string[]) {
    super('COMMAND_UNKNOWN', `unknown command ${describeValue(command)}; known: ${known.join(', ')}`);
  }
}

/** A field of a known command has a bad value. */
export class MqttCommandInvalidError extends MqttCommandError {
  readonly path: string;
  constructor(path: string, value: unknown, reason: string) {
    super('COMMAND_INVALID', `command ${path}: ${reason} (got ${describeValue(value)})`);
    this.path = path;
  }
}

/** A valid command failed while running (e.g. the agent is stopping); `code` is the cause's. */
export class MqttCommandFailedError extends MqttCommandError<string> {
  constructor(cause: unknown) {
    const code = cause instanceof TributaryError ? cause.code : 'COMMAND_FAILED';
    const retryable = cause instanceof TributaryError && cause.retryable;
    super(code, cause instanceof Error ? cause.message : String(cause), { retryable, cause });
  }
}

/** Too many commands are being answered at once; retryable. */
export class MqttCommandBusyError extends MqttCommandError {
  constructor(limit: number) {
    super('COMMAND_BUSY', `${limit} commands are already in progress; retry later`, { retryable: true });
  }
}
