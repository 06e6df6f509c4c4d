/** Readers waiting for a sequence to be acknowledged (follow mode of reads, the exporter's tail). */
import { LogClosedError } from './errors.ts';

interface Waiter {
  readonly sequence: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class Waiters {
  readonly #waiters = new Set<Waiter>();

  /** Resolves once `notify` reports an acknowledged end past `sequence`; `signal` cancels. */
  add(sequence: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        sequence,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** Everything below `acknowledgedEnd` is readable now. */
  notify(acknowledgedEnd: number): void {
    for (const waiter of this.#waiters) {
      if (acknowledgedEnd > waiter.sequence) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** The stream closed: nobody's sequence will come. */
  close(): void {
    for (const waiter of this.#waiters) waiter.reject(new LogClosedError());
    this.#waiters.clear();
  }
}
