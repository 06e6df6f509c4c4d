import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Full garbage collections while records flow, for devices where resident memory is the budget.
 *
 * Why: the agent's large buffers (socket reads, request bodies, log slabs, read chunks, aggregated
 * records) are memory outside V8's heap. One that lives a little longer than the young generation is
 * promoted, and V8 frees a promoted buffer only at a full GC; it schedules one for such memory only
 * past 64 MiB of it. At 10k records/s the agent would carry tens of MB of dead buffers between full
 * GCs. A full GC of the agent's ~8 MB heap takes a few milliseconds, so one every half second of
 * activity costs about 1% of a core. Nothing happens while the agent is idle.
 *
 * `agent run` starts it; `fullGc()` finds node's `gc` function.
 */
export interface CollectorOptions {
  /** Runs a full GC (`globalThis.gc`). */
  readonly collect: () => void;
  /** A count that grows while the agent works (records appended plus records sent). */
  readonly activity: () => number;
  readonly intervalMillis: number;
}

export interface Collector {
  stop(): void;
}

/** Collects once per interval in which `activity()` moved; never keeps the process alive. */
export function startCollector(options: CollectorOptions): Collector {
  let seen = options.activity();
  const timer = setInterval(() => {
    const now = options.activity();
    if (now === seen) return;
    seen = now;
    options.collect();
  }, options.intervalMillis);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/**
 * Node's `gc` function: the global one under `--expose-gc`, otherwise the one V8 puts into contexts
 * created after the flag is set at run time (v8.setFlagsFromString; the main context is unchanged).
 */
export function fullGc(): () => void {
  const global: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return () => global();
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => gc();
}
