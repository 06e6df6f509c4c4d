import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { JavaMissingError, PortInUseError, ServerStartError } from '../errors.ts';

/** A started local server. `pid` is undefined for servers running inside this process. */
export interface RunningServer {
  readonly name: string;
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** Stops the server and waits until it is gone; safe to call more than once. */
  stop(): Promise<void>;
}

/** The loopback address every local server listens on. */
export const LOOPBACK = '127.0.0.1';

/** Repository root (this file is local/servers/runtime.ts). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Project-local, gitignored folder for caches and default logs. */
export const TRIBUTARY_DIR = join(PROJECT_ROOT, '.tributary');

const DEFAULT_START_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 5_000;
const READY_POLL_MS = 25;

/** A port that was free on 127.0.0.1 a moment ago (the kernel picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('freePort: no TCP address');
  return address.port;
}

/** Throws PortInUseError when `port` cannot be bound on 127.0.0.1 right now. */
export async function assertPortFree(server: string, port: number): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ port, host: LOOPBACK, exclusive: true }, resolve);
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(server, port);
    throw error;
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/** The requested port after checking it is free, or a fresh free port. */
export async function choosePort(server: string, requested: number | undefined): Promise<number> {
  if (requested === undefined || requested === 0) return freePort();
  await assertPortFree(server, requested);
  return requested;
}

/** Polls `probe` until it returns true, or throws when `failed` reports the server gone or time runs out. */
async function waitUntilReady(
  probe: () => Promise<boolean>,
  failed: () => string | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failure = failed();
    if (failure !== undefined) throw new Error(failure);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms`);
    await sleep(READY_POLL_MS);
  }
}

/** Last `maxBytes` of a log file after offset `from`, or '' when it cannot be read. */
async function readTail(file: string, from: number, maxBytes = 4_000): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.max(0, Math.min(size - from, maxBytes));
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

export interface ChildServerSpec {
  name: string;
  command: string;
  args: readonly string[];
  cwd: string;
  env: Record<string, string | undefined>;
  /** stdout and stderr of the child are appended here, never to the console. */
  logFile: string;
  /** Delete the log on a clean stop (per-instance logs of servers without a data folder). */
  removeLogOnStop?: boolean;
  port: number;
  endpoint: string;
  probe: () => Promise<boolean>;
  startTimeoutMs?: number;
}

/**
 * Spawns a server process and waits for its readiness probe.
 *
 * No orphans: the child gets its own process group (detached), so stop() and the exit hooks signal
 * the whole group: SIGTERM, then SIGKILL after a grace period. The exit hooks cover normal exit and
 * SIGINT/SIGTERM/SIGHUP of this process. For SIGKILL of this process the child watches for itself:
 * TRIBUTARY_PARENT_PID is passed on, and the Node preload (polling process.ppid) or the LD_PRELOAD
 * shim (PR_SET_PDEATHSIG) terminates the child once this process is gone.
 */
export async function startChildServer(spec: ChildServerSpec): Promise<RunningServer> {
  mkdirSync(join(spec.logFile, '..'), { recursive: true });
  const logFd = openSync(spec.logFile, 'a');
  // Error reports quote only this run's output, not earlier runs appended to the same file.
  const logStart = fstatSync(logFd).size;
  writeSync(logFd, `--- tributary: ${spec.name} on port ${spec.port}, ${new Date().toISOString()} ---\n`);
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env, TRIBUTARY_PARENT_PID: String(process.pid) },
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }

  let exitInfo: string | undefined;
  let spawnError: NodeJS.ErrnoException | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
      resolve();
    });
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Only a failed spawn matters here ('exit' does not follow it); other errors are from kill().
      if (child.pid !== undefined) return;
      spawnError = error;
      exitInfo = `could not be spawned (${error.code ?? error.message})`;
      resolve();
    });
  });
  const pid = child.pid;
  if (pid !== undefined) {
    liveGroups.add(pid);
    ensureExitHooks();
  }

  let ready = false;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (pid === undefined) return;
      if (exitInfo === undefined) {
        signalGroup(pid, 'SIGTERM');
        const graceful = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS, false)]);
        if (!graceful) signalGroup(pid, 'SIGKILL');
        await exited;
      }
      // Anything the server itself spawned into its group goes too.
      signalGroup(pid, 'SIGKILL');
      liveGroups.delete(pid);
      removeExitHooksIfIdle();
      if (ready && spec.removeLogOnStop === true) rmSync(spec.logFile, { force: true });
    })();
    return stopping;
  };

  try {
    await waitUntilReady(spec.probe, () => exitInfo, spec.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    ready = true;
  } catch (error) {
    await stop();
    if (spawnError?.code === 'ENOENT' && spec.command.endsWith('java')) {
      throw new JavaMissingError(`\`${spec.command}\` was not found`, { cause: spawnError });
    }
    const logTail = await readTail(spec.logFile, logStart);
    if (/EADDRINUSE|Address already in use|BindException/.test(logTail)) {
      throw new PortInUseError(spec.name, spec.port, { cause: error });
    }
    if (/UnsupportedClassVersionError/.test(logTail)) {
      throw new JavaMissingError(`\`${spec.command}\` is older than 17`, { cause: error });
    }
    throw new ServerStartError(spec.name, (error as Error).message, {
      logFile: spec.logFile,
      logTail,
      cause: spawnError ?? error,
    });
  }

  return { name: spec.name, endpoint: spec.endpoint, port: spec.port, pid, stop };
}

/** Process groups of children that are still running. */
const liveGroups = new Set<number>();
const HOOK_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let hooksInstalled = false;

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function killAllChildren(): void {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGTERM');
  liveGroups.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // Someone else handles the signal (npm start stops its pipeline, then the servers, in order): leave
  // the servers to them; the exit hook still stops whatever is left when the process exits.
  if (process.listenerCount(signal) > 1) return;
  killAllChildren();
  removeExitHooksIfIdle();
  // Our listener replaced the default action; restore it when nobody else handles the signal.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

// Installed only while children run, so an idle process keeps Node's default signal behaviour.
function ensureExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of HOOK_SIGNALS) process.on(signal, onSignal);
}

function removeExitHooksIfIdle(): void {
  if (!hooksInstalled || liveGroups.size > 0) return;
  hooksInstalled = false;
  process.off('exit', killAllChildren);
  for (const signal of HOOK_SIGNALS) process.off(signal, onSignal);
}

/**
 * Where a server's output goes: `<dataDir>/<name>.log`, appended across runs; without a data folder
 * `.tributary/logs/<name>-<port>.log`, one per instance so parallel servers do not interleave, and
 * removed by a clean stop() (a failed start keeps it: the error names it).
 */
export function serverLog(
  name: string,
  port: number,
  dataDir: string | undefined,
): { logFile: string; removeLogOnStop: boolean } {
  if (dataDir !== undefined) return { logFile: join(dataDir, `${name}.log`), removeLogOnStop: false };
  return { logFile: join(TRIBUTARY_DIR, 'logs', `${name}-${port}.log`), removeLogOnStop: true };
}

/** Environment for Node children: no loaders or flags inherited from this process (tsx, vitest). */
export function nodeChildEnv(extra: Record<string, string>): Record<string, string | undefined> {
  return { NODE_OPTIONS: undefined, ...extra };
}
