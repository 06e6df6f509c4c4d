import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AGGREGATION_OVERHEAD_BYTES,
  type AggregatedEntry,
  AggregationBuilder,
  aggregateRecords,
  type DeaggregatedRecord,
  deaggregate,
  isAggregated,
  KPL_MAGIC,
  type UserRecord,
} from '../../../shared/kinesis/aggregation.ts';
import {
  AggregationCorruptError,
  AggregationRecordTooLargeError,
  EmptyAggregationError,
  InvalidUserRecordError,
} from '../../../shared/kinesis/errors.ts';
import {
  DEFAULT_MAX_RECORD_BYTES,
  HASH_KEY_MAX,
  PARTITION_KEY_MAX_CHARS,
} from '../../../shared/kinesis/limits.ts';
import {
  aggregatedRecord,
  flipByte,
  framedAggregate,
  referenceAggregate,
  referenceDeaggregate,
  userRecords,
} from '../../helpers/aggregated.ts';
import { thrown } from '../../helpers/thrown.ts';

const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');

/** Cuts a string to at most `max` UTF-16 units without splitting a surrogate pair. */
function clip(s: string, max: number): string {
  let out = '';
  for (const codePoint of s) {
    if (out.length + codePoint.length > max) break;
    out += codePoint;
  }
  return out;
}

const partitionKeyArb = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: PARTITION_KEY_MAX_CHARS }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: PARTITION_KEY_MAX_CHARS }).map((s) => clip(s, 256)),
  fc.constantFrom('a', 'device-1', 'ключ', '🔑', '\uFEFFbom', 'x'.repeat(PARTITION_KEY_MAX_CHARS)),
);
const hashKeyArb = fc.oneof(
  fc.bigInt({ min: 0n, max: HASH_KEY_MAX }).map(String),
  fc.constantFrom('0', HASH_KEY_MAX.toString()),
);
// Large payloads are filled from a seed: generating them byte by byte would be slow.
function dataArb(maxLarge: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: fc
        .record({ length: fc.integer({ min: 0, max: maxLarge }), seed: fc.integer({ min: 0, max: 255 }) })
        .map(({ length, seed }) => Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff)),
    },
  );
}

/** Records drawing keys from small pools so tables dedup; some records carry explicit hash keys. */
function recordsArb({
  keyArb = partitionKeyArb,
  explicitHashKeyArb = hashKeyArb,
  payloadArb = dataArb(100_000),
} = {}): fc.Arbitrary<UserRecord[]> {
  return fc
    .tuple(
      fc.uniqueArray(keyArb, { minLength: 1, maxLength: 8 }),
      fc.uniqueArray(explicitHashKeyArb, { maxLength: 4 }),
    )
    .chain(([keys, hashKeys]) =>
      fc.array(
        fc.record({
          key: fc.constantFrom(...keys),
          hashKey:
            hashKeys.length === 0
              ? fc.constant(undefined)
              : fc.option(fc.constantFrom(...hashKeys), { nil: undefined }),
          data: payloadArb,
        }),
        { minLength: 1, maxLength: 30 },
      ),
    )
    .map((drawn) =>
      drawn.map(({ key, hashKey, data }) =>
        hashKey === undefined
          ? { partitionKey: key, data }
          : { partitionKey: key, explicitHashKey: hashKey, data },
      ),
    );
}

/**
 * Records aws-kinesis-agg can encode correctly: it refuses to build past 1 MiB, and it keeps its key
 * tables in plain objects written out with Object.keys, which lists integer-like keys (below 2^32 - 1,
 * so also small explicit hash keys) first, mislabelling records, and cannot hold "__proto__".
 */
const referenceSafeRecordsArb = recordsArb({
  keyArb: partitionKeyArb.filter((k) => !/^\d+$/.test(k) && k !== '__proto__'),
  explicitHashKeyArb: fc.bigInt({ min: 2n ** 32n, max: HASH_KEY_MAX }).map(String),
  payloadArb: dataArb(30_000),
});

function decoded(records: readonly DeaggregatedRecord[]) {
  return records.map((r) => ({
    partitionKey: r.partitionKey,
    explicitHashKey: r.explicitHashKey,
    data: hex(r.data),
  }));
}

function expected(records: readonly UserRecord[]) {
  return records.map((r) => ({
    partitionKey: r.partitionKey,
    explicitHashKey: r.explicitHashKey,
    data: hex(r.data),
  }));
}

function buildAll(records: readonly UserRecord[], aggregateSingle = true): AggregatedEntry {
  const builder = new AggregationBuilder({ aggregateSingle });
  for (const record of records) expect(builder.tryAdd(record, Number.POSITIVE_INFINITY)).toBe(true);
  return builder.build();
}

describe('AggregationBuilder sizes', () => {
  it('sizeIfAdded is the exact size of the built entry, record by record', () => {
    fc.assert(
      fc.property(recordsArb(), fc.boolean(), (records, aggregateSingle) => {
        const builder = new AggregationBuilder({ aggregateSingle });
        for (const record of records) {
          const predicted = builder.sizeIfAdded(record);
          expect(builder.tryAdd(record, Number.POSITIVE_INFINITY)).toBe(true);
          expect(builder.size).toBe(predicted);
        }
        const size = builder.size;
        const entry = builder.build();
        expect(entry.bytes).toBe(size);
        expect(entry.bytes).toBe(entry.data.length + utf8Bytes(entry.partitionKey));
        expect(entry.records).toBe(records.length);
        expect(builder.count).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('is exact across varint length boundaries and with more than 127 keys', () => {
    const lengths = [
      0, 1, 110, 120, 127, 128, 129, 16_370, 16_383, 16_384, 16_390, 2_097_140, 2_097_152, 2_097_160,
    ];
    const records = lengths.map((length, i) => ({ partitionKey: `k${i}`, data: new Uint8Array(length) }));
    for (let i = 0; i < 300; i++) records.push({ partitionKey: `many-${i % 150}`, data: new Uint8Array(i) });
    const builder = new AggregationBuilder();
    for (const record of records) {
      const predicted = builder.sizeIfAdded(record);
      builder.tryAdd(record, Number.POSITIVE_INFINITY);
      expect(builder.size).toBe(predicted);
    }
    const entry = builder.build();
    expect(entry.bytes).toBe(entry.data.length + 2);
    expect(deaggregate(entry.data, { partitionKey: 'k0' })).toHaveLength(records.length);
  });

  it('accepts a record that lands exactly on the budget and refuses one byte over', () => {
    const [first, second] = userRecords(2);
    if (first === undefined || second === undefined) throw new Error('no records');
    const builder = new AggregationBuilder();
    builder.tryAdd(first, DEFAULT_MAX_RECORD_BYTES);
    const needed = builder.sizeIfAdded(second);
    expect(builder.tryAdd(second, needed - 1)).toBe(false);
    expect(builder.count).toBe(1);
    expect(builder.tryAdd(second, needed)).toBe(true);
    expect(builder.build().bytes).toBe(needed);
  });

  it('fills a 1 MiB record greedily: each entry fits and the next record would not', () => {
    const records = userRecords(25_000, { keys: 50 });
    const entries = aggregateRecords(records, { maxBytes: DEFAULT_MAX_RECORD_BYTES });
    expect(entries.length).toBeGreaterThan(1);
    let offset = 0;
    for (const entry of entries) {
      expect(entry.bytes).toBeLessThanOrEqual(DEFAULT_MAX_RECORD_BYTES);
      const next = records[offset + entry.records];
      if (next !== undefined) {
        const again = new AggregationBuilder();
        for (const record of records.slice(offset, offset + entry.records)) again.tryAdd(record, Infinity);
        expect(again.sizeIfAdded(next)).toBeGreaterThan(DEFAULT_MAX_RECORD_BYTES);
      }
      offset += entry.records;
    }
    expect(offset).toBe(records.length);
  });

  it('aggregateRecords keeps order and respects any budget', () => {
    fc.assert(
      fc.property(recordsArb(), fc.integer({ min: 0, max: 400_000 }), (records, slack) => {
        const biggestAlone = Math.max(...records.map((r) => new AggregationBuilder().sizeIfAdded(r)));
        const maxBytes = biggestAlone + slack;
        const entries = aggregateRecords(records, { maxBytes });
        const out: DeaggregatedRecord[] = [];
        for (const entry of entries) {
          expect(entry.bytes).toBeLessThanOrEqual(maxBytes);
          out.push(...deaggregate(entry.data, entry));
        }
        expect(decoded(out)).toEqual(expected(records));
      }),
      { numRuns: 100 },
    );
  });

  it('throws AggregationRecordTooLargeError when one record cannot fit alone', () => {
    const [record] = userRecords(1, { dataBytes: 1000 });
    if (record === undefined) throw new Error('no record');
    expect(() => aggregateRecords([record], { maxBytes: 500 })).toThrow(AggregationRecordTooLargeError);
  });
});

describe('AggregationBuilder entries', () => {
  it('emits a lone record as-is, keyed and hashed like the record', () => {
    const record = { partitionKey: 'pk', explicitHashKey: '42', data: Buffer.from('hello') };
    const builder = new AggregationBuilder();
    builder.tryAdd(record, DEFAULT_MAX_RECORD_BYTES);
    expect(builder.build()).toEqual({
      partitionKey: 'pk',
      explicitHashKey: '42',
      data: record.data,
      records: 1,
      bytes: 7,
      aggregated: false,
    });
  });

  it('aggregates a lone record whose data starts with the magic bytes, so it decodes back intact', () => {
    const data = Buffer.concat([KPL_MAGIC, Buffer.from('not really an aggregate')]);
    const entry = buildAll([{ partitionKey: 'pk', data }], false);
    expect(entry.aggregated).toBe(true);
    expect(decoded(deaggregate(entry.data, entry))).toEqual([
      { partitionKey: 'pk', explicitHashKey: undefined, data: hex(data) },
    ]);
  });

  it('routes the aggregate by its first record: its key and its explicit hash key', () => {
    const entry = buildAll([
      { partitionKey: 'first', explicitHashKey: '7', data: new Uint8Array(1) },
      { partitionKey: 'second', explicitHashKey: '8', data: new Uint8Array(1) },
    ]);
    expect(entry).toMatchObject({
      partitionKey: 'first',
      explicitHashKey: '7',
      records: 2,
      aggregated: true,
    });
    expect(buildAll([{ partitionKey: 'a', data: new Uint8Array(1) }])).not.toHaveProperty('explicitHashKey');
  });

  it('rejects keys Kinesis would reject, before changing anything', () => {
    const builder = new AggregationBuilder();
    const bad: UserRecord[] = [
      { partitionKey: '', data: new Uint8Array() },
      { partitionKey: 'x'.repeat(PARTITION_KEY_MAX_CHARS + 1), data: new Uint8Array() },
      { partitionKey: 'lone \uD800 surrogate', data: new Uint8Array() },
      { partitionKey: 'k', explicitHashKey: '-1', data: new Uint8Array() },
      { partitionKey: 'k', explicitHashKey: '007', data: new Uint8Array() },
      { partitionKey: 'k', explicitHashKey: 'abc', data: new Uint8Array() },
      { partitionKey: 'k', explicitHashKey: (HASH_KEY_MAX + 1n).toString(), data: new Uint8Array() },
    ];
    for (const record of bad) {
      expect(() => builder.sizeIfAdded(record)).toThrow(InvalidUserRecordError);
      expect(() => builder.tryAdd(record, Infinity)).toThrow(InvalidUserRecordError);
    }
    expect(builder.count).toBe(0);
  });

  it('refuses to build nothing', () => {
    expect(() => new AggregationBuilder().build()).toThrow(EmptyAggregationError);
  });
});

describe('compatibility with aws-kinesis-agg', () => {
  it('our aggregates deaggregate identically with aws-kinesis-agg', () => {
    fc.assert(
      fc.property(recordsArb(), (records) => {
        const entry = buildAll(records);
        const theirs = referenceDeaggregate(entry.data, entry.partitionKey);
        // aws-kinesis-agg reads an absent explicit_hash_key_index as 0, so it reports the first table
        // entry for records that have none; the encoding is right (see the round trip below).
        const firstHashKey = records.find((r) => r.explicitHashKey !== undefined)?.explicitHashKey;
        expect(theirs.map((r) => ({ ...r, data: hex(r.data) }))).toEqual(
          records.map((r) => ({
            partitionKey: r.partitionKey,
            explicitHashKey: r.explicitHashKey ?? firstHashKey,
            data: hex(r.data),
          })),
        );
      }),
      { numRuns: 150 },
    );
  });

  it('writes the same bytes as aws-kinesis-agg for the same records', () => {
    fc.assert(
      fc.property(referenceSafeRecordsArb, (records) => {
        expect(hex(buildAll(records).data)).toBe(hex(referenceAggregate(records).data));
      }),
      { numRuns: 150 },
    );
  });

  it('decodes aws-kinesis-agg aggregates to the original records', () => {
    fc.assert(
      fc.property(referenceSafeRecordsArb, fc.bigInt({ min: 0n, max: 2n ** 80n }), (records, seq) => {
        const theirs = referenceAggregate(records);
        const ours = deaggregate(theirs.data, {
          partitionKey: theirs.partitionKey,
          sequenceNumber: String(seq),
        });
        expect(decoded(ours)).toEqual(expected(records));
        expect(ours.map((r) => r.subSequenceNumber)).toEqual(records.map((_, i) => i));
        expect(ours.every((r) => r.sequenceNumber === String(seq) && r.aggregated)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

describe('deaggregate', () => {
  it('round-trips our own aggregates exactly, hash keys only where given', () => {
    fc.assert(
      fc.property(recordsArb(), (records) => {
        const entry = buildAll(records);
        const out = deaggregate(entry.data, { ...entry, sequenceNumber: '49' });
        expect(decoded(out)).toEqual(expected(records));
        out.forEach((r, i) => {
          expect(r.subSequenceNumber).toBe(i);
          expect(r.sequenceNumber).toBe('49');
          expect('explicitHashKey' in r).toBe(records[i]?.explicitHashKey !== undefined);
        });
      }),
      { numRuns: 150 },
    );
  });

  it('passes a record without the magic bytes through as one record', () => {
    const data = Buffer.from('plain json');
    expect(deaggregate(data, { partitionKey: 'pk', explicitHashKey: '5', sequenceNumber: '9' })).toEqual([
      {
        partitionKey: 'pk',
        explicitHashKey: '5',
        sequenceNumber: '9',
        data,
        subSequenceNumber: 0,
        aggregated: false,
      },
    ]);
    expect(deaggregate(new Uint8Array(), { partitionKey: 'pk' })).toEqual([
      { partitionKey: 'pk', data: new Uint8Array(), subSequenceNumber: 0, aggregated: false },
    ]);
  });

  it('reads an aggregate that sits at an offset inside a larger buffer', () => {
    const entry = aggregatedRecord(userRecords(3));
    const padded = new Uint8Array(entry.data.length + 10);
    padded.set(entry.data, 7);
    const view = padded.subarray(7, 7 + entry.data.length);
    expect(decoded(deaggregate(view, entry))).toEqual(expected(userRecords(3)));
  });

  it('a flipped byte after the magic is a named error; one inside the magic makes a plain record', () => {
    fc.assert(
      fc.property(recordsArb(), fc.nat(), (records, at) => {
        const data = buildAll(records).data;
        const index = at % data.length;
        const damaged = flipByte(data, index);
        if (index < KPL_MAGIC.length) {
          const [plain, ...rest] = deaggregate(damaged, { partitionKey: 'pk' });
          expect(rest).toEqual([]);
          expect(plain?.aggregated).toBe(false);
          expect(plain?.data).toBe(damaged);
        } else {
          expect(() => deaggregate(damaged, { partitionKey: 'pk' })).toThrow(
            expect.objectContaining({ code: 'AGGREGATION_CORRUPT', reason: 'CHECKSUM_MISMATCH' }),
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a truncated aggregate is a named error', () => {
    fc.assert(
      fc.property(recordsArb(), fc.nat(), (records, at) => {
        const data = buildAll(records).data;
        const length = KPL_MAGIC.length + (at % (data.length - KPL_MAGIC.length));
        const error = thrown(() =>
          deaggregate(data.subarray(0, length), { partitionKey: 'pk', sequenceNumber: '1' }),
        );
        expect(error).toBeInstanceOf(AggregationCorruptError);
        expect(error).toMatchObject({
          reason: length < AGGREGATION_OVERHEAD_BYTES ? 'TRUNCATED' : 'CHECKSUM_MISMATCH',
          partitionKey: 'pk',
          sequenceNumber: '1',
          retryable: false,
        });
      }),
      { numRuns: 200 },
    );
  });

  it('never fails with anything but AggregationCorruptError on arbitrary bodies with a valid MD5', () => {
    const field = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      // Plausible fragments make the parser go deeper than pure noise would.
      fc
        .constantFrom(
          [0x0a, 0x01, 0x6b],
          [0x12, 0x01, 0x31],
          [0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x78],
          [0x1a, 0x02, 0x08, 0x00],
          [0x22, 0x00],
          [0x1a, 0x03, 0x08, 0x09, 0x1a],
        )
        .map((bytes) => Uint8Array.from(bytes)),
    );
    fc.assert(
      fc.property(fc.array(field, { maxLength: 8 }), (parts) => {
        const body = framedAggregate(Buffer.concat(parts));
        try {
          const records = deaggregate(body, { partitionKey: 'pk' });
          expect(Array.isArray(records)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(AggregationCorruptError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it.each([
    ['MISSING_FIELD', [0x0a, 0x01, 0x6b, 0x1a, 0x02, 0x08, 0x00]],
    ['MISSING_FIELD', [0x1a, 0x02, 0x1a, 0x00]],
    ['INDEX_OUT_OF_RANGE', [0x0a, 0x01, 0x6b, 0x1a, 0x04, 0x08, 0x01, 0x1a, 0x00]],
    ['INDEX_OUT_OF_RANGE', [0x0a, 0x01, 0x6b, 0x1a, 0x06, 0x08, 0x00, 0x10, 0x00, 0x1a, 0x00]],
    ['INVALID_UTF8', [0x0a, 0x01, 0xff]],
    ['INVALID_EXPLICIT_HASH_KEY', [0x12, 0x02, 0x2d, 0x31]],
    ['MALFORMED_PROTOBUF', [0x0a, 0x05, 0x6b]],
    ['MALFORMED_PROTOBUF', [0x08, 0x01]],
    ['MALFORMED_PROTOBUF', [0x0b]],
    ['MALFORMED_PROTOBUF', [0x00]],
    ['MALFORMED_PROTOBUF', [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
  ] as const)('reports %s for a crafted body (%j)', (reason, body) => {
    expect(() => deaggregate(framedAggregate(Uint8Array.from(body)), { partitionKey: 'pk' })).toThrow(
      expect.objectContaining({ code: 'AGGREGATION_CORRUPT', reason }),
    );
  });

  it('skips tags and unknown fields, and resolves tables written after the records', () => {
    const body = Uint8Array.from([
      // record { partition_key_index 0, data "x", tags { key "t" } } before any table
      0x1a, 0x0a, 0x08, 0x00, 0x1a, 0x01, 0x78, 0x22, 0x03, 0x0a, 0x01, 0x74,
      // unknown fields: varint 9, fixed64 10, fixed32 11, bytes 12
      0x48, 0x01, 0x51, 0, 0, 0, 0, 0, 0, 0, 0, 0x5d, 0, 0, 0, 0, 0x62, 0x00,
      // partition_key_table "k"
      0x0a, 0x01, 0x6b,
    ]);
    const out = deaggregate(framedAggregate(body), { partitionKey: 'outer' });
    expect(decoded(out)).toEqual([
      { partitionKey: 'k', explicitHashKey: undefined, data: hex(Buffer.from('x')) },
    ]);
  });

  it('an aggregate with no records yields no records', () => {
    expect(deaggregate(framedAggregate(Uint8Array.from([0x0a, 0x01, 0x6b])), { partitionKey: 'pk' })).toEqual(
      [],
    );
  });

  it('isAggregated looks only at the magic bytes', () => {
    expect(isAggregated(aggregatedRecord(userRecords(1)).data)).toBe(true);
    expect(isAggregated(KPL_MAGIC.slice(0, 3))).toBe(false);
    expect(isAggregated(Buffer.from('{"a":1}'))).toBe(false);
  });
});
