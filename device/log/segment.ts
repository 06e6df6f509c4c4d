/**
 * The in-memory model of a stream's segment files: sizes, the sparse sequence → offset index, and
 * the one binary search both the segment list and the index use.
 */
import { SEGMENT_HEADER_SIZE, segmentName } from './format.ts';
import type { LogFile } from './io.ts';

/** One in-memory index entry (sequence → offset) per this many bytes: 16 MiB segment → 256 entries. */
const INDEX_INTERVAL = 64 * 1024;

export interface Segment {
  readonly base: number;
  readonly name: string;
  /** Bytes including planned, not yet written, frames. */
  size: number;
  /** Bytes known to be fsynced; readers stop here. */
  durableSize: number;
  /** Newest record's timestamp; tracked for the active segment only. */
  lastTimestamp: number | undefined;
  /** From this segment's header: upper bound on the previous segment's newest timestamp. Loaded lazily. */
  prevLastTimestamp: number | undefined;
  /** Sparse index, ascending: frame at idxOff[i] holds sequence idxSeq[i]. */
  readonly idxSeq: number[];
  readonly idxOff: number[];
}

export function newSegment(base: number, size: number): Segment {
  return {
    base,
    name: segmentName(base),
    size,
    durableSize: size,
    lastTimestamp: undefined,
    prevLastTimestamp: undefined,
    idxSeq: [],
    idxOff: [],
  };
}

/** Index of the last of `count` ascending keys that is <= `target`, or -1 when none is. */
export function floorIndex(count: number, keyAt: (index: number) => number, target: number): number {
  let lo = 0;
  let hi = count - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (keyAt(mid) <= target) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Records that the frame of `sequence` starts at `offset`, keeping one entry per INDEX_INTERVAL bytes. */
export function noteFrame(segment: Segment, sequence: number, offset: number): void {
  const n = segment.idxOff.length;
  const last = n === 0 ? SEGMENT_HEADER_SIZE : (segment.idxOff[n - 1] as number);
  if (offset - last >= INDEX_INTERVAL) {
    segment.idxSeq.push(sequence);
    segment.idxOff.push(offset);
  }
}

/** Nearest known frame boundary at or before `sequence`. */
export function locate(segment: Segment, sequence: number): { sequence: number; offset: number } {
  const found = floorIndex(segment.idxSeq.length, (i) => segment.idxSeq[i] as number, sequence);
  return found < 0
    ? { sequence: segment.base, offset: SEGMENT_HEADER_SIZE }
    : { sequence: segment.idxSeq[found] as number, offset: segment.idxOff[found] as number };
}

export async function readAt(file: LogFile, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  const n = await file.read(buf, position, length);
  return n === length ? buf : buf.subarray(0, n);
}
