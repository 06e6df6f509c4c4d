/**
 * The agent's bandwidth cap shared by every exporter (stream manager's STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH):
 * the config's Kinesis exports, and each Kinesis, S3 and SiteWise export of stream manager's
 * streams, each of which runs on its own. One token bucket for all of them, and priority across
 * them: an exporter that has data but finds the bucket empty claims what comes next at its
 * priority, and until it has sent (or its claim lapses) less urgent exporters get nothing. Equal
 * priorities share first come, first served. Priorities are the exporter's: higher is more urgent.
 *
 * The core is deterministic (the caller passes `now`); `acquireBandwidth` is the waiting edge for
 * exporters that send one request at a time (S3 tasks, SiteWise).
 */
import { TokenBucket } from './pacing.ts';

/** A claim lapses this long after the bucket should have refilled, so a claimant that went away cannot block others. */
export const CLAIM_GRACE_MILLIS = 1_000;

interface Claim {
  readonly priority: number;
  readonly until: number;
}

export class SharedBandwidth {
  readonly #bucket: TokenBucket;
  readonly #claims = new Map<object, Claim>();
  readonly #listeners = new Set<() => void>();

  constructor(
    readonly bytesPerSecond: number,
    now: number,
  ) {
    // Bursts up to a second of the cap (64 KiB at least, so one request of a slow link fits).
    this.#bucket = new TokenBucket(bytesPerSecond, Math.max(bytesPerSecond, 64 * 1024), now);
  }

  /** The claim of a more urgent claimant still waiting, when there is one. */
  #blocker(now: number, priority: number, claimant: object): Claim | undefined {
    let blocker: Claim | undefined;
    for (const [other, claim] of this.#claims) {
      if (claim.until <= now) {
        this.#claims.delete(other);
        continue;
      }
      if (
        other !== claimant &&
        claim.priority > priority &&
        (blocker === undefined || claim.until < blocker.until)
      )
        blocker = claim;
    }
    return blocker;
  }

  /** Bytes `claimant` may send now at `priority` (negative: in debt); 0 while a more urgent one waits. */
  available(now: number, priority: number, claimant: object): number {
    if (this.#blocker(now, priority, claimant) !== undefined) return 0;
    return this.#bucket.available(now);
  }

  /** When `available` may give something again (earlier when a waiting claimant sends: see `subscribe`). */
  readyAt(now: number, priority: number, claimant: object): number {
    const ready = this.#bucket.readyAt(now);
    const blocker = this.#blocker(now, priority, claimant);
    return blocker === undefined ? ready : Math.max(ready, blocker.until);
  }

  /** `claimant` has data and found no bytes: the next ones are its, before any less urgent claimant's. */
  claim(claimant: object, priority: number, now: number): void {
    this.#claims.set(claimant, { priority, until: this.#bucket.readyAt(now) + CLAIM_GRACE_MILLIS });
  }

  /** Spends `bytes` (a request is never split: the bucket may go into debt); ends the claimant's claim. */
  take(claimant: object, bytes: number, now: number): void {
    this.#bucket.take(bytes, now);
    this.release(claimant);
  }

  /** Ends `claimant`'s claim (it sent, or stopped); the others look again. */
  release(claimant: object): void {
    if (!this.#claims.delete(claimant)) return;
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` whenever a claim ends; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** An exporter's part of the shared cap: the cap and the exporter's priority (higher first). */
export interface BandwidthShare {
  readonly bandwidth: SharedBandwidth;
  readonly priority: number;
}

/**
 * Waits until `claimant` may send `bytes` at `priority`, then spends them. Resolves early, spending
 * nothing, when `signal` aborts.
 */
export async function acquireBandwidth(
  bandwidth: SharedBandwidth,
  claimant: object,
  priority: number,
  bytes: number,
  signal: AbortSignal,
  clock: () => number = Date.now,
): Promise<void> {
  while (!signal.aborted) {
    const now = clock();
    if (bandwidth.available(now, priority, claimant) > 0) {
      bandwidth.take(claimant, bytes, now);
      return;
    }
    bandwidth.claim(claimant, priority, now);
    const delay = Math.max(0, bandwidth.readyAt(now, priority, claimant) - now);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, delay);
      const unsubscribe = bandwidth.subscribe(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
  bandwidth.release(claimant);
}
