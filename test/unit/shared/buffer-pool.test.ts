import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../../shared/buffer-pool.ts';

const KiB = 1024;

describe('BufferPool', () => {
  it('hands out exactly the size asked for, on a power-of-two capacity from minBytes', () => {
    const pool = new BufferPool({ minBytes: 64 * KiB, maxFreeBytes: 1024 * KiB });
    expect(pool.acquire(10).length).toBe(10);
    expect(pool.acquire(10).buffer.byteLength).toBe(64 * KiB);
    expect(pool.acquire(64 * KiB + 1).buffer.byteLength).toBe(128 * KiB);
    expect(pool.acquire(300 * KiB).buffer.byteLength).toBe(512 * KiB);
  });

  it('reuses a released buffer for the next request of its class, released through any subarray', () => {
    const pool = new BufferPool({ minBytes: 64 * KiB, maxFreeBytes: 1024 * KiB });
    const first = pool.acquire(100 * KiB);
    pool.release(first.subarray(0, 10));
    expect(pool.freeBytes).toBe(128 * KiB);
    const second = pool.acquire(70 * KiB);
    expect(second.buffer).toBe(first.buffer);
    expect(second.length).toBe(70 * KiB);
    expect(pool.freeBytes).toBe(0);
    expect(pool.acquire(70 * KiB).buffer).not.toBe(first.buffer);
  });

  it('keeps no more than maxFreeBytes, ignores a second release and foreign buffers', () => {
    const pool = new BufferPool({ minBytes: 64 * KiB, maxFreeBytes: 128 * KiB });
    const a = pool.acquire(64 * KiB);
    const b = pool.acquire(64 * KiB);
    const c = pool.acquire(64 * KiB);
    pool.release(a);
    pool.release(a);
    expect(pool.freeBytes).toBe(64 * KiB);
    pool.release(b);
    pool.release(c);
    expect(pool.freeBytes).toBe(128 * KiB);
    pool.release(Buffer.alloc(100));
    expect(pool.freeBytes).toBe(128 * KiB);
    pool.clear();
    expect(pool.freeBytes).toBe(0);
  });
});
