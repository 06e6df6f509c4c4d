/**
 * After a restart: which records past the checkpoint already landed in Kinesis, so they are not
 * sent again. Pure, no I/O. Two pieces: the positions the exporter keeps in its checkpoint's note
 * (per shard, the highest sequence number Kinesis gave one of its records), and a matcher of the
 * records past the checkpoint against the user records read back after those positions.
 *
 * Safety: a record is skipped only when a user record with the same partition key and the same
 * bytes was read back after a position, and each one read back stands for at most one log record.
 * Everything the read-back misses (a stale or missing position, an unreadable shard, a budget
 * spent) is simply sent again, as without the check: a miss costs a duplicate, never a record.
 */
import { deaggregate } from '../../shared/kinesis/aggregation.ts';
import { crc32c } from '../log/index.ts';
import type { ReadRecord } from './kinesis.ts';
import type { EntryOutcome } from './state.ts';

const NOTE_FORMAT = 1;
const SEQUENCE_NUMBER = /^[0-9]{1,80}$/;

/** Highest sequence number per shard that Kinesis gave this export's records, most recent last. */
export class ShardPositions {
  readonly #positions = new Map<string, bigint>();
  #encoded: Uint8Array | undefined;

  /**
   * A PutRecords answer: only each shard's last accepted entry is looked at (Kinesis numbers a
   * shard's entries of one request in request order), so the work is per shard, not per entry.
   */
  acceptedRequest(outcomes: readonly EntryOutcome[]): void {
    const last = new Map<string, string>();
    for (const outcome of outcomes) if (outcome.ok) last.set(outcome.shardId, outcome.sequenceNumber);
    for (const [shardId, sequenceNumber] of last) this.accepted(shardId, sequenceNumber);
  }

  /** Kinesis accepted a record on `shardId` at `sequenceNumber`. */
  accepted(shardId: string, sequenceNumber: string): void {
    if (!SEQUENCE_NUMBER.test(sequenceNumber)) return;
    const value = BigInt(sequenceNumber);
    const known = this.#positions.get(shardId);
    if (known !== undefined && known >= value) return;
    // Re-inserted, so the most recently written shards come last and are the ones a full note keeps.
    this.#positions.delete(shardId);
    this.#positions.set(shardId, value);
    this.#encoded = undefined;
  }

  get size(): number {
    return this.#positions.size;
  }

  /**
   * The note for the checkpoint: format byte, then per shard (most recent first, as many as fit in
   * `maxBytes`): id length u8 | id (UTF-8) | sequence length u8 | sequence number (big-endian).
   */
  encode(maxBytes: number): Uint8Array {
    if (this.#encoded !== undefined) return this.#encoded;
    const parts: Buffer[] = [Buffer.of(NOTE_FORMAT)];
    let size = 1;
    for (const [shardId, value] of [...this.#positions].reverse()) {
      const id = Buffer.from(shardId, 'utf8');
      const hex = value.toString(16);
      const sequence = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
      const bytes = 2 + id.length + sequence.length;
      if (id.length > 255 || size + bytes > maxBytes) continue;
      parts.push(Buffer.of(id.length), id, Buffer.of(sequence.length), sequence);
      size += bytes;
    }
    this.#encoded = Buffer.concat(parts, size);
    return this.#encoded;
  }
}

/** Shard id → sequence number (decimal) from a checkpoint note; empty when there is none or it is not ours. */
export function decodePositions(note: Uint8Array | undefined): Map<string, string> {
  const positions = new Map<string, string>();
  if (note === undefined || note[0] !== NOTE_FORMAT) return positions;
  const bytes = Buffer.from(note.buffer, note.byteOffset, note.byteLength);
  let at = 1;
  while (at < bytes.length) {
    const idBytes = bytes[at] as number;
    const sequenceAt = at + 1 + idBytes;
    const sequenceBytes = bytes[sequenceAt];
    if (sequenceBytes === undefined || sequenceAt + 1 + sequenceBytes > bytes.length || sequenceBytes === 0) {
      return new Map();
    }
    const shardId = bytes.toString('utf8', at + 1, sequenceAt);
    const hex = bytes.toString('hex', sequenceAt + 1, sequenceAt + 1 + sequenceBytes);
    positions.set(shardId, BigInt(`0x${hex}`).toString());
    at = sequenceAt + 1 + sequenceBytes;
  }
  return positions;
}

/** A record past the checkpoint that the previous run may have sent. */
export interface Candidate {
  readonly sequence: number;
  readonly partitionKey: string;
  readonly data: Uint8Array;
}

function fingerprint(partitionKey: string, data: Uint8Array): string {
  return `${data.byteLength}:${crc32c(data)}:${partitionKey}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** Matches the candidates of one shard against the user records read back from it. */
export class LandedMatcher {
  /** Candidates by fingerprint, in log order: equal records are claimed oldest first. */
  readonly #waiting = new Map<string, Candidate[]>();
  readonly #landed = new Set<number>();
  #remaining = 0;

  constructor(candidates: Iterable<Candidate>) {
    for (const candidate of candidates) {
      const key = fingerprint(candidate.partitionKey, candidate.data);
      const list = this.#waiting.get(key);
      if (list === undefined) this.#waiting.set(key, [candidate]);
      else list.push(candidate);
      this.#remaining++;
    }
  }

  /** A Kinesis record read back: every user record in it (aggregated or not) claims one equal candidate. */
  seeRecord(record: ReadRecord): void {
    for (const user of userRecordsOf(record)) this.#see(user.partitionKey, user.data);
  }

  #see(partitionKey: string, data: Uint8Array): void {
    const key = fingerprint(partitionKey, data);
    const list = this.#waiting.get(key);
    if (list === undefined) return;
    const index = list.findIndex((candidate) => sameBytes(candidate.data, data));
    if (index < 0) return;
    const [found] = list.splice(index, 1);
    if (list.length === 0) this.#waiting.delete(key);
    this.#landed.add((found as Candidate).sequence);
    this.#remaining--;
  }

  /** Candidates not (yet) found in Kinesis. */
  get remaining(): number {
    return this.#remaining;
  }

  /** Log sequences of the candidates found in Kinesis. */
  get landed(): ReadonlySet<number> {
    return this.#landed;
  }
}

/** The user records of a Kinesis record; one that only looks aggregated counts as itself. */
function userRecordsOf(record: ReadRecord): readonly { partitionKey: string; data: Uint8Array }[] {
  try {
    return deaggregate(record.data, { partitionKey: record.partitionKey });
  } catch {
    return [record];
  }
}
