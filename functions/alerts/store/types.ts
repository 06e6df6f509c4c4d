import type { EntityState } from '../rules/engine.ts';
import type { ClearedAlert, RaisedAlert } from '../rules/model.ts';

/**
 * Ports of the alert pipeline. The DynamoDB adapters live beside this file; tests may use any other
 * faithful implementation.
 */

/** Where a user record sits in the stream: (shard, sequence number, sub-sequence number) is unique. */
export interface StreamPosition {
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber: number;
}

export interface StoredState {
  entity: EntityState;
  /** 0 when the entity has no stored state yet. Every write increments it. */
  version: number;
  /** Position of the last record whose effect is included in `entity`. */
  applied: StreamPosition | undefined;
}

export interface StateStore {
  get(entityId: string): Promise<StoredState | undefined>;
  /**
   * Writes `entity` as version `expectedVersion + 1` only if the stored version is still
   * `expectedVersion` (0 = must not exist). 'conflict' means someone else wrote first.
   */
  put(
    entityId: string,
    entity: EntityState,
    applied: StreamPosition,
    expectedVersion: number,
  ): Promise<'written' | 'conflict'>;
}

/** A record that can never be processed, kept with its reason for investigation and replay. */
export interface QuarantinedRecord {
  position: StreamPosition;
  partitionKey: string;
  /** Approximate arrival time in the stream, epoch ms. */
  arrivedAt: number;
  /** Stable reason code, e.g. RECORD_INVALID, RECORD_MALFORMED, AGGREGATION_CORRUPT. */
  reasonCode: string;
  reason: string;
  data: Uint8Array;
}

export interface AlertStore {
  /** Conditional put: 'exists' when an alert with this id was already raised (a replay). */
  raise(alert: RaisedAlert): Promise<'created' | 'exists'>;
  /** Closes an open alert; 'unchanged' when it was already closed by this record or is gone. */
  clear(cleared: ClearedAlert): Promise<'cleared' | 'unchanged'>;
  quarantine(record: QuarantinedRecord): Promise<'created' | 'exists'>;
}

/** Orders two positions of the same shard; positions on different shards are incomparable (undefined). */
export function comparePositions(a: StreamPosition, b: StreamPosition): number | undefined {
  if (a.shardId !== b.shardId) return undefined;
  const sa = BigInt(a.sequenceNumber);
  const sb = BigInt(b.sequenceNumber);
  if (sa !== sb) return sa < sb ? -1 : 1;
  return a.subSequenceNumber - b.subSequenceNumber;
}
