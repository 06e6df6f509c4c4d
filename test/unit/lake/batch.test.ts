import { describe, expect, it } from 'vitest';
import { transformRecords } from '../../../functions/lake-processor/processor.ts';
import {
  BatchPlanner,
  type DeliveryTarget,
  type FormatConversionFailedDocument,
  PROCESSING_FAILED_STATUS,
  type ProcessingFailedDocument,
  type RecordProcessor,
  type SourceRecord,
} from '../../../shared/lake/batch.ts';
import { aggregatedRecord } from '../../helpers/aggregated.ts';
import { telemetryRecord, transactionRecord } from '../../helpers/records.ts';

const target: DeliveryTarget = {
  deliveryStreamName: 'tributary-dev-lake',
  deliveryStreamVersion: 1,
  prefix:
    'data/record_type=!{partitionKeyFromLambda:record_type}/dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/',
  errorOutputPrefix: 'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/',
  fileExtension: '.parquet',
  compression: 'SNAPPY',
  catalog: {
    catalogId: '000000000000',
    databaseName: 'tributary_dev_lake',
    tableName: 'records',
    region: 'us-east-1',
  },
};
const LAMBDA_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:tributary-dev-lakeProcessor';
const processor: RecordProcessor = { lambdaArn: LAMBDA_ARN, transform: transformRecords };
const ARRIVAL = Date.UTC(2026, 10, 23, 14, 0, 0);
let seq = 0;
function source(data: Uint8Array, partitionKey = 'k'): SourceRecord {
  seq += 1;
  return { sequenceNumber: String(1000 + seq), approximateArrivalMs: ARRIVAL + seq, partitionKey, data };
}
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('BatchPlanner', () => {
  const planner = new BatchPlanner(target, processor);

  it('splits a flush into one Parquet object per partition, deaggregating KPL records', () => {
    const t1 = telemetryRecord({ event_time: Date.UTC(2026, 10, 23, 9, 30) });
    const t2 = telemetryRecord({ event_time: Date.UTC(2026, 10, 23, 10, 1) });
    const x1 = transactionRecord({ event_time: Date.UTC(2026, 10, 23, 9, 59) });
    const aggregate = aggregatedRecord([
      { partitionKey: 'a', data: json(t1) },
      { partitionKey: 'a', data: json(x1) },
    ]);
    const batch = planner.plan(
      'shardId-000000000000',
      [source(aggregate.data, 'a'), source(json(t2))],
      ARRIVAL + 10,
    );
    expect(batch).toMatchObject({ delivered: 3, failed: 0, failures: {} });
    expect(batch.objects.map((o) => [o.key.replace(/tributary-dev-lake-1-.*$/, ''), o.records])).toEqual([
      ['data/record_type=telemetry/dt=2026-11-23/hour=09/', 1],
      ['data/record_type=transaction/dt=2026-11-23/hour=09/', 1],
      ['data/record_type=telemetry/dt=2026-11-23/hour=10/', 1],
    ]);
    expect(batch.objects.every((o) => o.kind === 'data' && o.key.endsWith('.parquet'))).toBe(true);
  });

  it('files what the processor refuses under processing-failed, as Firehose writes it, and counts the reasons', () => {
    const bad = [
      source(Buffer.from('{"id": 1')),
      source(json({ ...telemetryRecord(), event_time: 17954352 })),
      source(Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2, 1, 2, 3)),
    ];
    const good = telemetryRecord();
    const batch = planner.plan('shardId-000000000000', [...bad, source(json(good))], ARRIVAL + 99);
    expect(batch).toMatchObject({
      delivered: 1,
      failed: 3,
      failures: { RECORD_MALFORMED: 1, RECORD_INVALID: 1, AGGREGATION_CORRUPT: 1 },
    });
    const errors = batch.objects.filter((o) => o.kind === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.key).toMatch(
      /^errors\/processing-failed\/dt=2026-11-23\/hour=14\/tributary-dev-lake-1-2026-11-23-14-00-00-/,
    );
    const docs = Buffer.from(errors[0]?.body ?? [])
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ProcessingFailedDocument);
    expect(docs.map((d) => Buffer.from(d.rawData, 'base64'))).toEqual(bad.map((b) => Buffer.from(b.data)));
    expect(docs[0]).toEqual({
      attemptsMade: 1,
      arrivalTimestamp: bad[0]?.approximateArrivalMs,
      errorCode: PROCESSING_FAILED_STATUS.errorCode,
      errorMessage: PROCESSING_FAILED_STATUS.errorMessage,
      attemptEndingTimestamp: ARRIVAL + 99,
      rawData: docs[0]?.rawData,
      lambdaArn: LAMBDA_ARN,
    });
  });

  it('drops what the processor drops, and files Ok data that cannot be converted under format-conversion-failed', () => {
    const [kept, dropped, broken] = [telemetryRecord(), telemetryRecord(), telemetryRecord()].map((r) =>
      source(json(r)),
    );
    const custom: RecordProcessor = {
      lambdaArn: LAMBDA_ARN,
      transform: (records) => {
        const out = transformRecords(records).records;
        return {
          records: [
            out[0] as (typeof out)[number],
            { recordId: records[1]?.recordId ?? '', result: 'Dropped' },
            { ...(out[2] as (typeof out)[number]), data: Buffer.from('{not json').toString('base64') },
          ],
        };
      },
    };
    const batch = new BatchPlanner(target, custom).plan(
      'shardId-000000000000',
      [kept, dropped, broken].filter((r) => r !== undefined),
      ARRIVAL,
    );
    expect(batch).toMatchObject({ delivered: 1, failed: 1 });
    const error = batch.objects.find((o) => o.kind === 'error');
    expect(error?.key).toMatch(/^errors\/format-conversion-failed\//);
    const doc = JSON.parse(Buffer.from(error?.body ?? []).toString()) as FormatConversionFailedDocument;
    expect(doc).toMatchObject({
      lastErrorCode: 'DataFormatConversion.MalformedData',
      sequenceNumber: broken?.sequenceNumber,
      subSequenceNumber: 0,
      dataCatalogTable: { databaseName: 'tributary_dev_lake', tableName: 'records', versionId: 'LATEST' },
    });
  });

  it('gives the same keys and bytes for the same records (a replay overwrites, never adds)', () => {
    const records = [source(json(telemetryRecord())), source(json(transactionRecord()))];
    const a = planner.plan('shardId-000000000001', records, 1);
    const b = planner.plan('shardId-000000000001', records, 2);
    expect(b.objects.map((o) => o.key)).toEqual(a.objects.map((o) => o.key));
    expect(b.objects.map((o) => Buffer.from(o.body))).toEqual(a.objects.map((o) => Buffer.from(o.body)));
  });
});
