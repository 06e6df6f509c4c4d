/**
 * How the CLI finds the running agent without flags. Once its API listens, the agent writes
 * `<storeRoot>/api.json`: the URL it took (port 0 included), where its token file is, its body
 * limit. The CLI reads the first such file in a fixed list of places; `npm start` writes one into the
 * project's `.tributary/` for the agent it runs. The file holds the token's path, never the token.
 */
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseOptions } from '../../shared/options.ts';
import * as z from '../../shared/zod.ts';
import { AgentNotFoundError, ConfigFileError } from '../errors.ts';

export const DISCOVERY_FILE_NAME = 'api.json';
/** A directory holding the api.json of the agent to talk to; when set, the only place looked in. */
export const AGENT_DIR_ENV = 'TRIBUTARY_AGENT_DIR';
/** The local cloud's folder in the project, where `npm start` describes the agent it runs. */
export const LOCAL_CLOUD_DIR = '.tributary';

// The agent listens on loopback only; a file pointing elsewhere would send the token off the device.
const LOOPBACK_URL = /^http:\/\/(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\]):\d{1,5}$/;

/** Not strict: a newer agent may write fields an older CLI does not know. */
const discoverySchema = z.object({
  url: z.string().check(z.regex(LOOPBACK_URL, 'must be http:// to a loopback address with a port')),
  /** null: the agent runs with `api.auth: none`. */
  tokenFile: z.nullable(z.string().check(z.minLength(1))),
  maxBodyBytes: z.int().check(z.gte(1)),
  pid: z.optional(z.int()),
  deviceId: z.optional(z.string()),
  /** Where stream manager's protocol is served (the API port or api.streamManagerPort); absent when it is off. */
  streamManagerPort: z.optional(z.int().check(z.gte(1), z.lte(65_535))),
});

export type AgentDiscovery = z.output<typeof discoverySchema>;

/** Writes `<dir>/api.json` (mode 0600) through a synced temporary file and a rename: never half a file. */
export async function writeDiscovery(dir: string, discovery: AgentDiscovery): Promise<string> {
  const file = join(dir, DISCOVERY_FILE_NAME);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await rm(temp, { force: true });
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(discovery, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw error;
  }
  return file;
}

/** Removes `<dir>/api.json` if it still describes the process `pid` (a newer agent may have replaced it). */
export async function removeDiscovery(dir: string, pid: number): Promise<void> {
  const file = join(dir, DISCOVERY_FILE_NAME);
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown };
    if (parsed.pid === pid) await rm(file, { force: true });
  } catch {
    // Gone or unreadable: nothing of ours to remove.
  }
}

/**
 * Reads a discovery file; undefined when there is none. A file that cannot be read, is not valid,
 * or that others may write (it decides where the token is sent) is a ConfigFileError naming it.
 */
export async function readDiscovery(file: string): Promise<AgentDiscovery | undefined> {
  let text: string;
  try {
    const { mode } = await stat(file);
    if ((mode & 0o022) !== 0) {
      throw new ConfigFileError(
        file,
        '',
        `mode ${(mode & 0o777).toString(8).padStart(4, '0')}`,
        'the agent discovery file is writable by group or others; remove it and restart the agent',
      );
    }
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    const hint = code === 'EACCES' ? ' (run the CLI as the user the agent runs as)' : '';
    throw new ConfigFileError(file, '', file, `cannot be read: ${(error as Error).message}${hint}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(file, '', text.slice(0, 64), 'is not JSON', { cause: error });
  }
  return parseOptions(discoverySchema, json, {
    error: ([first, ...rest]) =>
      new ConfigFileError(file, first.path, first.value, first.reason, { also: rest }),
  });
}

export interface FoundAgent {
  readonly discovery: AgentDiscovery;
  readonly file: string;
}

export interface DiscoveryPlaces {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** The agent config a provisioned device runs with; its storeRoot is looked in. */
  readonly defaultConfigFile: string;
  /** The service's state directory, looked in when the default config names no other. */
  readonly defaultStoreRoot: string;
  /** storeRoot of a config file; throws when it cannot be read (the CLI then looks further). */
  readonly storeRootOf: (configFile: string) => Promise<string>;
}

/**
 * Finds the agent to talk to: `$TRIBUTARY_AGENT_DIR` alone when set; otherwise the default config's
 * storeRoot, the default store root, then `.tributary/` in the working directory and its parents
 * (the local cloud of `npm start`). AgentNotFoundError lists every place looked in.
 */
export async function findAgent(places: DiscoveryPlaces): Promise<FoundAgent> {
  const looked: string[] = [];
  const tryDir = async (dir: string, label: string): Promise<FoundAgent | undefined> => {
    const file = join(resolve(places.cwd, dir), DISCOVERY_FILE_NAME);
    const discovery = await readDiscovery(file);
    if (discovery !== undefined) return { discovery, file };
    looked.push(`${file} (${label})`);
    return undefined;
  };
  const override = places.env[AGENT_DIR_ENV];
  if (override !== undefined && override !== '') {
    const found = await tryDir(override, `$${AGENT_DIR_ENV}`);
    if (found !== undefined) return found;
    throw new AgentNotFoundError(looked);
  }
  const storeRoots = new Set<string>();
  try {
    storeRoots.add(await places.storeRootOf(places.defaultConfigFile));
  } catch (error) {
    const code = (error as { cause?: NodeJS.ErrnoException }).cause?.code;
    looked.push(
      `${places.defaultConfigFile} (default config: ${code === 'ENOENT' ? 'none' : (error as Error).message})`,
    );
  }
  storeRoots.add(resolve(places.defaultStoreRoot));
  for (const root of storeRoots) {
    const found = await tryDir(root, 'agent store');
    if (found !== undefined) return found;
  }
  const cwd = resolve(places.cwd);
  for (let dir = cwd; ; dir = dirname(dir)) {
    const file = join(dir, LOCAL_CLOUD_DIR, DISCOVERY_FILE_NAME);
    const discovery = await readDiscovery(file);
    if (discovery !== undefined) return { discovery, file };
    if (dirname(dir) === dir) break;
  }
  looked.push(
    `${join(cwd, LOCAL_CLOUD_DIR, DISCOVERY_FILE_NAME)} and the same in every parent directory (local cloud of npm start)`,
  );
  throw new AgentNotFoundError(looked);
}
