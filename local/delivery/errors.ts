import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

/** Codes of the local Firehose delivery runner and the lake query (`npm run query`). */
export const DeliveryErrorCodes = errorCodes('local/delivery', {
  DELIVERY_CONFIG_INVALID: {
    class: 'DeliveryConfigError',
    retryable: false,
    meaning:
      'serverless.yml has no delivery stream the local runner can run, or it points at unknown resources',
  },
  DELIVERY_CHECKPOINT_INVALID: {
    class: 'CheckpointError',
    retryable: false,
    meaning: 'the checkpoint file cannot be read or belongs to another stream',
  },
  LAKE_QUERY_FAILED: { class: 'LakeQueryError', retryable: false, meaning: 'the lake query failed' },
});
export type DeliveryErrorCode = CodeOf<typeof DeliveryErrorCodes>;

/** Base of every error of the local delivery runner. */
export class DeliveryError extends TributaryError<DeliveryErrorCode> {}

/** serverless.yml has no delivery stream the local runner can run, or it points at unknown resources. */
export class DeliveryConfigError extends DeliveryError {
  constructor(message: string) {
    super('DELIVERY_CONFIG_INVALID', message);
  }
}

/** The checkpoint file exists but cannot be read or belongs to another stream. */
export class CheckpointError extends DeliveryError {
  readonly file: string;

  constructor(file: string, message: string, options: { cause?: unknown } = {}) {
    super('DELIVERY_CHECKPOINT_INVALID', `${file}: ${message}`, options);
    this.file = file;
  }
}

/** The lake could not be opened or the query failed. */
export class LakeQueryError extends DeliveryError {
  constructor(code: 'LAKE_QUERY_FAILED', message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
