import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { BatchPutAssetPropertyValueCommand, IoTSiteWiseClient } from '@aws-sdk/client-iotsitewise';
import {
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  PutRecordsCommand,
  SubscribeToShardCommand,
  type SubscribeToShardEventStream,
} from '@aws-sdk/client-kinesis';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, type TributaryRecord } from '../../shared/contract/index.ts';
import { useLocalCloud } from '../helpers/local-cloud.ts';
import { telemetryRecord, transactionRecord } from '../helpers/records.ts';

const local = useLocalCloud('cloud');

function resourceName(type: string, logicalId: string): string {
  const status = local.cloud.resources.find((r) => r.type === type && r.logicalId === logicalId);
  if (status === undefined) throw new Error(`${logicalId} (${type}) was not created`);
  return status.physicalName;
}

async function collectFromShard(
  consumerArn: string,
  shardId: string,
  want: number,
  deadlineMs: number,
): Promise<TributaryRecord[]> {
  const records: TributaryRecord[] = [];
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), deadlineMs);
  try {
    const response = await local.cloud.clients.kinesis().send(
      new SubscribeToShardCommand({
        ConsumerARN: consumerArn,
        ShardId: shardId,
        StartingPosition: { Type: 'TRIM_HORIZON' },
      }),
      { abortSignal: controller.signal },
    );
    const stream = response.EventStream as AsyncIterable<SubscribeToShardEventStream> | undefined;
    if (stream === undefined) throw new Error('SubscribeToShard returned no event stream');
    for await (const event of stream) {
      for (const record of event.SubscribeToShardEvent?.Records ?? []) {
        if (record.Data !== undefined) records.push(decodeRecord(record.Data));
      }
      if (records.length >= want) break;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
  }
  return records;
}

describe('embedded local cloud', () => {
  it('creates every resource declared in serverless.yml', async () => {
    const declared = local.cloud.stack.resources.filter((r) => r.kind !== 'not-emulated');
    for (const resource of declared) {
      const status = local.cloud.resources.find((r) => r.logicalId === resource.logicalId);
      expect(status?.status, resource.logicalId).toMatch(/^(created|exists|skipped)$/);
    }
    const stream = resourceName('AWS::Kinesis::Stream', 'RecordsStream');
    const summary = await local.cloud.clients
      .kinesis()
      .send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    expect(summary.StreamDescriptionSummary?.StreamStatus).toBe('ACTIVE');
    for (const table of ['AlertsTable', 'CardStateTable', 'AggregatesTable']) {
      const name = resourceName('AWS::DynamoDB::Table', table);
      const described = await local.cloud.clients
        .dynamodb()
        .send(new DescribeTableCommand({ TableName: name }));
      expect(described.Table?.TableStatus).toBe('ACTIVE');
    }
    await local.cloud.clients
      .s3()
      .send(new HeadBucketCommand({ Bucket: resourceName('AWS::S3::Bucket', 'LakeBucket') }));
  });

  it('answers IoT SiteWise BatchPutAssetPropertyValue on its own loopback port (any property exists)', async () => {
    const { endpoints, sitewise } = local.cloud;
    expect(endpoints.sitewise).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new Set(Object.values(endpoints)).size).toBe(Object.values(endpoints).length);
    const client = new IoTSiteWiseClient({
      region: local.cloud.region,
      endpoint: endpoints.sitewise,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      disableHostPrefix: true,
      requestHandler: new NodeHttpHandler(),
    });
    try {
      const timeInSeconds = Math.floor(Date.now() / 1000);
      const out = await client.send(
        new BatchPutAssetPropertyValueCommand({
          entries: [
            {
              entryId: 'e1',
              propertyAlias: '/any/alias',
              propertyValues: [{ value: { stringValue: 'on' }, timestamp: { timeInSeconds } }],
            },
          ],
        }),
      );
      expect(out.errorEntries).toEqual([]);
      expect(sitewise.stored).toEqual([
        { property: '/any/alias', value: { stringValue: 'on' }, timeInSeconds },
      ]);
    } finally {
      client.destroy();
    }
  });

  it('round-trips contract records through PutRecords and enhanced fan-out', async () => {
    const kinesis = local.cloud.clients.kinesis();
    const streamName = resourceName('AWS::Kinesis::Stream', 'RecordsStream');
    const consumerName = resourceName('AWS::Kinesis::StreamConsumer', 'AnalyticsConsumer');
    const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    const streamArn = summary.StreamDescriptionSummary?.StreamARN;
    const consumer = await kinesis.send(
      new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }),
    );
    const consumerArn = consumer.ConsumerDescription?.ConsumerARN;
    expect(consumer.ConsumerDescription?.ConsumerStatus).toBe('ACTIVE');
    if (consumerArn === undefined) throw new Error('consumer has no ARN');

    const sent: TributaryRecord[] = [
      ...Array.from({ length: 20 }, (_, i) =>
        telemetryRecord({ device_id: `sensor-${i % 4}`, partition_key: `sensor-${i % 4}` }),
      ),
      ...Array.from({ length: 10 }, () => transactionRecord()),
    ];
    const put = await kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: sent.map((record) => ({ Data: encodeRecord(record), PartitionKey: record.partition_key })),
      }),
    );
    expect(put.FailedRecordCount).toBe(0);

    const shards = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
    const received: TributaryRecord[] = [];
    const perShard = new Map<string, number>();
    for (const entry of put.Records ?? []) {
      if (entry.ShardId !== undefined) perShard.set(entry.ShardId, (perShard.get(entry.ShardId) ?? 0) + 1);
    }
    for (const shard of shards.Shards ?? []) {
      const want = perShard.get(shard.ShardId ?? '') ?? 0;
      if (want === 0 || shard.ShardId === undefined) continue;
      received.push(...(await collectFromShard(consumerArn, shard.ShardId, want, 20_000)));
    }
    const byId = new Map(received.map((r) => [r.id, r]));
    expect(byId.size).toBe(sent.length);
    for (const record of sent) expect(byId.get(record.id)).toEqual(record);
    // Per partition key, the shard delivers records in the order they were put.
    const order = (records: TributaryRecord[], key: string) =>
      records.filter((r) => r.partition_key === key).map((r) => r.id);
    for (const key of new Set(sent.map((r) => r.partition_key))) {
      expect(order(received, key)).toEqual(order(sent, key));
    }
  });
});
