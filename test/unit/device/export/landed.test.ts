import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Candidate,
  decodePositions,
  LandedMatcher,
  ShardPositions,
} from '../../../../device/export/landed.ts';
import { CHECKPOINT_NOTE_MAX_BYTES } from '../../../../device/log/index.ts';
import { KPL_MAGIC } from '../../../../shared/kinesis/aggregation.ts';
import { aggregatedRecord, userRecords } from '../../../helpers/aggregated.ts';

/** Kinesis sequence numbers: decimal, up to 56 digits in practice. */
const sequenceNumber = fc.bigInt({ min: 0n, max: 10n ** 56n }).map(String);
const shardId = fc.integer({ min: 0, max: 99_999 }).map((n) => `shardId-${String(n).padStart(12, '0')}`);

describe('ShardPositions', () => {
  it('keeps the highest sequence number per shard and round-trips through the note', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(shardId, sequenceNumber), { maxLength: 30 }), (accepted) => {
        const positions = new ShardPositions();
        const highest = new Map<string, bigint>();
        for (const [shard, sequence] of accepted) {
          positions.accepted(shard, sequence);
          const value = BigInt(sequence);
          if (value > (highest.get(shard) ?? -1n)) highest.set(shard, value);
        }
        const decoded = decodePositions(positions.encode(CHECKPOINT_NOTE_MAX_BYTES));
        expect(positions.encode(CHECKPOINT_NOTE_MAX_BYTES).byteLength).toBeLessThanOrEqual(
          CHECKPOINT_NOTE_MAX_BYTES,
        );
        // Every shard the note kept has its highest value; a full note drops the least recent ones.
        for (const [shard, sequence] of decoded) expect(BigInt(sequence)).toBe(highest.get(shard));
        if (decoded.size < highest.size) expect(decoded.size).toBeGreaterThan(4);
        else expect(decoded.size).toBe(highest.size);
      }),
    );
  });

  it("takes each shard's last accepted entry of a PutRecords answer", () => {
    const positions = new ShardPositions();
    positions.acceptedRequest([
      { ok: true, shardId: 'shardId-1', sequenceNumber: '10' },
      { ok: true, shardId: 'shardId-2', sequenceNumber: '11' },
      { ok: false, code: 'ProvisionedThroughputExceededException', message: 'slow down' },
      { ok: true, shardId: 'shardId-1', sequenceNumber: '12' },
    ]);
    expect(decodePositions(positions.encode(CHECKPOINT_NOTE_MAX_BYTES))).toEqual(
      new Map([
        ['shardId-1', '12'],
        ['shardId-2', '11'],
      ]),
    );
  });

  it('keeps the most recently written shards when the note is full', () => {
    const positions = new ShardPositions();
    for (let i = 0; i < 40; i++)
      positions.accepted(`shardId-${String(i).padStart(12, '0')}`, `${10n ** 50n + BigInt(i)}`);
    positions.accepted('shardId-000000000000', `${10n ** 51n}`);
    const decoded = decodePositions(positions.encode(200));
    expect([...decoded.keys()].slice(0, 2)).toEqual(['shardId-000000000000', 'shardId-000000000039']);
    expect(decoded.get('shardId-000000000000')).toBe(`${10n ** 51n}`);
    expect(decoded.has('shardId-000000000001')).toBe(false);
  });

  it('ignores sequence numbers that are not decimal, and any note that is not its own', () => {
    const positions = new ShardPositions();
    positions.accepted('shardId-0', 'not-a-number');
    expect(positions.size).toBe(0);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(() => decodePositions(bytes)).not.toThrow();
      }),
    );
    expect(decodePositions(undefined).size).toBe(0);
    expect(decodePositions(Uint8Array.of(1, 5, 0x41)).size).toBe(0);
  });
});

function candidates(records: readonly { partitionKey: string; data: Uint8Array }[], from = 0): Candidate[] {
  return records.map((r, i) => ({ sequence: from + i, partitionKey: r.partitionKey, data: r.data }));
}

describe('LandedMatcher', () => {
  it('finds the user records inside aggregates and plain records alike', () => {
    const users = userRecords(10, { keys: 3 });
    const matcher = new LandedMatcher(candidates(users, 100));
    const aggregate = aggregatedRecord(users.slice(0, 6));
    matcher.seeRecord({ partitionKey: aggregate.partitionKey, data: aggregate.data });
    matcher.seeRecord(users[7] as { partitionKey: string; data: Uint8Array });
    expect([...matcher.landed].sort()).toEqual([100, 101, 102, 103, 104, 105, 107]);
    expect(matcher.remaining).toBe(3);
  });

  it('lets each record read back stand for one log record, oldest first', () => {
    const same = { partitionKey: 'k', data: Buffer.from('same bytes') };
    const matcher = new LandedMatcher(candidates([same, same, same], 7));
    matcher.seeRecord(same);
    matcher.seeRecord(same);
    expect([...matcher.landed]).toEqual([7, 8]);
    expect(matcher.remaining).toBe(1);
  });

  it('never takes a record with other bytes or another key for a candidate', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.uint8Array({ maxLength: 8 })), {
          maxLength: 20,
        }),
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.uint8Array({ maxLength: 8 })), {
          maxLength: 20,
        }),
        (logged, read) => {
          const records = logged.map(([partitionKey, data]) => ({ partitionKey, data }));
          const matcher = new LandedMatcher(candidates(records));
          const readBack = read.map(([partitionKey, data]) => ({ partitionKey, data }));
          for (const record of readBack) matcher.seeRecord(record);
          const text = (r: { partitionKey: string; data: Uint8Array }) =>
            `${r.partitionKey}:${Buffer.from(r.data).toString('hex')}`;
          const count = (texts: readonly string[], t: string) => texts.filter((x) => x === t).length;
          const loggedTexts = records.map(text);
          const readTexts = readBack.map(text);
          const landed = [...matcher.landed].map((sequence) => loggedTexts[sequence] as string);
          // Per distinct record: as many landed as were both logged and read back, never more.
          for (const t of new Set(loggedTexts)) {
            expect(count(landed, t)).toBe(Math.min(count(loggedTexts, t), count(readTexts, t)));
          }
          expect(matcher.remaining + matcher.landed.size).toBe(records.length);
        },
      ),
    );
  });

  it('takes bytes that only look aggregated as one plain record', () => {
    const data = Buffer.concat([KPL_MAGIC, Buffer.from('not protobuf, no digest')]);
    const matcher = new LandedMatcher(candidates([{ partitionKey: 'k', data }]));
    matcher.seeRecord({ partitionKey: 'k', data });
    expect(matcher.remaining).toBe(0);
  });
});
