import { z } from 'zod';
import { SHARD_WRITE_BYTES_PER_SECOND, SHARD_WRITE_RECORDS_PER_SECOND } from '../../shared/kinesis/limits.ts';
import { parseOptions } from '../../shared/options.ts';
import { limitsOptionError } from './errors.ts';

/** Per-shard write limits the proxy enforces. */
export const rateLimitsSchema = z.strictObject({
  recordsPerSecond: z.number().positive(),
  bytesPerSecond: z.number().positive(),
});

export type RateLimits = z.output<typeof rateLimitsSchema>;

/** A change of limits: the limits given replace those in force, the others stay. */
export const rateLimitsChangeSchema = rateLimitsSchema.partial();

export type RateLimitsChange = z.input<typeof rateLimitsChangeSchema>;

export const AWS_SHARD_WRITE_LIMITS: Readonly<RateLimits> = Object.freeze({
  recordsPerSecond: SHARD_WRITE_RECORDS_PER_SECOND,
  bytesPerSecond: SHARD_WRITE_BYTES_PER_SECOND,
});

/** Length of the sliding window: records admitted at `t` count against every span up to `t + 1000`. */
export const WINDOW_MS = 1000;

/** `base` with the limits `limits` gives; a LimitsOptionError names every bad path under `limits`. */
export function resolveLimits(
  limits: RateLimitsChange = {},
  base: RateLimits = AWS_SHARD_WRITE_LIMITS,
): RateLimits {
  const change = parseOptions(rateLimitsChangeSchema, limits, {
    at: ['limits'],
    unknownKey: 'is not a rate limit',
    error: limitsOptionError,
  });
  return {
    recordsPerSecond: change.recordsPerSecond ?? base.recordsPerSecond,
    bytesPerSecond: change.bytesPerSecond ?? base.bytesPerSecond,
  };
}

/**
 * Admissions of one shard over the last WINDOW_MS. Admissions at the same instant share one slot, so
 * a shard holds at most `recordsPerSecond` slots however large the batches are.
 */
export class SlidingWindow {
  private times: number[] = [];
  private counts: number[] = [];
  private sizes: number[] = [];
  private head = 0;
  private records = 0;
  private bytes = 0;

  /** Admits one record of `size` bytes at `now` if the window stays within `limits`. */
  tryAdmit(now: number, size: number, limits: RateLimits): boolean {
    this.evict(now);
    if (this.records + 1 > limits.recordsPerSecond || this.bytes + size > limits.bytesPerSecond) return false;
    this.records += 1;
    this.bytes += size;
    const last = this.times.length - 1;
    if (last >= this.head && this.times[last] === now) {
      this.counts[last] = (this.counts[last] ?? 0) + 1;
      this.sizes[last] = (this.sizes[last] ?? 0) + size;
    } else {
      this.times.push(now);
      this.counts.push(1);
      this.sizes.push(size);
    }
    return true;
  }

  /** Records and bytes admitted within (now - WINDOW_MS, now]. */
  usage(now: number): { records: number; bytes: number } {
    this.evict(now);
    return { records: this.records, bytes: this.bytes };
  }

  private evict(now: number): void {
    const cutoff = now - WINDOW_MS;
    while (this.head < this.times.length && (this.times[this.head] ?? Number.POSITIVE_INFINITY) <= cutoff) {
      this.records -= this.counts[this.head] ?? 0;
      this.bytes -= this.sizes[this.head] ?? 0;
      this.head += 1;
    }
    // Drop the consumed prefix once it dominates, so memory stays proportional to the live window.
    if (this.head > 64 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.counts = this.counts.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }
}

/** One sliding window per shard key (`stream/shardId`), created on first use. */
export class ShardLimiter {
  private readonly windows = new Map<string, SlidingWindow>();
  private current: RateLimits;

  constructor(limits: RateLimitsChange = {}) {
    this.current = resolveLimits(limits);
  }

  get limits(): RateLimits {
    return { ...this.current };
  }

  setLimits(limits: RateLimitsChange): void {
    this.current = resolveLimits(limits, this.current);
  }

  tryAdmit(shardKey: string, size: number, now: number): boolean {
    let window = this.windows.get(shardKey);
    if (window === undefined) {
      window = new SlidingWindow();
      this.windows.set(shardKey, window);
    }
    return window.tryAdmit(now, size, this.current);
  }
}
