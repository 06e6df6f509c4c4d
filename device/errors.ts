import { CliExit, type CodeOf, errorCodes } from '../shared/error-codes.ts';
import { ConfigError, type ConfigIssue, TributaryError } from '../shared/errors.ts';

/**
 * Codes of the agent, its API and the CLI. `http` is the agent API's answer; codes with class ''
 * are refusals the API server (device/api/server.ts) answers before any agent code runs.
 */
export const AgentErrorCodes = errorCodes('device', {
  AGENT_STOPPED: {
    class: 'AgentStoppedError',
    retryable: true,
    http: 503,
    exit: CliExit.busy,
    meaning: 'the agent is stopping; appends are refused',
  },
  AGENT_UNREACHABLE: {
    class: 'AgentUnreachableError',
    retryable: true,
    exit: CliExit.unreachable,
    meaning: 'no agent answers at the API address (not running, wrong port)',
  },
  BODY_TOO_LARGE: {
    class: 'BodyTooLargeError',
    retryable: false,
    http: 413,
    exit: CliExit.refused,
    meaning: "a request body (or a CLI input line) over the API's body limit",
  },
  UNAUTHORIZED: {
    class: 'UnauthorizedError',
    retryable: false,
    http: 401,
    exit: CliExit.refused,
    meaning: 'missing or wrong bearer token',
  },
  AGENT_NOT_FOUND: {
    class: 'AgentNotFoundError',
    retryable: false,
    exit: CliExit.unreachable,
    meaning:
      'no running agent found where the CLI looks (discovery files, the local cloud); the message lists them',
  },
  TOKEN_FILE_INSECURE: {
    class: 'TokenFileInsecureError',
    retryable: false,
    exit: CliExit.usage,
    meaning: 'the API token file is readable by group or others; the agent does not start',
  },
  SERVICE_INSTALL_FAILED: {
    class: 'ServiceInstallError',
    retryable: false,
    meaning: '`agent install-service` could not set the service up (user, file ownership, unit file)',
  },
  PATH_MALFORMED: {
    class: '',
    retryable: false,
    http: 400,
    exit: CliExit.refused,
    meaning: 'a malformed percent-encoding in the request path',
  },
  HOST_NOT_ALLOWED: {
    class: '',
    retryable: false,
    http: 403,
    exit: CliExit.refused,
    meaning: 'the `Host` header names another site',
  },
  ORIGIN_NOT_ALLOWED: {
    class: '',
    retryable: false,
    http: 403,
    exit: CliExit.refused,
    meaning: 'the `Origin` header names another site',
  },
  NOT_FOUND: {
    class: '',
    retryable: false,
    http: 404,
    exit: CliExit.refused,
    meaning: 'no route for this method and path',
  },
  METHOD_NOT_ALLOWED: {
    class: '',
    retryable: false,
    http: 405,
    exit: CliExit.refused,
    meaning: 'wrong method; `Allow` names the right one',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    class: '',
    retryable: false,
    http: 415,
    exit: CliExit.refused,
    meaning: 'a content type other than application/json or application/x-ndjson (UTF-8)',
  },
  CLIENT_CLOSED: {
    class: '',
    retryable: false,
    http: 499,
    exit: CliExit.refused,
    meaning: 'the client closed the connection before the answer (logged, never received)',
  },
  RECORD_TYPE_NOT_ACCEPTED: {
    class: 'RecordTypeNotAcceptedError',
    retryable: false,
    http: 400,
    exit: CliExit.refused,
    meaning:
      'a valid record of a type the stream does not take (`streams[].recordTypes`; `telemetry` takes telemetry, `transactions` transactions); `path` is `type`',
  },
  INTERNAL: {
    class: '',
    retryable: false,
    http: 500,
    exit: CliExit.refused,
    meaning: 'an unexpected failure in the agent (a bug); the message says what',
  },
});
export type AgentErrorCode = CodeOf<typeof AgentErrorCodes>;

/**
 * Base of every error the device agent, its API client and the CLI raise on purpose. A wrapper
 * that carries another error's code (ApiRequestError, BatchRecordError, InputLineError) widens `C`.
 */
export class AgentError<C extends string = AgentErrorCode> extends TributaryError<C> {}

/** A config file value failed validation; the message names the file, the path and the value. */
export class ConfigFileError extends ConfigError {
  readonly file: string;
  constructor(
    file: string,
    path: string,
    value: unknown,
    reason: string,
    options: { cause?: unknown; also?: readonly ConfigIssue[] } = {},
  ) {
    super(path, value, reason, options);
    this.file = file;
    this.message = `${file}: ${this.message}`;
  }
}

/** The agent is stopping or stopped; appends are refused. Retryable against the next agent. */
export class AgentStoppedError extends AgentError {
  constructor() {
    super('AGENT_STOPPED', 'the agent is stopping', { retryable: true });
  }
}

/** No agent answers at the API address (not running, wrong port). */
export class AgentUnreachableError extends AgentError {
  readonly url: string;
  /** The discovery file the address came from, when the CLI found it by itself. */
  readonly source: string | undefined;
  constructor(url: string, cause: unknown, source?: string) {
    super(
      'AGENT_UNREACHABLE',
      `no agent answers at ${url}: ${cause instanceof Error ? cause.message : String(cause)}${
        source === undefined ? '' : ` (address from ${source}; an agent that was killed leaves it behind)`
      }`,
      {
        retryable: true,
        cause,
      },
    );
    this.url = url;
    this.source = source;
  }
}

/** The CLI found no running agent's discovery file (api.json) in any place it looks; `looked` lists them. */
export class AgentNotFoundError extends AgentError {
  readonly looked: readonly string[];
  constructor(looked: readonly string[]) {
    super(
      'AGENT_NOT_FOUND',
      `found no running agent; looked in: ${looked.join('; ')}. Start one (tributary agent run --config <file>, or npm start), or pass --config or --url`,
    );
    this.looked = looked;
  }
}

/** The agent answered a request with an error status; `code` and `path` come from its body. */
/** One field at fault in a refused record, as the agent's API lists it. */
export interface ApiIssue {
  readonly path: string;
  readonly message: string;
  readonly got?: string;
}

/** A refused record of a batch as the agent listed it (the API's `records[]`). */
export interface ApiRefusedRecord {
  /** From 0. */
  readonly index: number;
  /** Line of the request body, from 1. */
  readonly line?: number;
  readonly code: string;
  readonly message: string;
  readonly path: string;
  readonly issues?: readonly ApiIssue[];
}

export class ApiRequestError extends AgentError<string> {
  readonly status: number;
  readonly path: string | undefined;
  /** Index of the (first) refused record in a batch. */
  readonly index: number | undefined;
  readonly retryAfterSeconds: number | undefined;
  /** RECORD_INVALID: every field at fault (of the first refused record), as the agent listed them. */
  readonly issues: readonly ApiIssue[];
  /** A refused batch: every refused record the agent listed (at most 20), in order; [] otherwise. */
  readonly records: readonly ApiRefusedRecord[];
  /** A refused batch: how many records were refused in all (may exceed `records.length`). */
  readonly recordsRefused: number | undefined;
  constructor(
    status: number,
    code: string,
    message: string,
    details: {
      path?: string | undefined;
      index?: number;
      retryAfterSeconds?: number | undefined;
      issues?: readonly ApiIssue[];
      records?: readonly ApiRefusedRecord[];
      recordsRefused?: number | undefined;
    } = {},
  ) {
    super(code, message, { retryable: status === 503 || status === 429 });
    this.status = status;
    this.path = details.path;
    this.index = details.index;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.issues = details.issues ?? [];
    this.records = details.records ?? [];
    this.recordsRefused = details.recordsRefused;
  }
}

/** The request body exceeds the API's size limit. */
export class BodyTooLargeError extends AgentError {
  readonly limit: number;
  constructor(limit: number) {
    super('BODY_TOO_LARGE', `request body exceeds ${limit} bytes`);
    this.limit = limit;
  }
}

/** Missing or wrong bearer token. */
export class UnauthorizedError extends AgentError {
  constructor() {
    super('UNAUTHORIZED', 'missing or invalid bearer token');
  }
}

/**
 * The API token file can be read by other users (group or others): anyone on the device could append
 * as any app. The agent refuses to start rather than run with a token that is not secret.
 */
export class TokenFileInsecureError extends AgentError {
  readonly file: string;
  readonly mode: number;
  constructor(file: string, mode: number) {
    super(
      'TOKEN_FILE_INSECURE',
      `${file}: the API token file is readable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run \`chmod 600 ${file}\``,
    );
    this.file = file;
    this.mode = mode;
  }
}

/** A line of the CLI's NDJSON input is refused before anything of its batch is sent. */
export class InputLineError extends AgentError<string> {
  readonly line: number;
  /** Byte offset of the fault in the input. */
  readonly offset: number;
  constructor(line: number, offset: number, cause: TributaryError | undefined, reason?: string) {
    super(
      cause?.code ?? 'BODY_TOO_LARGE',
      `line ${line} (byte ${offset}): ${reason ?? cause?.message ?? 'refused'}`,
      {
        cause,
      },
    );
    this.line = line;
    this.offset = offset;
  }
}

/** Refused records of one batch that an error lists (the count says how many more there were). */
export const MAX_REFUSED_RECORDS = 20;

/** One refused record of a batch: its place and what was wrong with it. */
export interface RefusedRecord {
  /** Index of the record in the batch, from 0 (blank lines not counted). */
  readonly index: number;
  /** Line of the record in the NDJSON body, from 1 (blank lines counted), when known. */
  readonly line: number | undefined;
  readonly error: TributaryError;
  /** Path of the offending field inside the record ('' for the whole record). */
  readonly path: string;
}

/**
 * Records of a batch append were refused; nothing of the batch was appended. Its code, `index`,
 * `path` and cause are the first refused record's; `refused` lists every refused record up to
 * MAX_REFUSED_RECORDS, and `refusedCount` counts them all.
 */
export class BatchRecordError extends AgentError<string> {
  readonly index: number;
  /** Path of the offending field inside the first refused record ('' for the whole record). */
  readonly path: string;
  /** Line of the first refused record in the NDJSON body, from 1, when known. */
  readonly line: number | undefined;
  readonly refused: readonly RefusedRecord[];
  readonly refusedCount: number;
  constructor(
    index: number,
    error: TributaryError,
    more: { line?: number | undefined; refused?: readonly RefusedRecord[]; refusedCount?: number } = {},
  ) {
    const first: RefusedRecord = { index, line: more.line, error, path: pathOf(error) };
    const refused = more.refused ?? [first];
    const refusedCount = Math.max(more.refusedCount ?? refused.length, refused.length);
    // `index` counts from 0 (the body's `index` field); said so, since people count lines from 1.
    const where = (r: RefusedRecord) => `index ${r.index}${r.line === undefined ? '' : ` (line ${r.line})`}`;
    const message =
      refusedCount === 1
        ? `batch record at ${where(first)}: ${error.message}`
        : `${refusedCount} records of the batch refused, so none was appended: ${refused
            .map((r) => `${where(r)}: ${r.error.code}: ${r.error.message}`)
            .join(
              '; ',
            )}${refusedCount > refused.length ? `; and ${refusedCount - refused.length} more` : ''}`;
    super(error.code, message, { cause: error });
    this.index = index;
    this.path = first.path;
    this.line = more.line;
    this.refused = refused;
    this.refusedCount = refusedCount;
  }
}

function pathOf(error: TributaryError): string {
  return 'path' in error && typeof error.path === 'string' ? error.path : '';
}

/** A valid record whose type the stream does not take (`streams[].recordTypes` in the agent config). */
export class RecordTypeNotAcceptedError extends AgentError {
  readonly stream: string;
  readonly recordType: string;
  readonly accepted: readonly string[];
  /** The field at fault, as in RECORD_INVALID. */
  readonly path = 'type';
  constructor(stream: string, recordType: string, accepted: readonly string[]) {
    super(
      'RECORD_TYPE_NOT_ACCEPTED',
      `type: stream ${JSON.stringify(stream)} takes ${accepted.join(', ')} records, not ${recordType} ` +
        '(streams[].recordTypes in the agent config)',
    );
    this.stream = stream;
    this.recordType = recordType;
    this.accepted = accepted;
  }
}

/** `agent install-service` could not set the service up (user creation, file ownership, unit file). */
export class ServiceInstallError extends AgentError {
  readonly path: string;
  constructor(path: string, reason: string, cause?: unknown) {
    super('SERVICE_INSTALL_FAILED', `${path}: ${reason}`, { cause });
    this.path = path;
  }
}
