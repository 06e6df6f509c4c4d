import { afterEach, describe, expect, it, vi } from 'vitest';
import { fullGc, startCollector } from '../../../../device/memory.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('collector', () => {
  it('collects once per interval in which the agent worked, never while it idles', () => {
    vi.useFakeTimers();
    let activity = 0;
    const collect = vi.fn();
    const collector = startCollector({ collect, activity: () => activity, intervalMillis: 500 });
    vi.advanceTimersByTime(2_000);
    expect(collect).not.toHaveBeenCalled();
    activity += 10;
    vi.advanceTimersByTime(500);
    expect(collect).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1_000);
    expect(collect).toHaveBeenCalledTimes(1);
    activity += 1;
    vi.advanceTimersByTime(499);
    expect(collect).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(collect).toHaveBeenCalledTimes(2);
    collector.stop();
    activity += 1;
    vi.advanceTimersByTime(5_000);
    expect(collect).toHaveBeenCalledTimes(2);
  });
});

describe('fullGc', () => {
  it('collects garbage without --expose-gc on the command line', async () => {
    const gc = fullGc();
    let ref: WeakRef<object> | undefined;
    (() => {
      ref = new WeakRef({ big: new Array(1000).fill(0) });
    })();
    // A WeakRef target stays alive until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(ref?.deref()).toBeUndefined();
  });
});
