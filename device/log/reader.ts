/**
 * Reads of acknowledged records: find the segment by binary search, start at the nearest indexed
 * frame, scan with every CRC checked. Memory is bounded by maxBytes plus one read chunk; segments
 * are read in chunks, never whole.
 */
import { CorruptRecordError } from './errors.ts';
import { FRAME_HEADER_SIZE } from './format.ts';
import type { LogDir } from './io.ts';
import { FrameScanner, ScanStatus } from './scanner.ts';
import { floorIndex, locate, noteFrame, type Segment } from './segment.ts';

export const DEFAULT_READ_MAX_RECORDS = 1000;
export const DEFAULT_READ_MAX_BYTES = 1024 * 1024;
/** Reads fetch at most this much per syscall (more only for a single bigger record). */
const READ_CHUNK = 256 * 1024;
const MIN_READ_CHUNK = 4096;

export interface LogRecord {
  readonly sequence: number;
  /** Append time, ms since the epoch, as given by the store's clock. */
  readonly timestamp: number;
  readonly payload: Uint8Array;
}

export interface ReadOptions {
  /** First sequence wanted; older records that were deleted are skipped. Default: the oldest kept. */
  readonly fromSequence?: number;
  /** Default 1000. */
  readonly maxRecords?: number;
  /** Payload bytes per read, default 1 MiB. At least one record is returned even if it is bigger. */
  readonly maxBytes?: number;
}

/** What a read needs of its stream; segments are looked up live, as retention may delete them meanwhile. */
export interface ReadSource {
  streamName(): string;
  readonly dir: LogDir;
  segments(): readonly Segment[];
  /** Sequence after the last acknowledged record. */
  acknowledgedEnd(): number;
}

interface ReadState {
  readonly out: LogRecord[];
  bytes: number;
  /** Set when the next record would pass maxBytes. */
  full: boolean;
  readonly maxRecords: number;
  readonly maxBytes: number;
  readonly chunk: number;
}

/** Index of the segment holding `sequence`, or -1 when it is before the first. */
export function segmentIndexFor(segments: readonly Segment[], sequence: number): number {
  return floorIndex(segments.length, (i) => (segments[i] as Segment).base, sequence);
}

/** Acknowledged records from `fromSequence` on, every CRC verified. */
export async function readRecords(source: ReadSource, options: ReadOptions): Promise<LogRecord[]> {
  const maxRecords = options.maxRecords ?? DEFAULT_READ_MAX_RECORDS;
  const maxBytes = options.maxBytes ?? DEFAULT_READ_MAX_BYTES;
  const state: ReadState = {
    out: [],
    bytes: 0,
    full: false,
    maxRecords,
    maxBytes,
    chunk: Math.min(READ_CHUNK, Math.max(MIN_READ_CHUNK, maxBytes + FRAME_HEADER_SIZE)),
  };
  const end = source.acknowledgedEnd();
  let sequence = options.fromSequence ?? 0;
  while (sequence < end && state.out.length < maxRecords && !state.full) {
    const segments = source.segments();
    const index = segmentIndexFor(segments, sequence);
    if (index < 0) {
      // Before the oldest kept record (deleted by TTL, overwrite or trim): continue from the oldest.
      const first = segments[0]?.base ?? end;
      if (first <= sequence) break;
      sequence = first;
      continue;
    }
    const segment = segments[index] as Segment;
    const segmentEnd = Math.min(end, segments[index + 1]?.base ?? end);
    const next = await readSegment(source, segment, sequence, segmentEnd, state);
    if (next === undefined) {
      // The file was deleted meanwhile (TTL, overwrite, trim): the next lookup skips past it.
      if (source.segments().includes(segment)) break;
      continue;
    }
    sequence = next;
  }
  return state.out;
}

/** Returns the sequence to continue from, or undefined when the segment file is gone. */
async function readSegment(
  source: ReadSource,
  segment: Segment,
  from: number,
  endSequence: number,
  state: ReadState,
): Promise<number | undefined> {
  const limit = segment.durableSize;
  const file = await source.dir.open(segment.name, 'read');
  if (file === undefined) return undefined;
  try {
    const start = locate(segment, from);
    const scan = new FrameScanner(file, start.offset, start.sequence, limit, state.chunk);
    const { info } = scan;
    while (scan.sequence < endSequence && state.out.length < state.maxRecords) {
      const status = await scan.next();
      if (status === ScanStatus.End) break;
      if (status !== ScanStatus.Ok) throw corrupt(source, segment, scan.offset, scan.sequence);
      if (scan.sequence >= from) {
        if (state.out.length > 0 && state.bytes + info.length > state.maxBytes) {
          state.full = true;
          break;
        }
        state.out.push({ sequence: scan.sequence, timestamp: info.timestamp, payload: scan.payload() });
        state.bytes += info.length;
      }
      noteFrame(segment, scan.sequence, scan.offset);
      scan.advance();
      if (state.bytes >= state.maxBytes) {
        state.full = true;
        break;
      }
    }
    // A sealed segment ending early (its file shortened behind our back) is a gap, not corruption.
    return scan.sequence < endSequence && scan.offset >= limit ? endSequence : scan.sequence;
  } finally {
    await file.close();
  }
}

function corrupt(source: ReadSource, segment: Segment, offset: number, sequence: number): CorruptRecordError {
  const segments = source.segments();
  const index = segments.indexOf(segment);
  const resume = segments[index + 1]?.base ?? source.acknowledgedEnd();
  return new CorruptRecordError(source.streamName(), segment.name, offset, sequence, resume);
}
