import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * A stand-in for the Flink application JAR (the plugin only hashes, copies and uploads its bytes), so
 * `osls package` runs without a Maven build. Named like the real one: the name is part of the key.
 */
export async function standInJar(dir: string, content: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'tributary-analytics-0.1.0.jar');
  await writeFile(path, `stand-in application code: ${content}\n`);
  return path;
}

/** The function zips `osls package` packages (dist/*.zip), as `npm run package` builds them. */
export async function buildFunctions(): Promise<void> {
  await run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'build-functions.ts')], {
    cwd: ROOT,
    env: process.env,
    timeout: 90_000,
  });
}

/**
 * A copy of the service (serverless.yml and what it reads: the plugin, shared/, dist/) with the
 * project's node_modules linked in. osls works in `<service>/.serverless` whatever `--package` says,
 * so two test files packaging the project itself at once would race on that folder.
 */
export async function serviceCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tributary-service-'));
  for (const path of ['serverless.yml', 'package.json', 'scripts/serverless', 'shared', 'dist']) {
    await cp(join(ROOT, path), join(dir, path), { recursive: true });
  }
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Real `osls package` (offline, no credentials) of `serviceDir` into `outDir`, `jar` as the Flink application JAR. */
export async function oslsPackage(serviceDir: string, outDir: string, jar: string): Promise<void> {
  // SLS_DEPRECATION_DISABLE keeps notices out of CI logs.
  await run(join(ROOT, 'node_modules', '.bin', 'osls'), ['package', '--package', outDir], {
    cwd: serviceDir,
    env: { ...process.env, SLS_DEPRECATION_DISABLE: '*', TRIBUTARY_ANALYTICS_JAR: jar },
    timeout: 90_000,
  });
}
