import { CliExit, type CliExitCode, type CodeOf, errorCodes } from './error-codes.ts';
import { maskPans, PAN_WINDOW_CHARS } from './pan.ts';

/** Codes of the errors every module shares (shared/errors.ts). */
export const SharedErrorCodes = errorCodes('shared', {
  CONFIG_INVALID: {
    class: 'ConfigError',
    retryable: false,
    exit: CliExit.usage,
    meaning: 'a config value failed validation; the message names the path and the value',
  },
  USAGE: {
    class: 'UsageError',
    retryable: false,
    exit: CliExit.usage,
    meaning: 'command-line misuse: unknown command or flag, missing or bad value; the usage is printed',
  },
  ENV_MISSING: {
    class: 'MissingEnvironmentError',
    retryable: false,
    meaning: 'a required environment variable of a deployed function is not set',
  },
});
export type SharedErrorCode = CodeOf<typeof SharedErrorCodes>;

/**
 * Base of every error Tributary raises on purpose. `code` is stable and machine-readable (one of
 * the module's closed set, listed in ERRORS.md), `retryable` tells a caller whether the same call
 * may succeed later, `cause` keeps the original. Each module has its own `errors.ts` that extends
 * this class with its codes as `C`.
 */
export class TributaryError<C extends string = string> extends Error {
  readonly code: C;
  readonly retryable: boolean;

  constructor(code: C, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    // Whatever a message quotes (a field, a line of input), no card number leaves in it.
    super(maskPans(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** The exit code a command line ends with on `error`: its code's (ERRORS.md), runtime for anything else. */
export function exitCodeFor(error: unknown, byCode: ReadonlyMap<string, CliExitCode>): CliExitCode {
  return (error instanceof TributaryError ? byCode.get(error.code) : undefined) ?? CliExit.runtime;
}

/** One problem in a config: where, the value found there, and why it is refused. */
export interface ConfigIssue {
  readonly path: string;
  readonly value: unknown;
  readonly reason: string;
}

/** At least one issue: a failed validation always has one. */
export type ConfigIssues = readonly [ConfigIssue, ...ConfigIssue[]];

/** `path: reason (got value)`, the way every config problem is worded. */
export function describeIssue(issue: ConfigIssue): string {
  return `${issue.path || '<root>'}: ${issue.reason} (got ${describeValue(issue.value)})`;
}

/**
 * Values at config paths failed validation. `path` and `value` are the first problem; `issues` holds
 * every problem found (the first included), so one run of a fix-and-retry loop can fix them all.
 */
export class ConfigError extends TributaryError<SharedErrorCode> {
  readonly path: string;
  readonly value: unknown;
  readonly issues: ConfigIssues;

  constructor(
    path: string,
    value: unknown,
    reason: string,
    options: { cause?: unknown; also?: readonly ConfigIssue[] } = {},
  ) {
    const issues: ConfigIssues = [{ path, value, reason }, ...(options.also ?? [])];
    super('CONFIG_INVALID', `config ${issues.map(describeIssue).join('; ')}`, options);
    this.path = path;
    this.value = value;
    this.issues = issues;
  }
}

/** Command-line misuse: unknown command or flag, missing or bad value. Every CLI exits 2 on it. */
export class UsageError extends TributaryError<SharedErrorCode> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('USAGE', message, options);
  }
}

/** A required environment variable of a deployed function is missing; `fn` names the function in serverless.yml. */
export class MissingEnvironmentError extends TributaryError<SharedErrorCode> {
  readonly variable: string;
  constructor(variable: string, fn: string) {
    super(
      'ENV_MISSING',
      `environment variable ${variable} is not set (serverless.yml functions.${fn}.environment)`,
    );
    this.variable = variable;
  }
}

/** The value of a required environment variable of the function `fn`. */
export function requiredEnv(variable: string, fn: string): string {
  const value = process.env[variable];
  if (value === undefined || value === '') throw new MissingEnvironmentError(variable, fn);
  return value;
}

/** Strings up to this many characters are quoted whole; longer ones by size and a preview. */
const QUOTE_MAX_CHARS = 64;
const PREVIEW_CHARS = 32;
/** Keys counted before an object is described as "more than"; counting is all that is done. */
const COUNT_KEYS_MAX = 10_000;

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Own enumerable keys of `value`, counted up to a bound without building the key array. */
function countKeys(value: object): { count: number; more: boolean } {
  let count = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (++count > COUNT_KEYS_MAX) return { count: COUNT_KEYS_MAX, more: true };
  }
  return { count, more: false };
}

/**
 * Short, safe rendering of an offending value for error messages: short scalars are quoted, anything
 * else is described by type and size (`array of 1,048,576 items`, `string of 8,388,608
 * characters starting "aaaa…"`). Never serialises a value whole, so a hostile value cannot blow up the message,
 * and card numbers are masked.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return String(value);
    case 'number':
      return maskPans(String(value));
    case 'bigint':
      return maskPans(`${value}n`);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    case 'string': {
      if (value.length <= QUOTE_MAX_CHARS) return maskPans(JSON.stringify(value));
      // Masked before it is cut, so a card number across the cut cannot leave half unmasked.
      const head = maskPans(value.slice(0, PREVIEW_CHARS + 2 * PAN_WINDOW_CHARS)).slice(0, PREVIEW_CHARS);
      return `string of ${formatCount(value.length)} characters starting ${JSON.stringify(`${head}…`)}`;
    }
  }
  // Only objects and null are left.
  if (value === null || typeof value !== 'object') return 'null';
  if (Array.isArray(value))
    return `array of ${formatCount(value.length)} item${value.length === 1 ? '' : 's'}`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of ${formatCount(value.byteLength)} bytes`;
  const { count, more } = countKeys(value);
  return `object with ${more ? 'more than ' : ''}${formatCount(count)} key${count === 1 ? '' : 's'}`;
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
