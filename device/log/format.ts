/**
 * On-disk encoding of segments and frames; device/FORMAT.md is the prose version of this file.
 * All integers are little-endian. Sequences and timestamps are u64 on disk and JS numbers in memory
 * (exact below 2^53, which at a million records a second lasts 285 years).
 */
import { crc32c } from './crc32c.ts';

/** "TRSG": Tributary segment. */
export const SEGMENT_MAGIC = 0x47535254;
export const FORMAT_VERSION = 1;
export const SEGMENT_HEADER_SIZE = 32;
export const FRAME_HEADER_SIZE = 24;
/** Upper bound on a payload length the decoder believes; guards a torn length field. */
export const MAX_FRAME_PAYLOAD = 0x7fffffff;

const TWO_32 = 0x1_0000_0000;
const SEGMENT_NAME = /^(\d{20})\.seg$/;

export function segmentName(baseSequence: number): string {
  return `${String(baseSequence).padStart(20, '0')}.seg`;
}

/** Base sequence of a segment file name, or undefined for any other file. */
export function parseSegmentName(name: string): number | undefined {
  const match = SEGMENT_NAME.exec(name);
  return match ? Number(match[1]) : undefined;
}

function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % TWO_32, true);
  view.setUint32(at + 4, Math.floor(value / TWO_32), true);
}

function readU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * TWO_32;
}

function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

export interface SegmentHeader {
  readonly baseSequence: number;
  /** Upper bound on the append time of the newest record of the previous segment (ms), 0 if none. */
  readonly prevLastTimestamp: number;
}

/**
 * Header layout (32 bytes): magic u32 | version u8 | 3 reserved | baseSequence u64 |
 * prevLastTimestamp u64 | 4 reserved | CRC32C of bytes 0..28 u32.
 */
export function encodeSegmentHeader(header: SegmentHeader): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_SIZE);
  const view = viewOf(buf);
  view.setUint32(0, SEGMENT_MAGIC, true);
  buf[4] = FORMAT_VERSION;
  writeU64(view, 8, header.baseSequence);
  writeU64(view, 16, header.prevLastTimestamp);
  view.setUint32(28, crc32c(buf, 0, 0, 28), true);
  return buf;
}

/**
 * The version byte of a file that starts with the segment magic, else undefined. Magic and version
 * stay at offsets 0..4 in every format version, so a reader can tell "another version" (refused)
 * from "torn" (repaired).
 */
export function segmentVersionOf(buf: Uint8Array): number | undefined {
  if (buf.length < 5) return undefined;
  return viewOf(buf).getUint32(0, true) === SEGMENT_MAGIC ? buf[4] : undefined;
}

/** The header, or undefined when it is short, torn, or of another format or version. */
export function decodeSegmentHeader(buf: Uint8Array): SegmentHeader | undefined {
  if (buf.length < SEGMENT_HEADER_SIZE) return undefined;
  const view = viewOf(buf);
  if (view.getUint32(0, true) !== SEGMENT_MAGIC || buf[4] !== FORMAT_VERSION) return undefined;
  if (view.getUint32(28, true) !== crc32c(buf, 0, 0, 28)) return undefined;
  return { baseSequence: readU64(view, 8), prevLastTimestamp: readU64(view, 16) };
}

/**
 * Writes one frame at `at`: length u32 | CRC32C u32 | sequence u64 | timestamp u64 | payload.
 * The CRC covers the length field and everything after the CRC field (sequence, timestamp,
 * payload), so a torn or misread length, a stale sequence or a flipped payload bit all fail it.
 * Returns the offset just past the frame.
 */
export function encodeFrame(
  buf: Buffer,
  at: number,
  sequence: number,
  timestamp: number,
  payload: Uint8Array,
): number {
  const length = payload.length;
  buf.writeUInt32LE(length, at);
  buf.writeUInt32LE(sequence % TWO_32, at + 8);
  buf.writeUInt32LE(Math.floor(sequence / TWO_32), at + 12);
  buf.writeUInt32LE(timestamp % TWO_32, at + 16);
  buf.writeUInt32LE(Math.floor(timestamp / TWO_32), at + 20);
  buf.set(payload, at + FRAME_HEADER_SIZE);
  const end = at + FRAME_HEADER_SIZE + length;
  buf.writeUInt32LE(crc32c(buf, crc32c(buf, 0, at, at + 4), at + 8, end), at + 4);
  return end;
}

/** Outcome of looking at the bytes where a frame should start. */
export const FrameStatus = {
  Ok: 0,
  /** Fewer bytes than the frame needs: the caller reads more, or at the end of the file it is a torn tail. */
  Incomplete: 1,
  /** CRC mismatch or impossible length: never returned as a record. */
  Corrupt: 2,
} as const;
export type FrameStatus = (typeof FrameStatus)[keyof typeof FrameStatus];

/** Filled by decodeFrame; reused to keep the per-record path free of allocations. */
export interface FrameInfo {
  length: number;
  sequence: number;
  timestamp: number;
}

export function newFrameInfo(): FrameInfo {
  return { length: 0, sequence: 0, timestamp: 0 };
}

/** Checks the frame at `buf[at..)`, using bytes up to `end`; fills `info` when Ok. */
export function decodeFrame(buf: Buffer, at: number, end: number, info: FrameInfo): FrameStatus {
  if (end - at < FRAME_HEADER_SIZE) return FrameStatus.Incomplete;
  const length = buf.readUInt32LE(at);
  if (length > MAX_FRAME_PAYLOAD) return FrameStatus.Corrupt;
  const frameEnd = at + FRAME_HEADER_SIZE + length;
  if (frameEnd > end) return FrameStatus.Incomplete;
  const crc = crc32c(buf, crc32c(buf, 0, at, at + 4), at + 8, frameEnd);
  if (crc !== buf.readUInt32LE(at + 4)) return FrameStatus.Corrupt;
  info.length = length;
  info.sequence = buf.readUInt32LE(at + 8) + buf.readUInt32LE(at + 12) * TWO_32;
  info.timestamp = buf.readUInt32LE(at + 16) + buf.readUInt32LE(at + 20) * TWO_32;
  return FrameStatus.Ok;
}
