/**
 * One tailed file's position, in a two-slot file rewritten in place (like the log's consumer
 * checkpoints, device/FORMAT.md "Tail checkpoint"): a CRC-checked JSON body per slot, written in
 * turn, so a torn write leaves the previous slot. A position is written *before* the append it
 * covers as an intent (the batch's offsets, a lower bound of its first sequence, its count and
 * digest), and resolved on restart by looking for that batch in the log: found, the file resumes
 * after it; not found, before it. So a SIGKILL at any point neither loses nor repeats a line.
 */

import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { crc32c } from '../log/crc32c.ts';

/** "TRTL": Tributary tail. */
const MAGIC = 0x4c545254;
const VERSION = 1;
/** Each slot has its own 4 KiB block, so a torn block write damages at most one. */
export const TAIL_SLOT_STRIDE = 4096;
export const TAIL_CHECKPOINT_FILE_SIZE = 2 * TAIL_SLOT_STRIDE;
const HEADER = 24;
const TWO_32 = 0x1_0000_0000;

export interface PendingBatch {
  /** File offset the batch's records end at (where the file resumes once the batch is durable). */
  readonly to: number;
  /** The stream's next sequence before the append: the batch cannot start lower. */
  readonly lowSequence: number;
  readonly count: number;
  /** SHA-256 (hex) of the batch's payloads, each prefixed by its length. */
  readonly digest: string;
  /** ms since the epoch the batch was read at: with `path`, what re-creates it byte for byte. */
  readonly readTime: number;
}

export interface TailPosition {
  /** The file's path when the position was written (it may have been renamed since). */
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
  /** How many of the file's first bytes the fingerprint covers (at most FINGERPRINT_BYTES). */
  readonly fingerprintBytes: number;
  /** SHA-256 (hex) of those bytes: a reused inode with other content does not match. */
  readonly fingerprint: string;
  /** Everything before this offset is in the log (or was skipped: header lines). */
  readonly offset: number;
  /** Header lines still to skip at `offset`. */
  readonly headerLinesLeft: number;
  readonly pending?: PendingBatch | undefined;
}

/** Bytes at the start of a file that identify it. */
export const FINGERPRINT_BYTES = 1024;

export function batchDigest(payloads: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  const length = Buffer.alloc(4);
  for (const p of payloads) {
    length.writeUInt32LE(p.length, 0);
    hash.update(length).update(p);
  }
  return hash.digest('hex');
}

export function fingerprintOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function writeU64(buf: Buffer, at: number, value: number): void {
  buf.writeUInt32LE(value % TWO_32, at);
  buf.writeUInt32LE(Math.floor(value / TWO_32), at + 4);
}

function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * TWO_32;
}

/**
 * Slot: magic u32 | version u8 | 3 reserved | generation u64 | body length u32 | CRC32C u32 of the
 * 20 bytes before it and the body | body (UTF-8 JSON of TailPosition).
 */
export function encodeTailSlot(generation: number, position: TailPosition): Buffer {
  const body = Buffer.from(JSON.stringify(position), 'utf8');
  if (HEADER + body.length > TAIL_SLOT_STRIDE) throw new RangeError('tail position too large for a slot');
  const buf = Buffer.alloc(HEADER + body.length);
  buf.writeUInt32LE(MAGIC, 0);
  buf[4] = VERSION;
  writeU64(buf, 8, generation);
  buf.writeUInt32LE(body.length, 16);
  body.copy(buf, HEADER);
  buf.writeUInt32LE(crc32c(Buffer.concat([buf.subarray(0, 20), body])), 20);
  return buf;
}

export function decodeTailSlot(
  buf: Buffer,
  at: number,
): { generation: number; position: TailPosition } | undefined {
  if (buf.length < at + HEADER) return undefined;
  if (buf.readUInt32LE(at) !== MAGIC || buf[at + 4] !== VERSION) return undefined;
  const length = buf.readUInt32LE(at + 16);
  if (length > TAIL_SLOT_STRIDE - HEADER || buf.length < at + HEADER + length) return undefined;
  const body = buf.subarray(at + HEADER, at + HEADER + length);
  if (buf.readUInt32LE(at + 20) !== crc32c(Buffer.concat([buf.subarray(at, at + 20), body])))
    return undefined;
  return { generation: readU64(buf, at + 8), position: JSON.parse(body.toString('utf8')) as TailPosition };
}

/** The newer valid slot of a checkpoint file's bytes. */
export function decodeTailCheckpoint(
  buf: Buffer,
): { generation: number; position: TailPosition } | undefined {
  const a = decodeTailSlot(buf, 0);
  const b = decodeTailSlot(buf, TAIL_SLOT_STRIDE);
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.generation >= b.generation ? a : b;
}

/** An open checkpoint file; writes are serialised by the caller (one tailer per file). */
export class TailCheckpointFile {
  readonly path: string;
  readonly #handle: FileHandle;
  #generation: number;

  private constructor(path: string, handle: FileHandle, generation: number) {
    this.path = path;
    this.#handle = handle;
    this.#generation = generation;
  }

  /** Opens (creating at full size when missing) and returns the file with its current position. */
  static async open(path: string): Promise<{ file: TailCheckpointFile; position: TailPosition | undefined }> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      handle = await open(path, 'w+');
      await handle.write(Buffer.alloc(TAIL_CHECKPOINT_FILE_SIZE), 0, TAIL_CHECKPOINT_FILE_SIZE, 0);
      await handle.sync();
    }
    const buf = Buffer.alloc(TAIL_CHECKPOINT_FILE_SIZE);
    await handle.read(buf, 0, buf.length, 0);
    const current = decodeTailCheckpoint(buf);
    return {
      file: new TailCheckpointFile(path, handle, current?.generation ?? 0),
      position: current?.position,
    };
  }

  /** Durable once resolved: one in-place slot write and fdatasync. */
  async write(position: TailPosition): Promise<void> {
    const generation = this.#generation + 1;
    const slot = encodeTailSlot(generation, position);
    await this.#handle.write(slot, 0, slot.length, (generation % 2) * TAIL_SLOT_STRIDE);
    await this.#handle.datasync();
    this.#generation = generation;
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
