/**
 * One stream: an ordered list of segments, the group-commit writer and retention. Appends are
 * planned synchronously (sequence, segment, position, size policy) and written by a single
 * flusher, one batch at a time: write + fsync, then every append in the batch resolves. Opening and
 * repair are in recovery.ts, reads in reader.ts (both on scanner.ts), waiting readers in waiters.ts.
 */
import { RecordTooLargeError } from '../../shared/contract/errors.ts';
import type { StreamDefinition } from './definition.ts';
import { isNoSpace, LogClosedError, LogWriteError, StorageFullError, StreamFullError } from './errors.ts';
import {
  decodeSegmentHeader,
  encodeFrame,
  encodeSegmentHeader,
  FRAME_HEADER_SIZE,
  SEGMENT_HEADER_SIZE,
} from './format.ts';
import type { LogDir, LogFile } from './io.ts';
import { type LogRecord, type ReadOptions, type ReadSource, readRecords } from './reader.ts';
import { discardUnacknowledged, openSegments } from './recovery.ts';
import { newSegment, noteFrame, readAt, type Segment } from './segment.ts';
import { Waiters } from './waiters.ts';

export type { LogRecord, ReadOptions } from './reader.ts';

/** Frames are encoded into slabs of this size; a batch is written as slices of them with one writev. */
const SLAB_SIZE = 256 * 1024;
/**
 * Written slabs kept for reuse. A slab outlives the young generation (its batch waits for the
 * fsync), so a dropped one would come back only with the next full GC, and under steady appends
 * several dead ones would wait for it.
 */
const SPARE_SLABS = 2;
/** Memory streams persist their sequence high-water mark in blocks this big (one small write per block). */
const SEQUENCE_BLOCK = 1 << 20;

export interface AppendResult {
  readonly sequence: number;
  /** Records deleted (OverwriteOldestData) to make room for this append. */
  readonly droppedRecords: number;
}

export interface AppendManyResult {
  readonly firstSequence: number;
  readonly count: number;
  readonly droppedRecords: number;
}

export interface StreamStats {
  /** Oldest readable sequence (equals nextSequence when the stream is empty). */
  readonly firstSequence: number;
  /** Sequence the next acknowledged append gets; reads see everything before it. */
  readonly nextSequence: number;
  readonly records: number;
  /** Bytes on disk (or in RAM) including headers. */
  readonly bytes: number;
  readonly segments: number;
  /** Since open: records removed by OverwriteOldestData (or for disk space) before every consumer had them. */
  readonly droppedRecords: number;
  /** Since open: records removed by timeToLiveMillis. */
  readonly expiredRecords: number;
}

export interface StreamOptions {
  readonly clock: () => number;
  /** Sequence of the first segment when the stream has none. */
  readonly initialSequence: number;
  /** Memory streams: durably record that sequences below `upTo` may have been used. */
  readonly reserveSequences?: (upTo: number) => Promise<void>;
  /** A write failed for lack of space: the store reclaims what it can. */
  readonly onStorageFull?: () => void;
  /** A new segment was planned: the store looks at the free space. */
  readonly onRoll?: () => void;
}

type Op =
  | { kind: 'write'; segment: Segment; position: number; chunks: Buffer[]; bytes: number }
  | { kind: 'roll'; segment: Segment; header: Buffer }
  | { kind: 'remove'; segment: Segment };

interface Batch {
  readonly ops: Op[];
  /** Full slabs whose last bytes this batch writes: reusable once it has executed. */
  readonly filledSlabs: Buffer[];
  closed: boolean;
  endSequence: number;
  readonly done: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

function deferred(): Pick<Batch, 'done' | 'resolve' | 'reject'> {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch made only of retention work may fail with nobody listening; callers still see the rejection.
  done.catch(() => {});
  return { done, resolve, reject };
}

export class LogStream {
  private def: StreamDefinition;
  private segments: Segment[] = [];
  private nextSeq = 0;
  private durableNext = 0;
  private totalBytes = 0;
  private writer: LogFile | undefined;
  private queue: Batch[] = [];
  /** Allocated on the first append. */
  private slab: Buffer = Buffer.alloc(0);
  private readonly spareSlabs: Buffer[] = [];
  private slabStart = 0;
  private slabPos = 0;
  private flushing = false;
  private cancelTimer: (() => void) | undefined;
  private lastSyncAt = Number.NEGATIVE_INFINITY;
  private state: 'open' | 'recovering' | 'failed' | 'closing' | 'closed' = 'open';
  private failure: Error | undefined;
  private reservedUpTo: number;
  private droppedRecords = 0;
  private expiredRecords = 0;
  /** Every consumer has the records below this: segments wholly below it may go when space is short. */
  private reclaimBefore = 0;
  /** File of the operation the flusher is on, for the error when it fails. */
  private opFile = '';
  /** The reload after a failed write, while it runs. */
  private recovery: Promise<void> | undefined;
  private readonly waiters = new Waiters();
  /** The read side's view of this stream. */
  private readonly source: ReadSource;

  private constructor(
    definition: StreamDefinition,
    private readonly dir: LogDir,
    private readonly options: StreamOptions,
  ) {
    this.def = definition;
    this.reservedUpTo = options.initialSequence;
    this.source = {
      streamName: () => this.def.name,
      dir,
      segments: () => this.segments,
      acknowledgedEnd: () => this.durableNext,
    };
  }

  /** Opens (or initialises) the stream in `dir`, repairing a torn tail of the active segment. */
  static async open(definition: StreamDefinition, dir: LogDir, options: StreamOptions): Promise<LogStream> {
    const stream = new LogStream(definition, dir, options);
    await stream.load();
    return stream;
  }

  get definition(): StreamDefinition {
    return this.def;
  }

  /** New limits apply from the next append; a new segmentSize from the next segment. */
  updateDefinition(definition: StreamDefinition): void {
    this.def = definition;
  }

  /** Resolves once a reload after a failed write (if one is running) is done. */
  async settled(): Promise<void> {
    while (this.recovery !== undefined) await this.recovery;
  }

  /** Segments holding only records below `before` may be deleted whenever room is needed. */
  setReclaimable(before: number): void {
    this.reclaimBefore = before;
  }

  stats(): StreamStats {
    const first = Math.min(this.segments[0]?.base ?? this.durableNext, this.durableNext);
    return {
      firstSequence: first,
      nextSequence: this.durableNext,
      records: this.durableNext - first,
      bytes: this.totalBytes,
      segments: this.segments.length,
      droppedRecords: this.droppedRecords,
      expiredRecords: this.expiredRecords,
    };
  }

  // ---------------------------------------------------------------- recovery

  private async load(): Promise<void> {
    this.slab = Buffer.alloc(0);
    this.slabStart = 0;
    this.slabPos = 0;
    this.queue = [];
    const { segments, writer, next } = await openSegments(
      this.dir,
      this.options.initialSequence,
      this.options.clock,
    );
    this.writer = writer;
    this.segments = segments;
    this.nextSeq = this.durableNext = next;
    this.totalBytes = 0;
    for (const s of this.segments) this.totalBytes += s.size;
  }

  // ---------------------------------------------------------------- appends

  // Not async: the payloads are copied into the slab before these return, and an async frame
  // would keep them reachable until the fsync.
  append(payload: Uint8Array): Promise<AppendResult> {
    return this.appendMany([payload]).then(({ firstSequence, droppedRecords }) => ({
      sequence: firstSequence,
      droppedRecords,
    }));
  }

  appendMany(payloads: readonly Uint8Array[]): Promise<AppendManyResult> {
    const count = payloads.length;
    if (count === 0) return Promise.resolve({ firstSequence: this.nextSeq, count: 0, droppedRecords: 0 });
    try {
      const { first, dropped, done } = this.enqueue(payloads);
      return done.then(() => ({ firstSequence: first, count, droppedRecords: dropped }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private assertWritable(): void {
    if (this.state === 'open') return;
    if (this.state === 'closing' || this.state === 'closed') throw new LogClosedError();
    throw this.failure ?? new LogWriteError(this.def.name, 'stream is recovering');
  }

  private enqueue(payloads: readonly Uint8Array[]): { first: number; dropped: number; done: Promise<void> } {
    this.assertWritable();
    const def = this.def;
    for (const p of payloads) {
      if (p.length > def.maxRecordSize) throw new RecordTooLargeError(p.length, def.maxRecordSize, def.name);
    }
    if (def.strategyOnFull === 'RejectNewData') this.checkRoom(payloads);
    const now = this.options.clock();
    const batch = this.openBatch();
    const first = this.nextSeq;
    let dropped = 0;
    for (const payload of payloads) {
      const frameLength = FRAME_HEADER_SIZE + payload.length;
      let active = this.active();
      if (this.nextSeq > active.base && active.size + frameLength > def.segmentSize)
        active = this.roll(batch);
      while (this.totalBytes + frameLength > def.maxSize && this.segments.length > 1) {
        dropped += this.unexported(0);
        this.removeOldest(batch);
      }
      this.writeFrame(batch, active, now, payload, frameLength);
    }
    batch.endSequence = this.nextSeq;
    this.droppedRecords += dropped;
    if (def.flushOnWrite) this.closeBatch(batch);
    this.schedule();
    return { first, dropped, done: batch.done };
  }

  /** RejectNewData: refuse the whole call unless every payload fits, counting segment rolls. */
  private checkRoom(payloads: readonly Uint8Array[]): void {
    const active = this.active();
    let activeSize = active.size;
    let total = this.totalBytes;
    let hasRecords = this.nextSeq > active.base;
    for (const p of payloads) {
      const frameLength = FRAME_HEADER_SIZE + p.length;
      if (hasRecords && activeSize + frameLength > this.def.segmentSize) {
        activeSize = SEGMENT_HEADER_SIZE;
        total += SEGMENT_HEADER_SIZE;
      }
      activeSize += frameLength;
      total += frameLength;
      hasRecords = true;
    }
    if (total <= this.def.maxSize) return;
    // Segments every consumer already has are deleted to make room (by enqueue, oldest first).
    for (let i = 0; i + 1 < this.segments.length; i++) {
      if ((this.segments[i + 1] as Segment).base > this.reclaimBefore) break;
      total -= (this.segments[i] as Segment).size;
      if (total <= this.def.maxSize) return;
    }
    throw new StreamFullError(this.def.name, this.def.maxSize, total - this.totalBytes);
  }

  /** Records of segment `index` (not the active one) that some consumer has not had yet. */
  private unexported(index: number): number {
    const segment = this.segments[index] as Segment;
    const end = (this.segments[index + 1] as Segment).base;
    return Math.max(0, end - Math.max(segment.base, this.reclaimBefore));
  }

  private active(): Segment {
    return this.segments[this.segments.length - 1] as Segment;
  }

  private openBatch(): Batch {
    const last = this.queue.at(-1);
    if (last !== undefined && !last.closed) return last;
    const batch: Batch = {
      ops: [],
      filledSlabs: [],
      closed: false,
      endSequence: this.nextSeq,
      ...deferred(),
    };
    this.queue.push(batch);
    return batch;
  }

  /** Hands the slab bytes encoded since the last cut to the open batch's last write op. */
  private cutSlab(batch: Batch): void {
    const op = batch.ops.at(-1);
    if (op?.kind === 'write' && this.slabPos > this.slabStart) {
      op.chunks.push(this.slab.subarray(this.slabStart, this.slabPos));
    }
    this.slabStart = this.slabPos;
  }

  private closeBatch(batch: Batch): void {
    if (batch.closed) return;
    this.cutSlab(batch);
    batch.closed = true;
  }

  private writeFrame(batch: Batch, segment: Segment, now: number, payload: Uint8Array, length: number): void {
    let op = batch.ops.at(-1);
    if (op?.kind !== 'write' || op.segment !== segment) {
      this.cutSlab(batch);
      op = { kind: 'write', segment, position: segment.size, chunks: [], bytes: 0 };
      batch.ops.push(op);
    }
    if (this.slab.length - this.slabPos < length) {
      this.cutSlab(batch);
      // Slices of the full slab may still wait for their writev: it is reused only after this
      // batch, the last to write from it, has executed (batches execute in order).
      if (this.slab.length === SLAB_SIZE) batch.filledSlabs.push(this.slab);
      this.slab =
        length <= SLAB_SIZE
          ? (this.spareSlabs.pop() ?? Buffer.allocUnsafeSlow(SLAB_SIZE))
          : Buffer.allocUnsafeSlow(length);
      this.slabStart = this.slabPos = 0;
    }
    noteFrame(segment, this.nextSeq, segment.size);
    this.slabPos = encodeFrame(this.slab, this.slabPos, this.nextSeq, now, payload);
    op.bytes += length;
    segment.size += length;
    segment.lastTimestamp = now;
    this.totalBytes += length;
    this.nextSeq++;
  }

  private roll(batch: Batch): Segment {
    const previous = this.active();
    const segment = newSegment(this.nextSeq, SEGMENT_HEADER_SIZE);
    segment.durableSize = 0;
    segment.prevLastTimestamp = previous.lastTimestamp ?? this.options.clock();
    this.cutSlab(batch);
    const header = encodeSegmentHeader({
      baseSequence: segment.base,
      prevLastTimestamp: segment.prevLastTimestamp,
    });
    batch.ops.push({ kind: 'roll', segment, header });
    this.segments.push(segment);
    this.totalBytes += SEGMENT_HEADER_SIZE;
    this.options.onRoll?.();
    return segment;
  }

  /** Drops the oldest (never the active) segment from the model now; the file goes when the batch runs. */
  private removeOldest(batch: Batch): number {
    const oldest = this.segments.shift() as Segment;
    const records = (this.segments[0] as Segment).base - oldest.base;
    this.totalBytes -= oldest.size;
    this.cutSlab(batch);
    batch.ops.push({ kind: 'remove', segment: oldest });
    return records;
  }

  // ---------------------------------------------------------------- flusher

  private schedule(): void {
    if (this.flushing || this.cancelTimer !== undefined) return;
    const head = this.queue[0];
    if (head === undefined) return;
    const run = (): void => {
      this.cancelTimer = undefined;
      void this.drain();
    };
    const wait =
      head.closed || this.state === 'closing'
        ? 0
        : this.lastSyncAt + this.def.groupCommitMillis - performance.now();
    if (wait > 0) {
      const timer = setTimeout(run, wait);
      this.cancelTimer = () => clearTimeout(timer);
    } else {
      // setImmediate, not a microtask: appends issued in the same tick join this batch.
      const immediate = setImmediate(run);
      this.cancelTimer = () => clearImmediate(immediate);
    }
  }

  private async drain(): Promise<void> {
    this.flushing = true;
    try {
      for (;;) {
        const batch = this.queue[0];
        if (batch === undefined) break;
        if (!batch.closed) {
          const early = performance.now() < this.lastSyncAt + this.def.groupCommitMillis;
          if (early && this.state !== 'closing') break;
          this.closeBatch(batch);
        }
        this.lastSyncAt = performance.now();
        await this.execute(batch);
        for (const slab of batch.filledSlabs) {
          if (this.spareSlabs.length < SPARE_SLABS) this.spareSlabs.push(slab);
        }
        this.queue.shift();
        this.durableNext = batch.endSequence;
        batch.resolve();
        this.waiters.notify(this.durableNext);
      }
    } catch (error) {
      this.recovery = this.fail(error);
      await this.recovery;
      this.recovery = undefined;
    } finally {
      this.flushing = false;
    }
    this.schedule();
  }

  private async execute(batch: Batch): Promise<void> {
    let written = false;
    let dirChanged = false;
    for (const op of batch.ops) {
      this.opFile = op.segment.name;
      if (op.kind === 'write') {
        await (this.writer as LogFile).writev(op.chunks, op.position);
        written = true;
      } else if (op.kind === 'roll') {
        const previous = this.writer as LogFile;
        // Seal first: a segment that is not the last must be complete on disk, so recovery only
        // ever scans the last one.
        if (written) await previous.sync();
        this.writer = undefined;
        await previous.close();
        this.writer = await this.dir.create(op.segment.name);
        await this.writer.writev([op.header], 0);
        written = true;
        dirChanged = true;
      } else {
        await this.dir.remove(op.segment.name);
        dirChanged = true;
      }
    }
    this.opFile = this.active().name;
    if (written) await (this.writer as LogFile).sync();
    this.opFile = '';
    if (dirChanged) await this.dir.sync();
    const reserve = this.options.reserveSequences;
    if (reserve !== undefined && batch.endSequence > this.reservedUpTo) {
      const upTo = batch.endSequence + SEQUENCE_BLOCK;
      await reserve(upTo);
      this.reservedUpTo = upTo;
    }
    for (const op of batch.ops) {
      if (op.kind === 'write') op.segment.durableSize = op.position + op.bytes;
      else if (op.kind === 'roll')
        op.segment.durableSize = Math.max(op.segment.durableSize, SEGMENT_HEADER_SIZE);
    }
  }

  /** A write or fsync failed: reject everything not yet acknowledged and reload the state from disk. */
  private async fail(cause: unknown): Promise<void> {
    const full = isNoSpace(cause);
    const error = full
      ? new StorageFullError(`${this.dir.path}/${this.opFile}`, cause)
      : new LogWriteError(this.def.name, cause);
    const batches = this.queue;
    this.queue = [];
    const closing = this.state === 'closing';
    this.state = 'recovering';
    this.failure = error;
    for (const batch of batches) batch.reject(error);
    try {
      await this.writer?.close();
    } catch {
      // The handle is being replaced; its close error adds nothing to `error`.
    }
    this.writer = undefined;
    try {
      await discardUnacknowledged(this.dir, this.segments);
      await this.load();
      this.state = closing ? 'closing' : 'open';
      this.failure = undefined;
    } catch (reloadError) {
      this.state = 'failed';
      this.failure = new LogWriteError(this.def.name, reloadError);
    }
    if (full) this.options.onStorageFull?.();
  }

  // ---------------------------------------------------------------- retention

  /** Deletes whole segments whose newest record is older than timeToLiveMillis. Returns records removed. */
  async expire(): Promise<number> {
    const ttl = this.def.timeToLiveMillis;
    if (ttl === undefined || this.state !== 'open') return 0;
    const cutoff = this.options.clock() - ttl;
    // Load the header timestamps first (async); plan the removals afterwards in one synchronous step.
    for (let i = 1; i < this.segments.length; i++) {
      const segment = this.segments[i] as Segment;
      if ((await this.prevLastTimestamp(segment)) > cutoff) break;
    }
    if (this.state !== 'open') return 0;
    let batch: Batch | undefined;
    let removed = 0;
    while (this.segments.length > 1) {
      const newest = (this.segments[1] as Segment).prevLastTimestamp;
      if (newest === undefined || newest > cutoff) break;
      batch ??= this.openBatch();
      removed += this.removeOldest(batch);
    }
    const active = this.active();
    if (
      this.segments.length === 1 &&
      this.nextSeq > active.base &&
      (active.lastTimestamp ?? cutoff + 1) <= cutoff
    ) {
      batch ??= this.openBatch();
      this.roll(batch);
      removed += this.removeOldest(batch);
    }
    if (batch === undefined) return 0;
    batch.endSequence = this.nextSeq;
    this.expiredRecords += removed;
    this.schedule();
    await batch.done;
    return removed;
  }

  private async prevLastTimestamp(segment: Segment): Promise<number> {
    if (segment.prevLastTimestamp !== undefined) return segment.prevLastTimestamp;
    const file = await this.dir.open(segment.name, 'read');
    let value = this.options.clock();
    if (file !== undefined) {
      try {
        // An unreadable header gives "now": the previous segment then lives one more TTL, never less.
        value = decodeSegmentHeader(await readAt(file, 0, SEGMENT_HEADER_SIZE))?.prevLastTimestamp ?? value;
      } finally {
        await file.close();
      }
    }
    segment.prevLastTimestamp = value;
    return value;
  }

  /** Deletes whole segments holding only records below `before` (acknowledged ones only). */
  async trim(before: number): Promise<number> {
    this.assertWritable();
    const limit = Math.min(before, this.durableNext);
    let batch: Batch | undefined;
    let removed = 0;
    while (this.segments.length > 1 && (this.segments[1] as Segment).base <= limit) {
      batch ??= this.openBatch();
      removed += this.removeOldest(batch);
    }
    const active = this.active();
    if (this.segments.length === 1 && this.nextSeq > active.base && limit >= this.nextSeq) {
      batch ??= this.openBatch();
      const rollAt = batch.ops.length;
      this.roll(batch);
      removed += this.removeOldest(batch);
      // Remove before creating the new segment: on a full disk the old file's blocks make the room.
      batch.ops.push(...batch.ops.splice(rollAt, 1));
    }
    if (batch === undefined) return 0;
    batch.endSequence = this.nextSeq;
    this.schedule();
    await batch.done;
    return removed;
  }

  /** Deletes the segments every consumer has had (see setReclaimable). Returns records removed. */
  reclaim(): Promise<number> {
    return this.reclaimBefore > 0 ? this.trim(this.reclaimBefore) : Promise.resolve(0);
  }

  /**
   * For disk space: deletes the oldest segment (never the active one), counted as dropped where a
   * consumer had not had its records. Returns the bytes freed, 0 when only the active one is left.
   */
  async dropOldest(): Promise<number> {
    this.assertWritable();
    if (this.segments.length < 2) return 0;
    const batch = this.openBatch();
    const bytes = (this.segments[0] as Segment).size;
    this.droppedRecords += this.unexported(0);
    this.removeOldest(batch);
    batch.endSequence = this.nextSeq;
    this.schedule();
    await batch.done;
    return bytes;
  }

  // ---------------------------------------------------------------- reads

  /**
   * Reads acknowledged records from `fromSequence` on, verifying every CRC. Memory is bounded by
   * maxBytes plus one read chunk; segments are read in chunks, never whole.
   */
  read(options: ReadOptions = {}): Promise<LogRecord[]> {
    if (this.state === 'closed') return Promise.reject(new LogClosedError());
    return readRecords(this.source, options);
  }

  // ---------------------------------------------------------------- waiters

  /** Resolves once `sequence` is acknowledged and readable. */
  waitFor(sequence: number, signal?: AbortSignal): Promise<void> {
    if (this.durableNext > sequence) return Promise.resolve();
    if (this.state === 'closing' || this.state === 'closed') return Promise.reject(new LogClosedError());
    return this.waiters.add(sequence, signal);
  }

  /** Flushes and acknowledges everything pending, then releases the files. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    const open = this.queue.at(-1);
    if (open !== undefined) this.closeBatch(open);
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.schedule();
    while (this.queue.length > 0 || this.flushing) {
      await Promise.allSettled(this.queue.map((b) => b.done));
      // drain() may still be unwinding after the last batch resolved.
      if (this.flushing) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.state = 'closed';
    const writer = this.writer;
    this.writer = undefined;
    await writer?.close();
    this.waiters.close();
  }
}
