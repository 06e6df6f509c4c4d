import type { ShardMap } from '../../shared/kinesis/hash.ts';
import type { FaultInjector } from './faults.ts';
import type { ShardLimiter } from './window.ts';
import { type PutEntry, recordBytes, type StreamRef } from './wire.ts';

export type Admission =
  | { outcome: 'admit'; shardId: string; bytes: number }
  | { outcome: 'throttle'; shardId: string; injected: boolean }
  | { outcome: 'internal'; injected: true };

export interface AdmissionContext {
  limiter: ShardLimiter;
  faults: FaultInjector;
  /** Rate limits on; injected faults apply either way. */
  enabled: boolean;
  now: number;
}

/** Limiter key of one shard; shard ids repeat across streams and accounts. */
export function shardKey(stream: StreamRef, shardId: string): string {
  return `${stream.key}/${shardId}`;
}

/**
 * Decides every record of one request in request order, each on its own: a refused record never
 * holds back a later one, as in Kinesis. Returns undefined, with no capacity taken, when some record
 * maps to no open shard (the map is stale or the stream is not active yet).
 */
export function admitRecords(
  entries: readonly PutEntry[],
  map: ShardMap,
  stream: StreamRef,
  context: AdmissionContext,
): Admission[] | undefined {
  const shardIds: string[] = [];
  for (const entry of entries) {
    const shard = map.shardForKey(entry.partitionKey, entry.explicitHashKey);
    if (shard === undefined) return undefined;
    shardIds.push(shard.shardId);
  }
  return entries.map((entry, i): Admission => {
    const shardId = shardIds[i] ?? '';
    const fault = context.faults.recordFault();
    if (fault === 'throttle') return { outcome: 'throttle', shardId, injected: true };
    if (fault === 'internal') return { outcome: 'internal', injected: true };
    const bytes = recordBytes(entry);
    if (!context.enabled || context.limiter.tryAdmit(shardKey(stream, shardId), bytes, context.now)) {
      return { outcome: 'admit', shardId, bytes };
    }
    return { outcome: 'throttle', shardId, injected: false };
  });
}
