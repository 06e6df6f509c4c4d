/**
 * Consumer checkpoints in a preallocated slot file, rewritten in place: two CRC-checked slots, one
 * sealed (durable, untouched) and one scratch, so a torn write can only damage the scratch slot; a
 * commit is small writes plus fdatasync into blocks the file already owns: it needs no free space,
 * no rename and no directory fsync.
 *
 * A commit is written into the scratch slot at once, without waiting for an fdatasync in progress:
 * from then on it survives the process being killed (the page cache keeps it), so a crash re-sends
 * only what Kinesis had not yet answered, however slow the storage flushes. The fdatasync that
 * seals the slot follows; it covers power loss, and each commit resolves once it is sealed.
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

const TWO_32 = 0x1_0000_0000;

export interface CheckpointValue {
  readonly sequence: number;
  /** ms since the epoch */
  readonly committedAt: number;
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
 * Slot layout (64 bytes): magic u32 | version u8 | 3 reserved | generation u64 | sequence u64 |
 * committedAt u64 | 28 reserved | CRC32C of bytes 0..59 u32.
 */
export function encodeCheckpointSlot(slot: Slot): Buffer {
  const buf = Buffer.alloc(CHECKPOINT_SLOT_SIZE);
  buf.writeUInt32LE(CHECKPOINT_MAGIC, 0);
  buf[4] = CHECKPOINT_VERSION;
  writeU64(buf, 8, slot.generation);
  writeU64(buf, 16, slot.sequence);
  writeU64(buf, 24, slot.committedAt);
  buf.writeUInt32LE(crc32c(buf, 0, 0, 60), 60);
  return buf;
}

/** The slot at `buf[at..)`, or undefined when it is empty, torn or of another format. */
export function decodeCheckpointSlot(buf: Buffer, at: number): Slot | undefined {
  if (buf.length < at + CHECKPOINT_SLOT_SIZE) return undefined;
  if (buf.readUInt32LE(at) !== CHECKPOINT_MAGIC || buf[at + 4] !== CHECKPOINT_VERSION) return undefined;
  if (buf.readUInt32LE(at + 60) !== crc32c(buf, 0, at, at + 60)) return undefined;
  return {
    generation: readU64(buf, at + 8),
    sequence: readU64(buf, at + 16),
    committedAt: readU64(buf, at + 24),
  };
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
  /** Generation of the sealed slot (slot `generation mod 2`); the scratch slot's writes carry the next one. */
  #sealed: number;
  /** Newest value not yet written, and how many commit calls it answers for. */
  #wanted: CheckpointValue | undefined;
  #calls = 0;
  /** Commit calls carried by the last completed write, by the last sync attempt, by the last seal. */
  #written = 0;
  #syncAttempted = 0;
  #sealedCalls = 0;
  #writing: Promise<void> | undefined;
  #syncing: Promise<void> | undefined;
  /** A write went into the scratch slot while it was being synced: that sync sealed nothing. */
  #dirtied = false;
  /** The sync after a dirtied one holds writes back, so a busy slot is still sealed within two syncs. */
  #holding = false;
  readonly #waiters: { calls: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  #closed = false;

  private constructor(
    private readonly file: LogFile,
    readonly name: string,
    current: Slot | undefined,
  ) {
    this.#sealed = current?.generation ?? 0;
  }

  /** Reads `<consumer>.ckpt` from `dir`; undefined when there is none or neither slot is valid. */
  static async read(dir: LogDir, name: string): Promise<CheckpointValue | undefined> {
    const file = await dir.open(name, 'read');
    if (file === undefined) return undefined;
    try {
      const buf = Buffer.alloc(CHECKPOINT_FILE_SIZE);
      const n = await file.read(buf, 0, CHECKPOINT_FILE_SIZE);
      const slot = decodeCheckpointFile(buf.subarray(0, n));
      return slot === undefined ? undefined : { sequence: slot.sequence, committedAt: slot.committedAt };
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
      if (n === CHECKPOINT_FILE_SIZE) {
        // The newest slot may be a scratch write of a killed process, never synced: sealed now,
        // before the other slot is written, or a power loss could tear both.
        await file.sync();
        return new CheckpointFile(file, name, decodeCheckpointFile(buf));
      }
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
   * Stores `value`: written into the scratch slot as soon as no other write is in flight (values
   * that arrive meanwhile coalesce into the newest), and resolved once a sync has sealed a write at
   * least as new as it (group commit).
   */
  commit(value: CheckpointValue): Promise<void> {
    if (this.#closed) return Promise.reject(new LogClosedError());
    this.#wanted = value;
    const calls = ++this.#calls;
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ calls, resolve, reject }));
    this.#pump();
    return done;
  }

  #pump(): void {
    if (this.#writing === undefined && this.#wanted !== undefined && !this.#holding) this.#write();
    if (this.#writing === undefined && this.#syncing === undefined && this.#written > this.#syncAttempted)
      this.#sync();
  }

  #write(): void {
    const value = this.#wanted as CheckpointValue;
    const calls = this.#calls;
    this.#wanted = undefined;
    if (this.#syncing !== undefined) this.#dirtied = true;
    const generation = this.#sealed + 1;
    const slot = encodeCheckpointSlot({ ...value, generation });
    this.#writing = this.file
      .writev([slot], (generation % 2) * CHECKPOINT_SLOT_STRIDE)
      .then(
        () => {
          this.#written = calls;
        },
        // A failed write fails the calls only it carried; the next commit writes the slot again.
        (error: unknown) => this.#settle(calls, error, this.#written),
      )
      .finally(() => {
        this.#writing = undefined;
        this.#pump();
      });
  }

  #sync(): void {
    const covers = this.#written;
    this.#syncAttempted = covers;
    this.#syncing = this.file
      .sync()
      .then(
        () => {
          if (this.#dirtied) {
            // The slot changed under the sync: sync again, with writes held back this time.
            this.#dirtied = false;
            this.#holding = true;
            this.#syncAttempted = this.#sealedCalls;
            return;
          }
          this.#holding = false;
          this.#sealed += 1;
          this.#sealedCalls = covers;
          this.#settle(covers);
        },
        (error: unknown) => {
          // The sealed slot is intact; the next commit rewrites the scratch slot and syncs again.
          this.#dirtied = false;
          this.#holding = false;
          this.#settle(covers, error);
        },
      )
      .finally(() => {
        this.#syncing = undefined;
        this.#pump();
      });
  }

  /** Resolves (or, with an error, rejects) the waiting calls after `after` up to `calls`. */
  #settle(calls: number, error?: unknown, after = 0): void {
    let kept = 0;
    for (const waiter of this.#waiters) {
      if (waiter.calls > calls || waiter.calls <= after) this.#waiters[kept++] = waiter;
      else if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
    this.#waiters.length = kept;
  }

  /** Lets pending writes and syncs finish, then releases the file. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#writing !== undefined || this.#syncing !== undefined) {
      await Promise.allSettled([this.#writing, this.#syncing]);
    }
    await this.file.close();
  }
}
