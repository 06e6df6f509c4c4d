/**
 * Time-based helpers of the exporter, all pure (the caller passes `now` and a random source):
 * exponential backoff with full jitter, per-shard pacing against Kinesis' write limits, and a
 * token bucket for bandwidth caps.
 */

export interface RetryPolicy {
  /** Ceiling of the first retry's delay. */
  readonly baseMillis: number;
  /** No delay exceeds this. */
  readonly capMillis: number;
}

/**
 * "Full jitter" (AWS Architecture Blog, Exponential Backoff and Jitter): a uniform draw in
 * [0, min(cap, base * 2^(attempt-1))). Spreads retries of many shards/devices instead of
 * synchronising them.
 */
export function fullJitterDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.capMillis, policy.baseMillis * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.floor(random() * ceiling);
}

export interface WriteLimits {
  readonly bytesPerSecond: number;
  readonly recordsPerSecond: number;
}

const PACING_WINDOW_MILLIS = 1000;

/**
 * What one shard has been sent over the last second (plus slack), so the exporter stays under the
 * shard's write limits instead of provoking throttles. Kinesis meters per shard per second; the slack
 * absorbs the difference between our send time and the server's admission time.
 */
export class ShardPacer {
  #times: number[] = [];
  #bytes: number[] = [];
  #records: number[] = [];
  #head = 0;
  #usedBytes = 0;
  #usedRecords = 0;
  // Entries dropped by compaction; keeps refund tokens stable across it.
  #offset = 0;
  readonly #window: number;

  constructor(
    readonly limits: WriteLimits,
    slackMillis: number,
  ) {
    this.#window = PACING_WINDOW_MILLIS + slackMillis;
  }

  /**
   * What may be sent now. Small leftovers report 0 bytes so entries stay large; an idle shard takes
   * any single entry, even one above its per-second limit (else it could never be sent).
   */
  budget(now: number): { bytes: number; records: number } {
    this.#evict(now);
    // Idle (refunded sends count for nothing).
    if (this.#usedBytes <= 0 && this.#usedRecords <= 0) {
      return { bytes: Number.POSITIVE_INFINITY, records: this.limits.recordsPerSecond };
    }
    const bytes = this.limits.bytesPerSecond - this.#usedBytes;
    return {
      bytes: bytes < this.limits.bytesPerSecond / 8 ? 0 : bytes,
      records: Math.max(0, this.limits.recordsPerSecond - this.#usedRecords),
    };
  }

  /** When the oldest send leaves the window, or undefined when nothing is in it. */
  nextRelease(now: number): number | undefined {
    this.#evict(now);
    const oldest = this.#times[this.#head];
    return oldest === undefined ? undefined : oldest + this.#window;
  }

  /** Notes a send; the returned index lets a throttled send be given back. */
  record(now: number, bytes: number, records: number): number {
    this.#evict(now);
    this.#times.push(now);
    this.#bytes.push(bytes);
    this.#records.push(records);
    this.#usedBytes += bytes;
    this.#usedRecords += records;
    return this.#times.length - 1 + this.#offset;
  }

  /** A throttled send used none of the shard's capacity. */
  refund(token: number): void {
    const index = token - this.#offset;
    if (index < this.#head || index >= this.#times.length) return;
    this.#usedBytes -= this.#bytes[index] ?? 0;
    this.#usedRecords -= this.#records[index] ?? 0;
    this.#bytes[index] = 0;
    this.#records[index] = 0;
  }

  #evict(now: number): void {
    const cutoff = now - this.#window;
    while (this.#head < this.#times.length && (this.#times[this.#head] as number) <= cutoff) {
      this.#usedBytes -= this.#bytes[this.#head] ?? 0;
      this.#usedRecords -= this.#records[this.#head] ?? 0;
      this.#head++;
    }
    if (this.#head > 64 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#bytes = this.#bytes.slice(this.#head);
      this.#records = this.#records.slice(this.#head);
      this.#offset += this.#head;
      this.#head = 0;
    }
  }
}

/**
 * Bandwidth cap for metered links. Sends may overdraw (a request is never split to fit), and the
 * debt is paid back before the next send, so the average rate holds; bursts are bounded by `capacity`.
 */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    now: number,
  ) {
    this.#tokens = capacity;
    this.#at = now;
  }

  /** Tokens now; negative while in debt. */
  available(now: number): number {
    if (now > this.#at) {
      this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) * this.ratePerSecond) / 1000);
      this.#at = now;
    }
    return this.#tokens;
  }

  take(amount: number, now: number): void {
    this.available(now);
    this.#tokens -= amount;
  }

  /** Earliest time the bucket holds a positive balance. */
  readyAt(now: number): number {
    const tokens = this.available(now);
    return tokens > 0 ? now : now + Math.ceil((-tokens * 1000) / this.ratePerSecond) + 1;
  }
}
