import type { TributaryRecord } from '../contract/schema.ts';
import { TributaryError } from '../errors.ts';
import { deaggregate } from '../kinesis/aggregation.ts';
import { type ErrorOutputType, evaluatePrefix, type ObjectSource, objectKey } from './layout.ts';
import { type ParquetCompression, ParquetEncoder } from './parquet.ts';
import type { PartitionValues } from './table.ts';

/**
 * One buffer flush of a delivery stream, turned into S3 objects as Firehose does it: deaggregate KPL
 * records (Firehose does so before the Lambda processor sees them), hand the user records to the
 * processor, partition what comes back `Ok` by the keys it returned, encode Parquet; records it
 * returns `ProcessingFailed` go to the error prefix as Firehose's processing-failed documents, and
 * `Ok` data that cannot be converted as format-conversion-failed documents. Pure apart from hashing
 * and the processor: the same records always give the same keys and the same bytes.
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
  /** Goes into every format-conversion error document's dataCatalogTable, as Firehose writes it. */
  readonly catalog: { catalogId: string; databaseName: string; tableName: string; region: string };
}

/** One record of a Firehose transformation event, as far as a processor reads it. */
export interface ProcessorInput {
  readonly recordId: string;
  /** Base64. */
  readonly data: string;
}

/** A processor's answer for one record (https://docs.aws.amazon.com/firehose/latest/dev/data-transformation-status-model.html). */
export interface ProcessorResult {
  readonly recordId: string;
  readonly result: 'Ok' | 'Dropped' | 'ProcessingFailed';
  /** Base64. */
  readonly data?: string | undefined;
  readonly metadata?: { readonly partitionKeys: Readonly<Record<string, string>> } | undefined;
}

/** The delivery stream's Lambda processor: its ARN (for error documents) and the code it runs. */
export interface RecordProcessor {
  readonly lambdaArn: string;
  readonly transform: (records: readonly ProcessorInput[]) => {
    readonly records: readonly ProcessorResult[];
    /** Why records were refused, where the processor says (Firehose only sees the status). */
    readonly rejected?: readonly { readonly recordId: string; readonly code: string }[];
  };
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
  /** Failure counts by code: the processor's reason where it gives one, else Firehose's error code. */
  readonly failures: Readonly<Record<string, number>>;
}

/** Firehose's document for a record the processor failed (one JSON object per line). */
export interface ProcessingFailedDocument {
  attemptsMade: number;
  arrivalTimestamp: number;
  errorCode: string;
  errorMessage: string;
  attemptEndingTimestamp: number;
  rawData: string;
  lambdaArn: string;
}

/** Firehose's document for a record that failed conversion (one JSON object per line). */
export interface FormatConversionFailedDocument {
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

export type ErrorDocument = ProcessingFailedDocument | FormatConversionFailedDocument;

/**
 * What Firehose writes for a record returned as ProcessingFailed. Not in the AWS docs (they name the
 * fields only); these are the values deployed streams are reported to write. The function's reason
 * is not among them: it is in the function's log, and `npm run query` derives it from rawData.
 */
export const PROCESSING_FAILED_STATUS = {
  errorCode: 'Lambda.ProcessingFailedStatus',
  errorMessage: 'ProcessingFailed status set for record',
} as const;

interface Group<T> {
  prefix: string;
  arrivalMs: number;
  items: T[];
}

interface Pending {
  readonly source: SourceRecord;
  readonly data: Uint8Array;
  readonly subSequenceNumber: number;
}

export class BatchPlanner {
  readonly #encoder: ParquetEncoder;

  constructor(
    readonly target: DeliveryTarget,
    readonly processor: RecordProcessor,
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

    const fail = (pending: Pending, type: ErrorOutputType, code: string, document: ErrorDocument) => {
      failures[code] = (failures[code] ?? 0) + 1;
      failed += 1;
      const arrivalMs = pending.source.approximateArrivalMs;
      add(
        errors,
        evaluatePrefix(this.target.errorOutputPrefix, { arrivalMs, errorOutputType: type }),
        arrivalMs,
        document,
      );
    };
    const rawData = (bytes: Uint8Array) =>
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

    const pending: Pending[] = [];
    for (const record of records) {
      try {
        for (const user of deaggregate(record.data, {
          partitionKey: record.partitionKey,
          explicitHashKey: record.explicitHashKey,
          sequenceNumber: record.sequenceNumber,
        })) {
          pending.push({ source: record, data: user.data, subSequenceNumber: user.subSequenceNumber });
        }
      } catch {
        // A damaged aggregate goes to the processor whole, as a record that is not aggregated would;
        // the processor refuses it and says why.
        pending.push({ source: record, data: record.data, subSequenceNumber: 0 });
      }
    }
    const recordId = (p: Pending) => `${p.source.sequenceNumber}:${p.subSequenceNumber}`;
    const answer = this.processor.transform(
      pending.map((p) => ({ recordId: recordId(p), data: rawData(p.data) })),
    );
    const results = new Map(answer.records.map((r) => [r.recordId, r]));
    const reasons = new Map((answer.rejected ?? []).map((r) => [r.recordId, r.code]));

    for (const p of pending) {
      const id = recordId(p);
      const result = results.get(id);
      const processingFailed = (errorCode: string, errorMessage: string) =>
        fail(p, 'processing-failed', reasons.get(id) ?? errorCode, {
          attemptsMade: 1,
          arrivalTimestamp: p.source.approximateArrivalMs,
          errorCode,
          errorMessage,
          attemptEndingTimestamp: attemptEndingMs,
          rawData: rawData(p.data),
          lambdaArn: this.processor.lambdaArn,
        });
      if (result === undefined) {
        processingFailed('Lambda.MissingRecordId', 'the processor returned no result for this record id');
        continue;
      }
      if (result.result === 'Dropped') continue;
      if (result.result !== 'Ok') {
        processingFailed(PROCESSING_FAILED_STATUS.errorCode, PROCESSING_FAILED_STATUS.errorMessage);
        continue;
      }
      let row: TributaryRecord;
      let prefix: string;
      try {
        // Format conversion reads the JSON the processor returned; the processor wrote it from a
        // record the contract decoded, so it has the table's shape.
        row = JSON.parse(Buffer.from(result.data ?? '', 'base64').toString('utf8')) as TributaryRecord;
        prefix = evaluatePrefix(this.target.prefix, {
          arrivalMs: p.source.approximateArrivalMs,
          partitions: (result.metadata?.partitionKeys ?? {}) as PartitionValues,
        });
      } catch (error) {
        const code = error instanceof TributaryError ? error.code : 'DataFormatConversion.MalformedData';
        fail(p, 'format-conversion-failed', code, {
          attemptsMade: 1,
          arrivalTimestamp: p.source.approximateArrivalMs,
          lastErrorCode: code,
          lastErrorMessage: error instanceof Error ? error.message : String(error),
          attemptEndingTimestamp: attemptEndingMs,
          rawData: result.data ?? '',
          sequenceNumber: p.source.sequenceNumber,
          subSequenceNumber: p.subSequenceNumber,
          dataCatalogTable: { ...this.target.catalog, versionId: 'LATEST' },
        });
        continue;
      }
      add(data, prefix, p.source.approximateArrivalMs, row);
      delivered += 1;
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
