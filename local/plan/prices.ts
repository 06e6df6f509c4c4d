/**
 * The price table `tributary plan` estimates monthly cost from: one Region's on-demand list prices in
 * USD. None of these figures could be checked against the AWS pricing pages from the environment this
 * table was written in, so each is marked `assumed` with the page to check it on; a plan file's
 * `prices:` section replaces any of them (and should, for a real budget).
 */
export interface Price {
  /** USD per `unit`. */
  readonly usd: number;
  readonly unit: string;
  /** Where to confirm the figure. */
  readonly source: string;
  /** `assumed`: not confirmed against `source` when written. */
  readonly basis: 'assumed' | 'input';
}

export const PRICE_TABLE_REGION = 'us-east-1';
export const PRICE_TABLE_DATE = '2026-12-05';

const KDS = 'https://aws.amazon.com/kinesis/data-streams/pricing/';
const LAMBDA = 'https://aws.amazon.com/lambda/pricing/';
const FIREHOSE = 'https://aws.amazon.com/firehose/pricing/';
const S3 = 'https://aws.amazon.com/s3/pricing/';
const FLINK = 'https://aws.amazon.com/managed-service-apache-flink/pricing/';
const DYNAMODB = 'https://aws.amazon.com/dynamodb/pricing/on-demand/';

const assumed = (usd: number, unit: string, source: string): Price => ({
  usd,
  unit,
  source,
  basis: 'assumed',
});

export const DEFAULT_PRICES = {
  kinesisShardHour: assumed(0.015, 'shard-hour (provisioned)', KDS),
  kinesisPutPayloadUnits: assumed(0.014, 'million PUT payload units', KDS),
  efoConsumerShardHour: assumed(0.015, 'consumer-shard-hour', KDS),
  efoDataRetrievalGb: assumed(0.013, 'GB read by EFO', KDS),
  lambdaRequests: assumed(0.2, 'million requests', LAMBDA),
  lambdaGbSecondArm: assumed(0.0000133334, 'GB-second (arm64)', LAMBDA),
  firehoseIngestionGb: assumed(0.029, 'GB ingested (each record rounded up to 5 KB)', FIREHOSE),
  firehoseConversionGb: assumed(0.018, 'GB converted to Parquet', FIREHOSE),
  firehosePartitioningGb: assumed(0.02, 'GB dynamically partitioned', FIREHOSE),
  firehosePartitioningObjects: assumed(0.005, '1,000 objects delivered (dynamic partitioning)', FIREHOSE),
  s3PutRequests: assumed(0.005, '1,000 PUT requests', S3),
  s3StorageGbMonth: assumed(0.023, 'GB-month (S3 Standard)', S3),
  flinkKpuHour: assumed(0.11, 'KPU-hour', FLINK),
  flinkStorageGbMonth: assumed(0.1, 'GB-month of running application storage (50 GB per KPU)', FLINK),
  dynamodbWriteUnits: assumed(0.625, 'million write request units (on-demand)', DYNAMODB),
} as const satisfies Record<string, Price>;

export type PriceName = keyof typeof DEFAULT_PRICES;
export type PriceTable = Record<PriceName, Price>;

/** The table with a plan file's overrides (USD per the same unit) marked as inputs. */
export function priceTable(overrides: Partial<Record<PriceName, number | undefined>>): PriceTable {
  const table = { ...DEFAULT_PRICES } as PriceTable;
  for (const [name, usd] of Object.entries(overrides) as [PriceName, number | undefined][]) {
    if (usd !== undefined) table[name] = { ...DEFAULT_PRICES[name], usd, basis: 'input' };
  }
  return table;
}
