import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type AnalyticsJobOptions,
  propertyGroups,
  readAnalyticsStats,
} from '../../../local/analytics/launcher.ts';
import { useTempDirs } from '../../helpers/temp-dir.ts';

const base: AnalyticsJobOptions = {
  kinesisEndpoint: 'http://127.0.0.1:1000',
  dynamodbEndpoint: 'http://127.0.0.1:2000',
  region: 'us-east-1',
  streamName: 'tributary-dev-records',
  tableName: 'tributary-dev-aggregates',
};

const source = (opts: AnalyticsJobOptions) =>
  propertyGroups(opts).find((g) => g.PropertyGroupId === 'KinesisSource')?.PropertyMap;

describe('analytics launcher property groups', () => {
  it('reads through EFO by default, from the EFO endpoint when one is given', () => {
    expect(source(base)).toMatchObject({ 'reader.type': 'EFO', 'aws.endpoint': 'http://127.0.0.1:1000' });
    expect(
      source({ ...base, kinesisEfoEndpoint: 'http://127.0.0.1:3000', efoConsumerName: 'analytics' }),
    ).toMatchObject({
      'reader.type': 'EFO',
      'aws.endpoint': 'http://127.0.0.1:3000',
      'efo.consumer.name': 'analytics',
    });
  });

  it('polls through the (limits) endpoint when asked to', () => {
    expect(
      source({ ...base, readerType: 'POLLING', kinesisEfoEndpoint: 'http://127.0.0.1:3000' }),
    ).toMatchObject({
      'reader.type': 'POLLING',
      'aws.endpoint': 'http://127.0.0.1:1000',
    });
  });

  it('passes window overrides and the checkpoint interval in the Managed Flink shape', () => {
    const groups = propertyGroups({ ...base, windows: { 'idleness.ms': '1000' }, checkpointIntervalMs: 500 });
    expect(groups.map((g) => g.PropertyGroupId)).toEqual([
      'KinesisSource',
      'AggregatesSink',
      'Windows',
      'Job',
    ]);
    expect(groups[2]?.PropertyMap).toEqual({ 'idleness.ms': '1000' });
    expect(groups[3]?.PropertyMap).toEqual({ 'checkpoint.interval.ms': '500' });
  });
});

describe('readAnalyticsStats', () => {
  const tempDir = useTempDirs('analytics-stats-');

  it('returns the counters, or undefined while there is no (complete) file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'stats.json');
    expect(await readAnalyticsStats(file)).toBeUndefined();
    await writeFile(file, '{"updatedAt":');
    expect(await readAnalyticsStats(file)).toBeUndefined();
    await writeFile(file, '{"updatedAt":1,"recordsParsed":2,"windowsEmitted":3}\n');
    expect(await readAnalyticsStats(file)).toMatchObject({ recordsParsed: 2, windowsEmitted: 3 });
  });
});
