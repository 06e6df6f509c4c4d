import { type CodeOf, errorCodes } from '../error-codes.ts';
import { TributaryError } from '../errors.ts';

/** Codes of the lake writer (Parquet columns, S3 prefixes). */
export const LakeErrorCodes = errorCodes('shared/lake', {
  LAKE_SCHEMA_INVALID: {
    class: 'LakeSchemaError',
    retryable: false,
    meaning: "the lake's column schema cannot be built from the contract's Glue columns",
  },
  LAKE_ENCODE_FAILED: {
    class: 'LakeEncodeError',
    retryable: false,
    meaning: 'a value does not fit its Glue column type (the contract should have refused the record)',
  },
  LAKE_PREFIX_INVALID: {
    class: 'LakePrefixError',
    retryable: false,
    meaning: 'an S3 prefix template of the delivery stream uses an expression the lake cannot evaluate',
  },
});
export type LakeErrorCode = CodeOf<typeof LakeErrorCodes>;

/** Base of every error of the lake writer. */
export class LakeError extends TributaryError<LakeErrorCode> {}

/** The lake's column schema cannot be built from the contract's Glue columns. */
export class LakeSchemaError extends LakeError {
  constructor(message: string) {
    super('LAKE_SCHEMA_INVALID', message);
  }
}

/** A value does not fit its Glue column type (the contract should have rejected the record). */
export class LakeEncodeError extends LakeError {
  readonly column: string;

  constructor(column: string, message: string) {
    super('LAKE_ENCODE_FAILED', `${column}: ${message}`);
    this.column = column;
  }
}

/** An S3 prefix template of the delivery stream uses an expression the lake cannot evaluate. */
export class LakePrefixError extends LakeError {
  readonly template: string;

  constructor(template: string, reason: string) {
    super('LAKE_PREFIX_INVALID', `prefix ${JSON.stringify(template)}: ${reason}`);
    this.template = template;
  }
}
