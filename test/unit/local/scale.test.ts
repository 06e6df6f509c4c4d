import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseScaleArgs } from '../../../local/scale/cli.ts';
import type { ScaleRefusedError } from '../../../local/scale/errors.ts';
import { checkScaling, type ScalingState, scaleFailure, scaleSteps } from '../../../local/scale/scale.ts';
import { UsageError } from '../../../shared/errors.ts';
import { thrown } from '../../helpers/thrown.ts';

const state = (overrides: Partial<ScalingState> = {}): ScalingState => ({
  stream: 's',
  status: 'ACTIVE',
  mode: 'PROVISIONED',
  openShards: 4,
  ...overrides,
});
const code = (run: () => unknown) => (thrown(run) as ScaleRefusedError).code;

describe('scale checks (UpdateShardCount limits)', () => {
  it('allows up to double and down to half in one call', () => {
    expect(checkScaling(state(), 8)).toEqual([8]);
    expect(checkScaling(state(), 2)).toEqual([2]);
    expect(checkScaling(state({ openShards: 3 }), 2)).toEqual([2]);
    expect(code(() => checkScaling(state(), 9))).toBe('SCALE_TOO_FAR');
    expect(code(() => checkScaling(state(), 1))).toBe('SCALE_TOO_FAR');
    expect((thrown(() => checkScaling(state({ openShards: 1 }), 8)) as Error).message).toContain(
      'run 2 → 4 → 8',
    );
    expect(checkScaling(state({ openShards: 1 }), 8, true)).toEqual([2, 4, 8]);
  });

  it('refuses what AWS refuses: not ACTIVE, on-demand, past 10,000 shards or the account quota, more than 10 steps', () => {
    const busy = thrown(() => checkScaling(state({ status: 'UPDATING' }), 8)) as ScaleRefusedError;
    expect([busy.code, busy.retryable]).toEqual(['SCALE_BUSY', true]);
    expect(code(() => checkScaling(state({ mode: 'ON_DEMAND' }), 8))).toBe('SCALE_ON_DEMAND');
    expect(code(() => checkScaling(state({ openShards: 6000 }), 10_001))).toBe('SCALE_STREAM_LIMIT');
    expect(code(() => checkScaling(state({ openShards: 12_000 }), 10_000))).toBe('SCALE_STREAM_LIMIT');
    expect(checkScaling(state({ openShards: 12_000 }), 9_999)).toEqual([9_999]);
    expect(code(() => checkScaling(state({ account: { openShards: 10, shardLimit: 12 } }), 8))).toBe(
      'SCALE_ACCOUNT_QUOTA',
    );
    expect(checkScaling(state({ account: { openShards: 10, shardLimit: 14 } }), 8)).toEqual([8]);
    expect(code(() => checkScaling(state({ openShards: 1 }), 5000, true))).toBe('SCALE_TOO_FAR');
  });

  it('steps stay within a factor of two and end on the target', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 20_000 }), (from, to) => {
        const steps = scaleSteps(from, to);
        expect(steps.at(-1) ?? from).toBe(to);
        let at = from;
        for (const step of steps) {
          expect(step).toBeLessThanOrEqual(at * 2);
          expect(step).toBeGreaterThanOrEqual(Math.ceil(at / 2));
          at = step;
        }
      }),
    );
  });

  it('maps Kinesis errors to codes that say what to do', () => {
    const named = (name: string) => Object.assign(new Error('x'), { name });
    expect(scaleFailure('s', 'UpdateShardCount', named('LimitExceededException')).code).toBe('SCALE_LIMIT');
    expect(scaleFailure('s', 'UpdateShardCount', named('ResourceInUseException')).code).toBe('SCALE_BUSY');
    expect(scaleFailure('s', 'UpdateShardCount', named('ResourceNotFoundException')).code).toBe(
      'SCALE_NOT_FOUND',
    );
  });
});

describe('scale command line', () => {
  it('names the stage stream and checks its flags', () => {
    expect(parseScaleArgs(['--stage', 'dev', '--shards', '4'], {})).toMatchObject({
      stream: 'tributary-dev-records',
      target: 4,
      region: 'us-east-1',
      stepwise: false,
      timeoutMs: 600_000,
    });
    for (const argv of [
      ['--shards', '4'],
      ['--stage', 'dev'],
      ['--stage', 'dev', '--shards', '0'],
      ['--stage', 'dev', '--shards', '2.5'],
      ['--stage', 'd v', '--shards', '2'],
      ['--stage', 'dev', '--shards', '2', '--endpoint', 'localhost:1'],
      ['--stage', 'dev', '--shards', '2', '--bogus'],
    ])
      expect(thrown(() => parseScaleArgs(argv, {}))).toBeInstanceOf(UsageError);
    expect(parseScaleArgs(['--help'], {})).toBeUndefined();
  });

  it('names every bad flag and its value in one usage error', () => {
    const error = thrown(() =>
      parseScaleArgs(['--stage', 'd v', '--shards', 'x', '--timeout=-1', '--endpoint', 'localhost:1'], {}),
    );
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(
      '--stage must be letters, digits and - (got "d v"); ' +
        '--shards must be a whole number of at least 1 (got "x"); ' +
        '--timeout must be a positive number of seconds (got "-1"); ' +
        '--endpoint must be an http(s) URL (got "localhost:1")',
    );
  });
});
