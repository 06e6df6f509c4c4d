/**
 * A Kinesis stream in a test, through an SDK client pointed at the local emulator (or the limits
 * proxy in front of it): created and waited for, and read back whole with KPL aggregates unpacked.
 */
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { listShards } from '../../local/scale/scale.ts';
import { type DeaggregatedRecord, deaggregate } from '../../shared/kinesis/aggregation.ts';

/** Creates the stream and resolves once it is ACTIVE. */
export async function createActiveStream(client: KinesisClient, name: string, shards: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (;;) {
    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every user record in the stream, shard by shard (closed ones too) in Kinesis order, KPL aggregates unpacked. */
export async function userRecordsIn(
  client: KinesisClient,
  stream: string,
): Promise<(DeaggregatedRecord & { shardId: string })[]> {
  const out: (DeaggregatedRecord & { shardId: string })[] = [];
  for (const shard of await listShards(client, stream)) {
    const shardId = shard.ShardId ?? '';
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator !== undefined) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) {
        const enclosing = { partitionKey: record.PartitionKey ?? '', sequenceNumber: record.SequenceNumber };
        for (const user of deaggregate(record.Data ?? new Uint8Array(), enclosing))
          out.push({ ...user, shardId });
      }
      // Written before reading started: the first empty page at the tip is the end.
      if ((page.Records ?? []).length === 0 && page.MillisBehindLatest === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}
