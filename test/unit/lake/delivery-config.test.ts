import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  LAKE_PROCESSOR_HANDLER,
  lakeProcessorOf,
  resolveDeliveryStream,
} from '../../../local/delivery/delivery.ts';
import { loadStack, parseStack } from '../../../local/resources/stack.ts';
import {
  FIREHOSE_MIN_CONVERSION_BUFFER_BYTES,
  FIREHOSE_MIN_PARTITIONING_INTERVAL_MS,
} from '../../../shared/kinesis/limits.ts';

describe('the delivery stream in serverless.yml', () => {
  it('is read from the template: source stream, bucket, prefixes, buffering, Parquet, Lambda partitioning', async () => {
    const stack = await loadStack('serverless.yml');
    const stream = resolveDeliveryStream(stack);
    expect(stream).toMatchObject({
      name: 'tributary-dev-lake',
      sourceStreamName: 'tributary-dev-records',
      bucketName: 'tributary-dev-lake-000000000000-us-east-1',
      prefix:
        'data/record_type=!{partitionKeyFromLambda:record_type}/dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/',
      errorOutputPrefix:
        'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/',
      fileExtension: '.parquet',
      parquetCompression: 'SNAPPY',
      dynamicPartitioning: true,
      catalogTable: { databaseName: 'tributary_dev_lake', tableName: 'records' },
    });
    expect(stream.processor).toEqual({
      functionLogicalId: 'LakeProcessorLambdaFunction',
      bufferSizeMB: 1,
      bufferIntervalSeconds: 60,
      retries: 3,
    });
  });

  it('runs the processor the stack deploys: the template points Firehose at functions/lake-processor', async () => {
    const stack = await loadStack('serverless.yml');
    const fn = lakeProcessorOf(stack, resolveDeliveryStream(stack));
    expect(fn).toEqual({
      key: 'lakeProcessor',
      logicalId: 'LakeProcessorLambdaFunction',
      name: 'tributary-dev-lakeProcessor',
      arn: 'arn:aws:lambda:us-east-1:000000000000:function:tributary-dev-lakeProcessor',
      handler: LAKE_PROCESSOR_HANDLER,
    });
    // The handler the stack deploys is a thin wrapper around the core the local delivery calls.
    const handlerSource = await readFile('functions/lake-processor/handler.ts', 'utf8');
    expect(handlerSource).toMatch(/import \{ transformRecords \} from '\.\/processor\.ts'/);
    expect(handlerSource).toMatch(/transformRecords\(event\.records\)/);
  });

  it('refuses a processor that is not the lake processor, or none', () => {
    const yaml = (processor: string) => `service: t
functions:
  other:
    handler: functions/other/handler.handler
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
        DeliveryStreamType: KinesisStreamAsSource
        KinesisStreamSourceConfiguration: { KinesisStreamARN: !GetAtt S.Arn }
        ExtendedS3DestinationConfiguration:
          BucketARN: !GetAtt B.Arn
          Prefix: data/
          ErrorOutputPrefix: errors/!{firehose:error-output-type}/
          DataFormatConversionConfiguration:
            OutputFormatConfiguration: { Serializer: { ParquetSerDe: {} } }
            SchemaConfiguration: { DatabaseName: d, TableName: t }
${processor}
`;
    const lambda = (arn: string, extra = '') => `          ProcessingConfiguration:
            Enabled: true
            Processors:
              - Type: Lambda
                Parameters:
                  - { ParameterName: LambdaArn, ParameterValue: ${arn} }${extra}`;
    expect(() => resolveDeliveryStream(parseStack(yaml(''), 'inline.yml'))).toThrow(/no Lambda processor/);
    expect(() =>
      resolveDeliveryStream(parseStack(yaml(lambda('!GetAtt OtherLambdaFunction.Arn')), 'inline.yml')),
    ).toThrow(/runs functions\/other\/handler.handler; the local delivery runs functions\/lake-processor/);
    expect(() =>
      resolveDeliveryStream(parseStack(yaml(lambda('!GetAtt NopeLambdaFunction.Arn')), 'inline.yml')),
    ).toThrow(/NopeLambdaFunction is not a function/);
    expect(() => parseStack(yaml(lambda('arn:aws:lambda:us-east-1:1:function:x')), 'inline.yml')).toThrow(
      /inline.yml:\d+: .*LambdaArn must be !GetAtt/,
    );
    expect(() =>
      parseStack(
        yaml(
          lambda(
            '!GetAtt OtherLambdaFunction.Arn',
            '\n                  - { ParameterName: BufferSizeInMBs, ParameterValue: "4" }',
          ),
        ),
        'inline.yml',
      ),
    ).toThrow(/BufferSizeInMBs|must be a string holding a number from 0.2 to 3/);
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
          Prefix: data/!{partitionKeyFromLambda:nope}/
          ErrorOutputPrefix: errors/!{firehose:error-output-type}/
`;
    expect(() => parseStack(yaml('DirectPut'), 'inline.yml')).toThrow(
      /inline.yml:\d+: resource D: .*DeliveryStreamType: must be one of KinesisStreamAsSource/,
    );
    const stack = parseStack(yaml('KinesisStreamAsSource'), 'inline.yml');
    expect(() => resolveDeliveryStream(stack)).toThrow(/only Parquet record format conversion/);
  });
});
