import type { PendingRecord, PlanLimits } from '../../device/export/planner.ts';
import { hashKeyOf, ShardMap } from '../../shared/kinesis/hash.ts';
import {
  DEFAULT_MAX_RECORD_BYTES,
  HASH_KEY_MAX,
  PUT_RECORDS_MAX_BYTES,
  PUT_RECORDS_MAX_RECORDS,
} from '../../shared/kinesis/limits.ts';

/** Shard maps, pending records and plan limits for the exporter's pure cores (planner, state, limits). */

/** Kinesis's own shard id form: `shardId-000000000003`. */
export const kinesisShardId = (index: number): string => `shardId-${String(index).padStart(12, '0')}`;

/** `count` shards splitting the hash space evenly, as a stream created with `count` shards has them. */
export function evenShards(count: number, shardId: (index: number) => string = kinesisShardId): ShardMap {
  const step = (HASH_KEY_MAX + 1n) / BigInt(count);
  return new ShardMap(
    Array.from({ length: count }, (_, i) => ({
      shardId: shardId(i),
      startingHashKey: step * BigInt(i),
      endingHashKey: i === count - 1 ? HASH_KEY_MAX : step * BigInt(i + 1) - 1n,
    })),
  );
}

/**
 * A record as the exporter reads it from the log: `dataBytes` of payload (a byte derived from the
 * sequence, so neighbours differ) and `bytes` counted as Kinesis counts them (data + partition key).
 */
export function pendingRecord(
  sequence: number,
  partitionKey: string,
  dataBytes = 40,
  explicitHashKey?: string,
): PendingRecord {
  const data = Buffer.alloc(dataBytes, sequence % 251);
  return {
    sequence,
    timestamp: sequence,
    partitionKey,
    explicitHashKey,
    hashKey: hashKeyOf(partitionKey, explicitHashKey),
    data,
    bytes: dataBytes + Buffer.byteLength(partitionKey, 'utf8'),
    payloadBytes: dataBytes,
  };
}

/** A stream's default limits (1 MiB records, PutRecords at 500 entries / 5 MiB), with `overrides`. */
export const planLimits = (overrides: Partial<PlanLimits> = {}): PlanLimits => ({
  maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
  maxAggregateBytes: DEFAULT_MAX_RECORD_BYTES,
  maxEntries: PUT_RECORDS_MAX_RECORDS,
  maxRequestBytes: PUT_RECORDS_MAX_BYTES,
  ...overrides,
});
