import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePlanArgs } from '../../../local/plan/cli.ts';
import { PlanInputError } from '../../../local/plan/errors.ts';
import { formatPlan } from '../../../local/plan/format.ts';
import { type PlanInput, type PlanInputFields, parsePlanInput } from '../../../local/plan/input.ts';
import { aggregatedBytesPerRecord, planCapacity, putPayloadUnits } from '../../../local/plan/plan.ts';
import { DEFAULT_PRICES } from '../../../local/plan/prices.ts';
import { AggregationBuilder } from '../../../shared/kinesis/aggregation.ts';
import {
  SHARD_WRITE_BYTES_PER_SECOND,
  SHARD_WRITE_RECORDS_PER_SECOND,
} from '../../../shared/kinesis/limits.ts';
import { useTempDirs } from '../../helpers/temp-dir.ts';
import { thrown } from '../../helpers/thrown.ts';

const KB = 1024;
const base: PlanInputFields = {
  devices: 1000,
  recordsPerSecondPerDevice: 1,
  recordBytes: 300,
  partitionKeys: 1000,
};
const input = (fields: Partial<PlanInputFields> = {}): PlanInput => parsePlanInput({ ...base, ...fields });

describe('plan arithmetic against the AWS documentation examples', () => {
  it('counts PUT payload units in 25 KB chunks (pricing page: 5 KB is 1, 45 KB is 2, 1 MB is 40)', () => {
    expect(putPayloadUnits(5 * KB)).toBe(1);
    expect(putPayloadUnits(45 * KB)).toBe(2);
    expect(putPayloadUnits(1000 * KB)).toBe(40);
    expect(putPayloadUnits(1)).toBe(1);
  });

  it('needs 4 shards for 100 records/s of 35 KB (3.4 MB/s) and 5 for 1,000 of 5 KB (4.9 MB/s)', () => {
    const at = (devices: number, recordBytes: number) =>
      planCapacity(
        input({ devices, recordBytes, partitionKeys: devices, partitionKeyBytes: 1, targetUtilisation: 1 }),
      ).shards.withoutAggregation;
    expect(at(100, 35 * KB).minimum).toBe(4);
    expect(at(1000, 5 * KB).minimum).toBe(5);
  });

  it('sizes unaggregated small records by the records limit and aggregated ones by bytes', () => {
    const plan = planCapacity(input({ devices: 100_000, partitionKeys: 100_000 }));
    expect(plan.shards.withoutAggregation.minimum).toBe(100);
    expect(plan.shards.withoutAggregation.shards).toBe(125);
    // 100k × ~327 B ≈ 31 MiB/s: 32 shards at the limit, 39 at 80 %.
    expect(plan.shards.withAggregation.minimum).toBe(32);
    expect(plan.shards.recommended).toBe(39);
    expect(plan.lambda.concurrency).toBe(39);
    // Aggregates near 1 MiB: the 6 MB event holds only a few of them.
    expect(plan.lambda.batchSize).toBeLessThan(10);
  });

  it('measures the aggregate overhead with the real codec', () => {
    const perRecord = aggregatedBytesPerRecord(300, 16);
    expect(perRecord).toBeGreaterThan(300);
    // Every key distinct: the key table and field tags cost more than the key alone would, so
    // aggregation saves records (the 1,000/s limit), not bytes.
    expect(perRecord).toBeGreaterThan(300 + 16);
    expect(perRecord).toBeLessThan(300 + 16 + 16);
    // A record too big to share an aggregate goes alone.
    expect(aggregatedBytesPerRecord(700 * KB, 16)).toBe(700 * KB + 16);
    // The estimate matches a full aggregate built record by record.
    const builder = new AggregationBuilder();
    let i = 0;
    while (
      builder.tryAdd({ partitionKey: `${i++}`.padStart(16, 'k'), data: new Uint8Array(300) }, 1024 * KB)
    ) {}
    const count = builder.count;
    expect(perRecord).toBeCloseTo(builder.build().bytes / count, 1);
  });
});

describe('plan warnings', () => {
  it('warns about a key over one shard and about too few keys', () => {
    const hot = planCapacity(input({ hottestKeyShare: 0.9, devices: 2000 }));
    expect(hot.warnings.some((w) => w.startsWith('hot key') && w.includes('1,800 records/s'))).toBe(true);
    const bytes = planCapacity(input({ recordBytes: 100 * KB, devices: 100, hottestKeyShare: 0.5 }));
    expect(bytes.warnings.some((w) => w.includes('MiB/s, over one shard'))).toBe(true);
    const few = planCapacity(input({ devices: 100_000, partitionKeys: 10 }));
    expect(few.warnings.some((w) => w.includes('10 partition keys for 39 shards'))).toBe(true);
  });

  it('warns past the per-stream, EFO, Lambda and Flink limits', () => {
    const huge = planCapacity(
      input({
        devices: 40_000_000,
        partitionKeys: 40_000_000,
        region: 'eu-central-1',
        consumers: { efo: 21, shared: 1 },
      }),
    );
    const text = huge.warnings.join('\n');
    expect(text).toContain("UpdateShardCount's 10000 per stream");
    expect(text).toContain('default account quota');
    expect(text).toContain('21 EFO consumers exceed the 20 per stream');
    expect(text).toContain("Lambda's default 1000");
    expect(text).toContain('Flink needs parallelism');
    expect(planCapacity(input()).warnings).toEqual([]);
  });
});

describe('plan properties', () => {
  const load = fc.record({
    devices: fc.integer({ min: 1, max: 2_000_000 }),
    recordsPerSecondPerDevice: fc.double({ min: 0.001, max: 100, noNaN: true }),
    recordBytes: fc.integer({ min: 1, max: 64 * KB }),
    partitionKeys: fc.integer({ min: 1, max: 10_000_000 }),
    targetUtilisation: fc.double({ min: 0.05, max: 1, noNaN: true }),
  });

  it('never plans fewer shards than the per-shard limits allow', () => {
    fc.assert(
      fc.property(load, (fields) => {
        const i = input(fields);
        const plan = planCapacity(i);
        const records = i.devices * i.recordsPerSecondPerDevice;
        const plain = plan.shards.withoutAggregation;
        expect(plain.shards).toBeGreaterThanOrEqual(Math.ceil(records / SHARD_WRITE_RECORDS_PER_SECOND));
        expect(plain.shards).toBeGreaterThanOrEqual(
          Math.ceil((records * (i.recordBytes + i.partitionKeyBytes)) / SHARD_WRITE_BYTES_PER_SECOND),
        );
        // Aggregation packs records but never shrinks their data.
        expect(plan.shards.recommended).toBeGreaterThanOrEqual(
          Math.ceil((records * i.recordBytes) / SHARD_WRITE_BYTES_PER_SECOND),
        );
        expect(plan.shards.recommended).toBeGreaterThanOrEqual(plan.shards.withAggregation.minimum);
      }),
      { numRuns: 200 },
    );
  });

  it('is monotonic in load: more devices, records or bytes never need less', () => {
    fc.assert(
      fc.property(
        load,
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.constantFrom('devices', 'rate', 'bytes'),
        (fields, factor, which) => {
          const more = { ...fields };
          if (which === 'devices') more.devices = Math.min(2_000_000, Math.ceil(fields.devices * factor));
          if (which === 'rate')
            more.recordsPerSecondPerDevice = Math.min(100, fields.recordsPerSecondPerDevice * factor);
          if (which === 'bytes') more.recordBytes = Math.min(64 * KB, Math.ceil(fields.recordBytes * factor));
          const a = planCapacity(input(fields));
          const b = planCapacity(input(more));
          expect(b.shards.recommended).toBeGreaterThanOrEqual(a.shards.recommended);
          expect(b.shards.withoutAggregation.shards).toBeGreaterThanOrEqual(
            a.shards.withoutAggregation.shards,
          );
          expect(b.lambda.concurrency).toBeGreaterThanOrEqual(a.lambda.concurrency);
          expect(b.flink.kpus).toBeGreaterThanOrEqual(a.flink.kpus);
          expect(b.firehose.objectsPerHour).toBeGreaterThanOrEqual(a.firehose.objectsPerHour);
          expect(b.dynamodb.writeUnitsPerSecond).toBeGreaterThanOrEqual(a.dynamodb.writeUnitsPerSecond);
          expect(b.cost.monthlyUsd).toBeGreaterThanOrEqual(a.cost.monthlyUsd - 1e-9);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('plan input', () => {
  const tempDir = useTempDirs('tributary-plan-');

  it('names the path and the bad value', () => {
    const error = thrown(() => parsePlanInput({ ...base, lambda: { batchSize: 0 } }));
    expect(error).toBeInstanceOf(PlanInputError);
    expect((error as PlanInputError).path).toBe('lambda.batchSize');
    expect((error as PlanInputError).value).toBe(0);
    const unknown = thrown(() => parsePlanInput({ ...base, firehose: { bufer: 3 } })) as PlanInputError;
    expect(unknown.path).toBe('firehose.bufer');
    expect(unknown.message).toContain('not a known field');
    const flag = thrown(() =>
      parsePlanInput({ ...base, devices: -1 }, { devices: '--devices' }),
    ) as PlanInputError;
    expect(flag.message).toMatch(/^config --devices: .*\(got -1\)$/);
  });

  it('reads a YAML file, flags overriding it, and prices marked as inputs', async () => {
    const dir = await tempDir();
    const file = join(dir, 'plan.yaml');
    await writeFile(
      file,
      'devices: 10\nrecordsPerSecondPerDevice: 2\nrecordBytes: 300\npartitionKeys: 10\nprices:\n  kinesisShardHour: 0.02\n',
    );
    const command = await parsePlanArgs(['--file', file, '--devices', '20', '--json']);
    expect(command?.json).toBe(true);
    expect(command?.input.devices).toBe(20);
    const plan = planCapacity(command?.input as PlanInput);
    const shardHours = plan.cost.lines.find((l) => l.item === 'kinesisShardHour');
    expect(shardHours?.basis).toBe('input');
    expect(shardHours?.usd).toBeCloseTo(0.02 * 730, 6);
    expect(formatPlan(plan)).toContain('your price');
    const bad = (await parsePlanArgs(['--file', file, '--rate', 'fast']).catch(
      (e: unknown) => e,
    )) as PlanInputError;
    expect(bad.path).toBe('--rate');
    expect(bad.value).toBe('fast');
  });

  it('cites a source for every default price', () => {
    for (const price of Object.values(DEFAULT_PRICES)) {
      expect(price.source).toMatch(/^https:\/\/aws\.amazon\.com\//);
      expect(price.usd).toBeGreaterThan(0);
    }
  });
});
