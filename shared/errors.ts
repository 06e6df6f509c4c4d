/**
 * Base of every error Tributary raises on purpose. `code` is stable and machine-readable,
 * `retryable` tells a caller whether the same call may succeed later, `cause` keeps the original.
 * Each module has its own `errors.ts` that extends this class.
 */
export class TributaryError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A value at a config path failed validation. */
export class ConfigError extends TributaryError {
  readonly path: string;
  readonly value: unknown;

  constructor(path: string, value: unknown, reason: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', `config ${path || '<root>'}: ${reason} (got ${describeValue(value)})`, options);
    this.path = path;
    this.value = value;
  }
}

/** Short, safe rendering of an offending value for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'function') return 'a function';
  try {
    const json = JSON.stringify(value);
    if (json === undefined) return String(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Renders a path like `payload.tags.room` / `records[3].id` from zod-style segments. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

/** The value found at `path` inside `root`, or undefined where the path leaves the object tree. */
export function valueAtPath(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
