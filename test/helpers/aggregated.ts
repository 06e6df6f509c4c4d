/**
 * Factories for KPL aggregated Kinesis records, for tests of anything that produces or consumes
 * them (exporter, Lambda handlers, EFO consumers), plus a typed handle on the `aws-kinesis-agg`
 * reference implementation.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  type AggregatedEntry,
  AggregationBuilder,
  KPL_MAGIC,
  type UserRecord,
} from '../../shared/kinesis/aggregation.ts';

export interface UserRecordsOptions {
  /** Distinct partition keys, used round-robin (default 4). */
  keys?: number;
  /** Data bytes per record (default 100). */
  dataBytes?: number;
  /** Give every record an explicit hash key (its index) (default false). */
  explicitHashKeys?: boolean;
  /** Prefix for keys and payloads, to tell batches apart (default 'user'). */
  prefix?: string;
}

/** `count` deterministic user records; data is the UTF-8 text `${prefix}-${i}` padded with '.'. */
export function userRecords(count: number, options: UserRecordsOptions = {}): UserRecord[] {
  const { keys = 4, dataBytes = 100, explicitHashKeys = false, prefix = 'user' } = options;
  const records: UserRecord[] = [];
  for (let i = 0; i < count; i++) {
    const data = Buffer.alloc(dataBytes, '.');
    data.write(`${prefix}-${i}`.slice(0, dataBytes), 0, 'utf8');
    const record: UserRecord = { partitionKey: `${prefix}-key-${i % keys}`, data };
    if (explicitHashKeys) record.explicitHashKey = String(i);
    records.push(record);
  }
  return records;
}

/**
 * One aggregated Kinesis record holding all `records`, in the KPL format even for a single record
 * (what another KPL-style producer may send). No size limit is applied.
 */
export function aggregatedRecord(records: readonly UserRecord[]): AggregatedEntry {
  const builder = new AggregationBuilder({ aggregateSingle: true });
  for (const record of records) builder.tryAdd(record, Number.POSITIVE_INFINITY);
  return builder.build();
}

/** Frames arbitrary protobuf bytes as an aggregate with a valid MD5, to craft malformed bodies. */
export function framedAggregate(protobuf: Uint8Array): Buffer {
  return Buffer.concat([KPL_MAGIC, protobuf, createHash('md5').update(protobuf).digest()]);
}

/** A copy of `data` with the byte at `index` inverted. */
export function flipByte(data: Uint8Array, index: number): Buffer {
  const copy = Buffer.from(data);
  copy[index] = (copy[index] ?? 0) ^ 0xff;
  return copy;
}

/** The parts of `aws-kinesis-agg` used here (its bundled .d.ts omits RecordAggregator). */
export interface KplReference {
  RecordAggregator: new () => {
    addUserRecord(record: { partitionKey: string; explicitHashKey?: string; data: Buffer }): void;
    aggregateRecords(
      records: { partitionKey: string; explicitHashKey?: string; data: Buffer }[],
      forceFlush: boolean,
      onReady: (
        err: Error | null,
        encoded?: { partitionKey: string; ExplicitHashKey?: string; data: Buffer },
      ) => void,
    ): void;
    build(): { partitionKey: string; ExplicitHashKey?: string; data: Buffer } | undefined;
  };
  deaggregateSync(
    record: { partitionKey: string; explicitPartitionKey?: string; sequenceNumber: string; data: string },
    computeChecksums: boolean,
    done: (
      err: Error | null | undefined,
      records?: {
        partitionKey: string;
        explicitPartitionKey?: string;
        subSequenceNumber?: number;
        data: string;
      }[],
    ) => void,
  ): void;
}

export const kplReference = createRequire(import.meta.url)('aws-kinesis-agg') as KplReference;

/** Aggregates with the reference implementation into one entry (its build() ignores size limits). */
export function referenceAggregate(records: readonly UserRecord[]): { partitionKey: string; data: Buffer } {
  const aggregator = new kplReference.RecordAggregator();
  for (const record of records) {
    aggregator.addUserRecord({
      partitionKey: record.partitionKey,
      ...(record.explicitHashKey === undefined ? {} : { explicitHashKey: record.explicitHashKey }),
      data: Buffer.from(record.data),
    });
  }
  const built = aggregator.build();
  if (built === undefined) throw new Error('reference aggregator built nothing');
  return built;
}

/** Deaggregates with the reference implementation (checksums on); data comes back as Buffers. */
export function referenceDeaggregate(
  data: Uint8Array,
  partitionKey: string,
): { partitionKey: string; explicitHashKey: string | undefined; data: Buffer }[] {
  const out: { partitionKey: string; explicitHashKey: string | undefined; data: Buffer }[] = [];
  let failure: Error | undefined;
  kplReference.deaggregateSync(
    { partitionKey, sequenceNumber: '0', data: Buffer.from(data).toString('base64') },
    true,
    (err, records) => {
      if (err) failure ??= err;
      for (const record of records ?? []) {
        out.push({
          partitionKey: record.partitionKey,
          explicitHashKey: record.explicitPartitionKey,
          data: Buffer.from(record.data, 'base64'),
        });
      }
    },
  );
  if (failure !== undefined) throw failure;
  return out;
}
