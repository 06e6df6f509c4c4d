import { TributaryError } from '../../shared/errors.ts';

/** serverless.yml has no delivery stream the local runner can run, or it points at unknown resources. */
export class DeliveryConfigError extends TributaryError {
  constructor(message: string) {
    super('DELIVERY_CONFIG_INVALID', message);
  }
}

/** The checkpoint file exists but cannot be read or belongs to another stream. */
export class CheckpointError extends TributaryError {
  readonly file: string;

  constructor(file: string, message: string, options: { cause?: unknown } = {}) {
    super('DELIVERY_CHECKPOINT_INVALID', `${file}: ${message}`, options);
    this.file = file;
  }
}

/** The lake has nothing to query, or the query failed. */
export class LakeQueryError extends TributaryError {
  constructor(code: 'LAKE_EMPTY' | 'LAKE_QUERY_FAILED', message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
