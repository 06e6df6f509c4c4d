import { decodeRecord } from '../contract/codec.ts';
import { RecordValidationError } from '../contract/errors.ts';
import type { TributaryRecord } from '../contract/schema.ts';
import { TributaryError } from '../errors.ts';
import { deaggregate } from '../kinesis/aggregation.ts';
import { type ErrorOutputType, evaluatePrefix, type ObjectSource, objectKey } from './layout.ts';
import { type ParquetCompression, ParquetEncoder } from './parquet.ts';
import { partitionValues } from './table.ts';

/**
 * One buffer flush of a delivery stream, turned into S3 objects: deaggregate (Firehose does for
 * KPL records read from a Kinesis source), decode + validate with the contract, partition by the
 * data prefix, encode Parquet; records that fail go to the error prefix as Firehose's error JSON
 * documents, with the contract's reason. Pure apart from hashing: the same records always give
 * the same keys and the same bytes.
 */

/** A Kinesis record as GetRecords returned it. */
export interface SourceRecord {
  readonly sequenceNumber: string;
  readonly approximateArrivalMs: number;
  readonly partitionKey: string;
  readonly explicitHashKey?: string | undefined;
  readonly data: Uint8Array;
}

export interface DeliveryTarget {
  readonly deliveryStreamName: string;
  readonly deliveryStreamVersion: number;
  readonly prefix: string;
  readonly errorOutputPrefix: string;
  readonly fileExtension: string;
  readonly compression: ParquetCompression;
  /** Goes into every error document's dataCatalogTable, as Firehose writes it. */
  readonly catalog: { catalogId: string; databaseName: string; tableName: string; region: string };
}

export interface PlannedObject {
  readonly key: string;
  readonly kind: 'data' | 'error';
  readonly body: Uint8Array;
  readonly records: number;
  readonly contentType: string;
}

export interface PlannedBatch {
  readonly objects: readonly PlannedObject[];
  readonly delivered: number;
  readonly failed: number;
  /** Failure counts by error code (RECORD_INVALID, RECORD_MALFORMED, AGGREGATION_CORRUPT). */
  readonly failures: Readonly<Record<string, number>>;
}

/** Firehose's document for a record that failed conversion (one JSON object per line). */
export interface ErrorDocument {
  attemptsMade: number;
  arrivalTimestamp: number;
  lastErrorCode: string;
  lastErrorMessage: string;
  attemptEndingTimestamp: number;
  rawData: string;
  sequenceNumber: string;
  subSequenceNumber: number;
  dataCatalogTable: {
    catalogId: string;
    databaseName: string;
    tableName: string;
    region: string;
    versionId: string;
  };
}

interface Group<T> {
  prefix: string;
  arrivalMs: number;
  items: T[];
}

const ERROR_TYPE: ErrorOutputType = 'format-conversion-failed';

export class BatchPlanner {
  readonly #encoder: ParquetEncoder;

  constructor(
    readonly target: DeliveryTarget,
    encoder: ParquetEncoder = new ParquetEncoder(),
  ) {
    this.#encoder = encoder;
  }

  /** `shardId` and the records' first/last sequence numbers name every object of the batch. */
  plan(shardId: string, records: readonly SourceRecord[], attemptEndingMs: number): PlannedBatch {
    const first = records[0];
    const last = records.at(-1);
    if (first === undefined || last === undefined)
      return { objects: [], delivered: 0, failed: 0, failures: {} };
    const source: ObjectSource = {
      shardId,
      firstSequenceNumber: first.sequenceNumber,
      lastSequenceNumber: last.sequenceNumber,
    };
    const data = new Map<string, Group<TributaryRecord>>();
    const errors = new Map<string, Group<ErrorDocument>>();
    const failures: Record<string, number> = {};
    let delivered = 0;
    let failed = 0;

    const fail = (record: SourceRecord, raw: Uint8Array, subSequenceNumber: number, error: unknown) => {
      const code = error instanceof TributaryError ? error.code : 'UNKNOWN';
      failures[code] = (failures[code] ?? 0) + 1;
      failed += 1;
      const prefix = evaluatePrefix(this.target.errorOutputPrefix, {
        arrivalMs: record.approximateArrivalMs,
        errorOutputType: ERROR_TYPE,
      });
      add(errors, prefix, record.approximateArrivalMs, {
        attemptsMade: 1,
        arrivalTimestamp: record.approximateArrivalMs,
        lastErrorCode: code,
        lastErrorMessage: errorMessage(error),
        attemptEndingTimestamp: attemptEndingMs,
        rawData: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64'),
        sequenceNumber: record.sequenceNumber,
        subSequenceNumber,
        dataCatalogTable: { ...this.target.catalog, versionId: 'LATEST' },
      });
    };

    for (const record of records) {
      let users: ReturnType<typeof deaggregate>;
      try {
        users = deaggregate(record.data, {
          partitionKey: record.partitionKey,
          explicitHashKey: record.explicitHashKey,
          sequenceNumber: record.sequenceNumber,
        });
      } catch (error) {
        // A damaged aggregate is quarantined whole: its user records cannot be told apart.
        fail(record, record.data, 0, error);
        continue;
      }
      for (const user of users) {
        let decoded: TributaryRecord;
        try {
          decoded = decodeRecord(user.data, 'compatible');
        } catch (error) {
          fail(record, user.data, user.subSequenceNumber, error);
          continue;
        }
        const prefix = evaluatePrefix(this.target.prefix, {
          arrivalMs: record.approximateArrivalMs,
          partitions: partitionValues(decoded),
        });
        add(data, prefix, record.approximateArrivalMs, decoded);
        delivered += 1;
      }
    }

    const objects: PlannedObject[] = [];
    const name = (group: Group<unknown>, extension: string) =>
      objectKey({
        deliveryStreamName: this.target.deliveryStreamName,
        deliveryStreamVersion: this.target.deliveryStreamVersion,
        prefix: group.prefix,
        arrivalMs: group.arrivalMs,
        source,
        extension,
      });
    for (const group of data.values()) {
      const body = this.#encoder.encode(group.items, {
        compression: this.target.compression,
        // One key: parquet-wasm stores metadata through a hash map, so several keys come out in any order.
        metadata: { 'tributary.source': JSON.stringify(source) },
      });
      objects.push({
        key: name(group, this.target.fileExtension),
        kind: 'data',
        body,
        records: group.items.length,
        contentType: 'application/vnd.apache.parquet',
      });
    }
    for (const group of errors.values()) {
      const text = group.items.map((doc) => JSON.stringify(doc)).join('\n');
      objects.push({
        key: name(group, ''),
        kind: 'error',
        body: Buffer.from(`${text}\n`),
        records: group.items.length,
        contentType: 'application/x-ndjson',
      });
    }
    return { objects, delivered, failed, failures };
  }
}

function add<T>(groups: Map<string, Group<T>>, prefix: string, arrivalMs: number, item: T): void {
  const group = groups.get(prefix);
  if (group === undefined) groups.set(prefix, { prefix, arrivalMs, items: [item] });
  else {
    group.items.push(item);
    if (arrivalMs < group.arrivalMs) group.arrivalMs = arrivalMs;
  }
}

/** Every field at fault, not just the first: the error document is where an operator looks. */
function errorMessage(error: unknown): string {
  if (error instanceof RecordValidationError && error.issues.length > 1) {
    return `${error.message}; ${error.issues.map((issue) => `${issue.path || '<root>'}: ${issue.message}`).join('; ')}`;
  }
  return error instanceof Error ? error.message : String(error);
}
