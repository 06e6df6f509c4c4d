import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  keyLane,
  type PlanInput,
  planBatch,
  recordsOf,
  slimEntry,
} from '../../../../device/export/planner.ts';
import { deaggregate } from '../../../../shared/kinesis/aggregation.ts';
import { ShardMap } from '../../../../shared/kinesis/hash.ts';
import { HASH_KEY_MAX } from '../../../../shared/kinesis/limits.ts';
import { evenShards, pendingRecord, planLimits } from '../../../helpers/shards.ts';

const KiB = 1024;

const scenario = fc
  .record({
    shards: fc.integer({ min: 1, max: 4 }),
    aggregate: fc.boolean(),
    records: fc.array(
      fc.record({
        key: fc.integer({ min: 0, max: 11 }),
        // Mostly small, sometimes large enough to hit the record, aggregate and request limits.
        bytes: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 40 * KiB })),
        explicit: fc.option(fc.bigInt({ min: 0n, max: HASH_KEY_MAX }), { nil: undefined }),
      }),
      { maxLength: 300 },
    ),
    maxRecordBytes: fc.integer({ min: 2 * KiB, max: 64 * KiB }),
    aggregateShare: fc.double({ min: 0.1, max: 1, noNaN: true }),
    maxEntries: fc.integer({ min: 1, max: 20 }),
    maxRequestBytes: fc.integer({ min: 4 * KiB, max: 256 * KiB }),
    busy: fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 4 }),
    // Pacing budgets: mostly idle shards, sometimes a partly used second.
    budgets: fc.array(
      fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.integer({ min: 0, max: 80 * KiB })),
      {
        minLength: 4,
        maxLength: 4,
      },
    ),
  })
  .map((s): PlanInput => {
    const map = evenShards(s.shards);
    const records = s.records.map((r, i) =>
      pendingRecord(
        i * 2 + 1,
        `key-${r.key}`,
        r.bytes,
        r.explicit === undefined ? undefined : String(r.explicit),
      ),
    );
    const busyLanes = new Set(
      s.busy.map((k) => (s.aggregate ? (map.shards[k % s.shards]?.shardId ?? '') : keyLane(`key-${k}`))),
    );
    const maxRecordBytes = Math.min(s.maxRecordBytes, s.maxRequestBytes);
    return {
      pending: records,
      shardMap: map,
      aggregate: s.aggregate,
      limits: planLimits({
        maxRecordBytes,
        maxAggregateBytes: Math.max(1, Math.floor(maxRecordBytes * s.aggregateShare)),
        maxEntries: s.maxEntries,
        maxRequestBytes: s.maxRequestBytes,
      }),
      busyLanes,
      retries: [],
      shardBudget: (shardId) => ({
        bytes: s.budgets[map.shards.findIndex((x) => x.shardId === shardId)] ?? 0,
        records: 1000,
      }),
    };
  });

describe('planBatch', () => {
  it('every plan respects the PutRecords and record limits, and sizes are exact', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planBatch(input);
        expect(plan.entries.length).toBeLessThanOrEqual(input.limits.maxEntries);
        const total = plan.entries.reduce((sum, e) => sum + e.bytes, 0);
        expect(total).toBeLessThanOrEqual(input.limits.maxRequestBytes);
        for (const entry of plan.entries) {
          expect(entry.bytes).toBe(entry.data.length + Buffer.byteLength(entry.partitionKey, 'utf8'));
          expect(entry.bytes).toBeLessThanOrEqual(input.limits.maxRecordBytes);
          if (entry.records.length > 1)
            expect(entry.bytes).toBeLessThanOrEqual(input.limits.maxAggregateBytes);
          const budget = input.shardBudget?.(entry.shardId);
          if (budget !== undefined) expect(entry.bytes).toBeLessThanOrEqual(budget.bytes);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('one entry per shard (aggregated) or per key (not), never for a busy lane, routed to its shard', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planBatch(input);
        const lanes = plan.entries.map((e) => e.lane);
        expect(new Set(lanes).size).toBe(lanes.length);
        for (const entry of plan.entries) {
          expect(input.busyLanes.has(entry.lane)).toBe(false);
          // Kinesis routes the entry by its own key: the first record's.
          expect(input.shardMap.shardForKey(entry.partitionKey, entry.explicitHashKey)?.shardId).toBe(
            entry.shardId,
          );
          for (const record of entry.records) {
            expect(input.shardMap.shardFor(record.hashKey)?.shardId).toBe(entry.shardId);
            expect(entry.lane).toBe(input.aggregate ? entry.shardId : keyLane(record.partitionKey));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("planned records are each lane's earliest, in order, with their bytes intact; nothing is lost", () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planBatch(input);
        const rejected = new Set(plan.rejected.map((r) => r.record.sequence));
        for (const r of plan.rejected) {
          expect(r.reason).toBe('TOO_LARGE');
          expect(r.record.bytes).toBeGreaterThan(input.limits.maxRecordBytes);
        }
        const inEntries = plan.entries.flatMap((e) => e.records.map((r) => r.sequence));
        expect(new Set(inEntries)).toEqual(new Set(plan.planned));
        for (const seq of inEntries) expect(rejected.has(seq)).toBe(false);

        for (const entry of plan.entries) {
          const unpacked = deaggregate(entry.data, {
            partitionKey: entry.partitionKey,
            explicitHashKey: entry.explicitHashKey,
          });
          const offered = new Map(input.pending.map((r) => [r.sequence, r.data]));
          expect(unpacked.map((u) => Buffer.from(u.data).toString('hex'))).toEqual(
            entry.records.map((r) => Buffer.from(offered.get(r.sequence) ?? []).toString('hex')),
          );
          // recordsOf gets the same records back from the entry's bytes alone.
          expect(
            recordsOf(slimEntry(entry)).map((r) => [r.sequence, Buffer.from(r.data).toString('hex')]),
          ).toEqual(
            entry.records.map((r) => [
              r.sequence,
              Buffer.from(offered.get(r.sequence) ?? []).toString('hex'),
            ]),
          );
          expect(unpacked.map((u) => u.partitionKey)).toEqual(entry.records.map((r) => r.partitionKey));
          // The lane's pending records, minus the rejected ones, start with exactly this entry's records.
          const lane = input.pending.filter(
            (r) =>
              !rejected.has(r.sequence) &&
              (input.aggregate
                ? input.shardMap.shardFor(r.hashKey)?.shardId === entry.shardId
                : r.partitionKey === entry.records[0]?.partitionKey),
          );
          expect(lane.slice(0, entry.records.length).map((r) => r.sequence)).toEqual(
            entry.records.map((r) => r.sequence),
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('packs a whole shard into one aggregate and sends a lone record as it is', () => {
    const map = evenShards(1);
    const records = Array.from({ length: 1000 }, (_, i) => pendingRecord(i, `device-${i % 7}`, 100));
    const plan = planBatch({
      pending: records,
      shardMap: map,
      aggregate: true,
      limits: planLimits(),
      busyLanes: new Set(),
      retries: [],
    });
    expect(plan.entries).toHaveLength(1);
    expect(plan.entries[0]?.records).toHaveLength(1000);
    const lone = planBatch({
      pending: [pendingRecord(0, 'k', 10)],
      shardMap: map,
      aggregate: true,
      limits: planLimits(),
      busyLanes: new Set(),
      retries: [],
    });
    expect(Buffer.from(lone.entries[0]?.data ?? []).equals(Buffer.alloc(10, 0))).toBe(true);
  });

  it('without aggregation sends at most one record per key per request', () => {
    const records = Array.from({ length: 30 }, (_, i) => pendingRecord(i, `k${i % 3}`, 10));
    const plan = planBatch({
      pending: records,
      shardMap: evenShards(2),
      aggregate: false,
      limits: planLimits(),
      busyLanes: new Set([keyLane('k2')]),
      retries: [],
    });
    expect(plan.entries.map((e) => e.records[0]?.sequence)).toEqual([0, 1]);
  });

  it('reports unroutable records and leaves them waiting', () => {
    const partial = new ShardMap([{ shardId: 'only', startingHashKey: 0n, endingHashKey: 0n }]);
    const plan = planBatch({
      pending: [pendingRecord(0, 'k', 10)],
      shardMap: partial,
      aggregate: true,
      limits: planLimits(),
      busyLanes: new Set(),
      retries: [],
    });
    expect(plan.unroutable).toBe(true);
    expect(plan.entries).toHaveLength(0);
    expect(plan.planned.size).toBe(0);
  });

  it('a solo record travels alone, and waits while anything else is in the request', () => {
    const map = evenShards(1);
    const solo = { ...pendingRecord(5, 'k', 10), solo: true };
    const first = planBatch({
      pending: [pendingRecord(1, 'j', 10), solo],
      shardMap: map,
      aggregate: false,
      limits: planLimits(),
      busyLanes: new Set(),
      retries: [],
    });
    expect(first.entries.map((e) => e.records[0]?.sequence)).toEqual([1]);
    const alone = planBatch({
      pending: [solo, pendingRecord(6, 'k', 10)],
      shardMap: map,
      aggregate: true,
      limits: planLimits(),
      busyLanes: new Set(),
      retries: [],
    });
    expect(alone.entries).toHaveLength(1);
    expect(alone.entries[0]?.solo).toBe(true);
    expect(alone.entries[0]?.records.map((r) => r.sequence)).toEqual([5]);
  });
});
