import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CompilerMissingError, ShimBuildError } from '../errors.ts';
import { TRIBUTARY_DIR } from './runtime.ts';

const SOURCE = new URL('./loopback-shim.c', import.meta.url);

/** Opt-out for machines without a C compiler: native servers then listen on all interfaces. */
export const ALLOW_WILDCARD_BIND_ENV = 'TRIBUTARY_ALLOW_WILDCARD_BIND';

/**
 * Path of the compiled loopback shim (see loopback-shim.c), building it with `cc` on first use into
 * .tributary/cache/ under a name derived from the source hash, so edits rebuild it. Returns
 * undefined when no compiler exists and the opt-out is set; throws CompilerMissingError otherwise.
 */
export function loopbackShim(server: string): Promise<string | undefined> {
  // One build per process even when several servers start at once.
  building ??= buildShim(server).finally(() => {
    building = undefined;
  });
  return building;
}

let building: Promise<string | undefined> | undefined;

async function buildShim(server: string): Promise<string | undefined> {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const cacheDir = join(TRIBUTARY_DIR, 'cache');
  const library = join(cacheDir, `loopback-shim-${hash}.so`);
  if (existsSync(library)) return library;

  mkdirSync(cacheDir, { recursive: true });
  // Build under a private name, then rename: concurrent starts never load a half-written file.
  const partial = `${library}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await promisify(execFile)('cc', ['-shared', '-fPIC', '-O2', '-o', partial, SOURCE.pathname, '-ldl']);
    renameSync(partial, library);
    return library;
  } catch (error) {
    rmSync(partial, { force: true });
    const failure = error as NodeJS.ErrnoException;
    // Another process may have finished the same build first: its library is as good as ours.
    if (failure.syscall === 'rename' && existsSync(library)) return library;
    if (failure.code === 'ENOENT' && failure.syscall?.startsWith('spawn') === true) {
      if (process.env[ALLOW_WILDCARD_BIND_ENV] === '1') {
        console.warn(
          `tributary: no C compiler; ${server} listens on all interfaces (${ALLOW_WILDCARD_BIND_ENV}=1)`,
        );
        return undefined;
      }
      throw new CompilerMissingError(server, { cause: error });
    }
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new ShimBuildError(stderr, { cause: error });
  }
}
