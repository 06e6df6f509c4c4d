import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { describeValue, TributaryError } from '../../shared/errors.ts';

/** Codes of the local creation of serverless.yml's resources. */
export const ResourcesErrorCodes = errorCodes('local/resources', {
  STACK_DEFINITION_INVALID: {
    class: 'StackDefinitionError',
    retryable: false,
    meaning:
      'the stack definition is invalid for local creation; names the path, the value and the file line',
  },
  STACK_RESOURCE_MISSING: {
    class: 'StackDefinitionError',
    retryable: false,
    meaning: 'the local pipeline needs a resource (kind and logical id) the stack does not define',
  },
  STACK_YAML_INVALID: {
    class: 'StackSyntaxError',
    retryable: false,
    meaning: 'the YAML does not parse (syntax error, unknown tag, duplicate key)',
  },
  STACK_VARIABLE_UNRESOLVED: {
    class: 'StackVariableError',
    retryable: false,
    meaning:
      'a serverless variable (source:address) has no value and no usable fallback, or an unsupported source',
  },
  LOCAL_RESOURCE_FAILED: {
    class: 'LocalResourceError',
    retryable: 'varies',
    meaning:
      'creating a resource against a local endpoint failed (retryable on 5xx, timeout, refused connection)',
  },
});
export type ResourcesErrorCode = CodeOf<typeof ResourcesErrorCodes>;

/** Base of every error of the local resource creation. */
export class ResourcesError extends TributaryError<ResourcesErrorCode> {}

export interface StackLocation {
  /** Source file the definition came from. */
  file?: string;
  /** 1-based line in that file, when the path could be found in the YAML source. */
  line?: number;
  /** Logical id of the resource the path is in, if any. */
  logicalId?: string;
}

function where(location: StackLocation): string {
  const file = location.file ?? '<stack>';
  return location.line === undefined ? file : `${file}:${location.line}`;
}

/**
 * A stack definition (serverless.yml) is invalid for local creation: names the property path,
 * the offending value, and where it is in the file.
 */
export class StackDefinitionError extends ResourcesError {
  readonly path: string;
  readonly value: unknown;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly logicalId: string | undefined;

  constructor(
    path: string,
    value: unknown,
    reason: string,
    location: StackLocation = {},
    options: { cause?: unknown; code?: ResourcesErrorCode } = {},
  ) {
    const subject = location.logicalId === undefined ? '' : `resource ${location.logicalId}: `;
    super(
      options.code ?? 'STACK_DEFINITION_INVALID',
      `${where(location)}: ${subject}${path || '<root>'}: ${reason} (got ${describeValue(value)})`,
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.path = path;
    this.value = value;
    this.file = location.file;
    this.line = location.line;
    this.logicalId = location.logicalId;
  }
}

/** The YAML itself does not parse (syntax error, unknown tag, duplicate key). */
export class StackSyntaxError extends StackDefinitionError {
  constructor(file: string, line: number | undefined, reason: string, snippet: string) {
    super('', snippet, reason, line === undefined ? { file } : { file, line }, {
      code: 'STACK_YAML_INVALID',
    });
  }
}

/** A `${source:address}` variable has no value and no usable fallback, or its source is unsupported. */
export class StackVariableError extends StackDefinitionError {
  readonly variable: string;

  constructor(path: string, variable: string, reason: string, location: StackLocation = {}) {
    super(path, variable, reason, location, { code: 'STACK_VARIABLE_UNRESOLVED' });
    this.variable = variable;
  }
}

/** Creating a resource against a local endpoint failed for a reason other than "already exists". */
export class LocalResourceError extends ResourcesError {
  readonly logicalId: string;
  readonly resourceType: string;

  constructor(logicalId: string, resourceType: string, action: string, cause: unknown) {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super('LOCAL_RESOURCE_FAILED', `${logicalId} (${resourceType}): ${action} failed: ${detail}`, {
      cause,
      retryable: isRetryableCause(cause),
    });
    this.logicalId = logicalId;
    this.resourceType = resourceType;
  }
}

function isRetryableCause(cause: unknown): boolean {
  if (!(cause instanceof Error)) return false;
  const status = (cause as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return (
    (status !== undefined && status >= 500) ||
    cause.name === 'TimeoutError' ||
    (cause as NodeJS.ErrnoException).code === 'ECONNREFUSED'
  );
}
