import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullJitterDelay, ShardPacer, TokenBucket } from '../../../../device/export/pacing.ts';
import type { EntryRecord, PlanLimits } from '../../../../device/export/planner.ts';
import {
  type EntryOutcome,
  ExportState,
  type ExportStateOptions,
  type PlannedRequest,
  THROTTLED_CODE,
} from '../../../../device/export/state.ts';
import { deaggregate } from '../../../../shared/kinesis/aggregation.ts';
import { seededRandom } from '../../../../shared/seeded-random.ts';
import { evenShards, pendingRecord, planLimits } from '../../../helpers/shards.ts';

const LIMITS: PlanLimits = planLimits();

function newState(overrides: Partial<ExportStateOptions> = {}): ExportState {
  return new ExportState({
    aggregate: true,
    limits: LIMITS,
    batchSize: 1,
    batchIntervalMillis: 0,
    maxBufferedBytes: 4 * 1024 * 1024,
    maxInFlightRequests: 4,
    retry: { baseMillis: 100, capMillis: 2_000 },
    offline: { baseMillis: 200, capMillis: 10_000 },
    shardLimits: { bytesPerSecond: 1024 * 1024, recordsPerSecond: 1000 },
    pacingSlackMillis: 0,
    refreshIntervalMillis: 0,
    random: () => 0.5,
    ...overrides,
  });
}

const accept = (request: PlannedRequest): EntryOutcome[] =>
  request.entries.map((e) => ({ ok: true, shardId: e.shardId, sequenceNumber: '1' }));

describe('fullJitterDelay', () => {
  it('draws below min(cap, base * 2^(attempt-1))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, r) => {
          const policy = { baseMillis: 100, capMillis: 5_000 };
          const delay = fullJitterDelay(attempt, policy, () => r);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(Math.min(5_000, 100 * 2 ** (attempt - 1)));
        },
      ),
    );
  });
});

describe('ShardPacer and TokenBucket', () => {
  it('paces a shard over a sliding second and gives back throttled sends', () => {
    const pacer = new ShardPacer({ bytesPerSecond: 1000, recordsPerSecond: 10 }, 0);
    expect(pacer.budget(0).bytes).toBe(Number.POSITIVE_INFINITY);
    pacer.record(0, 600, 1);
    const token = pacer.record(10, 300, 1);
    expect(pacer.budget(20)).toEqual({ bytes: 0, records: 8 });
    pacer.refund(token);
    expect(pacer.budget(20)).toEqual({ bytes: 400, records: 9 });
    expect(pacer.nextRelease(20)).toBe(1000);
    // The refunded send still sits in the window but weighs nothing: the shard counts as idle.
    expect(pacer.budget(1000).bytes).toBe(Number.POSITIVE_INFINITY);
  });

  it('lets a bucket overdraw once and then holds until the debt is repaid', () => {
    const bucket = new TokenBucket(1000, 1000, 0);
    bucket.take(3000, 0);
    expect(bucket.available(0)).toBe(-2000);
    expect(bucket.readyAt(0)).toBe(2001);
    expect(bucket.available(2001)).toBeGreaterThan(0);
  });
});

describe('ExportState', () => {
  it('keeps per-key order, one in-flight entry per lane, and a contiguous checkpoint under random faults', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer(),
          shards: fc.integer({ min: 1, max: 3 }),
          aggregate: fc.boolean(),
          count: fc.integer({ min: 1, max: 200 }),
          keys: fc.integer({ min: 1, max: 12 }),
          poison: fc.uniqueArray(fc.integer({ min: 0, max: 199 }), { maxLength: 3 }),
          throttle: fc.double({ min: 0, max: 0.6, noNaN: true }),
          internal: fc.double({ min: 0, max: 0.2, noNaN: true }),
          down: fc.double({ min: 0, max: 0.3, noNaN: true }),
        }),
        (s) => {
          const random = seededRandom(s.seed);
          const map = evenShards(s.shards);
          const state = newState({ aggregate: s.aggregate, random: seededRandom(s.seed + 1) });
          const records = Array.from({ length: s.count }, (_, i) =>
            pendingRecord(i * 3, `key-${i % s.keys}`),
          );
          const poison = new Set(s.poison.filter((p) => p < s.count).map((p) => p * 3));
          state.offer(records);
          let now = 0;
          const inFlight: PlannedRequest[] = [];
          const inFlightLanes = new Set<string>();
          const accepted: EntryRecord[] = [];
          const offered = new Map(records.map((r) => [r.sequence, r.data]));
          const deadLettered = new Set<number>();
          let checkpoint = -1;
          for (let step = 0; step < 20_000; step++) {
            for (let request = state.plan(now, map); request; request = state.plan(now, map)) {
              for (const entry of request.entries) {
                expect(inFlightLanes.has(entry.lane)).toBe(false);
                inFlightLanes.add(entry.lane);
              }
              inFlight.push(request);
            }
            const letters = state.takeDeadLetters();
            for (const letter of letters) deadLettered.add(letter.sequence);
            state.deadLettered(letters);
            const current = state.checkpoint ?? -1;
            expect(current).toBeGreaterThanOrEqual(checkpoint);
            checkpoint = current;
            if (inFlight.length === 0) {
              if (state.heldRecords === 0) break;
              now = Math.max(now + 1, state.wakeAt(now) ?? now + 1);
              continue;
            }
            // Concurrent requests come back in any order.
            const [request] = inFlight.splice(Math.floor(random() * inFlight.length), 1);
            if (request === undefined) continue;
            for (const entry of request.entries) inFlightLanes.delete(entry.lane);
            now += Math.floor(random() * 50);
            if (request.entries.some((e) => e.records.some((r) => poison.has(r.sequence)))) {
              state.fail(request.id, { kind: 'invalid', code: 'ValidationException', message: 'bad' }, now);
            } else if (random() < s.down) {
              state.fail(request.id, { kind: 'unavailable', code: 'ECONNREFUSED', message: 'down' }, now);
            } else {
              const outcomes = request.entries.map((entry): EntryOutcome => {
                const r = random();
                if (r < s.throttle) return { ok: false, code: THROTTLED_CODE, message: 'slow down' };
                if (r < s.throttle + s.internal)
                  return { ok: false, code: 'InternalFailure', message: 'oops' };
                const unpacked = deaggregate(entry.data, { partitionKey: entry.partitionKey });
                // The entry carries exactly the bytes that were offered for its records.
                expect(unpacked.map((u) => Buffer.from(u.data).toString())).toEqual(
                  entry.records.map((rec) => Buffer.from(offered.get(rec.sequence) ?? []).toString()),
                );
                accepted.push(...entry.records);
                return { ok: true, shardId: entry.shardId, sequenceNumber: String(accepted.length) };
              });
              state.complete(request.id, outcomes, now);
            }
          }
          expect(state.heldRecords).toBe(0);
          expect(state.checkpoint).toBe((s.count - 1) * 3);
          expect(deadLettered).toEqual(poison);
          const seen = accepted.map((r) => r.sequence);
          expect(new Set(seen).size).toBe(seen.length);
          expect(seen.length + deadLettered.size).toBe(s.count);
          const lastPerKey = new Map<string, number>();
          for (const record of accepted) {
            expect(record.sequence).toBeGreaterThan(lastPerKey.get(record.partitionKey) ?? -1);
            lastPerKey.set(record.partitionKey, record.sequence);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('resends a throttled entry with the same bytes after a jittered backoff', () => {
    const state = newState({ random: () => 0.5 });
    const map = evenShards(1);
    state.offer([pendingRecord(0, 'a'), pendingRecord(1, 'b')]);
    const first = state.plan(0, map);
    expect(first?.entries).toHaveLength(1);
    state.complete(first?.id ?? 0, [{ ok: false, code: THROTTLED_CODE, message: 'slow' }], 10);
    expect(state.counters.throttled).toBe(1);
    expect(state.plan(10, map)).toBeUndefined();
    expect(state.wakeAt(10)).toBe(60);
    const again = state.plan(60, map);
    expect(again?.entries[0]?.data).toBe(first?.entries[0]?.data);
    expect(state.counters.retried).toBe(1);
    state.complete(again?.id ?? 0, accept(again as PlannedRequest), 70);
    expect(state.checkpoint).toBe(1);
  });

  it('waits for batchSize or batchIntervalMillis before sending', () => {
    const state = newState({ batchSize: 3, batchIntervalMillis: 1000 });
    const map = evenShards(1);
    state.offer([pendingRecord(0, 'a'), pendingRecord(1, 'a')]);
    expect(state.plan(100, map)).toBeUndefined();
    expect(state.wakeAt(100)).toBe(1000);
    state.offer([pendingRecord(2, 'a')]);
    expect(state.plan(100, map)?.records).toBe(3);
  });

  it('backs off whole-request failures with a growing, capped delay and resets on success', () => {
    const state = newState({ random: () => 0.999 });
    const map = evenShards(1);
    state.offer([pendingRecord(0, 'a')]);
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      const request = state.plan(now, map);
      state.fail(request?.id ?? 0, { kind: 'unavailable', code: 'ECONNREFUSED', message: 'down' }, now);
      const wake = state.wakeAt(now) ?? now;
      delays.push(wake - now);
      now = wake;
    }
    expect(delays.slice(0, 4)).toEqual([199, 399, 799, 1598]);
    expect(Math.max(...delays)).toBe(9990);
    const request = state.plan(now, map);
    state.complete(request?.id ?? 0, accept(request as PlannedRequest), now);
    expect(state.offlineUntil).toBe(0);
  });

  it('re-plans outstanding entries after the shard map changed, and only with nothing in flight', () => {
    const state = newState();
    const before = evenShards(1, (i) => `old-${i}`);
    const after = evenShards(2, (i) => `new-${i}`);
    const records = Array.from({ length: 20 }, (_, i) => pendingRecord(i, `k${i}`));
    state.offer(records);
    const first = state.plan(0, before);
    // Accepted on a shard the map does not predict: the map is stale, refresh once nothing is in flight.
    state.complete(first?.id ?? 0, [{ ok: true, shardId: 'old-9', sequenceNumber: '1' }], 1);
    expect(state.refreshDue).toBe(true);
    state.refreshed(1, false);
    state.offer(Array.from({ length: 20 }, (_, i) => pendingRecord(20 + i, `k${i}`)));
    const second = state.plan(1_000, before);
    state.complete(second?.id ?? 0, [{ ok: false, code: THROTTLED_CODE, message: 'slow' }], 1_001);
    // The stream is resharding: its shards are not what we knew.
    const third = state.plan(1_100, before);
    state.fail(
      third?.id ?? 0,
      { kind: 'stream-missing', code: 'ResourceNotFoundException', message: 'x' },
      1_100,
    );
    expect(state.refreshDue).toBe(true);
    expect(state.plan(20_000, before)).toBeUndefined();
    state.refreshed(20_000, true);
    const replanned = state.plan(20_000, after);
    expect(replanned?.entries.map((e) => e.shardId).sort()).toEqual(['new-0', 'new-1']);
    expect(replanned?.records).toBe(20);
    const offered = new Map(
      [...records, ...Array.from({ length: 20 }, (_, i) => pendingRecord(20 + i, `k${i}`))].map((r) => [
        r.sequence,
        Buffer.from(r.data).toString('hex'),
      ]),
    );
    for (const entry of replanned?.entries ?? []) {
      for (const record of entry.records) expect(after.shardFor(record.hashKey)?.shardId).toBe(entry.shardId);
      // Taken back out of the old aggregates: the very bytes that were offered, in order.
      const unpacked = deaggregate(entry.data, { partitionKey: entry.partitionKey });
      expect(unpacked.map((u) => Buffer.from(u.data).toString('hex'))).toEqual(
        entry.records.map((r) => offered.get(r.sequence)),
      );
    }
  });

  it('isolates a ValidationException down to the one record and dead-letters it', () => {
    const state = newState();
    const map = evenShards(1);
    state.offer([pendingRecord(0, 'a'), pendingRecord(1, 'b'), pendingRecord(2, 'c')]);
    let request = state.plan(0, map);
    expect(request?.entries[0]?.records).toHaveLength(3);
    const invalid = { kind: 'invalid', code: 'ValidationException', message: 'no' } as const;
    state.fail(request?.id ?? 0, invalid, 0);
    // Unpacked into solo records, each in a request of its own.
    const seen: number[][] = [];
    for (let now = 0; now < 100 && state.heldRecords > 0; now++) {
      request = state.plan(now, map);
      if (request === undefined) continue;
      seen.push(request.entries.flatMap((e) => e.records.map((r) => r.sequence)));
      const bad = request.entries.some((e) => e.records.some((r) => r.sequence === 1));
      if (bad) state.fail(request.id, invalid, now);
      else state.complete(request.id, accept(request), now);
      state.deadLettered(state.takeDeadLetters());
    }
    expect(seen).toEqual([[0], [1], [2]]);
    expect(state.counters.deadLettered).toBe(1);
    expect(state.checkpoint).toBe(2);
  });

  it('re-plans entries above a lowered record size and dead-letters records that no longer fit', () => {
    const state = newState();
    const map = evenShards(1);
    state.offer([pendingRecord(0, 'a', 3000), pendingRecord(1, 'a', 3000), pendingRecord(2, 'b', 100)]);
    const request = state.plan(0, map);
    state.fail(request?.id ?? 0, { kind: 'invalid', code: 'ValidationException', message: 'too big' }, 0);
    state.setLimits({ ...LIMITS, maxRecordBytes: 2048, maxAggregateBytes: 2048 });
    const replanned = state.plan(0, map);
    expect(replanned?.entries.flatMap((e) => e.records.map((r) => r.sequence))).toEqual([2]);
    const letters = state.takeDeadLetters();
    expect(letters.map((l) => [l.sequence, l.reason])).toEqual([
      [0, 'TOO_LARGE'],
      [1, 'TOO_LARGE'],
    ]);
    // The dead letters carry the records' own bytes, recovered from the entry that held them.
    expect(letters.map((l) => Buffer.from(l.payload).toString('hex'))).toEqual(
      [pendingRecord(0, 'a', 3000), pendingRecord(1, 'a', 3000)].map((r) =>
        Buffer.from(r.data).toString('hex'),
      ),
    );
  });
});
