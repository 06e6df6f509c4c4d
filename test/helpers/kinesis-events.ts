import type { KinesisStreamEvent } from 'aws-lambda';
import { kinesisEvent, type ShardRecord } from '../../local/esm/event.ts';
import { encodeRecord, type TributaryRecord } from '../../shared/contract/index.ts';
import { aggregatedRecord } from './aggregated.ts';

/**
 * Lambda Kinesis events for handler tests, built by the same code the local event source runner uses,
 * so a handler test sees exactly what the runner (and Lambda) would send.
 */

export const TEST_SHARD_ID = 'shardId-000000000000';
export const TEST_EVENT_SOURCE = {
  region: 'us-east-1',
  streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/tributary-test-records',
  invokeIdentityArn: 'arn:aws:iam::000000000000:role/tributary-test-function',
} as const;

/** Sequence numbers look like Kinesis ones (56 digits) and grow with `index`. */
export function sequenceNumber(index: number): string {
  return (49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000n + BigInt(index)).toString();
}

export interface ShardRecordsOptions {
  shardId?: string;
  /** Index of the first record's sequence number (default 0). */
  firstIndex?: number;
  arrivedAt?: number;
}

/** One Kinesis record per contract record, or raw bytes for poison pills. */
export function shardRecords(
  items: readonly (TributaryRecord | { partitionKey: string; data: Uint8Array })[],
  options: ShardRecordsOptions = {},
): ShardRecord[] {
  const { shardId = TEST_SHARD_ID, firstIndex = 0, arrivedAt = Date.UTC(2026, 10, 23, 12) } = options;
  return items.map((item, i) => ({
    shardId,
    sequenceNumber: sequenceNumber(firstIndex + i),
    partitionKey:
      'data' in item && item.data instanceof Uint8Array
        ? item.partitionKey
        : (item as TributaryRecord).partition_key,
    data:
      'data' in item && item.data instanceof Uint8Array ? item.data : encodeRecord(item as TributaryRecord),
    arrivedAt,
  }));
}

/** One KPL aggregated Kinesis record carrying all `records` (same shard; keys kept per user record). */
export function aggregatedShardRecord(
  records: readonly TributaryRecord[],
  options: ShardRecordsOptions = {},
): ShardRecord {
  const entry = aggregatedRecord(
    records.map((r) => ({ partitionKey: r.partition_key, data: encodeRecord(r) })),
  );
  const [record] = shardRecords([{ partitionKey: entry.partitionKey, data: entry.data }], options);
  return record as ShardRecord;
}

export function eventOf(records: readonly ShardRecord[]): KinesisStreamEvent {
  return kinesisEvent(records, TEST_EVENT_SOURCE);
}
