import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** Temp directories for tests: each helper registers its own clean-up, so no test file repeats mkdtemp + rm. */

export interface TempDir {
  /** The directory; made in beforeAll, so read it in hooks and tests, not while the file is collected. */
  readonly path: string;
  /** A path below `path` that no earlier call returned (not created): one fresh root per run. */
  fresh(): string;
}

/** Whether TRIBUTARY_KEEP_TEST_DATA asks the long integration runs to keep their data (and log). */
export const keepTestData = process.env.TRIBUTARY_KEEP_TEST_DATA !== undefined;

export interface TempDirOptions {
  /** Leave the directory in place after the tests (e.g. `keepTestData`); removed by default. */
  readonly keep?: boolean;
}

/**
 * One directory for the tests of the enclosing file or describe block: made before them (beforeAll),
 * removed with all it holds after them (afterAll) unless `keep`. Call it before the file's own hooks:
 * its beforeAll then runs first and its afterAll last (Vitest runs after-hooks in reverse order), so
 * servers using the directory are stopped before it is removed.
 */
export function useTempDir(prefix: string, options: TempDirOptions = {}): TempDir {
  let path: string | undefined;
  let runs = 0;
  beforeAll(async () => {
    path = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (path !== undefined && options.keep !== true) await rm(path, { recursive: true, force: true });
  });
  const dir: TempDir = {
    get path() {
      if (path === undefined) throw new Error(`useTempDir('${prefix}'): read before its beforeAll ran`);
      return path;
    },
    fresh: () => join(dir.path, String(runs++)),
  };
  return dir;
}

/**
 * Makes a new directory on each call; each is removed after the test that made it (afterEach).
 * Register it before hooks that must run first on the way out (closing stores): Vitest runs after-hooks
 * in reverse order of registration.
 */
export function useTempDirs(prefix: string): () => Promise<string> {
  const made: string[] = [];
  afterEach(async () => {
    for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}
