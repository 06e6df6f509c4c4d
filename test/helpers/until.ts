import { describeValue } from '../../shared/errors.ts';

/** How `until` polls. Its deadline only bounds a hang: no assertion may depend on timing. */
export interface UntilOptions<T> {
  /** What is awaited, for the timeout's message. */
  readonly what?: string;
  /** Whether a read value ends the wait; its truthiness by default. */
  readonly done?: (value: T) => boolean;
  /** Give up after this long (30 s by default); Infinity leaves it to the test's timeout. */
  readonly timeoutMs?: number;
  /** Pause between reads (50 ms by default). */
  readonly intervalMs?: number;
  /** Settles when waiting is pointless (the process that should act exited): its error is thrown at once. */
  readonly abort?: Promise<Error> | undefined;
}

export type Until = <T>(read: () => T | Promise<T>, options?: string | UntilOptions<T>) => Promise<T>;

const sleep = (ms: number) => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms));

/**
 * Reads until `done` holds for the value read (by default: until it is truthy) and returns that
 * value. `options` may be just the `what`.
 */
export const until: Until = async (read, options = {}) => {
  const {
    what,
    done = Boolean,
    timeoutMs = 30_000,
    intervalMs = 50,
    abort,
  } = typeof options === 'string' ? { what: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    const aborted = await (abort === undefined
      ? sleep(intervalMs)
      : Promise.race([abort, sleep(intervalMs)]));
    if (aborted !== undefined) throw aborted;
    if (Date.now() > deadline) {
      const last = typeof value === 'boolean' ? '' : ` (last read ${describeValue(value)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what ?? 'the condition'}${last}`);
    }
  }
};

/** `until` with other defaults, for a file whose waits share a deadline or pace. */
export function untilWith(defaults: Omit<UntilOptions<unknown>, 'what' | 'done'>): Until {
  return (read, options = {}) =>
    until(read, { ...defaults, ...(typeof options === 'string' ? { what: options } : options) });
}
