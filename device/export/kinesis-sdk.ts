/**
 * KinesisApi over an AWS SDK v3 KinesisClient, for callers that bring their own client (tests,
 * embedding with `AgentOptions.clients`). Imported only then: the agent itself uses the slim HTTP
 * client in kinesis.ts and never loads the SDK.
 */
import type {
  KinesisClient,
  PutRecordsCommandOutput,
  PutRecordsRequestEntry,
  Shard,
} from '@aws-sdk/client-kinesis';
import { ShardMap } from '../../shared/kinesis/hash.ts';
import { classifyFailure, type KinesisApi, outcomesOf, recordsPageOf } from './kinesis.ts';

export async function sdkKinesisApi(client: KinesisClient): Promise<KinesisApi> {
  // Imported here, not at the top: the device bundle leaves the SDK out (external), and a static
  // import of an external module would be loaded at the bundle's start.
  const {
    DescribeStreamSummaryCommand,
    GetRecordsCommand,
    GetShardIteratorCommand,
    ListShardsCommand,
    PutRecordsCommand,
  } = await import('@aws-sdk/client-kinesis');
  return {
    async putRecords(streamName, entries, timeoutMillis) {
      const records: PutRecordsRequestEntry[] = entries.map((entry) => ({
        Data: entry.data,
        PartitionKey: entry.partitionKey,
        ...(entry.explicitHashKey === undefined ? {} : { ExplicitHashKey: entry.explicitHashKey }),
      }));
      let output: PutRecordsCommandOutput;
      try {
        output = await client.send(new PutRecordsCommand({ StreamName: streamName, Records: records }), {
          abortSignal: AbortSignal.timeout(timeoutMillis),
        });
      } catch (error) {
        throw classifyFailure('PutRecords', error);
      }
      return outcomesOf(entries.length, output.Records ?? []);
    },

    async listShards(streamName) {
      const shards: Shard[] = [];
      let nextToken: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListShardsCommand(
              nextToken === undefined ? { StreamName: streamName } : { NextToken: nextToken },
            ),
          );
          shards.push(...(page.Shards ?? []));
          nextToken = page.NextToken ?? undefined;
        } while (nextToken !== undefined);
      } catch (error) {
        throw classifyFailure('ListShards', error);
      }
      return ShardMap.fromShards(shards);
    },

    async maxRecordBytes(streamName) {
      try {
        const { StreamDescriptionSummary } = await client.send(
          new DescribeStreamSummaryCommand({ StreamName: streamName }),
        );
        const kib = StreamDescriptionSummary?.MaxRecordSizeInKiB;
        return typeof kib === 'number' && kib > 0 ? kib * 1024 : undefined;
      } catch (error) {
        throw classifyFailure('DescribeStreamSummary', error);
      }
    },

    async shardIteratorAfter(streamName, shardId, sequenceNumber) {
      let iterator: string | undefined;
      try {
        ({ ShardIterator: iterator } = await client.send(
          new GetShardIteratorCommand({
            StreamName: streamName,
            ShardId: shardId,
            ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
            StartingSequenceNumber: sequenceNumber,
          }),
        ));
      } catch (error) {
        throw classifyFailure('GetShardIterator', error);
      }
      if (iterator === undefined) {
        throw classifyFailure('GetShardIterator', new Error('GetShardIterator returned no iterator'));
      }
      return iterator;
    },

    async getRecords(shardIterator, limit, timeoutMillis) {
      try {
        return recordsPageOf(
          await client.send(new GetRecordsCommand({ ShardIterator: shardIterator, Limit: limit }), {
            abortSignal: AbortSignal.timeout(timeoutMillis),
          }),
        );
      } catch (error) {
        throw classifyFailure('GetRecords', error);
      }
    },
  };
}
