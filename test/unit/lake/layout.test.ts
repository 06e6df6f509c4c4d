import { describe, expect, it } from 'vitest';
import { DeliveryBuffer } from '../../../shared/lake/buffer.ts';
import { LakePrefixError } from '../../../shared/lake/errors.ts';
import { assertPrefix, deterministicUuid, evaluatePrefix, objectKey } from '../../../shared/lake/layout.ts';

const DATA =
  'data/record_type=!{partitionKeyFromLambda:record_type}/dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/';
const ERRORS = 'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/';
const ARRIVAL = Date.UTC(2026, 10, 23, 14, 5, 9, 250);

describe('prefix templates', () => {
  it('evaluate partition keys, arrival timestamps and the error output type like Firehose', () => {
    expect(
      evaluatePrefix(DATA, {
        arrivalMs: ARRIVAL,
        partitions: { record_type: 'telemetry', dt: '2026-11-22', hour: '23' },
      }),
    ).toBe('data/record_type=telemetry/dt=2026-11-22/hour=23/');
    expect(evaluatePrefix(ERRORS, { arrivalMs: ARRIVAL, errorOutputType: 'format-conversion-failed' })).toBe(
      'errors/format-conversion-failed/dt=2026-11-23/hour=14/',
    );
    expect(evaluatePrefix(ERRORS, { arrivalMs: ARRIVAL, errorOutputType: 'processing-failed' })).toBe(
      'errors/processing-failed/dt=2026-11-23/hour=14/',
    );
    expect(evaluatePrefix("x/!{timestamp:yyyy'/'MM}/", { arrivalMs: ARRIVAL })).toBe('x/2026/11/');
  });

  it('are checked up front, with the reason', () => {
    expect(() => assertPrefix(DATA, 'data')).not.toThrow();
    expect(() => assertPrefix(ERRORS, 'error')).not.toThrow();
    expect(() => assertPrefix('data/!{partitionKeyFromLambda:typ}/', 'data')).toThrow(
      /unknown partition key "typ"/,
    );
    expect(() => assertPrefix('errors/', 'error')).toThrow(/must contain !\{firehose:error-output-type\}/);
    // Partition keys come from the lake processor; the local delivery runs no JQ.
    expect(() => assertPrefix('data/!{partitionKeyFromQuery:dt}/', 'data')).toThrow(LakePrefixError);
    expect(() => assertPrefix('data/!{timestamp:yyyy-ww}/', 'data')).toThrow(/pattern letter "w"/);
    expect(() => assertPrefix('data/!{firehose:random-string}/', 'data')).toThrow(/not supported/);
  });
});

describe('object keys', () => {
  const input = {
    deliveryStreamName: 'tributary-dev-lake',
    deliveryStreamVersion: 1,
    prefix: 'data/record_type=telemetry/dt=2026-11-23/hour=14/',
    arrivalMs: ARRIVAL,
    source: { shardId: 'shardId-000000000001', firstSequenceNumber: '100', lastSequenceNumber: '200' },
    extension: '.parquet',
  };

  it('follow <prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>', () => {
    expect(objectKey(input)).toMatch(
      /^data\/record_type=telemetry\/dt=2026-11-23\/hour=14\/tributary-dev-lake-1-2026-11-23-14-05-09-[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.parquet$/,
    );
  });

  it('are the same for the same shard and sequence range, and differ otherwise', () => {
    expect(objectKey(input)).toBe(objectKey({ ...input }));
    expect(objectKey(input)).not.toBe(
      objectKey({ ...input, source: { ...input.source, lastSequenceNumber: '201' } }),
    );
    expect(objectKey(input)).not.toBe(
      objectKey({ ...input, source: { ...input.source, shardId: 'shardId-000000000002' } }),
    );
    expect(deterministicUuid('a')).toBe(deterministicUuid('a'));
  });
});

describe('DeliveryBuffer', () => {
  it('is due by size or by the age of its oldest record, whichever comes first', () => {
    const buffer = new DeliveryBuffer<string>({ sizeBytes: 10, intervalMs: 1000 });
    expect(buffer.due(0)).toBeUndefined();
    buffer.add('a', 4, 100);
    expect(buffer.due(1099)).toBeUndefined();
    expect(buffer.msUntilDue(600)).toBe(500);
    expect(buffer.due(1100)).toBe('interval');
    buffer.add('b', 6, 200);
    expect(buffer.due(150)).toBe('size');
    expect(buffer.drain()).toEqual(['a', 'b']);
    expect(buffer.length).toBe(0);
    expect(buffer.due(5000)).toBeUndefined();
  });
});
