import { existsSync } from 'node:fs';
import { CreateThingCommand, DescribeThingCommand } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findMoto, type RunningServer, startMoto } from '../../local/servers/index.ts';
import { createControlPlaneClients } from '../../shared/aws/control-clients.ts';

// CI (.ci/run) installs moto into .venv, so there a missing moto fails instead of skipping.
const available = findMoto() !== undefined || process.env.CI === 'true';

describe.skipIf(!available)(
  `moto server${available ? '' : ' [SKIPPED: no .venv/bin/moto_server; .venv/bin/pip install -r scripts/cfn-lint-requirements.txt]'}`,
  () => {
    let moto: RunningServer;
    beforeAll(async () => {
      moto = await startMoto();
    }, 60_000);
    afterAll(async () => {
      await moto?.stop();
    });

    it('serves the IoT registry on 127.0.0.1 and stops without leaving the process', async () => {
      expect(moto.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const clients = createControlPlaneClients({
        kind: 'local',
        region: 'eu-west-1',
        endpoints: { iot: moto.endpoint },
      });
      try {
        await clients.iot().send(new CreateThingCommand({ thingName: 'probe-thing' }));
        const thing = await clients.iot().send(new DescribeThingCommand({ thingName: 'probe-thing' }));
        expect(thing.thingName).toBe('probe-thing');
      } finally {
        clients.destroy();
      }
      const pid = moto.pid as number;
      await moto.stop();
      expect(existsSync(`/proc/${pid}`)).toBe(false);
    });
  },
);
