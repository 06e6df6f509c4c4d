import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

/** Codes of the deploy tooling (the osls plugin, `npm run deploy`/`remove`). */
export const DeployErrorCodes = errorCodes('scripts/serverless', {
  ANALYTICS_JAR_MISSING: {
    class: 'AnalyticsJarMissingError',
    retryable: false,
    meaning:
      'no Flink application JAR where custom.analyticsCode.jar says (`npm run package:analytics` builds it)',
  },
  TEMPLATE_SHAPE: {
    class: 'TemplateShapeError',
    retryable: false,
    meaning: 'the compiled template lacks what the plugin writes or reads',
  },
  ANALYTICS_JAR_KEY_MISMATCH: {
    class: 'JarKeyMismatchError',
    retryable: false,
    meaning: "the packaged JAR's content no longer matches the hash in the template's key; package again",
  },
  BUCKET_NOT_EMPTIED: {
    class: 'BucketNotEmptiedError',
    retryable: false,
    meaning: '`remove` could not delete every object of a bucket; the message names the first one and why',
  },
  DEPLOY_AWS_CALL: {
    class: 'DeployAwsError',
    retryable: true,
    meaning: 'an AWS call of the deploy tooling failed',
  },
});
export type DeployErrorCode = CodeOf<typeof DeployErrorCodes>;

/** Base of every error the deploy tooling (the osls plugin, `npm run deploy`/`remove`) raises on purpose. */
export class DeployError extends TributaryError<DeployErrorCode> {}

/** The Flink application JAR is not where `custom.analyticsCode.jar` says; `npm run package:analytics` builds it. */
export class AnalyticsJarMissingError extends DeployError {
  readonly path: string;

  constructor(path: string, options: { cause?: unknown } = {}) {
    super(
      'ANALYTICS_JAR_MISSING',
      `no Flink application JAR at ${path}; build it with \`npm run package:analytics\``,
      options,
    );
    this.path = path;
  }
}

/** The compiled template lacks what the plugin writes or reads; `path` is the template path it looked at. */
export class TemplateShapeError extends DeployError {
  readonly path: string;

  constructor(path: string, reason: string) {
    super('TEMPLATE_SHAPE', `compiled template ${path}: ${reason}`);
    this.path = path;
  }
}

/** The packaged JAR's content no longer matches the hash in the template's key (package and deploy disagree). */
export class JarKeyMismatchError extends DeployError {
  readonly key: string;
  readonly file: string;

  constructor(key: string, file: string, actual: string) {
    super(
      'ANALYTICS_JAR_KEY_MISMATCH',
      `${file} has sha256 ${actual}, but the template points the application at ${key}; package again`,
    );
    this.key = key;
    this.file = file;
  }
}

/** An AWS call of the deploy tooling failed; `operation` and `target` say which, the message why. */
export class DeployAwsError extends DeployError {
  readonly operation: string;
  readonly target: string;

  constructor(operation: string, target: string, cause: unknown) {
    const message = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super('DEPLOY_AWS_CALL', `${operation} ${target}: ${message}`, { cause, retryable: true });
    this.operation = operation;
    this.target = target;
  }
}

/** DeleteObjects left objects behind, so the bucket (and the stack) cannot be removed. */
export class BucketNotEmptiedError extends DeployError {
  readonly bucket: string;

  constructor(bucket: string, failed: readonly { Key?: string | undefined; Code?: string | undefined }[]) {
    super(
      'BUCKET_NOT_EMPTIED',
      `s3://${bucket}: ${failed.length} objects not deleted (first: ${failed[0]?.Key}: ${failed[0]?.Code})`,
    );
    this.bucket = bucket;
  }
}
