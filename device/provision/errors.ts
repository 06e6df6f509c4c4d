import { CliExit, type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { describeValue, TributaryError } from '../../shared/errors.ts';

export const ProvisionErrorCodes = errorCodes('device/provision', {
  PROVISION_INPUT_INVALID: {
    class: 'ProvisionInputError',
    retryable: false,
    exit: CliExit.usage,
    meaning: 'a command-line value (thing name, stage, endpoint) is not acceptable; `path` names the flag',
  },
  PROVISION_STACK_NOT_FOUND: {
    class: 'StackNotFoundError',
    retryable: false,
    meaning: 'the stack tributary-<stage> is not deployed in the region',
  },
  PROVISION_STACK_OUTPUT_MISSING: {
    class: 'StackOutputMissingError',
    retryable: false,
    meaning: 'the stack lacks an output provisioning needs (an older deployment)',
  },
  PROVISION_CERTIFICATE_KEY_MISMATCH: {
    class: 'CertificateKeyMismatchError',
    retryable: false,
    meaning: "AWS IoT issued a certificate for another key than the device's; it was deleted again",
  },
  PROVISION_FILE_INVALID: {
    class: 'ProvisionFileError',
    retryable: false,
    meaning: 'a local file is not what provisioning wrote (unreadable, not PEM, not JSON)',
  },
  PROVISION_AWS_FAILED: {
    class: 'ProvisionAwsError',
    retryable: 'varies',
    meaning: 'an AWS call failed; throttling and 5xx are retryable (run the command again)',
  },
});
export type ProvisionErrorCode = CodeOf<typeof ProvisionErrorCodes>;

/** Base of every error `tributary device provision|deprovision` raises on purpose. */
export class ProvisionError extends TributaryError<ProvisionErrorCode> {}

/** A command-line value is not acceptable (thing name, stage, endpoint); `path` names the flag. */
export class ProvisionInputError extends ProvisionError {
  readonly path: string;
  readonly value: unknown;
  constructor(path: string, value: unknown, reason: string) {
    super('PROVISION_INPUT_INVALID', `${path}: ${reason} (got ${describeValue(value)})`);
    this.path = path;
    this.value = value;
  }
}

/** The stack `tributary-<stage>` is not deployed in the region (deploy it first). */
export class StackNotFoundError extends ProvisionError {
  readonly stackName: string;
  constructor(stackName: string, region: string, cause?: unknown) {
    super(
      'PROVISION_STACK_NOT_FOUND',
      `stack ${stackName} is not deployed in ${region}: deploy it first (npx osls deploy --stage <stage>)`,
      { cause },
    );
    this.stackName = stackName;
  }
}

/** The stack lacks an output provisioning needs (an older deployment); `path` is `Outputs.<key>`. */
export class StackOutputMissingError extends ProvisionError {
  readonly path: string;
  constructor(stackName: string, key: string) {
    super(
      'PROVISION_STACK_OUTPUT_MISSING',
      `stack ${stackName} has no output ${key}: deploy the current serverless.yml`,
    );
    this.path = `Outputs.${key}`;
  }
}

/** AWS IoT issued a certificate whose public key is not the device key the CSR was made from. */
export class CertificateKeyMismatchError extends ProvisionError {
  constructor(certificateId: string) {
    super(
      'PROVISION_CERTIFICATE_KEY_MISMATCH',
      `certificate ${certificateId} returned for the CSR does not match the device's private key; it was deleted again`,
    );
  }
}

/** A local file is not what provisioning wrote (unreadable, not PEM, not JSON); `path` is the file. */
export class ProvisionFileError extends ProvisionError {
  readonly path: string;
  constructor(path: string, reason: string, cause?: unknown) {
    super('PROVISION_FILE_INVALID', `${path}: ${reason}`, { cause });
    this.path = path;
  }
}

/** An AWS call failed; `operation` names it. Throttling and 5xx are retryable (run the command again). */
export class ProvisionAwsError extends ProvisionError {
  readonly operation: string;
  constructor(operation: string, cause: unknown) {
    const error = cause as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = error?.$metadata?.httpStatusCode ?? 0;
    const retryable = status >= 500 || status === 429 || /Throttl/.test(error?.name ?? '');
    super(
      'PROVISION_AWS_FAILED',
      `${operation} failed: ${error?.name ?? 'Error'}: ${error?.message ?? String(cause)}`,
      { retryable, cause },
    );
    this.operation = operation;
  }
}
