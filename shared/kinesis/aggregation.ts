/**
 * KPL-compatible record aggregation: many user records packed into one Kinesis record so that a
 * shard's 1000 records/s cap stops being the bottleneck for small records.
 *
 * Wire format (amazon-kinesis-producer aggregation-format.md, proto2):
 *   magic F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf bytes (16)
 *   AggregatedRecord { repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2;
 *                      repeated Record records = 3; }
 *   Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
 *            required bytes data = 3; repeated Tag tags = 4; }
 * The protobuf is written by hand so the builder can know the exact encoded size before adding a
 * record, which lets the exporter fill a record up to its byte budget instead of guessing.
 */
import { createHash } from 'node:crypto';
import {
  AggregationCorruptError,
  type AggregationCorruptReason,
  AggregationRecordTooLargeError,
  EmptyAggregationError,
  InvalidUserRecordError,
} from './errors.ts';
import { HASH_KEY_MAX } from './limits.ts';
import { partitionKeyProblem } from './partition-key.ts';

/** The four bytes every KPL aggregated record starts with. */
export const KPL_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2);
const DIGEST_BYTES = 16;
/** Bytes an aggregated record spends outside the protobuf message: magic + MD5. */
export const AGGREGATION_OVERHEAD_BYTES = KPL_MAGIC.length + DIGEST_BYTES;

// Protobuf tags (field number << 3 | wire type); all our fields are length-delimited (2) or varint (0).
const TAG_PARTITION_KEY_TABLE = 0x0a;
const TAG_EXPLICIT_HASH_KEY_TABLE = 0x12;
const TAG_RECORDS = 0x1a;
const TAG_PARTITION_KEY_INDEX = 0x08;
const TAG_EXPLICIT_HASH_KEY_INDEX = 0x10;
const TAG_DATA = 0x1a;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** A record as the application hands it over (one Kinesis PutRecords entry if sent alone). */
export interface UserRecord {
  partitionKey: string;
  explicitHashKey?: string | undefined;
  data: Uint8Array;
}

/** One PutRecords entry produced by {@link AggregationBuilder.build}. */
export interface AggregatedEntry {
  partitionKey: string;
  explicitHashKey?: string;
  data: Uint8Array;
  /** User records inside. */
  records: number;
  /** data + partition key UTF-8 bytes: what Kinesis counts against record size, request size and shard throughput. */
  bytes: number;
  /** False when a lone record was emitted as-is (see {@link AggregationBuilder}). */
  aggregated: boolean;
}

/** A user record recovered from a Kinesis record by {@link deaggregate}. */
export interface DeaggregatedRecord {
  partitionKey: string;
  explicitHashKey?: string;
  /** A view into the Kinesis record's bytes, not a copy. */
  data: Uint8Array;
  sequenceNumber?: string;
  /** Position inside the aggregate; 0 for a record that was not aggregated. (sequence, sub-sequence) is unique. */
  subSequenceNumber: number;
  aggregated: boolean;
}

/** What the consumer knows about the Kinesis record that carried the bytes. */
export interface EnclosingRecord {
  partitionKey: string;
  explicitHashKey?: string | undefined;
  sequenceNumber?: string | undefined;
}

export interface AggregationBuilderOptions {
  /**
   * Wrap even a lone record in the aggregation format. Off by default: like the KPL, a builder
   * holding one record emits it unchanged, saving at least 26 bytes and staying readable by
   * consumers that never deaggregate.
   */
  aggregateSingle?: boolean | undefined;
}

/**
 * Accumulates user records bound for ONE shard and encodes them as one KPL aggregated record.
 *
 * Routing: the entry's partition key is the first user record's key, and its explicit hash key is the
 * first record's one when it has one. Kinesis then puts the aggregate exactly where it would have put
 * that first record. Every other record must route to the same shard (group with `ShardMap`
 * first): KCL drops deaggregated records whose hash key falls outside the shard it read them from.
 * The KPL instead always sends partition key "a" plus the first record's hash key as an explicit
 * hash key; that saves partition key bytes but shows consumers that skip deaggregation a fake key.
 *
 * Single record: emitted un-aggregated unless `aggregateSingle` is set, or unless its data itself
 * starts with the magic bytes, which a consumer would otherwise mistake for an aggregate.
 *
 * Every size this class reports is exact: `sizeIfAdded(r)` equals `build().bytes` had `r` been added.
 * Record data is referenced, not copied, until `build()`: do not reuse those buffers before then.
 */
export class AggregationBuilder {
  readonly #aggregateSingle: boolean;
  readonly #partitionKeyIndex = new Map<string, number>();
  #partitionKeyTable: Uint8Array[] = [];
  readonly #explicitHashKeyIndex = new Map<string, number>();
  #explicitHashKeyTable: string[] = [];
  #recordKeys: number[] = [];
  // -1 when the record has no explicit hash key.
  #recordHashKeys: number[] = [];
  #recordData: Uint8Array[] = [];
  #protobufBytes = 0;
  #first: UserRecord | undefined;
  #firstKeyBytes = 0;

  constructor(options: AggregationBuilderOptions = {}) {
    this.#aggregateSingle = options.aggregateSingle ?? false;
  }

  /** User records held. */
  get count(): number {
    return this.#recordData.length;
  }

  /** `bytes` of the entry `build()` would return now; 0 when empty. */
  get size(): number {
    const first = this.#first;
    if (first === undefined) return 0;
    if (this.#emitsRaw(this.count, first)) return first.data.length + this.#firstKeyBytes;
    return AGGREGATION_OVERHEAD_BYTES + this.#protobufBytes + this.#firstKeyBytes;
  }

  /** Exact `bytes` of the built entry if `record` were added now. Throws InvalidUserRecordError. */
  sizeIfAdded(record: UserRecord): number {
    return this.#sizeWith(record, this.#growth(record));
  }

  /**
   * Adds `record` if the entry stays within `maxBytes` (data + partition key bytes), else leaves the
   * builder untouched and returns false. False on an empty builder means the record alone exceeds
   * `maxBytes`. Throws InvalidUserRecordError for a key Kinesis would reject.
   */
  tryAdd(record: UserRecord, maxBytes: number): boolean {
    const growth = this.#growth(record);
    if (this.#sizeWith(record, growth) > maxBytes) return false;

    let keyIndex = this.#partitionKeyIndex.get(record.partitionKey);
    if (keyIndex === undefined) {
      keyIndex = this.#partitionKeyTable.length;
      this.#partitionKeyIndex.set(record.partitionKey, keyIndex);
      this.#partitionKeyTable.push(Buffer.from(record.partitionKey, 'utf8'));
    }
    let hashKeyIndex = -1;
    const hashKey = record.explicitHashKey;
    if (hashKey !== undefined) {
      const known = this.#explicitHashKeyIndex.get(hashKey);
      if (known === undefined) {
        hashKeyIndex = this.#explicitHashKeyTable.length;
        this.#explicitHashKeyIndex.set(hashKey, hashKeyIndex);
        this.#explicitHashKeyTable.push(hashKey);
      } else {
        hashKeyIndex = known;
      }
    }
    if (this.#first === undefined) {
      this.#first = record;
      this.#firstKeyBytes = Buffer.byteLength(record.partitionKey, 'utf8');
    }
    this.#recordKeys.push(keyIndex);
    this.#recordHashKeys.push(hashKeyIndex);
    this.#recordData.push(record.data);
    this.#protobufBytes += growth;
    return true;
  }

  /**
   * Encodes the held records into one PutRecords entry and empties the builder for reuse. The
   * returned data of an un-aggregated entry is the caller's own buffer, not a copy.
   */
  build(): AggregatedEntry {
    const first = this.#first;
    if (first === undefined) throw new EmptyAggregationError();
    const count = this.count;
    const entry: AggregatedEntry = {
      partitionKey: first.partitionKey,
      data: this.#emitsRaw(count, first) ? first.data : this.#encode(),
      records: count,
      bytes: this.size,
      aggregated: !this.#emitsRaw(count, first),
    };
    if (first.explicitHashKey !== undefined) entry.explicitHashKey = first.explicitHashKey;
    this.#reset();
    return entry;
  }

  #emitsRaw(count: number, first: UserRecord): boolean {
    return count === 1 && !this.#aggregateSingle && !isAggregated(first.data);
  }

  /** Bytes the protobuf message grows by when `record` is added; validates keys new to this builder. */
  #growth(record: UserRecord): number {
    let growth = 0;
    let keyIndex = this.#partitionKeyIndex.get(record.partitionKey);
    if (keyIndex === undefined) {
      assertPartitionKey(record.partitionKey);
      growth += lengthDelimitedSize(Buffer.byteLength(record.partitionKey, 'utf8'));
      keyIndex = this.#partitionKeyTable.length;
    }
    let inner = 1 + varintSize(keyIndex);
    const hashKey = record.explicitHashKey;
    if (hashKey !== undefined) {
      let hashKeyIndex = this.#explicitHashKeyIndex.get(hashKey);
      if (hashKeyIndex === undefined) {
        assertExplicitHashKey(hashKey);
        // Decimal digits: one UTF-8 byte per character.
        growth += lengthDelimitedSize(hashKey.length);
        hashKeyIndex = this.#explicitHashKeyTable.length;
      }
      inner += 1 + varintSize(hashKeyIndex);
    }
    inner += lengthDelimitedSize(record.data.length);
    return growth + lengthDelimitedSize(inner);
  }

  #sizeWith(record: UserRecord, growth: number): number {
    const first = this.#first ?? record;
    const keyBytes =
      this.#first === undefined ? Buffer.byteLength(record.partitionKey, 'utf8') : this.#firstKeyBytes;
    if (this.#emitsRaw(this.count + 1, first)) return first.data.length + keyBytes;
    return AGGREGATION_OVERHEAD_BYTES + this.#protobufBytes + growth + keyBytes;
  }

  #encode(): Uint8Array {
    const protobufBytes = this.#protobufBytes;
    const out = Buffer.allocUnsafe(AGGREGATION_OVERHEAD_BYTES + protobufBytes);
    out.set(KPL_MAGIC, 0);
    let pos = KPL_MAGIC.length;
    for (const key of this.#partitionKeyTable) {
      out[pos++] = TAG_PARTITION_KEY_TABLE;
      pos = writeVarint(out, pos, key.length);
      out.set(key, pos);
      pos += key.length;
    }
    for (const hashKey of this.#explicitHashKeyTable) {
      out[pos++] = TAG_EXPLICIT_HASH_KEY_TABLE;
      pos = writeVarint(out, pos, hashKey.length);
      pos += out.write(hashKey, pos, 'latin1');
    }
    const keys = this.#recordKeys;
    const hashKeys = this.#recordHashKeys;
    const data = this.#recordData;
    for (let i = 0; i < data.length; i++) {
      const keyIndex = keys[i] as number;
      const hashKeyIndex = hashKeys[i] as number;
      const payload = data[i] as Uint8Array;
      let inner = 1 + varintSize(keyIndex) + lengthDelimitedSize(payload.length);
      if (hashKeyIndex >= 0) inner += 1 + varintSize(hashKeyIndex);
      out[pos++] = TAG_RECORDS;
      pos = writeVarint(out, pos, inner);
      out[pos++] = TAG_PARTITION_KEY_INDEX;
      pos = writeVarint(out, pos, keyIndex);
      if (hashKeyIndex >= 0) {
        out[pos++] = TAG_EXPLICIT_HASH_KEY_INDEX;
        pos = writeVarint(out, pos, hashKeyIndex);
      }
      out[pos++] = TAG_DATA;
      pos = writeVarint(out, pos, payload.length);
      out.set(payload, pos);
      pos += payload.length;
    }
    const digest = createHash('md5').update(out.subarray(KPL_MAGIC.length, pos)).digest();
    out.set(digest, pos);
    return out;
  }

  #reset(): void {
    this.#partitionKeyIndex.clear();
    this.#partitionKeyTable = [];
    this.#explicitHashKeyIndex.clear();
    this.#explicitHashKeyTable = [];
    this.#recordKeys = [];
    this.#recordHashKeys = [];
    this.#recordData = [];
    this.#protobufBytes = 0;
    this.#first = undefined;
    this.#firstKeyBytes = 0;
  }
}

/**
 * Packs `records` in order into as few entries as fit `maxBytes` each (one builder, greedy). For a
 * single shard's records. Throws AggregationRecordTooLargeError when one record cannot fit even alone.
 */
export function aggregateRecords(
  records: Iterable<UserRecord>,
  options: AggregationBuilderOptions & { maxBytes: number },
): AggregatedEntry[] {
  const entries: AggregatedEntry[] = [];
  const builder = new AggregationBuilder(options);
  for (const record of records) {
    if (builder.tryAdd(record, options.maxBytes)) continue;
    if (builder.count > 0) {
      entries.push(builder.build());
      if (builder.tryAdd(record, options.maxBytes)) continue;
    }
    throw new AggregationRecordTooLargeError(builder.sizeIfAdded(record), options.maxBytes);
  }
  if (builder.count > 0) entries.push(builder.build());
  return entries;
}

/** True when `data` starts with the KPL magic bytes. */
export function isAggregated(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0xf3 && data[1] === 0x89 && data[2] === 0x9a && data[3] === 0xc2;
}

/**
 * Splits one Kinesis record into its user records. Data without the magic bytes passes through as a
 * single record (sub-sequence 0). Data with the magic bytes must carry a valid MD5 and protobuf,
 * else AggregationCorruptError: a damaged aggregate is reported, never skipped. (KCL 1.x treats an MD5
 * mismatch as "not aggregated" and hands the raw bytes on; here that would feed garbage onward.)
 * Returned data are views into `data`.
 */
export function deaggregate(data: Uint8Array, enclosing: EnclosingRecord): DeaggregatedRecord[] {
  if (!isAggregated(data)) {
    const record: DeaggregatedRecord = {
      partitionKey: enclosing.partitionKey,
      data,
      subSequenceNumber: 0,
      aggregated: false,
    };
    if (enclosing.explicitHashKey !== undefined) record.explicitHashKey = enclosing.explicitHashKey;
    if (enclosing.sequenceNumber !== undefined) record.sequenceNumber = enclosing.sequenceNumber;
    return [record];
  }
  if (data.length < AGGREGATION_OVERHEAD_BYTES) {
    throw new AggregationCorruptError('TRUNCATED', `${data.length} bytes, below magic + MD5`, enclosing);
  }
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const end = bytes.length - DIGEST_BYTES;
  const digest = createHash('md5').update(bytes.subarray(KPL_MAGIC.length, end)).digest();
  if (!digest.equals(bytes.subarray(end))) {
    throw new AggregationCorruptError('CHECKSUM_MISMATCH', 'MD5 of the protobuf message differs', enclosing);
  }
  return new Parser(bytes, enclosing).aggregatedRecord(KPL_MAGIC.length, end);
}

const EXPLICIT_HASH_KEY = /^(?:0|[1-9][0-9]{0,38})$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isExplicitHashKey(value: string): boolean {
  return EXPLICIT_HASH_KEY.test(value) && BigInt(value) <= HASH_KEY_MAX;
}

function assertPartitionKey(key: string): void {
  const problem = partitionKeyProblem(key);
  if (problem !== undefined) throw new InvalidUserRecordError(problem);
}

function assertExplicitHashKey(hashKey: string): void {
  if (!isExplicitHashKey(hashKey)) {
    throw new InvalidUserRecordError(
      `explicit hash key must be a decimal integer in [0, 2^128 - 1], got ${JSON.stringify(hashKey.slice(0, 50))}`,
    );
  }
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

function lengthDelimitedSize(length: number): number {
  return 1 + varintSize(length) + length;
}

function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[pos++] = value;
  return pos;
}

/** Strict proto2 reader for AggregatedRecord; every defect becomes an AggregationCorruptError. */
class Parser {
  readonly #bytes: Buffer;
  readonly #enclosing: EnclosingRecord;
  #pos = 0;

  constructor(bytes: Buffer, enclosing: EnclosingRecord) {
    this.#bytes = bytes;
    this.#enclosing = enclosing;
  }

  aggregatedRecord(start: number, end: number): DeaggregatedRecord[] {
    this.#pos = start;
    const keys: string[] = [];
    const hashKeys: string[] = [];
    // Fields may arrive in any order, so records are resolved against the tables after the scan.
    const recordKeys: number[] = [];
    const recordHashKeys: number[] = [];
    const recordData: Buffer[] = [];
    while (this.#pos < end) {
      const tag = this.#tag(end);
      const field = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (field === 1 || field === 2 || field === 3) {
        if (wireType !== WIRE_LENGTH_DELIMITED)
          throw this.#corrupt('MALFORMED_PROTOBUF', `field ${field} not length-delimited`);
        const fieldEnd = this.#lengthDelimited(end);
        if (field === 1) {
          keys.push(this.#string(fieldEnd));
        } else if (field === 2) {
          const hashKey = this.#string(fieldEnd);
          if (!isExplicitHashKey(hashKey)) {
            throw this.#corrupt('INVALID_EXPLICIT_HASH_KEY', JSON.stringify(hashKey.slice(0, 50)));
          }
          hashKeys.push(hashKey);
        } else {
          this.#record(fieldEnd, recordKeys, recordHashKeys, recordData);
        }
      } else {
        this.#skip(wireType, end);
      }
    }

    const sequenceNumber = this.#enclosing.sequenceNumber;
    const records: DeaggregatedRecord[] = [];
    for (let i = 0; i < recordData.length; i++) {
      const keyIndex = recordKeys[i] as number;
      const partitionKey = keys[keyIndex];
      if (partitionKey === undefined) {
        throw this.#corrupt(
          'INDEX_OUT_OF_RANGE',
          `record ${i}: partition key index ${keyIndex} of ${keys.length}`,
        );
      }
      const record: DeaggregatedRecord = {
        partitionKey,
        data: recordData[i] as Buffer,
        subSequenceNumber: i,
        aggregated: true,
      };
      const hashKeyIndex = recordHashKeys[i] as number;
      if (hashKeyIndex >= 0) {
        const hashKey = hashKeys[hashKeyIndex];
        if (hashKey === undefined) {
          throw this.#corrupt(
            'INDEX_OUT_OF_RANGE',
            `record ${i}: explicit hash key index ${hashKeyIndex} of ${hashKeys.length}`,
          );
        }
        record.explicitHashKey = hashKey;
      }
      if (sequenceNumber !== undefined) record.sequenceNumber = sequenceNumber;
      records.push(record);
    }
    return records;
  }

  #record(end: number, keys: number[], hashKeys: number[], data: Buffer[]): void {
    let keyIndex = -1;
    let hashKeyIndex = -1;
    let payload: Buffer | undefined;
    while (this.#pos < end) {
      const tag = this.#tag(end);
      const field = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (field === 1 || field === 2) {
        if (wireType !== WIRE_VARINT)
          throw this.#corrupt('MALFORMED_PROTOBUF', `record field ${field} not a varint`);
        const index = this.#varint(end);
        if (field === 1) keyIndex = index;
        else hashKeyIndex = index;
      } else if (field === 3) {
        if (wireType !== WIRE_LENGTH_DELIMITED)
          throw this.#corrupt('MALFORMED_PROTOBUF', 'record data not bytes');
        const dataEnd = this.#lengthDelimited(end);
        payload = this.#bytes.subarray(this.#pos, dataEnd);
        this.#pos = dataEnd;
      } else {
        // Tags (field 4) are unused by KPL and KCL; skipped like any unknown field.
        this.#skip(wireType, end);
      }
    }
    if (keyIndex < 0) throw this.#corrupt('MISSING_FIELD', `record ${data.length}: no partition_key_index`);
    if (payload === undefined) throw this.#corrupt('MISSING_FIELD', `record ${data.length}: no data`);
    keys.push(keyIndex);
    hashKeys.push(hashKeyIndex);
    data.push(payload);
  }

  /** Reads a field tag: field number = tag / 8, wire type = tag % 8. */
  #tag(end: number): number {
    const tag = this.#varint(end);
    if (tag < 8) throw this.#corrupt('MALFORMED_PROTOBUF', 'field number 0');
    return tag;
  }

  /** Reads up to 10 bytes; values past 2^53 lose precision but are then out of every range anyway. */
  #varint(end: number): number {
    const bytes = this.#bytes;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= end) throw this.#corrupt('MALFORMED_PROTOBUF', 'varint runs past its message');
      const byte = bytes[this.#pos++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    throw this.#corrupt('MALFORMED_PROTOBUF', 'varint longer than 10 bytes');
  }

  /** Reads a length prefix and returns where the field ends. */
  #lengthDelimited(end: number): number {
    const length = this.#varint(end);
    if (length > end - this.#pos)
      throw this.#corrupt('MALFORMED_PROTOBUF', `length ${length} runs past its message`);
    return this.#pos + length;
  }

  #string(end: number): string {
    let value: string;
    try {
      value = utf8.decode(this.#bytes.subarray(this.#pos, end));
    } catch (cause) {
      throw this.#corrupt('INVALID_UTF8', 'key table entry is not UTF-8', cause);
    }
    this.#pos = end;
    return value;
  }

  #skip(wireType: number, end: number): void {
    let width: number;
    switch (wireType) {
      case WIRE_VARINT:
        this.#varint(end);
        return;
      case WIRE_LENGTH_DELIMITED:
        this.#pos = this.#lengthDelimited(end);
        return;
      case WIRE_FIXED64:
        width = 8;
        break;
      case WIRE_FIXED32:
        width = 4;
        break;
      default:
        // 3/4 are deprecated groups (absent from this schema); 6/7 do not exist.
        throw this.#corrupt('MALFORMED_PROTOBUF', `unsupported wire type ${wireType}`);
    }
    if (width > end - this.#pos)
      throw this.#corrupt('MALFORMED_PROTOBUF', 'fixed-width field runs past its message');
    this.#pos += width;
  }

  #corrupt(reason: AggregationCorruptReason, detail: string, cause?: unknown): AggregationCorruptError {
    return new AggregationCorruptError(reason, detail, this.#enclosing, cause === undefined ? {} : { cause });
  }
}
