import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, FirehoseTransformationResult } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { createLakeProcessorHandler } from '../../../functions/lake-processor/handler.ts';
import { transformRecords, verdictOf } from '../../../functions/lake-processor/processor.ts';
import { resolveDeliveryStream } from '../../../local/delivery/delivery.ts';
import { loadStack } from '../../../local/resources/stack.ts';
import { decodeRecord, encodeRecord } from '../../../shared/contract/index.ts';
import { LAMBDA_SYNC_PAYLOAD_MAX_BYTES } from '../../../shared/kinesis/limits.ts';
import { partitionValues } from '../../../shared/lake/table.ts';
import { aggregatedRecord, flipByte } from '../../helpers/aggregated.ts';
import { testContext } from '../../helpers/lambda.ts';
import { logRecord, recordArb, telemetryRecord } from '../../helpers/records.ts';

const b64 = (data: Uint8Array | string) => Buffer.from(data).toString('base64');
const fromB64 = (data: string | undefined) => Buffer.from(data ?? '', 'base64');

describe('transformRecords (the lake processor core)', () => {
  it('passes every valid record Ok, as the contract decoded it, with its partition keys (property)', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 20 }), (records) => {
        const input = records.map((r, i) => ({ recordId: `r${i}`, data: b64(encodeRecord(r)) }));
        const out = transformRecords(input);
        expect(out.rejected).toEqual([]);
        expect(out.records.map((r) => r.recordId)).toEqual(input.map((r) => r.recordId));
        out.records.forEach((result, i) => {
          const record = records[i] as (typeof records)[number];
          expect(result.result).toBe('Ok');
          expect(JSON.parse(fromB64(result.data).toString())).toEqual(decodeRecord(encodeRecord(record)));
          expect(result.metadata).toEqual({ partitionKeys: partitionValues(record) });
        });
      }),
    );
  });

  it('answers every record id once, in order, whatever the bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (blobs) => {
        const input = blobs.map((b, i) => ({ recordId: `id-${i}`, data: b64(b) }));
        const out = transformRecords(input);
        expect(out.records.map((r) => r.recordId)).toEqual(input.map((r) => r.recordId));
        for (const [i, result] of out.records.entries()) {
          if (result.result === 'ProcessingFailed') expect(result.data).toBe(input[i]?.data);
        }
        expect(out.rejected.map((r) => r.recordId)).toEqual(
          out.records.filter((r) => r.result === 'ProcessingFailed').map((r) => r.recordId),
        );
      }),
    );
  });

  it('passes a log line Ok under its own type partition', () => {
    const line = logRecord({ event_time: Date.UTC(2026, 10, 23, 17, 5) });
    const out = transformRecords([{ recordId: 'l', data: b64(encodeRecord(line)) }]);
    expect(out.rejected).toEqual([]);
    expect(out.records[0]?.result).toBe('Ok');
    expect(out.records[0]?.metadata).toEqual({
      partitionKeys: { record_type: 'log', dt: '2026-11-23', hour: '17' },
    });
  });

  it('drops a newer producer’s extra fields from what it passes on', () => {
    const record = telemetryRecord();
    const out = transformRecords([
      { recordId: 'x', data: b64(JSON.stringify({ ...record, added_later: 1 })) },
    ]);
    expect(out.records[0]?.result).toBe('Ok');
    expect(JSON.parse(fromB64(out.records[0]?.data).toString())).not.toHaveProperty('added_later');
  });

  it('refuses contract-invalid, malformed and aggregated bytes with the code, field and every issue', () => {
    const twoBad = { ...telemetryRecord(), device_id: '', event_time: 17 };
    const aggregate = aggregatedRecord([{ partitionKey: 'a', data: encodeRecord(telemetryRecord()) }]);
    const inputs = [
      { recordId: 'invalid', data: b64(JSON.stringify(twoBad)) },
      { recordId: 'truncated', data: b64('{"id": "trunc') },
      { recordId: 'array', data: b64('[1,2]') },
      { recordId: 'not-utf8', data: b64(Uint8Array.of(0xff, 0xfe)) },
      { recordId: 'corrupt-aggregate', data: b64(flipByte(aggregate.data, 10)) },
      { recordId: 'whole-aggregate', data: b64(aggregate.data) },
    ];
    const out = transformRecords(inputs);
    expect(out.records.map((r) => r.result)).toEqual(Array(inputs.length).fill('ProcessingFailed'));
    expect(out.rejected.map((r) => [r.recordId, r.code, r.path])).toEqual([
      ['invalid', 'RECORD_INVALID', 'device_id'],
      ['truncated', 'RECORD_MALFORMED', ''],
      ['array', 'RECORD_MALFORMED', ''],
      ['not-utf8', 'RECORD_MALFORMED', ''],
      ['corrupt-aggregate', 'AGGREGATION_CORRUPT', ''],
      ['whole-aggregate', 'AGGREGATION_CORRUPT', ''],
    ]);
    expect(out.rejected[0]?.reason).toMatch(/device_id.*event_time/);
    expect(out.rejected[3]?.reason).toMatch(/UTF-8/);
    expect(out.rejected[4]?.reason).toMatch(/MD5|checksum/i);
  });

  it('derives the same verdict from an error document’s rawData as at delivery time', () => {
    const data = b64(JSON.stringify({ ...telemetryRecord(), payload: { metric: 'X' } }));
    const [rejection] = transformRecords([{ recordId: 'r', data }]).rejected;
    expect(verdictOf(data, 'r')).toEqual({ valid: false, rejection });
  });
});

describe('the processor batch size in serverless.yml', () => {
  it('keeps the event and the answer under Lambda’s 6 MB payload limit, even for the smallest records', async () => {
    const processor = resolveDeliveryStream(await loadStack('serverless.yml')).processor;
    const budget = (processor?.bufferSizeMB ?? 0) * 1024 * 1024;
    const record = telemetryRecord({
      device_id: 'd',
      partition_key: 'd',
      payload: { metric: 'm', value: 1, unit: 'u' },
    });
    const data = encodeRecord(record);
    const count = Math.floor(budget / data.byteLength);
    // Firehose's record ids are ~56 characters (sequence number plus sub-sequence).
    const input = Array.from({ length: count }, (_, i) => ({
      recordId: String(i).padStart(60, '4'),
      data: b64(data),
    }));
    const event = JSON.stringify({ invocationId: 'x', deliveryStreamArn: 'x', region: 'x', records: input });
    const answer = JSON.stringify({ records: transformRecords(input).records });
    expect(count).toBeGreaterThan(1000);
    expect(Buffer.byteLength(event)).toBeLessThan(LAMBDA_SYNC_PAYLOAD_MAX_BYTES);
    expect(Buffer.byteLength(answer)).toBeLessThan(LAMBDA_SYNC_PAYLOAD_MAX_BYTES);
  });
});

describe('the lake processor handler', () => {
  const context = (): Context => testContext('tributary-test-lakeProcessor');
  const event = (records: { recordId: string; data: string }[]) => ({
    invocationId: 'inv-1',
    deliveryStreamArn: 'arn:aws:firehose:us-east-1:000000000000:deliverystream/tributary-test-lake',
    sourceKinesisStreamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/tributary-test-records',
    region: 'us-east-1',
    records: records.map((r, i) => ({
      ...r,
      approximateArrivalTimestamp: 1_764_000_000_000 + i,
      kinesisRecordMetadata: {
        shardId: 'shardId-000000000000',
        partitionKey: 'k',
        approximateArrivalTimestamp: 1_764_000_000_000 + i,
        sequenceNumber: `4959${i}`,
        subsequenceNumber: 0,
      },
    })),
  });

  it('returns the core’s answer and logs each refused record with its reason and position', async () => {
    const logger = new Logger({ serviceName: 'lake-processor' });
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const handler = createLakeProcessorHandler({ logger });
    const good = telemetryRecord();
    const input = [
      { recordId: 'good', data: b64(encodeRecord(good)) },
      { recordId: 'bad', data: b64('{"id": 1') },
    ];
    const result: FirehoseTransformationResult = await handler(event(input), context());
    expect(result).toEqual({ records: transformRecords(input).records });
    expect(result.records.map((r) => r.result)).toEqual(['Ok', 'ProcessingFailed']);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[1]).toMatchObject({
      recordId: 'bad',
      code: 'RECORD_MALFORMED',
      shardId: 'shardId-000000000000',
      sequenceNumber: '49591',
    });
  });

  it('refuses an event that is not a Firehose transformation event (Firehose retries, then files the batch)', async () => {
    const handler = createLakeProcessorHandler({ logger: new Logger({ logLevel: 'SILENT' }) });
    await expect(handler({ records: [{ recordId: 'x', data: 'not base64!' }] }, context())).rejects.toThrow();
  });
});
