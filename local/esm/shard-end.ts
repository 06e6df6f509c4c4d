import { type ChildShard, type KinesisClient, ListShardsCommand, type Shard } from '@aws-sdk/client-kinesis';

/**
 * kinesis-local's SubscribeToShard never ends a closed shard: after a reshard it keeps sending empty
 * events with a continuation number, where AWS sends a last event with ContinuationSequenceNumber null
 * and the ChildShards (found by the reshard end-to-end test: the alert function never read a child).
 * So the end is read from ListShards: when it shows the shard closed (an ending sequence number), the
 * shard takes no more writes, and the next caught-up empty event proves everything was delivered. The
 * children are the shards naming it as a parent, in AWS's ChildShard shape.
 */
export async function closedShardChildren(
  kinesis: Pick<KinesisClient, 'send'>,
  streamArn: string,
  shardId: string,
): Promise<ChildShard[] | undefined> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const page = await kinesis.send(
      token === undefined
        ? new ListShardsCommand({ StreamARN: streamArn })
        : new ListShardsCommand({ NextToken: token }),
    );
    shards.push(...(page.Shards ?? []));
    token = page.NextToken;
  } while (token !== undefined);
  const shard = shards.find((s) => s.ShardId === shardId);
  if (shard?.SequenceNumberRange?.EndingSequenceNumber == null) return undefined;
  return shards
    .filter((s) => s.ParentShardId === shardId || s.AdjacentParentShardId === shardId)
    .map((s) => ({
      ShardId: s.ShardId,
      ParentShards: [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => p != null),
      HashKeyRange: s.HashKeyRange,
    }));
}
