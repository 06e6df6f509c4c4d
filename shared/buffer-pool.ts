/**
 * Reusable large buffers with an explicit release. A buffer handed to a socket or kept across an
 * await is usually promoted to V8's old space before it dies, so its memory comes back only at the
 * next full GC; under a steady stream of such buffers the process carries several dead ones at
 * once. A pool bounds that to what is really in use plus what it keeps.
 *
 * Capacities are powers of two from `minBytes`, so a buffer fits every later request of its class.
 * Whoever acquires a buffer releases it once, when nothing reads it any more; a buffer never
 * released is simply left to the GC.
 */
export interface BufferPoolOptions {
  /** Smallest capacity handed out; smaller requests get a buffer of this size. */
  readonly minBytes: number;
  /** Free capacity the pool keeps at most; beyond it a released buffer is left to the GC. */
  readonly maxFreeBytes: number;
}

export class BufferPool {
  readonly #minBytes: number;
  readonly #maxFreeBytes: number;
  /** Free ArrayBuffers by capacity. */
  readonly #free = new Map<number, ArrayBuffer[]>();
  #freeBytes = 0;

  constructor(options: BufferPoolOptions) {
    this.#minBytes = options.minBytes;
    this.#maxFreeBytes = options.maxFreeBytes;
  }

  /** Capacity kept for reuse right now. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** A Buffer of exactly `size` bytes (contents undefined), reused when one of its class is free. */
  acquire(size: number): Buffer {
    const capacity = this.#capacityFor(size);
    const reused = this.#free.get(capacity)?.pop();
    if (reused !== undefined) {
      this.#freeBytes -= capacity;
      return Buffer.from(reused, 0, size);
    }
    // allocUnsafeSlow: an ArrayBuffer of its own, never a slice of Node's shared 8 KiB pool.
    return Buffer.allocUnsafeSlow(capacity).subarray(0, size);
  }

  /** Returns `buffer` (from `acquire`, any subarray of it) for reuse; the caller must not touch it again. */
  release(buffer: Uint8Array): void {
    const storage = buffer.buffer;
    const capacity = storage.byteLength;
    if (!(storage instanceof ArrayBuffer) || capacity !== this.#capacityFor(capacity)) return;
    if (this.#freeBytes + capacity > this.#maxFreeBytes) return;
    let list = this.#free.get(capacity);
    if (list === undefined) {
      list = [];
      this.#free.set(capacity, list);
    }
    if (list.includes(storage)) return;
    list.push(storage);
    this.#freeBytes += capacity;
  }

  /** Lets the GC have every free buffer (after a burst, when memory matters more than reuse). */
  clear(): void {
    this.#free.clear();
    this.#freeBytes = 0;
  }

  #capacityFor(size: number): number {
    let capacity = this.#minBytes;
    while (capacity < size) capacity *= 2;
    return capacity;
  }
}
