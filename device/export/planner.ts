/**
 * The batch planner: pure. Given the records waiting in sequence order, the shard map and the
 * limits, it builds the next PutRecords request and says what it left behind and why.
 *
 * Ordering rule: records travel in "lanes" and a lane has at most one outstanding entry.
 *   - aggregation on: a lane is a shard. All waiting records of a free shard go, in sequence order,
 *     into ONE aggregated entry (up to the record size). A throttled entry is resent before anything
 *     after it on that shard, so no key on the shard can overtake itself.
 *   - aggregation off: a lane is a partition key; one record per key is outstanding at a time.
 * Once a lane is passed over in a plan (busy, full, out of budget) every later record of that lane
 * is passed over too, so a small late record never jumps a big early one.
 */
import { AggregationBuilder, deaggregate } from '../../shared/kinesis/aggregation.ts';
import { InvalidUserRecordError } from '../../shared/kinesis/errors.ts';
import type { ShardMap } from '../../shared/kinesis/hash.ts';
import type { ExportErrorCode } from './errors.ts';

/** A log record routed and waiting to be sent. */
export interface PendingRecord {
  readonly sequence: number;
  /** Log append time, ms since the epoch. */
  readonly timestamp: number;
  readonly partitionKey: string;
  readonly explicitHashKey?: string | undefined;
  /** 128-bit hash key (MD5 of the partition key, or the explicit hash key). */
  readonly hashKey: bigint;
  readonly data: Uint8Array;
  /** Bytes as a lone PutRecords entry: data + partition key UTF-8 (data wrapped if it starts with the KPL magic). */
  readonly bytes: number;
  /** The log record's payload size: what `bytesAccepted` counts once Kinesis took the record. */
  readonly payloadBytes: number;
  /** Must travel alone, un-aggregated, in a request of its own (isolating a validation failure). */
  readonly solo?: boolean | undefined;
}

/**
 * A user record inside a planned entry. Its bytes live only in the entry's `data` (the exporter drops
 * the raw copy once the entry is built, see ExportState); `recordsOf` gets them back from there.
 */
export type EntryRecord = Omit<PendingRecord, 'data'>;

/** One PutRecords entry and the user records it carries. */
export interface PlannedEntry {
  readonly lane: string;
  /** Shard the map predicts Kinesis will write the entry to. */
  readonly shardId: string;
  readonly partitionKey: string;
  readonly explicitHashKey?: string | undefined;
  readonly data: Uint8Array;
  readonly bytes: number;
  /** In sequence order. */
  readonly records: readonly EntryRecord[];
  readonly solo: boolean;
}

export interface PlanLimits {
  /** The stream's record size limit (data + key), capped at the request size. */
  readonly maxRecordBytes: number;
  /** Largest aggregated entry to build; at most maxRecordBytes. */
  readonly maxAggregateBytes: number;
  readonly maxEntries: number;
  readonly maxRequestBytes: number;
}

/** What a shard may still take in this plan (client-side pacing against its write limits). */
export interface ShardBudget {
  bytes: number;
  records: number;
}

export interface PlanInput {
  /** Waiting records in ascending sequence order. */
  readonly pending: readonly PendingRecord[];
  readonly shardMap: ShardMap;
  readonly aggregate: boolean;
  readonly limits: PlanLimits;
  /** Lanes holding an outstanding entry: nothing new may be planned for them. */
  readonly busyLanes: ReadonlySet<string>;
  /** Outstanding entries due for resending; they go first, unchanged. */
  readonly retries: readonly PlannedEntry[];
  /** Pacing budget per shard; unlimited when absent. */
  readonly shardBudget?: ((shardId: string) => ShardBudget) | undefined;
}

/** Why the planner refused a record: one of the exporter's dead-letter reason codes (ERRORS.md). */
export type RejectReason = Extract<ExportErrorCode, 'TOO_LARGE' | 'INVALID_KEY'>;

export interface RejectedRecord {
  readonly record: PendingRecord;
  readonly reason: RejectReason;
  readonly detail: string;
}

export interface Plan {
  /** Retries first, then new entries. Empty when nothing can go now. */
  readonly entries: PlannedEntry[];
  /** Sequences of pending records placed into new entries. */
  readonly planned: ReadonlySet<number>;
  /** Records Kinesis can never accept; they leave the queue for the dead-letter stream. */
  readonly rejected: RejectedRecord[];
  /** Some record maps to no open shard: the shard map needs refreshing. */
  readonly unroutable: boolean;
  /** Shards passed over for lack of pacing budget (worth waking up for when it frees). */
  readonly budgetBlocked: ReadonlySet<string>;
}

/** The entry's records without their bytes: what an exporter keeps while the entry is outstanding. */
export function slimEntry(entry: PlannedEntry): PlannedEntry {
  return {
    ...entry,
    records: entry.records.map(({ data: _data, ...rest }: EntryRecord & { data?: unknown }) => rest),
  };
}

/**
 * The entry's user records with their bytes, recovered from the entry's data (views into it, the
 * exact bytes that were planned), in order: for re-planning an entry that will not be resent as is.
 */
export function recordsOf(entry: PlannedEntry): PendingRecord[] {
  const unpacked = deaggregate(entry.data, {
    partitionKey: entry.partitionKey,
    explicitHashKey: entry.explicitHashKey,
  });
  if (unpacked.length !== entry.records.length) {
    throw new Error(`entry holds ${unpacked.length} user records, ${entry.records.length} expected`);
  }
  return entry.records.map((record, i) => {
    const user = unpacked[i] as (typeof unpacked)[number];
    if (user.partitionKey !== record.partitionKey) {
      throw new Error(`entry record ${i} has key ${user.partitionKey}, ${record.partitionKey} expected`);
    }
    return { ...record, data: user.data };
  });
}

/** Lane of a record without aggregation. */
export function keyLane(partitionKey: string): string {
  return `key:${partitionKey}`;
}

interface OpenEntry {
  readonly shardId: string;
  readonly builder: AggregationBuilder;
  readonly records: PendingRecord[];
  /** Pacing budget of the shard when the entry was opened. */
  readonly budget: number;
}

export function planBatch(input: PlanInput): Plan {
  const { limits } = input;
  const entries: PlannedEntry[] = [];
  const planned = new Set<number>();
  const rejected: RejectedRecord[] = [];
  const budgetBlocked = new Set<string>();
  let requestBytes = 0;
  let unroutable = false;
  const closed = new Set<string>(input.busyLanes);

  for (const retry of input.retries) {
    if (retry.solo && entries.length > 0) continue;
    if (entries.length >= limits.maxEntries || requestBytes + retry.bytes > limits.maxRequestBytes) continue;
    entries.push(retry);
    requestBytes += retry.bytes;
    if (retry.solo) return { entries, planned, rejected, unroutable, budgetBlocked };
  }

  const builder = new AggregationBuilder();
  const open = new Map<string, OpenEntry>();
  // Bytes promised to open aggregates; they count against the request before being built.
  let openBytes = 0;
  const used = new Map<string, ShardBudget>();
  const budgetOf = (shardId: string): ShardBudget => {
    let budget = used.get(shardId);
    if (budget === undefined) {
      budget = input.shardBudget?.(shardId) ?? {
        bytes: Number.POSITIVE_INFINITY,
        records: Number.POSITIVE_INFINITY,
      };
      used.set(shardId, budget);
    }
    return budget;
  };

  for (const record of input.pending) {
    const shard = input.shardMap.shardFor(record.hashKey);
    if (shard === undefined) {
      unroutable = true;
      continue;
    }
    const shardId = shard.shardId;
    const lane = input.aggregate ? shardId : keyLane(record.partitionKey);
    if (closed.has(lane)) continue;
    if (record.bytes > limits.maxRecordBytes) {
      rejected.push({
        record,
        reason: 'TOO_LARGE',
        detail: `record needs ${record.bytes} bytes (data + partition key), the stream takes ${limits.maxRecordBytes}`,
      });
      continue;
    }
    const budget = budgetOf(shardId);

    if (record.solo === true || !input.aggregate) {
      // One user record, one entry (the builder still wraps data that starts with the KPL magic).
      if (record.solo === true && (entries.length > 0 || open.size > 0)) {
        closed.add(lane);
        continue;
      }
      if (entries.length + open.size >= limits.maxEntries) break;
      let size: number;
      try {
        size = builder.sizeIfAdded(record);
      } catch (error) {
        if (!(error instanceof InvalidUserRecordError)) throw error;
        rejected.push({ record, reason: 'INVALID_KEY', detail: error.message });
        continue;
      }
      closed.add(lane);
      if (size > limits.maxRequestBytes - requestBytes - openBytes) continue;
      if (budget.records < 1 || size > budget.bytes) {
        budgetBlocked.add(shardId);
        continue;
      }
      builder.tryAdd(record, size);
      const entry = builder.build();
      budget.records -= 1;
      budget.bytes -= entry.bytes;
      planned.add(record.sequence);
      requestBytes += entry.bytes;
      entries.push({
        lane,
        shardId,
        partitionKey: entry.partitionKey,
        explicitHashKey: entry.explicitHashKey,
        data: entry.data,
        bytes: entry.bytes,
        records: [record],
        solo: record.solo === true,
      });
      if (record.solo === true) return { entries, planned, rejected, unroutable, budgetBlocked };
      continue;
    }

    let target = open.get(lane);
    if (target === undefined) {
      if (entries.length + open.size >= limits.maxEntries) {
        closed.add(lane);
        continue;
      }
      if (budget.records < 1) {
        budgetBlocked.add(shardId);
        closed.add(lane);
        continue;
      }
      target = { shardId, builder: new AggregationBuilder(), records: [], budget: budget.bytes };
    }
    const before = target.builder.size;
    const room = limits.maxRequestBytes - requestBytes - openBytes + before;
    // The aggregate cap binds aggregates; a lone record may use the stream's whole record size.
    const cap =
      target.records.length === 0
        ? Math.max(limits.maxAggregateBytes, record.bytes)
        : limits.maxAggregateBytes;
    let added: boolean;
    try {
      added = target.builder.tryAdd(record, Math.min(cap, target.budget, room));
    } catch (error) {
      if (!(error instanceof InvalidUserRecordError)) throw error;
      rejected.push({ record, reason: 'INVALID_KEY', detail: error.message });
      continue;
    }
    if (!added) {
      if (target.records.length === 0 && record.bytes > target.budget) budgetBlocked.add(shardId);
      closed.add(lane);
      continue;
    }
    if (target.records.length === 0) open.set(lane, target);
    target.records.push(record);
    openBytes += target.builder.size - before;
    planned.add(record.sequence);
  }

  for (const [lane, target] of open) {
    const entry = target.builder.build();
    const budget = budgetOf(target.shardId);
    budget.records -= 1;
    budget.bytes -= entry.bytes;
    entries.push({
      lane,
      shardId: target.shardId,
      partitionKey: entry.partitionKey,
      explicitHashKey: entry.explicitHashKey,
      data: entry.data,
      bytes: entry.bytes,
      records: target.records,
      solo: false,
    });
  }
  return { entries, planned, rejected, unroutable, budgetBlocked };
}
