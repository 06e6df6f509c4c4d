import { z } from 'zod';
import { MAX_RECORD_BYTES_CEILING, PARTITION_KEY_MAX_CHARS } from '../../shared/kinesis/limits.ts';
import { parseOptions, spelledAs } from '../../shared/options.ts';
import { PlanInputError } from './errors.ts';
import { DEFAULT_PRICES, type PriceName } from './prices.ts';

/**
 * What `tributary plan` sizes for: the fleet's load plus the pipeline settings that change the answer.
 * Defaults are this stack's (serverless.yml) where it has one; figures that are estimates rather than
 * settings (Lambda time per record, Flink records per subtask) are marked as assumptions in the output.
 */
const price = z.number().nonnegative();
const prices = z.strictObject(
  Object.fromEntries(Object.keys(DEFAULT_PRICES).map((name) => [name, price.optional()])) as Record<
    PriceName,
    z.ZodOptional<z.ZodNumber>
  >,
);

export const planInputSchema = z.strictObject({
  devices: z.number().int().min(1).max(1_000_000_000),
  recordsPerSecondPerDevice: z.number().positive().max(100_000),
  /** Bytes of one record's data (the JSON contract record). */
  recordBytes: z.number().int().min(1).max(MAX_RECORD_BYTES_CEILING),
  /** Distinct partition keys (key cardinality): the device agent keys by device or card. */
  partitionKeys: z.number().int().min(1),
  /** Share of all records on the busiest key; default: spread evenly over the keys. */
  hottestKeyShare: z.number().gt(0).max(1).optional(),
  /** Average partition key length in bytes (counted against the shard's write limit). */
  partitionKeyBytes: z
    .number()
    .int()
    .min(1)
    .max(PARTITION_KEY_MAX_CHARS * 4)
    .default(16),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS Region such as us-east-1')
    .default('us-east-1'),
  /** Plan shards to run at most this share of their limits, leaving room for bursts and resends. */
  targetUtilisation: z.number().gt(0).max(1).default(0.8),
  consumers: z
    .strictObject({
      /** Registered enhanced fan-out consumers (this stack: alerts and analytics). */
      efo: z.number().int().min(0).default(2),
      /** Readers sharing the shard's 2 MiB/s with GetRecords (this stack: Firehose). */
      shared: z.number().int().min(0).default(1),
    })
    .default({ efo: 2, shared: 1 }),
  lambda: z
    .strictObject({
      parallelizationFactor: z.number().int().min(1).max(10).default(1),
      batchSize: z.number().int().min(1).max(10_000).default(100),
      memoryMiB: z.number().int().min(128).max(10_240).default(1024),
      /** Assumption: function time per user record (serverless.yml measured ~3 ms per 100). */
      msPerRecord: z.number().positive().default(0.03),
    })
    .default({ parallelizationFactor: 1, batchSize: 100, memoryMiB: 1024, msPerRecord: 0.03 }),
  firehose: z
    .strictObject({
      bufferMiB: z.number().min(64).max(128).default(128),
      intervalSeconds: z.number().int().min(60).max(900).default(300),
      /** Partitions written at once (record_type values; dt and hour rotate, one is open at a time). */
      partitions: z.number().int().min(1).default(2),
      /** Assumption: Parquet bytes per input byte, for storage. */
      parquetRatio: z.number().gt(0).max(2).default(0.25),
      retentionDays: z.number().int().min(1).default(365),
    })
    .default({ bufferMiB: 128, intervalSeconds: 300, partitions: 2, parquetRatio: 0.25, retentionDays: 365 }),
  flink: z
    .strictObject({
      /** Assumption: records one subtask handles per second (measure your job). */
      recordsPerSecondPerSubtask: z.number().positive().default(5_000),
      parallelismPerKpu: z.number().int().min(1).max(8).default(1),
      /** Aggregate series per device (metrics per sensor, or card + merchant per terminal). */
      seriesPerDevice: z.number().int().min(1).default(1),
    })
    .default({ recordsPerSecondPerSubtask: 5_000, parallelismPerKpu: 1, seriesPerDevice: 1 }),
  dynamodb: z
    .strictObject({
      /** Alerts raised per hour across the fleet. */
      alertsPerHour: z.number().min(0).default(100),
      /** The alert function's per-entity state item: one conditional write per record. */
      stateItemBytes: z.number().int().min(1).default(600),
      aggregateItemBytes: z.number().int().min(1).default(400),
    })
    .default({ alertsPerHour: 100, stateItemBytes: 600, aggregateItemBytes: 400 }),
  prices: prices.default({}),
});

export type PlanInput = z.output<typeof planInputSchema>;
export type PlanInputFields = z.input<typeof planInputSchema>;

/**
 * Validates plan input once. `names` maps top-level keys to how the user spelled them (CLI flags), so
 * an error names `--devices` rather than `devices`; nested paths read like `lambda.batchSize`.
 */
export function parsePlanInput(
  input: unknown,
  names: Readonly<Partial<Record<keyof PlanInput, string>>> = {},
): PlanInput {
  return parseOptions(planInputSchema, input, {
    formatPath: spelledAs(names),
    unknownKey: 'is not a known field',
    error: ([first, ...rest]) => new PlanInputError(first.path, first.value, first.reason, { also: rest }),
  });
}
