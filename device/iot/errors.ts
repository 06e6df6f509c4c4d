import { TributaryError } from '../../shared/errors.ts';

/**
 * The AWS IoT credentials provider refused or failed a request. `status` is the HTTP status (0 when
 * no response came back). Throttling, 5xx and network failures are retryable; the rest need a fix
 * on the device or in AWS IoT (certificate, policy, role alias).
 */
export class IotCredentialsError extends TributaryError {
  readonly status: number;
  constructor(
    code: string,
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
