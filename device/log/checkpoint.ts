/**
 * Consumer checkpoints in a preallocated slot file, rewritten in place: two CRC-checked slots used in
 * turn, so a torn write leaves the other (previous) value intact, and a commit is one small write
 * plus one fdatasync into blocks the file already owns: it needs no free space, no rename and no
 * directory fsync. Commits that arrive while a write is in flight coalesce into the next write. A
 * commit may carry a short opaque note for the consumer (the exporter keeps where its records
 * landed in Kinesis there), written in the same sector as the slot and checked by its own CRC.
 */
import { crc32c } from './crc32c.ts';
import { LogClosedError } from './errors.ts';
import type { LogDir, LogFile } from './io.ts';

/** "TRCK": Tributary checkpoint. */
export const CHECKPOINT_MAGIC = 0x4b435254;
export const CHECKPOINT_VERSION = 1;
/** Slots sit in separate 512-byte sectors, so a torn sector write can damage only one of them. */
export const CHECKPOINT_SLOT_STRIDE = 512;
export const CHECKPOINT_SLOT_SIZE = 64;
export const CHECKPOINT_FILE_SIZE = 2 * CHECKPOINT_SLOT_STRIDE;
export const CHECKPOINT_SUFFIX = '.ckpt';
/** A note fills the rest of its slot's sector, so slot and note are one write. */
export const CHECKPOINT_NOTE_MAX_BYTES = CHECKPOINT_SLOT_STRIDE - CHECKPOINT_SLOT_SIZE;

const TWO_32 = 0x1_0000_0000;

export interface CheckpointValue {
  readonly sequence: number;
  /** ms since the epoch */
  readonly committedAt: number;
  /** The consumer's own bytes kept with the commit (at most CHECKPOINT_NOTE_MAX_BYTES). */
  readonly note?: Uint8Array | undefined;
}

interface Slot extends CheckpointValue {
  readonly generation: number;
}

function writeU64(buf: Buffer, at: number, value: number): void {
  buf.writeUInt32LE(value % TWO_32, at);
  buf.writeUInt32LE(Math.floor(value / TWO_32), at + 4);
}

function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * TWO_32;
}

/**
 * Slot layout (64 bytes, then the note): magic u32 | version u8 | 3 reserved | generation u64 |
 * sequence u64 | committedAt u64 | note length u16 | 2 reserved | CRC32C of the note u32 |
 * 20 reserved | CRC32C of bytes 0..59 u32 | note. The note fields sit in bytes that version 1
 * reserved as zero, so agents that predate notes still read the slot (and ignore the note).
 */
export function encodeCheckpointSlot(slot: Slot): Buffer {
  const note = slot.note ?? new Uint8Array();
  if (note.byteLength > CHECKPOINT_NOTE_MAX_BYTES) {
    throw new RangeError(`checkpoint note of ${note.byteLength} bytes, over ${CHECKPOINT_NOTE_MAX_BYTES}`);
  }
  const buf = Buffer.alloc(CHECKPOINT_SLOT_SIZE + note.byteLength);
  buf.writeUInt32LE(CHECKPOINT_MAGIC, 0);
  buf[4] = CHECKPOINT_VERSION;
  writeU64(buf, 8, slot.generation);
  writeU64(buf, 16, slot.sequence);
  writeU64(buf, 24, slot.committedAt);
  if (note.byteLength > 0) {
    buf.writeUInt16LE(note.byteLength, 32);
    buf.writeUInt32LE(crc32c(note), 36);
    buf.set(note, CHECKPOINT_SLOT_SIZE);
  }
  buf.writeUInt32LE(crc32c(buf, 0, 0, 60), 60);
  return buf;
}

/**
 * The slot at `buf[at..)`, or undefined when it is empty, torn or of another format. A note that
 * fails its CRC (torn past the slot) is dropped; the slot itself stays valid.
 */
export function decodeCheckpointSlot(buf: Buffer, at: number): Slot | undefined {
  if (buf.length < at + CHECKPOINT_SLOT_SIZE) return undefined;
  if (buf.readUInt32LE(at) !== CHECKPOINT_MAGIC || buf[at + 4] !== CHECKPOINT_VERSION) return undefined;
  if (buf.readUInt32LE(at + 60) !== crc32c(buf, 0, at, at + 60)) return undefined;
  const slot = {
    generation: readU64(buf, at + 8),
    sequence: readU64(buf, at + 16),
    committedAt: readU64(buf, at + 24),
  };
  const noteBytes = buf.readUInt16LE(at + 32);
  const noteAt = at + CHECKPOINT_SLOT_SIZE;
  if (noteBytes === 0 || noteBytes > CHECKPOINT_NOTE_MAX_BYTES || buf.length < noteAt + noteBytes)
    return slot;
  const note = buf.subarray(noteAt, noteAt + noteBytes);
  return crc32c(note) === buf.readUInt32LE(at + 36) ? { ...slot, note: Uint8Array.from(note) } : slot;
}

/** The newer of the two valid slots in a checkpoint file's bytes. */
export function decodeCheckpointFile(buf: Buffer): Slot | undefined {
  const a = decodeCheckpointSlot(buf, 0);
  const b = decodeCheckpointSlot(buf, CHECKPOINT_SLOT_STRIDE);
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.generation >= b.generation ? a : b;
}

/** One consumer's checkpoint file, open for the store's lifetime. */
export class CheckpointFile {
  #generation: number;
  #wanted: CheckpointValue | undefined;
  #writing: Promise<void> | undefined;
  #closed = false;

  private constructor(
    private readonly file: LogFile,
    readonly name: string,
    current: Slot | undefined,
  ) {
    this.#generation = current?.generation ?? 0;
  }

  /** Reads `<consumer>.ckpt` from `dir`; undefined when there is none or neither slot is valid. */
  static async read(dir: LogDir, name: string): Promise<CheckpointValue | undefined> {
    const file = await dir.open(name, 'read');
    if (file === undefined) return undefined;
    try {
      const buf = Buffer.alloc(CHECKPOINT_FILE_SIZE);
      const n = await file.read(buf, 0, CHECKPOINT_FILE_SIZE);
      const slot = decodeCheckpointFile(buf.subarray(0, n));
      return slot === undefined
        ? undefined
        : { sequence: slot.sequence, committedAt: slot.committedAt, note: slot.note };
    } finally {
      await file.close();
    }
  }

  /**
   * Opens the file for writing, creating it with its full size first when missing (the only step
   * that needs free space; `initial`, if given, is written into the new file's first slot).
   */
  static async open(dir: LogDir, name: string, initial?: CheckpointValue): Promise<CheckpointFile> {
    let file = await dir.open(name, 'write');
    if (file !== undefined) {
      const buf = Buffer.alloc(CHECKPOINT_FILE_SIZE);
      const n = await file.read(buf, 0, CHECKPOINT_FILE_SIZE);
      if (n === CHECKPOINT_FILE_SIZE) return new CheckpointFile(file, name, decodeCheckpointFile(buf));
      // Shorter than preallocated: created but never completed; it held no acknowledged commit.
      await file.close();
      await dir.remove(name);
    }
    const content = Buffer.alloc(CHECKPOINT_FILE_SIZE);
    const slot = initial === undefined ? undefined : { ...initial, generation: 1 };
    if (slot !== undefined) encodeCheckpointSlot(slot).copy(content, CHECKPOINT_SLOT_STRIDE);
    file = await dir.create(name);
    try {
      await file.writev([content], 0);
      await file.sync();
      await dir.sync();
    } catch (error) {
      await file.close().catch(() => {});
      await dir.remove(name).catch(() => {});
      throw error;
    }
    return new CheckpointFile(file, name, slot);
  }

  /**
   * Durably stores `value`. While a write is in flight, later values wait and only the newest of
   * them is written next (group commit); each caller resolves once a write at least as new as its
   * own is durable.
   */
  commit(value: CheckpointValue): Promise<void> {
    if (this.#closed) return Promise.reject(new LogClosedError());
    this.#wanted = value;
    this.#writing ??= this.#drain();
    return this.#writing;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#wanted !== undefined) {
        const value = this.#wanted;
        this.#wanted = undefined;
        const generation = this.#generation + 1;
        const slot = encodeCheckpointSlot({ ...value, generation });
        await this.file.writev([slot], (generation % 2) * CHECKPOINT_SLOT_STRIDE);
        await this.file.sync();
        this.#generation = generation;
      }
    } finally {
      this.#writing = undefined;
    }
  }

  /** Lets the pending write finish, then releases the file. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#writing?.catch(() => {});
    await this.file.close();
  }
}
