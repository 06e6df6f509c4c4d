/**
 * The closed set of error codes: each module's errors.ts declares its codes once with `errorCodes`,
 * its base error takes only those, and ERRORS.md is generated from the declarations
 * (`npm run errors:table`; test/unit/shared/error-codes.test.ts fails when the two differ).
 */

/** Exit codes of every Tributary command line (device CLI, local cloud, analytics, dashboard, query). */
export const CliExit = {
  ok: 0,
  runtime: 1,
  usage: 2,
  unreachable: 3,
  refused: 4,
  busy: 5,
  /** The device's disk is full (STORAGE_FULL): retrying soon does not help until space is freed. */
  storageFull: 6,
} as const;
export type CliExitCode = (typeof CliExit)[keyof typeof CliExit];

/** What users may rely on for one code. */
export interface ErrorCodeSpec {
  /** Class (exported by the module's errors.ts) that raises the code; '' when only a status report carries it. */
  readonly class: string;
  /** Whether the same call may succeed later; 'varies' when the class decides per cause. */
  readonly retryable: boolean | 'varies';
  /** HTTP status an API answers the code with, where one does. */
  readonly http?: number;
  /** The exit code a command line ends with on this code; runtime (1) when not given. */
  readonly exit?: CliExitCode;
  readonly meaning: string;
}

export interface ErrorRegistry<C extends string = string> {
  /** Directory of the module, as in ERRORS.md. */
  readonly module: string;
  readonly codes: { readonly [K in C]: ErrorCodeSpec };
}

/** The codes of a registry as a union type. */
export type CodeOf<R> = R extends { readonly codes: infer T } ? keyof T & string : never;

/** Declares a module's codes; the keys are the codes. */
export function errorCodes<const T extends Readonly<Record<string, ErrorCodeSpec>>>(
  module: string,
  codes: T,
): { readonly module: string; readonly codes: T } {
  return { module, codes };
}

/** The one mapping from a code to an exit code: the spec's own, else a runtime error. */
export function exitCodeOfSpec(spec: ErrorCodeSpec): CliExitCode {
  return spec.exit ?? CliExit.runtime;
}

/** Code → exit code over the given registries (a CLI passes those of the modules it runs). */
export function exitCodes(registries: readonly ErrorRegistry[]): ReadonlyMap<string, CliExitCode> {
  const map = new Map<string, CliExitCode>();
  for (const registry of registries) {
    for (const [code, spec] of Object.entries<ErrorCodeSpec>(registry.codes))
      map.set(code, exitCodeOfSpec(spec));
  }
  return map;
}

/** Code → HTTP status over the given registries, for the codes an API answers. */
export function httpStatuses(registries: readonly ErrorRegistry[]): ReadonlyMap<string, number> {
  const map = new Map<string, number>();
  for (const registry of registries) {
    for (const [code, spec] of Object.entries<ErrorCodeSpec>(registry.codes)) {
      if (spec.http !== undefined) map.set(code, spec.http);
    }
  }
  return map;
}

/** `{ CODE: 'CODE' }` for each code of a registry, to name a code in code without a bare string. */
export function codeNames<const T extends object>(registry: {
  readonly codes: T;
}): { readonly [K in keyof T]: K } {
  return Object.fromEntries(Object.keys(registry.codes).map((code) => [code, code])) as {
    readonly [K in keyof T]: K;
  };
}
