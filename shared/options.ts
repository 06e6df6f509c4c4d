/**
 * The one way options, config files and request parameters are validated (as Middy's
 * `validateOptions`): a zod schema (classic or mini) runs once, and every problem it finds, not
 * only the first, comes back in one named error whose message names each path and its bad value.
 * Schemas given here are strict (`z.strictObject`), so an unknown key is refused at its own path
 * rather than dropped.
 */
import { type $ZodType, type output, safeParse } from 'zod/v4/core';
import {
  ConfigError,
  type ConfigIssue,
  type ConfigIssues,
  describeIssue,
  describeValue,
  formatPath,
  UsageError,
  valueAtPath,
} from './errors.ts';

export interface ParseOptionsSettings {
  /** Where the input sits in a larger document (`['custom', 'analyticsCode']`); prefixes every path. */
  readonly at?: readonly PropertyKey[];
  /** Renders a path (the `at` prefix included); `formatPath` by default (`exports[1].priority`). */
  readonly formatPath?: (segments: readonly PropertyKey[]) => string;
  /** Why a key the schema does not know is refused (`is not a config field`). */
  readonly unknownKey?: string;
  /** Builds the one error thrown from every issue, in the schema's order; `configError` by default. */
  readonly error?: (issues: ConfigIssues) => Error;
}

/** A path renderer that shows top-level keys as the user spelled them (`--sensors` for `sensors`). */
export function spelledAs(
  names: Readonly<Partial<Record<string, string>>>,
): (segments: readonly PropertyKey[]) => string {
  return ([head, ...rest]) =>
    formatPath([(typeof head === 'string' ? names[head] : undefined) ?? head ?? '', ...rest]);
}

/** The default error: a ConfigError at the first issue, carrying all of them. */
export function configError(issues: ConfigIssues): ConfigError {
  const [first, ...rest] = issues;
  return new ConfigError(first.path, first.value, first.reason, { also: rest });
}

/**
 * The `error` for command-line flags: one UsageError (exit 2) naming every bad flag and its value,
 * worded as the command lines word a flag (`--port must be ... (got "x")`).
 */
export function usageError(issues: ConfigIssues): UsageError {
  return new UsageError(
    issues.map((issue) => `${issue.path} ${issue.reason} (got ${describeValue(issue.value)})`).join('; '),
  );
}

/** `path: reason (got value)` of every issue, `; `-separated. */
export function describeIssues(issues: ConfigIssues): string {
  return issues.map(describeIssue).join('; ');
}

/**
 * Parses `input` with `schema`; on failure throws `settings.error(issues)` with one issue per
 * problem (one per unknown key), each with its full path and the value found there.
 */
export function parseOptions<S extends $ZodType>(
  schema: S,
  input: unknown,
  settings: ParseOptionsSettings = {},
): output<S> {
  const parsed = safeParse(schema, input);
  if (parsed.success) return parsed.data;
  const at = settings.at ?? [];
  const render = settings.formatPath ?? formatPath;
  const issues: ConfigIssue[] = [];
  for (const issue of parsed.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        issues.push({
          path: render([...at, ...path]),
          value: valueAtPath(input, path),
          reason: settings.unknownKey ?? 'is not a known option',
        });
      }
      continue;
    }
    const value = valueAtPath(input, issue.path);
    // zod words a missing field as a type mismatch against undefined.
    const missing = issue.code === 'invalid_type' && value === undefined;
    issues.push({
      path: render([...at, ...issue.path]),
      value,
      reason: missing ? 'is required' : issue.message,
    });
  }
  const [first, ...rest] = issues;
  const all: ConfigIssues =
    first === undefined ? [{ path: render(at), value: input, reason: 'is invalid' }] : [first, ...rest];
  throw (settings.error ?? configError)(all);
}
