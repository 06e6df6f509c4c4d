import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../../../device/agent.ts';
import { parseConfig } from '../../../../device/config.ts';
import { telemetryRecord } from '../../../helpers/records.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const tmp = useTempDir('tributary-stop-');

describe('agent stop', () => {
  // The chaos suite found `agent run` exiting 1 on SIGTERM: its progress timer asked for the status
  // while the log was closing (LOG_CLOSED thrown from a timer).
  it('answers status() at every step of a stop, and reports stopped once the store closes', async () => {
    const agent = await Agent.start(
      parseConfig({
        storeRoot: join(tmp.path, 'store'),
        deviceId: 'sensor-0001',
        aws: { region: 'us-east-1' },
        streams: [{ name: 'telemetry' }],
      }),
    );
    await agent.append('telemetry', telemetryRecord());
    const states = new Set<string>();
    let done = false;
    const stopping = agent.stop().finally(() => {
      done = true;
    });
    while (!done) {
      states.add(agent.status().state);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await stopping;
    expect(agent.status()).toMatchObject({ state: 'stopped', streams: [] });
    expect(states.has('stopping')).toBe(true);
  });
});
