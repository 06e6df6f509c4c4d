import { describe, expect, it } from 'vitest';
import { resolveDeliveryStream } from '../../../local/delivery/delivery.ts';
import { loadStack, parseStack } from '../../../local/resources/stack.ts';
import {
  FIREHOSE_MIN_CONVERSION_BUFFER_BYTES,
  FIREHOSE_MIN_PARTITIONING_INTERVAL_MS,
} from '../../../shared/kinesis/limits.ts';

describe('the delivery stream in serverless.yml', () => {
  it('is read from the template: source stream, bucket, prefixes, buffering, Parquet, JQ partitioning', async () => {
    const stack = await loadStack('serverless.yml');
    const stream = resolveDeliveryStream(stack);
    expect(stream).toMatchObject({
      name: 'tributary-dev-lake',
      sourceStreamName: 'tributary-dev-records',
      bucketName: 'tributary-dev-lake-000000000000-us-east-1',
      prefix:
        'data/record_type=!{partitionKeyFromQuery:record_type}/dt=!{partitionKeyFromQuery:dt}/hour=!{partitionKeyFromQuery:hour}/',
      errorOutputPrefix:
        'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/',
      fileExtension: '.parquet',
      parquetCompression: 'SNAPPY',
      dynamicPartitioning: true,
      catalogTable: { databaseName: 'tributary_dev_lake', tableName: 'records' },
    });
    expect(stream.metadataExtractionQuery).toContain('record_type: .type');
  });

  it('respects the AWS minimums for format conversion (>= 64 MiB) and dynamic partitioning (>= 60 s)', async () => {
    const stream = resolveDeliveryStream(await loadStack('serverless.yml'));
    expect(stream.bufferSizeBytes).toBeGreaterThanOrEqual(FIREHOSE_MIN_CONVERSION_BUFFER_BYTES);
    expect(stream.bufferIntervalSeconds * 1000).toBeGreaterThanOrEqual(FIREHOSE_MIN_PARTITIONING_INTERVAL_MS);
  });

  it('rejects what the local runner cannot deliver, with the place in the file', () => {
    const yaml = (type: string) => `service: t
resources:
  Resources:
    S:
      Type: AWS::Kinesis::Stream
      Properties: { Name: s, ShardCount: 1 }
    B:
      Type: AWS::S3::Bucket
      Properties: { BucketName: b-bucket }
    D:
      Type: AWS::KinesisFirehose::DeliveryStream
      Properties:
        DeliveryStreamType: ${type}
        KinesisStreamSourceConfiguration: { KinesisStreamARN: !GetAtt S.Arn }
        ExtendedS3DestinationConfiguration:
          BucketARN: !GetAtt B.Arn
          Prefix: data/!{partitionKeyFromQuery:nope}/
          ErrorOutputPrefix: errors/!{firehose:error-output-type}/
`;
    expect(() => parseStack(yaml('DirectPut'), 'inline.yml')).toThrow(
      /inline.yml:\d+: resource D: .*DeliveryStreamType: must be one of KinesisStreamAsSource/,
    );
    const stack = parseStack(yaml('KinesisStreamAsSource'), 'inline.yml');
    expect(() => resolveDeliveryStream(stack)).toThrow(/only Parquet record format conversion/);
  });
});
