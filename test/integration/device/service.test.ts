import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../device/cli.ts';
import { useTempDirs } from '../../helpers/temp-dir.ts';

const ANALYZE = '/usr/bin/systemd-analyze';
// CI (.ci/run) installs systemd, so there a missing systemd-analyze fails instead of skipping.
const available = existsSync(ANALYZE) || process.env.CI === 'true';

function output() {
  const chunks: string[] = [];
  const stream = { write: (chunk: string) => chunks.push(chunk) > 0 } as unknown as NodeJS.WritableStream;
  return { io: { out: stream, err: stream }, text: () => chunks.join('') };
}

describe.skipIf(!available)(
  `agent install-service${available ? '' : ' [SKIPPED: no systemd-analyze; apt-get install systemd]'}`,
  () => {
    const tempDir = useTempDirs('tributary-service-');

    it('writes a sandboxed unit that systemd-analyze verify accepts, and is idempotent', async () => {
      const dir = await tempDir();
      const config = join(dir, 'agent.json');
      await writeFile(
        config,
        JSON.stringify({
          storeRoot: '/var/lib/tributary',
          deviceId: 'gw-1',
          aws: { region: 'eu-west-1' },
          streams: [{ name: 'telemetry' }],
        }),
      );
      const bundle = join(dir, 'tributary.mjs');
      await writeFile(bundle, '');
      const args = ['agent', 'install-service', '--config', config, '--bundle', bundle];
      const run = output();
      expect(await main([...args, '--unit-dir', dir, '--no-user-setup'], run.io), run.text()).toBe(0);
      const unitFile = join(dir, 'tributary-agent.service');
      const unit = await readFile(unitFile, 'utf8');
      for (const line of [
        'User=tributary',
        'StateDirectory=tributary',
        'Restart=on-failure',
        'StartLimitBurst=10',
        'MemoryMax=128M',
        'ProtectSystem=strict',
        'ProtectHome=yes',
        'NoNewPrivileges=yes',
        'PrivateTmp=yes',
        'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
      ]) {
        expect(unit).toContain(`\n${line}\n`);
      }
      expect(unit).toContain(
        `--max-old-space-size=48 --optimize-for-size ${bundle} agent run --config ${config}`,
      );
      // Throws (non-zero exit) on any error or warning it prints for the unit.
      const verify = execFileSync(ANALYZE, ['verify', '--man=no', unitFile], { stdio: 'pipe' });
      expect(verify.toString()).toBe('');
      const again = output();
      expect(await main([...args, '--unit-dir', dir, '--no-user-setup'], again.io)).toBe(0);
      expect(again.text()).toContain(`unchanged: ${unitFile}`);
      // A bad memory cap is refused with the flag named.
      const bad = output();
      expect(await main([...args, '--unit-dir', dir, '--no-user-setup', '--memory-max', '12'], bad.io)).toBe(
        2,
      );
      expect(bad.text()).toContain('--memory-max');
    });
  },
);
