import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AnalyticsErrorCodes } from '../../local/analytics/errors.ts';
import { exitCodeOfSpec } from '../../shared/error-codes.ts';
import { envWithoutAwsCredentials } from '../helpers/bare-env.ts';

/** The project's `tributary` launcher (bin/tributary.mjs): its help and its output before any error. */

const BIN = join(import.meta.dirname, '../../bin/tributary.mjs');

async function tributary(args: string[], env: NodeJS.ProcessEnv = process.env) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('tributary launcher', () => {
  it('lists every command in --help, the project ones included', async () => {
    for (const flag of ['--help', 'help', '-h']) {
      const run = await tributary([flag]);
      expect(run.code).toBe(0);
      for (const command of [
        'agent run',
        'append',
        'status',
        'streams',
        'device provision',
        'analytics',
        'dashboard',
        'plan',
        'scale',
      ]) {
        expect(run.stdout).toContain(`tributary ${command}`);
      }
    }
  });

  it('prints no AWS SDK Node version warning before the answer of analytics status', async () => {
    // No credentials anywhere: the command fails fast with its own error, which must come first.
    // vitest.config.ts silences the warning for every test; the child must not inherit that, so this
    // checks the launcher's own silencing.
    const run = await tributary(['analytics', 'status', '--region', 'us-east-1'], envWithoutAwsCredentials());
    expect(run.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
    expect(run.stderr.trimStart()).toMatch(/^error \[ANALYTICS_NO_CREDENTIALS\]/);
    // The exit status is the code's (ERRORS.md), not 0.
    expect(run.code).toBe(exitCodeOfSpec(AnalyticsErrorCodes.codes.ANALYTICS_NO_CREDENTIALS));
    expect(run.code).not.toBe(0);
  });
});
