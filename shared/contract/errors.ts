import { CliExit, type CodeOf, errorCodes } from '../error-codes.ts';
import { describeValue, TributaryError } from '../errors.ts';
import { maskPans } from '../pan.ts';

/** The record contract's codes; `http` is the device API's answer, `exit` the device CLI's for a refused input line. */
export const ContractErrorCodes = errorCodes('shared/contract', {
  RECORD_INVALID: {
    class: 'RecordValidationError',
    retryable: false,
    http: 400,
    exit: CliExit.refused,
    meaning: 'valid JSON that breaks the contract; `path` names the field',
  },
  RECORD_MALFORMED: {
    class: 'RecordDecodeError',
    retryable: false,
    http: 400,
    exit: CliExit.refused,
    meaning: 'not a JSON object: invalid UTF-8 or JSON, an array, an empty NDJSON body',
  },
  RECORD_TOO_COMPLEX: {
    class: 'RecordTooComplexError',
    retryable: false,
    http: 413,
    exit: CliExit.refused,
    meaning: "over the bounded JSON decoder's limits (nesting depth, values, bytes per string or number)",
  },
  RECORD_TOO_LARGE: {
    class: 'RecordTooLargeError',
    retryable: false,
    http: 413,
    exit: CliExit.refused,
    meaning:
      "the encoded record (with its partition key) is over the limit: the stream's maxRecordSize on a device",
  },
  GLUE_SCHEMA_CONFLICT: {
    class: 'GlueSchemaError',
    retryable: false,
    meaning: "the contract's JSON Schema has no single Glue column type somewhere (a build-time error)",
  },
});
export type ContractErrorCode = CodeOf<typeof ContractErrorCodes>;

/** Base of every contract error: bad bytes, bad shape, bad size. None is retryable: the data is wrong. */
export class ContractError extends TributaryError<ContractErrorCode> {
  /** Dotted path of the offending field, '' for the whole record. */
  readonly path: string;

  constructor(code: ContractErrorCode, path: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.path = path;
  }
}

export interface FieldIssue {
  path: string;
  message: string;
  value: unknown;
}

/**
 * What an error keeps of an offending value: scalars with card numbers masked, containers only as
 * their description (`array of 3 items`), so logging the error object cannot leak a nested PAN nor
 * hold a huge value.
 */
function safeValue(value: unknown): unknown {
  if (typeof value === 'string') return maskPans(value);
  if (typeof value === 'number') {
    const text = String(value);
    return maskPans(text) === text ? value : maskPans(text);
  }
  if (value !== null && typeof value === 'object') return describeValue(value);
  return value;
}

/** Issues a RECORD_INVALID message spells out; records past it are counted. */
export const MAX_LISTED_ISSUES = 20;

/** The record parsed but does not satisfy the contract; `issues` lists every field at fault. */
export class RecordValidationError extends ContractError {
  readonly issues: readonly FieldIssue[];
  readonly value: unknown;

  constructor(issues: readonly FieldIssue[]) {
    const first = issues[0] ?? { path: '', message: 'invalid record', value: undefined };
    // Every issue, each with its path: fixing one at a time and resubmitting helps nobody. A hostile
    // record with thousands of unknown keys still gets a bounded message (`issues` has them all).
    const all = issues.length > 0 ? issues : [first];
    const listed = all
      .slice(0, MAX_LISTED_ISSUES)
      .map((issue) => `${issue.path || '<root>'}: ${issue.message} (got ${describeValue(issue.value)})`);
    const rest = all.length - listed.length;
    super(
      'RECORD_INVALID',
      first.path,
      all.length === 1
        ? `record ${listed[0]}`
        : `record has ${all.length} problems: ${listed.join('; ')}${rest > 0 ? `; and ${rest} more` : ''}`,
    );
    this.issues = issues.map((issue) => ({ ...issue, value: safeValue(issue.value) }));
    this.value = safeValue(first.value);
  }
}

/** The bytes are not a JSON object at all (truncated, not UTF-8 JSON, an array...). */
export class RecordDecodeError extends ContractError {
  /** Byte offset of the fault in the input, when the decoder knows it. */
  readonly offset: number | undefined;

  constructor(reason: string, options: { cause?: unknown; offset?: number } = {}) {
    super('RECORD_MALFORMED', '', `record is not valid JSON: ${reason}`, options);
    this.offset = options.offset;
  }
}

export type JsonLimitName = 'depth' | 'values' | 'string';

const LIMIT_TEXT: Readonly<Record<JsonLimitName, string>> = {
  depth: 'levels of nested arrays and objects',
  values: 'values',
  string: 'bytes in one string or number',
};

/** The input exceeds a limit of the bounded JSON decoder (shared/contract/json-scan.ts); found before it was materialised. */
export class RecordTooComplexError extends ContractError {
  readonly limit: JsonLimitName;
  readonly max: number;
  readonly offset: number;

  constructor(limit: JsonLimitName, max: number, offset: number) {
    super(
      'RECORD_TOO_COMPLEX',
      '',
      `record has more than ${max.toLocaleString('en-US')} ${LIMIT_TEXT[limit]} (at byte ${offset})`,
    );
    this.limit = limit;
    this.max = max;
    this.offset = offset;
  }
}

/**
 * A record is over its size limit: the encoded record plus partition key over what one Kinesis
 * record may carry (the codec), or a payload over a log stream's maxRecordSize (device/log; `stream`
 * names it). One class for both: to the client it is the same refusal.
 */
export class RecordTooLargeError extends ContractError {
  readonly bytes: number;
  readonly limit: number;
  readonly stream: string | undefined;

  constructor(bytes: number, limit: number, stream?: string) {
    super(
      'RECORD_TOO_LARGE',
      '',
      stream === undefined
        ? `record is ${bytes} bytes with its partition key; the limit is ${limit}`
        : `record of ${bytes} bytes exceeds maxRecordSize ${limit} of stream ${JSON.stringify(stream)}`,
    );
    this.bytes = bytes;
    this.limit = limit;
    this.stream = stream;
  }
}

/** The contract's JSON Schema cannot be turned into Glue columns (shared/contract/glue.ts); a schema bug, not bad data. */
export class GlueSchemaError extends TributaryError<ContractErrorCode> {
  constructor(message: string) {
    super('GLUE_SCHEMA_CONFLICT', message);
  }
}
