/**
 * Firehose-style buffering hints: deliver when the buffered input reaches `sizeBytes` or when the
 * oldest buffered record has waited `intervalMs`, whichever comes first
 * (https://docs.aws.amazon.com/firehose/latest/dev/buffering.html). Sizes count the bytes read from
 * the stream, as Firehose counts incoming data, not the smaller Parquet output.
 */

export interface BufferingHints {
  readonly sizeBytes: number;
  readonly intervalMs: number;
}

export type FlushReason = 'size' | 'interval' | 'shutdown';

export class DeliveryBuffer<T> {
  #items: T[] = [];
  #bytes = 0;
  #oldestMs: number | undefined;

  constructor(readonly hints: BufferingHints) {}

  get length(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  add(item: T, bytes: number, nowMs: number): void {
    this.#items.push(item);
    this.#bytes += bytes;
    this.#oldestMs ??= nowMs;
  }

  /** Why the buffer should be delivered now, or undefined while it may keep filling. */
  due(nowMs: number): FlushReason | undefined {
    if (this.#oldestMs === undefined) return undefined;
    if (this.#bytes >= this.hints.sizeBytes) return 'size';
    if (nowMs - this.#oldestMs >= this.hints.intervalMs) return 'interval';
    return undefined;
  }

  /** Milliseconds until the interval hint fires (undefined when empty). */
  msUntilDue(nowMs: number): number | undefined {
    return this.#oldestMs === undefined
      ? undefined
      : Math.max(0, this.#oldestMs + this.hints.intervalMs - nowMs);
  }

  drain(): T[] {
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    this.#oldestMs = undefined;
    return items;
  }
}
