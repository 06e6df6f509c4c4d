import { AggregationBuilder } from '../../shared/kinesis/aggregation.ts';
import {
  ACCOUNT_SHARD_QUOTA_LARGE,
  ACCOUNT_SHARD_QUOTA_LARGE_REGIONS,
  ACCOUNT_SHARD_QUOTA_OTHER,
  DEFAULT_MAX_RECORD_BYTES,
  DYNAMODB_WRITE_UNIT_BYTES,
  EFO_MAX_CONSUMERS_PER_STREAM,
  ESM_MAX_EVENT_BYTES,
  FLINK_MAX_KPUS_PER_APPLICATION,
  FLINK_MAX_PARALLELISM,
  FLINK_ORCHESTRATION_KPUS,
  LAMBDA_DEFAULT_CONCURRENCY,
  PUT_PAYLOAD_UNIT_BYTES,
  SHARD_READ_BYTES_PER_SECOND,
  SHARD_WRITE_BYTES_PER_SECOND,
  SHARD_WRITE_RECORDS_PER_SECOND,
  UPDATE_SHARD_COUNT_MAX_SHARDS,
} from '../../shared/kinesis/limits.ts';
import type { PlanInput } from './input.ts';
import { PRICE_TABLE_DATE, PRICE_TABLE_REGION, type PriceName, priceTable } from './prices.ts';

/**
 * `tributary plan`'s pure core: from a fleet's load to shards, consumers, Lambda concurrency, Firehose
 * objects, Flink KPUs, DynamoDB writes and a monthly cost, every figure with the limit or assumption
 * it comes from. No I/O; every AWS limit comes from shared/kinesis/limits.ts.
 */

const MiB = 1024 * 1024;
const GB = 1024 ** 3;
/** AWS prices monthly figures on 730 hours. */
export const HOURS_PER_MONTH = 730;
const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
/** Flink's running application storage per KPU (how-scaling.html, see limits.ts). */
const FLINK_STORAGE_GB_PER_KPU = 50;
/** Bytes an EFO/ESM event adds per record beyond the base64 data: ids, ARN, timestamps (measured locally). */
const EVENT_RECORD_ENVELOPE_BYTES = 400;

export interface ShardSizing {
  /** Shards at the target utilisation. */
  shards: number;
  /** Shards at exactly the per-shard limits: fewer cannot take the load. */
  minimum: number;
  byRecords: number;
  byBytes: number;
  /** Kinesis records per second (aggregates count once). */
  kinesisRecordsPerSecond: number;
  /** Data + partition key bytes per second, what the 1 MiB/s limit counts. */
  bytesPerSecond: number;
  reasons: string[];
}

export interface CostLine {
  service: string;
  item: PriceName;
  quantity: number;
  unit: string;
  usd: number;
  basis: 'assumed' | 'input';
}

export interface Plan {
  load: { recordsPerSecond: number; userBytesPerSecond: number; hottestKeyRecordsPerSecond: number };
  shards: {
    withoutAggregation: ShardSizing;
    withAggregation: ShardSizing;
    /** The device agent aggregates by default: this is the count to deploy. */
    recommended: number;
    accountQuota: number;
  };
  consumers: { efo: number; efoLimit: number; sharedReadBytesPerShard: number; reasons: string[] };
  lambda: {
    concurrency: number;
    batchSize: number;
    userRecordsPerBatch: number;
    invocationsPerSecond: number;
    reasons: string[];
  };
  firehose: { gbPerHour: number; objectsPerHour: number; mibPerObject: number; reasons: string[] };
  flink: { parallelism: number; kpus: number; billedKpus: number; reasons: string[] };
  dynamodb: {
    stateWritesPerSecond: number;
    alertWritesPerSecond: number;
    aggregateWritesPerSecond: number;
    writeUnitsPerSecond: number;
    reasons: string[];
  };
  warnings: string[];
  cost: { region: string; priceDate: string; lines: CostLine[]; monthlyUsd: number };
}

/**
 * Bytes the device agent's KPL aggregate takes per user record of this shape, measured with the
 * project's own codec: the growth per record (records 200 to 264, distinct keys, two-byte key indexes
 * like a full aggregate's) plus the
 * aggregate's fixed bytes spread over as many records as fit in 1 MiB.
 */
export function aggregatedBytesPerRecord(recordBytes: number, keyBytes: number): number {
  const alone = recordBytes + keyBytes;
  const builder = new AggregationBuilder();
  const data = new Uint8Array(recordBytes);
  const sizeAt: number[] = [];
  for (let i = 0; i < 264; i++) {
    if (!builder.tryAdd({ partitionKey: `${i}`.padStart(keyBytes, 'k'), data }, DEFAULT_MAX_RECORD_BYTES))
      break;
    if (i === 199 || i === 263) sizeAt.push(builder.size);
  }
  const [at200, at264] = sizeAt;
  if (at200 === undefined || at264 === undefined) {
    // Fewer fit: use the whole aggregate, or the record alone when it cannot share one.
    const count = builder.count;
    return count <= 1 ? alone : builder.build().bytes / count;
  }
  const growth = (at264 - at200) / 64;
  const fixed = at200 - 200 * growth;
  const perAggregate = Math.floor((DEFAULT_MAX_RECORD_BYTES - fixed) / growth);
  return growth + fixed / perAggregate;
}

function sizeShards(
  recordsPerSecond: number,
  bytesPerSecond: number,
  utilisation: number,
  label: string,
): ShardSizing {
  const byRecords = Math.ceil(recordsPerSecond / (SHARD_WRITE_RECORDS_PER_SECOND * utilisation));
  const byBytes = Math.ceil(bytesPerSecond / (SHARD_WRITE_BYTES_PER_SECOND * utilisation));
  const minimum = Math.max(
    1,
    Math.ceil(recordsPerSecond / SHARD_WRITE_RECORDS_PER_SECOND),
    Math.ceil(bytesPerSecond / SHARD_WRITE_BYTES_PER_SECOND),
  );
  const shards = Math.max(minimum, byRecords, byBytes);
  const pct = Math.round(utilisation * 100);
  return {
    shards,
    minimum,
    byRecords,
    byBytes,
    kinesisRecordsPerSecond: recordsPerSecond,
    bytesPerSecond,
    reasons: [
      `${label}: ${fmt(recordsPerSecond)} Kinesis records/s ÷ (${SHARD_WRITE_RECORDS_PER_SECOND}/s per shard × ${pct}%) = ${byRecords}`,
      `${fmt(bytesPerSecond / MiB)} MiB/s ÷ (1 MiB/s per shard × ${pct}%) = ${byBytes}`,
      `at 100% of the limits at least ${minimum}`,
    ],
  };
}

export function planCapacity(input: PlanInput): Plan {
  const warnings: string[] = [];
  const keyBytes = input.partitionKeyBytes;
  const recordsPerSecond = input.devices * input.recordsPerSecondPerDevice;
  const userBytesPerSecond = recordsPerSecond * input.recordBytes;
  const util = input.targetUtilisation;

  // Writes without aggregation: every user record is a Kinesis record and carries its key.
  const plain = sizeShards(
    recordsPerSecond,
    recordsPerSecond * (input.recordBytes + keyBytes),
    util,
    'unaggregated',
  );
  // With the agent's aggregation: bytes per record from the real codec, aggregates of up to 1 MiB.
  const perRecord = aggregatedBytesPerRecord(input.recordBytes, keyBytes);
  const aggregatedBytesPerSecond = recordsPerSecond * perRecord;
  // Full aggregates: the fewest Kinesis records the load can take (the records limit never binds then).
  const aggregatesPerSecond = Math.ceil(aggregatedBytesPerSecond / DEFAULT_MAX_RECORD_BYTES);
  const aggregated = sizeShards(aggregatesPerSecond, aggregatedBytesPerSecond, util, 'aggregated');
  aggregated.reasons.push(
    `${fmt(perRecord)} bytes per user record inside a KPL aggregate (codec-measured) against ${input.recordBytes + keyBytes} alone`,
  );
  const shards = aggregated.shards;

  const accountQuota = ACCOUNT_SHARD_QUOTA_LARGE_REGIONS.includes(input.region)
    ? ACCOUNT_SHARD_QUOTA_LARGE
    : ACCOUNT_SHARD_QUOTA_OTHER;
  if (shards > UPDATE_SHARD_COUNT_MAX_SHARDS)
    warnings.push(
      `${shards} shards exceed UpdateShardCount's ${UPDATE_SHARD_COUNT_MAX_SHARDS} per stream: split the fleet over several streams (or Regions)`,
    );
  if (shards > accountQuota)
    warnings.push(
      `${shards} shards exceed the default account quota in ${input.region} (${accountQuota}): request a Service Quotas increase first`,
    );

  // Hot keys: one key always lands on one shard, so more shards cannot help it.
  const hotShare = input.hottestKeyShare ?? 1 / input.partitionKeys;
  const hotRecords = recordsPerSecond * hotShare;
  if (hotRecords * (input.recordBytes + keyBytes) > SHARD_WRITE_BYTES_PER_SECOND)
    warnings.push(
      `hot key: the busiest key writes ${fmt((hotRecords * (input.recordBytes + keyBytes)) / MiB)} MiB/s, over one shard's 1 MiB/s even aggregated; spread it over several keys (e.g. a suffix)`,
    );
  else if (hotRecords > SHARD_WRITE_RECORDS_PER_SECOND)
    warnings.push(
      `hot key: the busiest key writes ${fmt(hotRecords)} records/s, over one shard's ${SHARD_WRITE_RECORDS_PER_SECOND}/s; only aggregation (on by default) keeps it under the limit`,
    );
  if (input.partitionKeys < shards)
    warnings.push(
      `${input.partitionKeys} partition keys for ${shards} shards: at least ${shards - input.partitionKeys} shards get no key`,
    );
  else if (input.partitionKeys < shards * 10)
    warnings.push(
      `${input.partitionKeys} partition keys over ${shards} shards: MD5 spreads so few keys unevenly; expect the busiest shard well above the mean`,
    );

  // Readers.
  const consumerReasons = [
    `${input.consumers.efo} EFO consumers, each with its own 2 MiB/s per shard (at most ${EFO_MAX_CONSUMERS_PER_STREAM} per stream)`,
  ];
  if (input.consumers.efo > EFO_MAX_CONSUMERS_PER_STREAM)
    warnings.push(
      `${input.consumers.efo} EFO consumers exceed the ${EFO_MAX_CONSUMERS_PER_STREAM} per stream: fan out from one consumer or add a stream`,
    );
  const writePerShard = aggregatedBytesPerSecond / shards;
  const sharedRead = writePerShard * input.consumers.shared;
  consumerReasons.push(
    `${input.consumers.shared} shared-throughput reader(s) read ${fmt(sharedRead / MiB)} MiB/s per shard of the 2 MiB/s they share`,
  );
  if (sharedRead > SHARD_READ_BYTES_PER_SECOND)
    warnings.push(
      `shared-throughput readers need ${fmt(sharedRead / MiB)} MiB/s per shard, over the 2 MiB/s they share: move one to EFO`,
    );

  // Lambda (the alert function on its EFO mapping): one batch per shard and parallelization lane at a time.
  const concurrency = shards * input.lambda.parallelizationFactor;
  const eventRecordBytes =
    Math.ceil((aggregateBytesFor(perRecord, recordsPerSecond, shards) * 4) / 3) + EVENT_RECORD_ENVELOPE_BYTES;
  const batchByEvent = Math.max(1, Math.floor(ESM_MAX_EVENT_BYTES / eventRecordBytes));
  const batchSize = Math.min(input.lambda.batchSize, batchByEvent);
  const lambdaReasons = [
    `${shards} shards × parallelization factor ${input.lambda.parallelizationFactor} = ${concurrency} concurrent executions`,
  ];
  if (batchByEvent < input.lambda.batchSize)
    lambdaReasons.push(
      `BatchSize ${input.lambda.batchSize} is cut to ${batchSize} by the 6 MB event limit (aggregates of ~${fmt(eventRecordBytes / 1024)} KiB in the event)`,
    );
  if (concurrency > LAMBDA_DEFAULT_CONCURRENCY)
    warnings.push(
      `${concurrency} concurrent executions exceed Lambda's default ${LAMBDA_DEFAULT_CONCURRENCY} per account and Region`,
    );
  // Each lane invokes once per batch; at least once a second while records flow (an assumption).
  const kinesisPerLane =
    aggregatesPerShardPerSecond(perRecord, recordsPerSecond, shards) / input.lambda.parallelizationFactor;
  const invocationsPerSecond = concurrency * Math.max(1, kinesisPerLane / batchSize);
  const userRecordsPerBatch = recordsPerSecond / invocationsPerSecond;
  lambdaReasons.push(
    `~${fmt(invocationsPerSecond)} invocations/s of ~${fmt(userRecordsPerBatch)} user records (assumes one batch per lane per second at least)`,
  );

  // Firehose: one buffer per partition written at once; flushed at the size or the interval.
  const bytesPerHour = userBytesPerSecond * 3600;
  const perPartition = bytesPerHour / input.firehose.partitions;
  const bufferBytes = input.firehose.bufferMiB * MiB;
  const flushesBySize = perPartition / bufferBytes;
  const flushesByTime = 3600 / input.firehose.intervalSeconds;
  const objectsPerHour = Math.ceil(input.firehose.partitions * Math.max(flushesBySize, flushesByTime));
  const firehose = {
    gbPerHour: bytesPerHour / GB,
    objectsPerHour,
    mibPerObject: bytesPerHour / objectsPerHour / MiB,
    reasons: [
      `${fmt(bytesPerHour / GB)} GB/h over ${input.firehose.partitions} partitions; each flushes at ${input.firehose.bufferMiB} MiB or ${input.firehose.intervalSeconds} s`,
      flushesBySize > flushesByTime
        ? `the buffer size binds: ~${objectsPerHour} objects/h`
        : `the interval binds: ${objectsPerHour} objects/h of ~${fmt(bytesPerHour / objectsPerHour / MiB)} MiB input each (smaller objects mean more files to scan)`,
    ],
  };

  // Flink: parallelism for the record rate, KPUs from ParallelismPerKPU, plus the orchestration KPU.
  const parallelism = Math.max(1, Math.ceil(recordsPerSecond / input.flink.recordsPerSecondPerSubtask));
  const kpus = Math.ceil(parallelism / input.flink.parallelismPerKpu);
  const flinkReasons = [
    `${fmt(recordsPerSecond)} records/s ÷ ${fmt(input.flink.recordsPerSecondPerSubtask)} per subtask (assumption) = parallelism ${parallelism}`,
    `${parallelism} ÷ ParallelismPerKPU ${input.flink.parallelismPerKpu} = ${kpus} KPUs, +${FLINK_ORCHESTRATION_KPUS} billed for orchestration`,
  ];
  if (parallelism > shards)
    flinkReasons.push(`source subtasks beyond the ${shards} shards idle; the window operators use them`);
  if (parallelism > FLINK_MAX_PARALLELISM || kpus > FLINK_MAX_KPUS_PER_APPLICATION)
    warnings.push(
      `Flink needs parallelism ${parallelism} / ${kpus} KPUs, over the defaults (${FLINK_MAX_PARALLELISM} / ${FLINK_MAX_KPUS_PER_APPLICATION} per application): raise the quota or split the job`,
    );

  // DynamoDB (on-demand): per-entity state per record, alerts, and one upsert per series and window.
  const units = (bytes: number) => Math.ceil(bytes / DYNAMODB_WRITE_UNIT_BYTES);
  const stateWritesPerSecond = recordsPerSecond;
  const alertWritesPerSecond = input.dynamodb.alertsPerHour / 3600;
  const series = input.devices * input.flink.seriesPerDevice;
  // 1 min tumbling and 5 min sliding every minute: each series writes two windows a minute.
  const aggregateWritesPerSecond = (series * 2) / 60;
  const writeUnitsPerSecond =
    stateWritesPerSecond * units(input.dynamodb.stateItemBytes) +
    alertWritesPerSecond * units(1024) +
    aggregateWritesPerSecond * units(input.dynamodb.aggregateItemBytes);
  const dynamodb = {
    stateWritesPerSecond,
    alertWritesPerSecond,
    aggregateWritesPerSecond,
    writeUnitsPerSecond,
    reasons: [
      `alert state: one conditional put per record = ${fmt(stateWritesPerSecond)}/s × ${units(input.dynamodb.stateItemBytes)} WRU (${input.dynamodb.stateItemBytes} B items)`,
      `aggregates: ${fmt(series)} series × 2 windows a minute (1m tumbling, 5m sliding by 1m) = ${fmt(aggregateWritesPerSecond)}/s`,
      `alerts: ${input.dynamodb.alertsPerHour}/h`,
    ],
  };

  // Cost.
  const prices = priceTable(input.prices);
  const lines: CostLine[] = [];
  // `per`: how many of the counted things one priced unit holds (1e6 for "million requests").
  const add = (service: string, item: PriceName, count: number, per: number) => {
    const price = prices[item];
    const quantity = count / per;
    lines.push({ service, item, quantity, unit: price.unit, usd: quantity * price.usd, basis: price.basis });
  };
  // Aggregates are large, so rounding each up to a whole unit (or Firehose's 5 KB) adds little.
  const putUnitsPerSecond = Math.ceil(aggregatedBytesPerSecond / PUT_PAYLOAD_UNIT_BYTES);
  aggregated.reasons.push(
    `${fmt(putUnitsPerSecond)} PUT payload units/s against ${fmt(recordsPerSecond * putPayloadUnits(input.recordBytes + keyBytes))} unaggregated (25 KB units, at least one per record)`,
  );
  add('Kinesis Data Streams', 'kinesisShardHour', shards * HOURS_PER_MONTH, 1);
  add('Kinesis Data Streams', 'kinesisPutPayloadUnits', putUnitsPerSecond * SECONDS_PER_MONTH, 1e6);
  add('Kinesis Data Streams', 'efoConsumerShardHour', input.consumers.efo * shards * HOURS_PER_MONTH, 1);
  add(
    'Kinesis Data Streams',
    'efoDataRetrievalGb',
    (input.consumers.efo * aggregatedBytesPerSecond * SECONDS_PER_MONTH) / GB,
    1,
  );
  add('Lambda', 'lambdaRequests', invocationsPerSecond * SECONDS_PER_MONTH, 1e6);
  const msPerInvocation = Math.max(1, userRecordsPerBatch * input.lambda.msPerRecord);
  add(
    'Lambda',
    'lambdaGbSecondArm',
    invocationsPerSecond * SECONDS_PER_MONTH * (msPerInvocation / 1000) * (input.lambda.memoryMiB / 1024),
    1,
  );
  add('Firehose', 'firehoseIngestionGb', (aggregatedBytesPerSecond * SECONDS_PER_MONTH) / GB, 1);
  add('Firehose', 'firehoseConversionGb', (userBytesPerSecond * SECONDS_PER_MONTH) / GB, 1);
  add('Firehose', 'firehosePartitioningGb', (userBytesPerSecond * SECONDS_PER_MONTH) / GB, 1);
  add('Firehose', 'firehosePartitioningObjects', objectsPerHour * HOURS_PER_MONTH, 1000);
  add('S3', 's3PutRequests', objectsPerHour * HOURS_PER_MONTH, 1000);
  // Steady state of the retained lake: a month's Parquet times the months kept.
  const lakeGb =
    ((userBytesPerSecond * input.firehose.parquetRatio * 86_400) / GB) * input.firehose.retentionDays;
  add('S3', 's3StorageGbMonth', lakeGb, 1);
  add('Managed Flink', 'flinkKpuHour', (kpus + FLINK_ORCHESTRATION_KPUS) * HOURS_PER_MONTH, 1);
  add('Managed Flink', 'flinkStorageGbMonth', kpus * FLINK_STORAGE_GB_PER_KPU, 1);
  add('DynamoDB', 'dynamodbWriteUnits', writeUnitsPerSecond * SECONDS_PER_MONTH, 1e6);

  return {
    load: { recordsPerSecond, userBytesPerSecond, hottestKeyRecordsPerSecond: hotRecords },
    shards: { withoutAggregation: plain, withAggregation: aggregated, recommended: shards, accountQuota },
    consumers: {
      efo: input.consumers.efo,
      efoLimit: EFO_MAX_CONSUMERS_PER_STREAM,
      sharedReadBytesPerShard: sharedRead,
      reasons: consumerReasons,
    },
    lambda: { concurrency, batchSize, userRecordsPerBatch, invocationsPerSecond, reasons: lambdaReasons },
    firehose,
    flink: { parallelism, kpus, billedKpus: kpus + FLINK_ORCHESTRATION_KPUS, reasons: flinkReasons },
    dynamodb,
    warnings,
    cost: {
      region: PRICE_TABLE_REGION,
      priceDate: PRICE_TABLE_DATE,
      lines,
      monthlyUsd: lines.reduce((sum, line) => sum + line.usd, 0),
    },
  };
}

/** PUT payload units of one Kinesis record: 25 KB chunks, at least one. */
export function putPayloadUnits(recordBytes: number): number {
  return Math.max(1, Math.ceil(recordBytes / PUT_PAYLOAD_UNIT_BYTES));
}

/** Kinesis records per shard per second once aggregated (at least one per record-second when idle). */
function aggregatesPerShardPerSecond(perRecord: number, recordsPerSecond: number, shards: number): number {
  return Math.ceil((recordsPerSecond * perRecord) / shards / DEFAULT_MAX_RECORD_BYTES);
}

/** Typical aggregate size on one shard: a second's bytes, capped at 1 MiB. */
function aggregateBytesFor(perRecord: number, recordsPerSecond: number, shards: number): number {
  return Math.min(DEFAULT_MAX_RECORD_BYTES, (recordsPerSecond * perRecord) / shards);
}

/** Numbers for people: integers grouped, small values with two significant decimals. */
export function fmt(value: number): string {
  if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumSignificantDigits: 3 });
}
