import { createHash } from 'node:crypto';
import { HASH_KEY_MAX } from './limits.ts';

/**
 * Kinesis maps a partition key to a 128-bit hash key: the MD5 of its UTF-8 bytes read as an
 * unsigned big-endian integer. ExplicitHashKey, when given, replaces it.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecord.html
 */
export function hashKeyOf(partitionKey: string, explicitHashKey?: string): bigint {
  if (explicitHashKey !== undefined) return BigInt(explicitHashKey);
  const digest = createHash('md5').update(partitionKey, 'utf8').digest();
  return (digest.readBigUInt64BE(0) << 64n) | digest.readBigUInt64BE(8);
}

export interface ShardRange {
  shardId: string;
  startingHashKey: bigint;
  endingHashKey: bigint;
}

/** Open shards of a stream, sorted by range, for routing hash keys without a network call. */
export class ShardMap {
  readonly shards: readonly ShardRange[];

  constructor(shards: readonly ShardRange[]) {
    this.shards = [...shards].sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
  }

  /** Builds a map from ListShards/DescribeStream output (decimal strings), open shards only. */
  static fromShards(
    shards: readonly {
      ShardId?: string | null | undefined;
      HashKeyRange?:
        | { StartingHashKey?: string | null | undefined; EndingHashKey?: string | null | undefined }
        | null
        | undefined;
      SequenceNumberRange?: { EndingSequenceNumber?: string | null | undefined } | null | undefined;
    }[],
  ): ShardMap {
    const open: ShardRange[] = [];
    // Raw emulator JSON writes absent fields as null where the SDK gives undefined: accept both.
    for (const shard of shards) {
      if (shard.SequenceNumberRange?.EndingSequenceNumber != null) continue;
      const start = shard.HashKeyRange?.StartingHashKey;
      const end = shard.HashKeyRange?.EndingHashKey;
      if (shard.ShardId == null || start == null || end == null) continue;
      open.push({ shardId: shard.ShardId, startingHashKey: BigInt(start), endingHashKey: BigInt(end) });
    }
    return new ShardMap(open);
  }

  /** The shard owning `hashKey` (binary search), or undefined if no open shard covers it. */
  shardFor(hashKey: bigint): ShardRange | undefined {
    if (hashKey < 0n || hashKey > HASH_KEY_MAX) return undefined;
    let lo = 0;
    let hi = this.shards.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const shard = this.shards[mid];
      if (shard === undefined) return undefined;
      if (hashKey < shard.startingHashKey) hi = mid - 1;
      else if (hashKey > shard.endingHashKey) lo = mid + 1;
      else return shard;
    }
    return undefined;
  }

  shardForKey(partitionKey: string, explicitHashKey?: string): ShardRange | undefined {
    return this.shardFor(hashKeyOf(partitionKey, explicitHashKey));
  }
}
