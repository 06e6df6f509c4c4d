import { describe, expect, it } from 'vitest';
import {
  acquireBandwidth,
  CLAIM_GRACE_MILLIS,
  SharedBandwidth,
} from '../../../../device/export/bandwidth.ts';

/** 64 KiB/s: the bucket holds one second of it, 64 KiB. */
const RATE = 64 * 1024;

describe('SharedBandwidth: one cap across exporters, priority across them', () => {
  it('is one bucket: what one exporter spends, another cannot', () => {
    const bw = new SharedBandwidth(RATE, 0);
    const a = {};
    const b = {};
    expect(bw.available(0, 5, a)).toBe(RATE);
    bw.take(a, RATE, 0);
    expect(bw.available(0, 5, b)).toBe(0);
    // Half a second refills half.
    expect(bw.available(500, 5, b)).toBe(RATE / 2);
    // A request is never split: the bucket goes into debt and pays it back before the next send.
    bw.take(b, RATE, 500);
    expect(bw.available(500, 5, a)).toBe(-RATE / 2);
    expect(bw.readyAt(500, 5, a)).toBe(1001);
  });

  it('a more urgent exporter that waits gets the next bytes; less urgent ones wait for it, equal ones do not', () => {
    const bw = new SharedBandwidth(RATE, 0);
    const urgent = {};
    const low = {};
    const peer = {};
    bw.take(low, RATE, 0);
    bw.claim(urgent, 10, 0);
    // Refilled, but the urgent exporter's claim holds it for that exporter.
    expect(bw.available(1000, 1, low)).toBe(0);
    expect(bw.available(1000, 10, peer)).toBe(RATE);
    expect(bw.available(1000, 10, urgent)).toBe(RATE);
    // The claim holds until the bucket should have refilled (1 ms after the empty bucket at 0) and a grace.
    expect(bw.readyAt(1000, 1, low)).toBe(1 + CLAIM_GRACE_MILLIS);
    // Sending ends the claim and tells the others to look again.
    const woken: string[] = [];
    bw.subscribe(() => woken.push('low'));
    bw.take(urgent, 1024, 1000);
    expect(woken).toEqual(['low']);
    expect(bw.available(1000, 1, low)).toBe(RATE - 1024);
  });

  it('a claim lapses when its exporter does not come back', () => {
    const bw = new SharedBandwidth(RATE, 0);
    const gone = {};
    const low = {};
    bw.take(low, RATE, 0);
    bw.claim(gone, 10, 0);
    expect(bw.available(CLAIM_GRACE_MILLIS, 1, low)).toBe(0);
    expect(bw.available(1 + CLAIM_GRACE_MILLIS, 1, low)).toBe(RATE);
  });

  it('acquireBandwidth waits its turn: an urgent waiter goes before a less urgent one that waited first', async () => {
    let now = 0;
    const clock = () => now;
    const bw = new SharedBandwidth(1024 * 1024, 0);
    const signal = new AbortController().signal;
    const first = {};
    bw.take(first, 1024 * 1024, 0);
    const order: string[] = [];
    const low = acquireBandwidth(bw, { name: 'low' }, 1, 512 * 1024, signal, clock).then(() =>
      order.push('low'),
    );
    await Promise.resolve();
    const urgent = acquireBandwidth(bw, { name: 'urgent' }, 10, 512 * 1024, signal, clock).then(() =>
      order.push('urgent'),
    );
    // A second later the bucket is full again; both timers fire, the claim decides.
    now = 1000;
    await Promise.all([low, urgent]);
    expect(order).toEqual(['urgent', 'low']);
  });

  it('acquireBandwidth gives up, spending nothing, when aborted', async () => {
    const bw = new SharedBandwidth(RATE, 0);
    const me = {};
    bw.take(me, 10 * RATE, Date.now());
    const abort = new AbortController();
    const waiting = acquireBandwidth(bw, me, 5, 1024, abort.signal);
    abort.abort();
    await waiting;
    expect(bw.available(Date.now(), 1, {})).toBeLessThan(0);
  });
});
