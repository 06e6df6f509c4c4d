/**
 * From log records to PutRecords candidates: the partition key (custom route, the payload's own,
 * or the default), its check and hash (cached), the explicit hash key, the record's size inside an
 * aggregate. A record no valid key can be found for becomes a dead letter here, in sequence order.
 */
import { AggregationBuilder } from '../../shared/kinesis/aggregation.ts';
import { hashKeyOf } from '../../shared/kinesis/hash.ts';
import { HASH_KEY_MAX } from '../../shared/kinesis/limits.ts';
import type { LogRecord } from '../log/index.ts';
import { deadLetter } from './dead-letters.ts';
import type { PendingRecord } from './planner.ts';
import { partitionKeyOf, partitionKeyProblem, type RouteFunction } from './routing.ts';
import type { DeadLetter, ExportState } from './state.ts';

/** Partition keys whose check and hash are kept; past it the cache starts over. */
const KEY_CACHE_SIZE = 4096;
const NONE_LANDED: ReadonlySet<number> = new Set();

interface KeyInfo {
  readonly partitionKey: string;
  /** Why Kinesis would refuse the key, when it would. */
  readonly problem: string | undefined;
  readonly hashKey: bigint;
}

export class RecordRouter {
  readonly #route: RouteFunction | undefined;
  readonly #defaultPartitionKey: string | undefined;
  readonly #sizer = new AggregationBuilder();
  readonly #keys = new Map<string, KeyInfo>();

  constructor(route: RouteFunction | undefined, defaultPartitionKey: string | undefined) {
    this.#route = route;
    this.#defaultPartitionKey = defaultPartitionKey;
  }

  /**
   * Routes records; the ones no key can be found for go to the dead letters, those in `landed`
   * (found in Kinesis at start) are done at once (same order of sequences).
   */
  routeAll(
    state: ExportState,
    records: readonly LogRecord[],
    landed: ReadonlySet<number> = NONE_LANDED,
  ): PendingRecord[] {
    const out: PendingRecord[] = [];
    for (const record of records) {
      if (landed.has(record.sequence)) {
        state.offer(out.splice(0));
        state.landed(record.sequence, record.timestamp);
        continue;
      }
      const routed = this.route(record);
      if ('reason' in routed) {
        // Flush what came before so the tracker sees sequences in order.
        state.offer(out.splice(0));
        state.reject(routed);
      } else out.push(routed);
    }
    return out;
  }

  /** The record as a PutRecords candidate, or the dead letter it becomes. */
  route(record: LogRecord): PendingRecord | DeadLetter {
    const data = record.payload;
    const custom = this.#route?.(data);
    const partitionKey = custom?.partitionKey ?? partitionKeyOf(data) ?? this.#defaultPartitionKey;
    if (partitionKey === undefined) {
      return deadLetter(
        record,
        undefined,
        'NO_PARTITION_KEY',
        'payload has no partition_key and no default key is configured',
      );
    }
    const key = this.#keyInfo(partitionKey);
    if (key.problem !== undefined) return deadLetter(record, partitionKey, 'INVALID_KEY', key.problem);
    const explicitHashKey = custom?.explicitHashKey;
    if (explicitHashKey !== undefined && !isExplicitHashKey(explicitHashKey)) {
      return deadLetter(
        record,
        partitionKey,
        'INVALID_KEY',
        `explicit hash key ${JSON.stringify(explicitHashKey.slice(0, 50))} is not in [0, 2^128)`,
      );
    }
    const routed = { partitionKey: key.partitionKey, explicitHashKey, data };
    return {
      sequence: record.sequence,
      timestamp: record.timestamp,
      partitionKey: key.partitionKey,
      explicitHashKey,
      hashKey: explicitHashKey === undefined ? key.hashKey : hashKeyOf(partitionKey, explicitHashKey),
      data,
      bytes: this.#sizer.sizeIfAdded(routed),
      payloadBytes: data.byteLength,
    };
  }

  /**
   * Checks and hashes a partition key once: devices reuse a handful of keys, and an MD5 per record
   * was a tenth of the agent's CPU at 10k records/s. The cached string is the one every pending
   * record of that key shares.
   */
  #keyInfo(partitionKey: string): KeyInfo {
    let info = this.#keys.get(partitionKey);
    if (info === undefined) {
      if (this.#keys.size >= KEY_CACHE_SIZE) this.#keys.clear();
      const problem = partitionKeyProblem(partitionKey);
      info = {
        partitionKey,
        problem,
        hashKey: problem === undefined ? hashKeyOf(partitionKey) : 0n,
      };
      this.#keys.set(partitionKey, info);
    }
    return info;
  }
}

const EXPLICIT_HASH_KEY = /^(?:0|[1-9][0-9]{0,38})$/;

function isExplicitHashKey(value: string): boolean {
  return EXPLICIT_HASH_KEY.test(value) && BigInt(value) <= HASH_KEY_MAX;
}
