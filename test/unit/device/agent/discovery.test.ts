import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type AgentDiscovery,
  findAgent,
  readDiscovery,
  removeDiscovery,
  writeDiscovery,
} from '../../../../device/api/discovery.ts';
import { AgentNotFoundError, ConfigFileError } from '../../../../device/errors.ts';
import { useTempDirs } from '../../../helpers/temp-dir.ts';

const agent = (port: number): AgentDiscovery => ({
  url: `http://127.0.0.1:${port}`,
  tokenFile: '/var/lib/tributary/api-token',
  maxBodyBytes: 1024,
  pid: 4242,
});

describe('agent discovery file', () => {
  const tempDir = useTempDirs('tributary-discovery-');
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });

  const places = (over: Partial<Parameters<typeof findAgent>[0]> = {}) => ({
    env: {},
    cwd: join(dir, 'cwd'),
    defaultConfigFile: join(dir, 'etc', 'agent.json'),
    defaultStoreRoot: join(dir, 'var'),
    storeRootOf: async (file: string): Promise<string> => {
      throw new ConfigFileError(file, '', undefined, 'cannot be read', {
        cause: Object.assign(new Error('ENOENT'), { code: 'ENOENT' }),
      });
    },
    ...over,
  });

  it('is written whole with mode 0600, read back, and removed only by the process it names', async () => {
    const file = await writeDiscovery(dir, agent(8088));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['api.json']);
    expect(await readDiscovery(file)).toEqual(agent(8088));
    await writeDiscovery(dir, agent(9000));
    expect((await readDiscovery(file))?.url).toBe('http://127.0.0.1:9000');
    await removeDiscovery(dir, 1);
    expect(await readDiscovery(file)).toBeDefined();
    await removeDiscovery(dir, 4242);
    expect(await readDiscovery(file)).toBeUndefined();
  });

  it('refuses a file others may write, a URL off loopback, and content that is not a discovery', async () => {
    const file = await writeDiscovery(dir, agent(8088));
    await chmod(file, 0o666);
    const open = await readDiscovery(file).catch((e: unknown) => e);
    expect(open).toBeInstanceOf(ConfigFileError);
    expect((open as Error).message).toContain('writable by group or others');
    await chmod(file, 0o600);
    await writeFile(file, JSON.stringify({ ...agent(1), url: 'http://example.test:80' }));
    const remote = (await readDiscovery(file).catch((e: unknown) => e)) as ConfigFileError;
    expect(remote).toMatchObject({ code: 'CONFIG_INVALID', path: 'url', value: 'http://example.test:80' });
    await writeFile(file, '{"url":');
    expect(await readDiscovery(file).catch((e: unknown) => e)).toBeInstanceOf(ConfigFileError);
  });

  it('looks in $TRIBUTARY_AGENT_DIR alone when it is set', async () => {
    await mkdir(join(dir, 'var'), { recursive: true });
    await writeDiscovery(join(dir, 'var'), agent(1111));
    await mkdir(join(dir, 'mine'));
    const error = await findAgent(places({ env: { TRIBUTARY_AGENT_DIR: join(dir, 'mine') } })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AgentNotFoundError);
    expect((error as AgentNotFoundError).looked).toEqual([
      `${join(dir, 'mine', 'api.json')} ($TRIBUTARY_AGENT_DIR)`,
    ]);
    await writeDiscovery(join(dir, 'mine'), agent(2222));
    const found = await findAgent(places({ env: { TRIBUTARY_AGENT_DIR: join(dir, 'mine') } }));
    expect(found).toEqual({ discovery: agent(2222), file: join(dir, 'mine', 'api.json') });
  });

  it("prefers the default config's store, then the default store, then .tributary/ up from the working directory", async () => {
    const cwd = join(dir, 'project', 'a', 'b');
    await mkdir(cwd, { recursive: true });
    await mkdir(join(dir, 'project', '.tributary'));
    await writeDiscovery(join(dir, 'project', '.tributary'), agent(3333));
    expect((await findAgent(places({ cwd }))).discovery.url).toBe('http://127.0.0.1:3333');
    await mkdir(join(dir, 'var'));
    await writeDiscovery(join(dir, 'var'), agent(4444));
    expect((await findAgent(places({ cwd }))).discovery.url).toBe('http://127.0.0.1:4444');
    await mkdir(join(dir, 'store'));
    await writeDiscovery(join(dir, 'store'), agent(5555));
    const configured = await findAgent(places({ cwd, storeRootOf: async () => join(dir, 'store') }));
    expect(configured.discovery.url).toBe('http://127.0.0.1:5555');
  });

  it('names every place it looked in when there is no agent', async () => {
    const error = (await findAgent(places()).catch((e: unknown) => e)) as AgentNotFoundError;
    expect(error).toBeInstanceOf(AgentNotFoundError);
    expect(error.code).toBe('AGENT_NOT_FOUND');
    expect(error.looked).toEqual([
      `${join(dir, 'etc', 'agent.json')} (default config: none)`,
      `${join(dir, 'var', 'api.json')} (agent store)`,
      `${join(dir, 'cwd', '.tributary', 'api.json')} and the same in every parent directory (local cloud of npm start)`,
    ]);
  });
});
