import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CONTINUING_COUNTERS, RECOUNTED, stateBanner } from '../../../local/state-rule.ts';

function runCli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'local/cli.ts', ...args], { encoding: 'utf8' });
}

describe('npm start command line', () => {
  it('rejects an unknown flag with usage and exit code 2', () => {
    const result = runCli('--shards', '4');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("error: Unknown option '--shards'");
    expect(result.stderr).toContain('usage: npm start');
  });

  it('rejects an unknown command', () => {
    const result = runCli('deploy');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown command "deploy"');
  });

  it('prints help', () => {
    const result = runCli('--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('--no-limits');
  });

  it('says in --help and at start which counters continue under --persist and which count again', () => {
    const help = runCli('--help').stdout.replace(/\s+/g, ' ');
    expect(help).toContain(`Status counters: ${CONTINUING_COUNTERS}; ${RECOUNTED}.`);
    expect(RECOUNTED).toMatch(/^windows count again .*per-consumer figures$/);
    // No blanket claim that every counter continues.
    expect(help).not.toMatch(/; counters continue/);
    expect(stateBanner(true, '/d')).toContain(`counters: ${CONTINUING_COUNTERS}; ${RECOUNTED}`);
    expect(stateBanner(false, '/d')).toContain('/d was emptied');
    expect(stateBanner(false, '/d')).toContain('every counter starts at 0');
  });
});
