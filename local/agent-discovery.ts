import { mkdir } from 'node:fs/promises';
import { writeDiscovery } from '../device/api/discovery.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../device/config.ts';
import type { RunningDeviceAgent } from './fleet/agent.ts';

/**
 * What `npm start` leaves for the CLI: `<dir>/api.json` (dir is the project's `.tributary/`, made if
 * missing) naming the agent it runs, its URL, token file, body limit, pid and device id, so
 * `tributary status` and `tributary append` run anywhere in the project reach it without flags
 * (device/api/discovery.ts findAgent). Returns the file written.
 */
export async function writeAgentDiscovery(
  dir: string,
  agent: Pick<RunningDeviceAgent, 'name' | 'url' | 'tokenFile' | 'pid'>,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  return writeDiscovery(dir, {
    url: agent.url,
    tokenFile: agent.tokenFile,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    ...(agent.pid === undefined ? {} : { pid: agent.pid }),
    deviceId: agent.name,
  });
}
