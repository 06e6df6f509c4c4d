import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ProvisionErrorCodes } from '../../../device/provision/errors.ts';
import { exitCodeOfSpec } from '../../../shared/error-codes.ts';
import { envWithoutAwsCredentials } from '../../helpers/bare-env.ts';
import { useTempDir } from '../../helpers/temp-dir.ts';

/** device/main.ts, the entry of the device bundle (`npm run build:device`), run here through tsx. */

const MAIN = join(import.meta.dirname, '../../../device/main.ts');

describe('device bundle entry', () => {
  const dir = useTempDir('tributary-device-main-');

  it('prints no AWS SDK Node version warning before the answer of device provision', async () => {
    // No credentials anywhere: provisioning builds its CloudFormation and IoT clients (where the SDK
    // warns) and fails on its first call. vitest.config.ts silences the warning for every test; the
    // child must not inherit that, so this checks device/main.ts's own silencing.
    const args = ['--import', 'tsx', MAIN, 'device', 'provision', '--stage', 'dev', '--thing', 't1'];
    const run = await promisify(execFile)(
      process.execPath,
      [...args, '--region', 'us-east-1', '--dir', join(dir.path, 'device')],
      {
        env: envWithoutAwsCredentials(),
      },
    ).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(run.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
    expect(run.stderr.trimStart()).toMatch(/^tributary: PROVISION_AWS_FAILED: /);
    expect(run.code).toBe(exitCodeOfSpec(ProvisionErrorCodes.codes.PROVISION_AWS_FAILED));
  });
});
