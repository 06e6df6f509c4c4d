import { TributaryError } from '../errors.ts';

/** The lake's column schema cannot be built from the contract's Glue columns. */
export class LakeSchemaError extends TributaryError {
  constructor(message: string) {
    super('LAKE_SCHEMA_INVALID', message);
  }
}

/** A value does not fit its Glue column type (the contract should have rejected the record). */
export class LakeEncodeError extends TributaryError {
  readonly column: string;

  constructor(column: string, message: string) {
    super('LAKE_ENCODE_FAILED', `${column}: ${message}`);
    this.column = column;
  }
}

/** An S3 prefix template of the delivery stream uses an expression the lake cannot evaluate. */
export class LakePrefixError extends TributaryError {
  readonly template: string;

  constructor(template: string, reason: string) {
    super('LAKE_PREFIX_INVALID', `prefix ${JSON.stringify(template)}: ${reason}`);
    this.template = template;
  }
}
