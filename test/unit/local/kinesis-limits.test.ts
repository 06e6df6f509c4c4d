import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { admitRecords } from '../../../local/kinesis-limits/admission.ts';
import { LimitsOptionError } from '../../../local/kinesis-limits/errors.ts';
import { FaultInjector, type FaultPlan } from '../../../local/kinesis-limits/faults.ts';
import { parseControl } from '../../../local/kinesis-limits/proxy.ts';
import {
  type RateLimitsChange,
  ShardLimiter,
  SlidingWindow,
  WINDOW_MS,
} from '../../../local/kinesis-limits/window.ts';
import {
  mergePutRecordsResult,
  parsePutRecords,
  recordBytes,
  type StreamRef,
  streamRefOf,
  subsetRequest,
  throttleMessage,
} from '../../../local/kinesis-limits/wire.ts';
import { ShardMap } from '../../../shared/kinesis/hash.ts';
import {
  PUT_RECORDS_MAX_BYTES,
  PUT_RECORDS_MAX_RECORDS,
  SHARD_WRITE_BYTES_PER_SECOND,
  SHARD_WRITE_RECORDS_PER_SECOND,
} from '../../../shared/kinesis/limits.ts';
import { evenShards } from '../../helpers/shards.ts';

const HALF = 1n << 127n;

function optionErrorOf(run: () => unknown): LimitsOptionError {
  try {
    run();
  } catch (error) {
    if (error instanceof LimitsOptionError) return error;
    throw error;
  }
  throw new Error('expected a LimitsOptionError');
}
/** Two shards split at HALF. */
const twoShards = evenShards(2);
const stream: StreamRef = {
  key: '000000000000/us-east-1/s1',
  name: 's1',
  accountId: '000000000000',
  region: 'us-east-1',
  selector: { StreamName: 's1' },
};
const base64Of = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64');
/** Pins a record to shard 0 whatever its partition key. */
const onShard0 = (partitionKey: string, dataBytes = 10) => ({
  data: base64Of(dataBytes),
  partitionKey,
  explicitHashKey: '1',
});

interface Attempt {
  dt: number;
  size: number;
}

/** Naive reference: admit iff the admitted records in (now - 1000, now] leave room. */
function reference(attempts: readonly Attempt[], records: number, bytes: number): boolean[] {
  const admitted: { t: number; size: number }[] = [];
  let now = 0;
  return attempts.map(({ dt, size }) => {
    now += dt;
    const live = admitted.filter((a) => a.t > now - WINDOW_MS);
    const used = live.reduce((sum, a) => sum + a.size, 0);
    const ok = live.length + 1 <= records && used + size <= bytes;
    if (ok) admitted.push({ t: now, size });
    return ok;
  });
}

// Steps that land exactly on window edges, where an off-by-one would show.
const attemptsArb = fc.array(
  fc.record({
    dt: fc.oneof(fc.constantFrom(0, 1, 250, 500, 1000), fc.integer({ min: 0, max: 400 })),
    size: fc.integer({ min: 1, max: 60 }),
  }),
  { maxLength: 300 },
);

describe('SlidingWindow', () => {
  it('matches the naive sliding-window reference decision for decision', () => {
    fc.assert(
      fc.property(
        attemptsArb,
        fc.integer({ min: 1, max: 25 }),
        fc.integer({ min: 60, max: 600 }),
        (attempts, r, b) => {
          const window = new SlidingWindow();
          let now = 0;
          const actual = attempts.map(({ dt, size }) => {
            now += dt;
            return window.tryAdmit(now, size, { recordsPerSecond: r, bytesPerSecond: b });
          });
          expect(actual).toEqual(reference(attempts, r, b));
        },
      ),
    );
  });

  it('never admits more than the limits within any 1000 ms span', () => {
    fc.assert(
      fc.property(
        attemptsArb,
        fc.integer({ min: 1, max: 25 }),
        fc.integer({ min: 60, max: 600 }),
        (attempts, r, b) => {
          const window = new SlidingWindow();
          const admitted: { t: number; size: number }[] = [];
          let now = 0;
          for (const { dt, size } of attempts) {
            now += dt;
            if (window.tryAdmit(now, size, { recordsPerSecond: r, bytesPerSecond: b }))
              admitted.push({ t: now, size });
          }
          // The fullest span starts at some admission, so checking those spans covers every span.
          for (const start of admitted) {
            const span = admitted.filter((a) => a.t >= start.t && a.t < start.t + WINDOW_MS);
            expect(span.length).toBeLessThanOrEqual(r);
            expect(span.reduce((sum, a) => sum + a.size, 0)).toBeLessThanOrEqual(b);
          }
        },
      ),
    );
  });

  it('throttles exactly the records over the limit when they all fall within one second', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 0, max: 2500 })
          .chain((n) => fc.array(fc.integer({ min: 0, max: WINDOW_MS - 1 }), { minLength: n, maxLength: n })),
        (offsets) => {
          const times = [...offsets].sort((a, b) => a - b);
          const limiter = new ShardLimiter();
          const throttled = times.filter((t) => !limiter.tryAdmit('s/shard-0', 1, 5_000 + t)).length;
          expect(throttled).toBe(Math.max(0, times.length - SHARD_WRITE_RECORDS_PER_SECOND));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('throttles the 1001st record of a second and frees capacity once the first leaves the window', () => {
    const limiter = new ShardLimiter();
    const results = Array.from({ length: 1001 }, (_, i) => limiter.tryAdmit('k', 1, i * 0.5));
    expect(results.filter((ok) => !ok)).toHaveLength(1);
    expect(results[1000]).toBe(false);
    // The record admitted at 0 ms leaves the window at 1000 ms, the one at 0.5 ms at 1000.5 ms.
    expect(limiter.tryAdmit('k', 1, WINDOW_MS)).toBe(true);
    expect(limiter.tryAdmit('k', 1, WINDOW_MS)).toBe(false);
    expect(limiter.tryAdmit('k', 1, WINDOW_MS + 0.5)).toBe(true);
  });

  it('enforces the 1 MiB/s byte limit on data plus partition key', () => {
    const limiter = new ShardLimiter();
    const size = recordBytes({ data: base64Of(100 * 1024 - 3), partitionKey: 'abc' });
    expect(size).toBe(100 * 1024);
    const admitted = Array.from({ length: 20 }, () => limiter.tryAdmit('k', size, 0)).filter(Boolean).length;
    expect(admitted).toBe(Math.floor(SHARD_WRITE_BYTES_PER_SECOND / size));
    // A smaller record still fits the remaining bytes: byte refusals do not block later records.
    expect(limiter.tryAdmit('k', SHARD_WRITE_BYTES_PER_SECOND - admitted * size, 0)).toBe(true);
  });

  it('keeps shards independent and accepts limit changes', () => {
    const limiter = new ShardLimiter({ recordsPerSecond: 2 });
    expect([1, 2, 3].map(() => limiter.tryAdmit('a', 1, 0))).toEqual([true, true, false]);
    expect(limiter.tryAdmit('b', 1, 0)).toBe(true);
    limiter.setLimits({ recordsPerSecond: 3 });
    expect(limiter.tryAdmit('a', 1, 0)).toBe(true);
    expect(limiter.limits).toEqual({ recordsPerSecond: 3, bytesPerSecond: SHARD_WRITE_BYTES_PER_SECOND });
  });

  it('rejects non-positive limits', () => {
    expect(() => new ShardLimiter({ recordsPerSecond: 0 })).toThrow(LimitsOptionError);
    expect(() => new ShardLimiter({ bytesPerSecond: Number.NaN })).toThrow(LimitsOptionError);
  });

  it('refuses a misspelt limit, naming its path and value, and keeps the limits in force', () => {
    const limiter = new ShardLimiter({ recordsPerSecond: 2 });
    const misspelt = { recordPerSecond: 5 } as unknown as RateLimitsChange;
    const error = optionErrorOf(() => limiter.setLimits(misspelt));
    expect(error).toMatchObject({ option: 'limits.recordPerSecond', value: 5 });
    expect(error.message).toContain('limits.recordPerSecond: is not a rate limit (got 5)');
    expect(limiter.limits.recordsPerSecond).toBe(2);
  });
});

describe('admitRecords', () => {
  const context = (enabled: boolean, faults = new FaultInjector()) => ({
    limiter: new ShardLimiter(),
    faults,
    enabled,
    now: 0,
  });

  it('routes by hash key and throttles only the shard over its limit', () => {
    const ctx = context(true);
    const entries = [
      ...Array.from({ length: 1001 }, (_, i) => onShard0(`k${i}`)),
      { data: base64Of(1), partitionKey: 'x', explicitHashKey: HALF.toString() },
    ];
    const admissions = admitRecords(entries, twoShards, stream, ctx);
    expect(admissions?.filter((a) => a.outcome === 'throttle')).toEqual([
      { outcome: 'throttle', shardId: 'shardId-000000000000', injected: false },
    ]);
    expect(admissions?.[1001]).toEqual({ outcome: 'admit', shardId: 'shardId-000000000001', bytes: 2 });
  });

  it('admits everything when switched off', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), (n) => {
        const entries = Array.from({ length: n }, (_, i) => onShard0(`k${i}`));
        const admissions = admitRecords(entries, twoShards, stream, context(false)) ?? [];
        expect(admissions.every((a) => a.outcome === 'admit')).toBe(true);
        expect(admissions).toHaveLength(n);
      }),
      { numRuns: 20 },
    );
  });

  it('takes no capacity when a record maps to no open shard', () => {
    const ctx = context(true);
    const lowerHalfOnly = new ShardMap(twoShards.shards.slice(0, 1));
    const entries = [
      onShard0('a'),
      { data: base64Of(1), partitionKey: 'x', explicitHashKey: HALF.toString() },
    ];
    expect(admitRecords(entries, lowerHalfOnly, stream, ctx)).toBeUndefined();
    expect(ctx.limiter.tryAdmit('000000000000/us-east-1/s1/shardId-000000000000', 1, 0)).toBe(true);
  });

  it('injects record faults from a seeded plan, repeatably, even with limits off', () => {
    const entries = Array.from({ length: 2000 }, (_, i) => onShard0(`k${i}`));
    const plan = { throttleFraction: 0.1, internalFailureFraction: 0.05, seed: 42 };
    const first = admitRecords(entries, twoShards, stream, context(false, new FaultInjector(plan))) ?? [];
    const second = admitRecords(entries, twoShards, stream, context(false, new FaultInjector(plan))) ?? [];
    expect(second).toEqual(first);
    const throttled = first.filter((a) => a.outcome === 'throttle').length;
    const internal = first.filter((a) => a.outcome === 'internal').length;
    expect(throttled).toBeGreaterThan(100);
    expect(throttled).toBeLessThan(300);
    expect(internal).toBeGreaterThan(40);
    expect(internal).toBeLessThan(160);
  });
});

describe('FaultInjector', () => {
  it('fails exactly the next N requests, then none', () => {
    const faults = new FaultInjector({ failNextRequests: 2 });
    expect([1, 2, 3, 4].map(() => faults.failRequest())).toEqual([true, true, false, false]);
    expect(faults.current()).toEqual({});
  });

  it('fails every request at fraction 1 and clears with an empty plan', () => {
    const faults = new FaultInjector({ failRequestFraction: 1, throttleFraction: 1 });
    expect(faults.failRequest()).toBe(true);
    expect(faults.recordFault()).toBe('throttle');
    faults.set({});
    expect(faults.failRequest()).toBe(false);
    expect(faults.recordFault()).toBeUndefined();
  });

  it('rejects fractions outside [0, 1]', () => {
    expect(() => new FaultInjector({ throttleFraction: 1.5 })).toThrow(LimitsOptionError);
    expect(() => new FaultInjector({ throttleFraction: 0.6, internalFailureFraction: 0.6 })).toThrow(
      LimitsOptionError,
    );
    expect(() => new FaultInjector({ failNextRequests: -1 })).toThrow(LimitsOptionError);
  });

  it('refuses a misspelt key, naming its path and value, rather than injecting nothing', () => {
    const misspelt = { throttleFracton: 0.5 } as unknown as FaultPlan;
    expect(() => new FaultInjector(misspelt)).toThrow(
      expect.objectContaining({
        code: 'KINESIS_LIMITS_OPTION_INVALID',
        option: 'faults.throttleFracton',
        value: 0.5,
        message: expect.stringContaining('faults.throttleFracton: is not a fault plan field (got 0.5)'),
      }),
    );
  });

  it('names every bad path at once', () => {
    const error = optionErrorOf(() => new FaultInjector({ throttleFraction: 2, seed: 1.5 }));
    expect(error.issues.map((issue) => [issue.path, issue.value])).toEqual([
      ['faults.throttleFraction', 2],
      ['faults.seed', 1.5],
    ]);
  });
});

describe('parseControl', () => {
  it('takes every field of a control change', () => {
    const change = { enabled: false, efo: true, limits: { recordsPerSecond: 5 }, faults: { seed: 3 } };
    expect(parseControl(change)).toEqual(change);
  });

  it('refuses unknown and mistyped fields at every level, naming each path and value', () => {
    const error = optionErrorOf(() =>
      parseControl({ enabled: 'yes', fault: {}, limits: { bytes: 1 }, faults: { throttleFracton: 1 } }),
    );
    expect(error.issues.map((issue) => [issue.path, issue.value])).toEqual([
      ['enabled', 'yes'],
      ['limits.bytes', 1],
      ['faults.throttleFracton', 1],
      ['fault', {}],
    ]);
  });
});

describe('wire', () => {
  it('reads the stream from a name with the account of a 12-digit access key, or from an ARN', () => {
    const auth =
      'AWS4-HMAC-SHA256 Credential=111122223333/20260101/eu-west-1/kinesis/aws4_request, Signature=x';
    expect(streamRefOf({ StreamName: 's' }, auth, '000000000000')).toMatchObject({
      key: '111122223333/eu-west-1/s',
      accountId: '111122223333',
    });
    const dummy = 'AWS4-HMAC-SHA256 Credential=dummy/20260101/us-east-1/kinesis/aws4_request, Signature=x';
    expect(streamRefOf({ StreamName: 's' }, dummy, '000000000000')?.accountId).toBe('000000000000');
    const arn = 'arn:aws:kinesis:ap-south-1:444455556666:stream/orders';
    expect(streamRefOf({ StreamARN: arn }, dummy, '000000000000')).toEqual({
      key: '444455556666/ap-south-1/orders',
      name: 'orders',
      accountId: '444455556666',
      region: 'ap-south-1',
      selector: { StreamARN: arn },
    });
    expect(streamRefOf({}, dummy, '000000000000')).toBeUndefined();
  });

  it('words throttles like AWS', () => {
    expect(throttleMessage('shardId-000000000001', stream)).toBe(
      'Rate exceeded for shard shardId-000000000001 in stream s1 under account 000000000000.',
    );
  });

  it('leaves requests over the PutRecords size limits to the emulator', () => {
    const request = (count: number, dataBytes: number) =>
      Buffer.from(
        JSON.stringify({
          StreamName: 's1',
          Records: Array.from({ length: count }, () => ({ Data: base64Of(dataBytes), PartitionKey: 'k' })),
        }),
      );
    expect(parsePutRecords(request(PUT_RECORDS_MAX_RECORDS, 1))?.entries).toHaveLength(
      PUT_RECORDS_MAX_RECORDS,
    );
    expect(parsePutRecords(request(PUT_RECORDS_MAX_RECORDS + 1, 1))).toBeUndefined();
    const perRecord = PUT_RECORDS_MAX_BYTES / 5 - 1;
    expect(parsePutRecords(request(5, perRecord))?.entries).toHaveLength(5);
    expect(parsePutRecords(request(5, perRecord + 1))).toBeUndefined();
  });

  it('leaves malformed requests to the emulator', () => {
    expect(parsePutRecords(Buffer.from('not json'))).toBeUndefined();
    expect(parsePutRecords(Buffer.from('{"Records":[{"Data":"AA=="}]}'))).toBeUndefined();
    expect(
      parsePutRecords(Buffer.from('{"Records":[{"Data":"AA==","PartitionKey":"k","ExplicitHashKey":"x"}]}')),
    ).toBe(undefined);
  });

  it('forwards the admitted subset and merges results back into request order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('admit', 'throttle', 'internal'), { minLength: 1, maxLength: 40 }),
        (outcomes) => {
          const request = {
            StreamName: 's1',
            Records: outcomes.map((_, i) => ({ Data: base64Of(1), PartitionKey: `k${i}` })),
          };
          const decisions = outcomes.map((outcome) =>
            outcome === 'throttle' ? { outcome, shardId: 'shardId-000000000000' } : { outcome },
          ) as Parameters<typeof subsetRequest>[1];
          const subset = parsePutRecords(subsetRequest(request, decisions));
          const admittedKeys = request.Records.filter((_, i) => outcomes[i] === 'admit').map(
            (r) => r.PartitionKey,
          );
          expect(subset?.entries.map((e) => e.partitionKey) ?? []).toEqual(admittedKeys);
          const upstream = admittedKeys.length
            ? {
                EncryptionType: 'NONE',
                FailedRecordCount: 0,
                Records: admittedKeys.map((k) => ({
                  SequenceNumber: `seq-${k}`,
                  ShardId: 'shardId-000000000000',
                })),
              }
            : undefined;
          const merged = mergePutRecordsResult(decisions, upstream, stream, 'NONE');
          const records = merged?.Records as Record<string, unknown>[];
          expect(merged?.FailedRecordCount).toBe(outcomes.filter((o) => o !== 'admit').length);
          outcomes.forEach((outcome, i) => {
            const entry = records[i];
            if (outcome === 'admit') expect(entry?.SequenceNumber).toBe(`seq-k${i}`);
            else if (outcome === 'throttle')
              expect(entry?.ErrorCode).toBe('ProvisionedThroughputExceededException');
            else
              expect(entry).toEqual({
                ErrorCode: 'InternalFailure',
                ErrorMessage: 'Internal Service Failure',
              });
          });
        },
      ),
    );
  });

  it('refuses to merge an upstream result that does not line up', () => {
    const decisions = [{ outcome: 'admit' as const }, { outcome: 'admit' as const }];
    expect(mergePutRecordsResult(decisions, { Records: [{}] }, stream, 'NONE')).toBeUndefined();
  });
});
