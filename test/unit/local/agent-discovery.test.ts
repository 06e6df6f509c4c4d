import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findAgent, LOCAL_CLOUD_DIR } from '../../../device/api/discovery.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../../../device/config.ts';
import { writeAgentDiscovery } from '../../../local/agent-discovery.ts';
import { PROJECT_ROOT, TRIBUTARY_DIR } from '../../../local/servers/runtime.ts';
import { useTempDir } from '../../helpers/temp-dir.ts';

/** `npm start`'s api.json (local/cli.ts): where the CLI looks by default, with what it needs. */
describe('npm start agent discovery', () => {
  const tmp = useTempDir('tributary-start-discovery-');

  it("writes the agent's api.json into .tributary/ where the CLI finds it from anywhere in the project", async () => {
    // npm start writes into TRIBUTARY_DIR: the folder of the project the CLI looks in.
    expect(TRIBUTARY_DIR).toBe(join(PROJECT_ROOT, LOCAL_CLOUD_DIR));
    const project = join(tmp.path, 'project');
    const agent = {
      name: 'gateway-1',
      url: 'http://127.0.0.1:40123',
      tokenFile: join(project, '.tributary', 'cloud', 'fleet', 'gateway-1', 'store', 'api-token'),
      pid: 4242,
    };
    // .tributary/ does not exist yet on a first start.
    const file = await writeAgentDiscovery(join(project, LOCAL_CLOUD_DIR), agent);
    expect(file).toBe(join(project, LOCAL_CLOUD_DIR, 'api.json'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // The path of the token only, never the token.
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      url: agent.url,
      tokenFile: agent.tokenFile,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      pid: 4242,
      deviceId: 'gateway-1',
    });
    // `tributary status` with no flags, run in a subfolder of the project on a machine with no
    // provisioned agent: the default places are empty, the project's .tributary/ answers.
    const places = {
      env: {},
      cwd: join(project, 'device', 'api'),
      defaultConfigFile: join(tmp.path, 'etc', 'config.yaml'),
      defaultStoreRoot: join(tmp.path, 'var', 'lib', 'tributary'),
      storeRootOf: () => Promise.reject(new Error('no config')),
    };
    expect(await findAgent(places)).toEqual({
      file,
      discovery: {
        url: agent.url,
        tokenFile: agent.tokenFile,
        maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
        pid: 4242,
        deviceId: 'gateway-1',
      },
    });
    // A restart replaces the file (a new port and pid), and an agent without a pid is described too.
    await writeAgentDiscovery(join(project, LOCAL_CLOUD_DIR), {
      ...agent,
      url: 'http://127.0.0.1:40200',
      pid: undefined,
    });
    const again = await findAgent(places);
    expect(again.discovery).toEqual({
      url: 'http://127.0.0.1:40200',
      tokenFile: agent.tokenFile,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      deviceId: 'gateway-1',
    });
  });
});
