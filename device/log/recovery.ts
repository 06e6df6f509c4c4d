/**
 * Opening a stream's segments: list them, refuse another format version, and repair the tail of
 * the last one (only the last: every other segment was complete on disk before it was sealed).
 * Also the clean-up after a failed write, which cuts what was never acknowledged.
 */
import { SegmentVersionError } from './errors.ts';
import {
  decodeSegmentHeader,
  encodeSegmentHeader,
  FORMAT_VERSION,
  parseSegmentName,
  SEGMENT_HEADER_SIZE,
  segmentVersionOf,
} from './format.ts';
import type { LogDir, LogFile } from './io.ts';
import { FrameScanner, ScanStatus } from './scanner.ts';
import { newSegment, noteFrame, readAt, type Segment } from './segment.ts';

/** Recovery reads the active segment in chunks of this size: memory stays bounded whatever the segment size. */
const SCAN_CHUNK = 1024 * 1024;

export interface OpenedLog {
  /** Ascending by base; the last is the active one. */
  readonly segments: Segment[];
  /** Open for writing at the active segment's end. */
  readonly writer: LogFile;
  /** Sequence of the next append. */
  readonly next: number;
}

/** Opens (or initialises, with `initialSequence`) the segments in `dir`. */
export async function openSegments(
  dir: LogDir,
  initialSequence: number,
  clock: () => number,
): Promise<OpenedLog> {
  const found: Segment[] = [];
  for (const entry of await dir.list()) {
    const base = parseSegmentName(entry.name);
    if (base !== undefined) found.push(newSegment(base, entry.size));
  }
  found.sort((a, b) => a.base - b.base);
  const active = found.at(-1);
  if (active === undefined) {
    const segment = newSegment(initialSequence, SEGMENT_HEADER_SIZE);
    segment.prevLastTimestamp = 0;
    const writer = await dir.create(segment.name);
    await writer.writev([encodeSegmentHeader({ baseSequence: segment.base, prevLastTimestamp: 0 })], 0);
    await writer.sync();
    await dir.sync();
    return { segments: [segment], writer, next: segment.base };
  }
  let writer = await dir.open(active.name, 'write');
  if (writer === undefined) throw new Error(`segment ${active.name} vanished during open`);
  const header = await readAt(writer, 0, SEGMENT_HEADER_SIZE);
  const version = segmentVersionOf(header);
  // Version 0 is no version (zeroed bytes): that header is torn, which recovery repairs.
  if (version !== undefined && version !== 0 && version !== FORMAT_VERSION) {
    await writer.close();
    throw new SegmentVersionError(`${dir.path}/${active.name}`, version, FORMAT_VERSION);
  }
  const previous = found.at(-2);
  if (previous !== undefined && decodeSegmentHeader(header)?.baseSequence !== active.base) {
    // Torn while being created (nothing in it was acknowledged): drop it and append to the
    // previous, complete segment again. Unlike rewriting the header, this needs no free space.
    await writer.close();
    await dir.remove(active.name);
    await dir.sync();
    found.pop();
    writer = await dir.open(previous.name, 'write');
    if (writer === undefined) throw new Error(`segment ${previous.name} vanished during open`);
  }
  const next = await recoverTail(writer, found.at(-1) as Segment, clock);
  return { segments: found, writer, next };
}

/**
 * Scans the active segment frame by frame and truncates at the first frame that is torn,
 * fails its CRC or breaks the sequence chain. Everything before that point was written before
 * it, so every acknowledged (fsynced) record survives. Returns the next sequence.
 */
async function recoverTail(file: LogFile, segment: Segment, clock: () => number): Promise<number> {
  const fileSize = segment.size;
  const header = decodeSegmentHeader(await readAt(file, 0, SEGMENT_HEADER_SIZE));
  if (header === undefined || header.baseSequence !== segment.base) {
    // Torn while being created: the header is fsynced before any record in the file is acknowledged.
    const prevLastTimestamp = clock();
    await file.truncate(0);
    await file.writev([encodeSegmentHeader({ baseSequence: segment.base, prevLastTimestamp })], 0);
    await file.sync();
    segment.prevLastTimestamp = prevLastTimestamp;
    segment.size = segment.durableSize = SEGMENT_HEADER_SIZE;
    return segment.base;
  }
  segment.prevLastTimestamp = header.prevLastTimestamp;
  const scan = new FrameScanner(file, SEGMENT_HEADER_SIZE, segment.base, fileSize, SCAN_CHUNK);
  while ((await scan.next()) === ScanStatus.Ok) {
    noteFrame(segment, scan.sequence, scan.offset);
    segment.lastTimestamp = scan.info.timestamp;
    scan.advance();
  }
  if (scan.offset < fileSize) {
    await file.truncate(scan.offset);
    await file.sync();
  }
  segment.size = segment.durableSize = scan.offset;
  return scan.sequence;
}

/**
 * Cuts every byte past the last acknowledged batch. After a failed write or fsync the page cache
 * may still hold frames that are not durable (a failed fsync does not say which pages were lost),
 * and a reload that scanned them would hand out records whose appends were rejected.
 */
export async function discardUnacknowledged(dir: LogDir, segments: readonly Segment[]): Promise<void> {
  let dirChanged = false;
  for (const segment of segments) {
    if (segment.durableSize >= segment.size) continue;
    if (segment.durableSize < SEGMENT_HEADER_SIZE) {
      // Created by a failed batch: no record in it was acknowledged.
      await dir.remove(segment.name);
      dirChanged = true;
      continue;
    }
    const file = await dir.open(segment.name, 'write');
    if (file === undefined) continue;
    try {
      await file.truncate(segment.durableSize);
      await file.sync();
    } finally {
      await file.close();
    }
  }
  if (dirChanged) await dir.sync();
}
