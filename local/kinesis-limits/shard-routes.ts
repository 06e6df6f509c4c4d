import { ShardMap } from '../../shared/kinesis/hash.ts';
import type { StreamRef } from './wire.ts';

/** Lists a stream's shards upstream (ListShards output `Shards`, all pages). */
export type ShardLister = (stream: StreamRef) => Promise<Parameters<typeof ShardMap.fromShards>[0]>;

/**
 * Shard maps per stream, listed lazily and cached until invalidated. Concurrent requests for the
 * same stream share one ListShards call.
 */
export class ShardRoutes {
  private readonly maps = new Map<string, Promise<ShardMap>>();

  constructor(private readonly list: ShardLister) {}

  mapFor(stream: StreamRef): Promise<ShardMap> {
    const cached = this.maps.get(stream.key);
    if (cached !== undefined) return cached;
    const pending = this.list(stream).then((shards) => ShardMap.fromShards(shards));
    this.maps.set(stream.key, pending);
    // A failed listing must not stick: the next request lists again.
    pending.catch(() => {
      if (this.maps.get(stream.key) === pending) this.maps.delete(stream.key);
    });
    return pending;
  }

  invalidate(streamKey: string): void {
    this.maps.delete(streamKey);
  }

  /** Resharding, creation and deletion pass through the proxy without a parsed body: forget all. */
  invalidateAll(): void {
    this.maps.clear();
  }
}
