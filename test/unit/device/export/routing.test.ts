import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseExportDefinitions } from '../../../../device/export/definition.ts';
import { partitionKeyOf, partitionKeyProblem } from '../../../../device/export/routing.ts';
import { encodeRecord } from '../../../../shared/contract/index.ts';
import { ConfigError } from '../../../../shared/errors.ts';
import { recordArb, telemetryRecord } from '../../../helpers/records.ts';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('partitionKeyOf', () => {
  it('reads the partition key of every encoded contract record', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        expect(partitionKeyOf(encodeRecord(record))).toBe(record.partition_key);
      }),
    );
  });

  it('agrees with JSON.parse on any JSON object, escapes and duplicate keys included', () => {
    const objects = fc.oneof(
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.record({ partition_key: fc.oneof(fc.string(), fc.jsonValue()), other: fc.jsonValue() }),
    );
    fc.assert(
      fc.property(objects, fc.constantFrom(0, 2), (object, indent) => {
        const parsed = JSON.parse(JSON.stringify(object)) as Record<string, unknown>;
        const expected = typeof parsed.partition_key === 'string' ? parsed.partition_key : undefined;
        expect(partitionKeyOf(bytes(JSON.stringify(object, null, indent)))).toBe(expected);
      }),
    );
    expect(partitionKeyOf(bytes('{"partition_key":"a","partition_key":"b"}'))).toBe('b');
    expect(partitionKeyOf(bytes('{"partition\\u005fkey":"\\u00e9t\\u00e9"}'))).toBe('été');
  });

  it('ignores nested keys and non-objects', () => {
    const record = telemetryRecord({ partition_key: 'outer' });
    const nested = { ...record, payload: { ...record.payload, tags: { partition_key: 'inner' } } };
    expect(partitionKeyOf(bytes(JSON.stringify(nested)))).toBe('outer');
    expect(partitionKeyOf(bytes('{"payload":{"partition_key":"inner"}}'))).toBeUndefined();
    for (const text of [
      '',
      'null',
      '[{"partition_key":"a"}]',
      '{"partition_key":"a"',
      '{"partition_key":7}',
      'garbage',
    ]) {
      expect(partitionKeyOf(bytes(text))).toBeUndefined();
    }
  });

  it('names partition keys Kinesis refuses', () => {
    expect(partitionKeyProblem('device-1')).toBeUndefined();
    expect(partitionKeyProblem('')).toMatch(/1-256/);
    expect(partitionKeyProblem('x'.repeat(257))).toMatch(/1-256/);
    expect(partitionKeyProblem('\uD800')).toMatch(/surrogate/);
  });
});

describe('parseExportDefinitions', () => {
  it('fills Greengrass-like defaults', () => {
    expect(parseExportDefinitions([{ logStream: 'telemetry', kinesisStreamName: 'ingest' }])).toEqual([
      {
        logStream: 'telemetry',
        kinesisStreamName: 'ingest',
        batchSize: 500,
        batchIntervalMillis: 0,
        priority: 5,
        aggregation: true,
        readBackOnStart: true,
        deadLetterStream: 'telemetry.dead-letter',
        checkpointName: 'kinesis.ingest',
      },
    ]);
  });

  it('names the bad path and value', () => {
    const bad = (input: unknown, path: string, value: unknown) => {
      try {
        parseExportDefinitions(input);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).path).toBe(path);
        expect((error as ConfigError).value).toEqual(value);
      }
    };
    const base = { logStream: 'a', kinesisStreamName: 'k' };
    bad({}, 'exports', {});
    bad([base, { ...base, priority: 11 }], 'exports[1].priority', 11);
    bad([{ ...base, batchSize: 0 }], 'exports[0].batchSize', 0);
    bad([{ ...base, kinesisStreamName: 'no spaces' }], 'exports[0].kinesisStreamName', 'no spaces');
    bad([{ ...base, bandwidthBytesPerSecond: 10 }], 'exports[0].bandwidthBytesPerSecond', 10);
    bad([{ ...base, aggregate: true }], 'exports[0].aggregate', true);
    bad([base, base], 'exports[1].logStream', 'a');
    bad([{ ...base, deadLetterStream: 'a' }], 'exports[0].deadLetterStream', 'a');
    bad(
      [base, { logStream: 'b', kinesisStreamName: 'k', deadLetterStream: 'a' }],
      'exports[1].deadLetterStream',
      'a',
    );
    bad([{ ...base, kinesisStreamName: 'k'.repeat(125) }], 'exports[0].checkpointName', undefined);
  });
});
