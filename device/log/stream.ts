/**
 * One stream: an ordered list of segments, the group-commit writer, recovery and retention.
 * Appends are planned synchronously (sequence, segment, position, size policy) and written by a
 * single flusher, one batch at a time: write + fsync, then every append in the batch resolves.
 */
import type { StreamDefinition } from './definition.ts';
import {
  CorruptRecordError,
  isNoSpace,
  LogClosedError,
  LogWriteError,
  RecordTooLargeError,
  SegmentVersionError,
  StorageFullError,
  StreamFullError,
} from './errors.ts';
import {
  decodeFrame,
  decodeSegmentHeader,
  encodeFrame,
  encodeSegmentHeader,
  FORMAT_VERSION,
  FRAME_HEADER_SIZE,
  FrameStatus,
  newFrameInfo,
  parseSegmentName,
  SEGMENT_HEADER_SIZE,
  segmentName,
  segmentVersionOf,
} from './format.ts';
import type { LogDir, LogFile } from './io.ts';

/** Frames are encoded into slabs of this size; a batch is written as slices of them with one writev. */
const SLAB_SIZE = 256 * 1024;
/**
 * Written slabs kept for reuse. A slab outlives the young generation (its batch waits for the
 * fsync), so a dropped one would come back only with the next full GC, and under steady appends
 * several dead ones would wait for it.
 */
const SPARE_SLABS = 2;
/** Recovery reads the active segment in chunks of this size: memory stays bounded whatever the segment size. */
const SCAN_CHUNK = 1024 * 1024;
/** Reads fetch at most this much per syscall (more only for a single bigger record). */
const READ_CHUNK = 256 * 1024;
const MIN_READ_CHUNK = 4096;
/** One in-memory index entry (sequence → offset) per this many bytes: 16 MiB segment → 256 entries. */
const INDEX_INTERVAL = 64 * 1024;
/** Memory streams persist their sequence high-water mark in blocks this big (one small write per block). */
const SEQUENCE_BLOCK = 1 << 20;

export const DEFAULT_READ_MAX_RECORDS = 1000;
export const DEFAULT_READ_MAX_BYTES = 1024 * 1024;

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

interface Segment {
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

interface Waiter {
  readonly sequence: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
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

function newSegment(base: number, size: number): Segment {
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

function noteFrame(segment: Segment, sequence: number, offset: number): void {
  const n = segment.idxOff.length;
  const last = n === 0 ? SEGMENT_HEADER_SIZE : (segment.idxOff[n - 1] as number);
  if (offset - last >= INDEX_INTERVAL) {
    segment.idxSeq.push(sequence);
    segment.idxOff.push(offset);
  }
}

/** Nearest known frame boundary at or before `sequence`. */
function locate(segment: Segment, sequence: number): { sequence: number; offset: number } {
  let lo = 0;
  let hi = segment.idxSeq.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if ((segment.idxSeq[mid] as number) <= sequence) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0
    ? { sequence: segment.base, offset: SEGMENT_HEADER_SIZE }
    : { sequence: segment.idxSeq[found] as number, offset: segment.idxOff[found] as number };
}

async function readAt(file: LogFile, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  const n = await file.read(buf, position, length);
  return n === length ? buf : buf.subarray(0, n);
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
  private readonly waiters = new Set<Waiter>();

  private constructor(
    definition: StreamDefinition,
    private readonly dir: LogDir,
    private readonly options: StreamOptions,
  ) {
    this.def = definition;
    this.reservedUpTo = options.initialSequence;
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
    const found: Segment[] = [];
    for (const entry of await this.dir.list()) {
      const base = parseSegmentName(entry.name);
      if (base !== undefined) found.push(newSegment(base, entry.size));
    }
    found.sort((a, b) => a.base - b.base);
    this.slab = Buffer.alloc(0);
    this.slabStart = 0;
    this.slabPos = 0;
    this.queue = [];
    const active = found.at(-1);
    if (active === undefined) {
      const segment = newSegment(this.options.initialSequence, SEGMENT_HEADER_SIZE);
      segment.prevLastTimestamp = 0;
      const file = await this.dir.create(segment.name);
      await file.writev([encodeSegmentHeader({ baseSequence: segment.base, prevLastTimestamp: 0 })], 0);
      await file.sync();
      await this.dir.sync();
      this.writer = file;
      this.segments = [segment];
      this.nextSeq = this.durableNext = segment.base;
    } else {
      let file = await this.dir.open(active.name, 'write');
      if (file === undefined) throw new Error(`segment ${active.name} vanished during open`);
      const header = await readAt(file, 0, SEGMENT_HEADER_SIZE);
      const version = segmentVersionOf(header);
      // Version 0 is no version (zeroed bytes): that header is torn, which recovery repairs.
      if (version !== undefined && version !== 0 && version !== FORMAT_VERSION) {
        await file.close();
        throw new SegmentVersionError(`${this.dir.path}/${active.name}`, version, FORMAT_VERSION);
      }
      const previous = found.at(-2);
      if (previous !== undefined && decodeSegmentHeader(header)?.baseSequence !== active.base) {
        // Torn while being created (nothing in it was acknowledged): drop it and append to the
        // previous, complete segment again. Unlike rewriting the header, this needs no free space.
        await file.close();
        await this.dir.remove(active.name);
        await this.dir.sync();
        found.pop();
        file = await this.dir.open(previous.name, 'write');
        if (file === undefined) throw new Error(`segment ${previous.name} vanished during open`);
      }
      const tail = found.at(-1) as Segment;
      this.writer = file;
      this.segments = found;
      this.nextSeq = this.durableNext = await this.recoverTail(file, tail);
    }
    this.totalBytes = 0;
    for (const s of this.segments) this.totalBytes += s.size;
  }

  /**
   * Scans the active segment frame by frame and truncates at the first frame that is torn,
   * fails its CRC or breaks the sequence chain. Everything before that point was written before
   * it, so every acknowledged (fsynced) record survives. Returns the next sequence.
   */
  private async recoverTail(file: LogFile, segment: Segment): Promise<number> {
    const fileSize = segment.size;
    const header = decodeSegmentHeader(await readAt(file, 0, SEGMENT_HEADER_SIZE));
    if (header === undefined || header.baseSequence !== segment.base) {
      // Torn while being created: the header is fsynced before any record in the file is acknowledged.
      const prevLastTimestamp = this.options.clock();
      await file.truncate(0);
      await file.writev([encodeSegmentHeader({ baseSequence: segment.base, prevLastTimestamp })], 0);
      await file.sync();
      segment.prevLastTimestamp = prevLastTimestamp;
      segment.size = segment.durableSize = SEGMENT_HEADER_SIZE;
      return segment.base;
    }
    segment.prevLastTimestamp = header.prevLastTimestamp;
    const info = newFrameInfo();
    let offset = SEGMENT_HEADER_SIZE;
    let sequence = segment.base;
    let buf: Buffer = Buffer.alloc(0);
    let bufPos = offset;
    for (;;) {
      const rel = offset - bufPos;
      const avail = buf.length - rel;
      const need = avail >= FRAME_HEADER_SIZE ? FRAME_HEADER_SIZE + buf.readUInt32LE(rel) : FRAME_HEADER_SIZE;
      if (avail < need) {
        if (offset + need > fileSize) break; // torn tail
        buf = await readAt(file, offset, Math.min(fileSize - offset, Math.max(SCAN_CHUNK, need)));
        bufPos = offset;
        continue;
      }
      if (decodeFrame(buf, rel, buf.length, info) !== FrameStatus.Ok || info.sequence !== sequence) break;
      noteFrame(segment, sequence, offset);
      segment.lastTimestamp = info.timestamp;
      offset += FRAME_HEADER_SIZE + info.length;
      sequence++;
    }
    if (offset < fileSize) {
      await file.truncate(offset);
      await file.sync();
    }
    segment.size = segment.durableSize = offset;
    return sequence;
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
      if (p.length > def.maxRecordSize) throw new RecordTooLargeError(def.name, p.length, def.maxRecordSize);
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
        this.notifyWaiters();
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
      await this.discardUnacknowledged();
      await this.load();
      this.state = closing ? 'closing' : 'open';
      this.failure = undefined;
    } catch (reloadError) {
      this.state = 'failed';
      this.failure = new LogWriteError(this.def.name, reloadError);
    }
    if (full) this.options.onStorageFull?.();
  }

  /**
   * Cuts every byte past the last acknowledged batch. After a failed write or fsync the page cache
   * may still hold frames that are not durable (a failed fsync does not say which pages were lost),
   * and a reload that scanned them would hand out records whose appends were rejected.
   */
  private async discardUnacknowledged(): Promise<void> {
    let dirChanged = false;
    for (const segment of this.segments) {
      if (segment.durableSize >= segment.size) continue;
      if (segment.durableSize < SEGMENT_HEADER_SIZE) {
        // Created by a failed batch: no record in it was acknowledged.
        await this.dir.remove(segment.name);
        dirChanged = true;
        continue;
      }
      const file = await this.dir.open(segment.name, 'write');
      if (file === undefined) continue;
      try {
        await file.truncate(segment.durableSize);
        await file.sync();
      } finally {
        await file.close();
      }
    }
    if (dirChanged) await this.dir.sync();
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
  async read(options: ReadOptions = {}): Promise<LogRecord[]> {
    if (this.state === 'closed') throw new LogClosedError();
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
    const end = this.durableNext;
    let sequence = options.fromSequence ?? 0;
    while (sequence < end && state.out.length < maxRecords && !state.full) {
      const index = this.segmentIndexFor(sequence);
      if (index < 0) {
        // Before the oldest kept record (deleted by TTL, overwrite or trim): continue from the oldest.
        const first = this.segments[0]?.base ?? end;
        if (first <= sequence) break;
        sequence = first;
        continue;
      }
      const segment = this.segments[index] as Segment;
      const segmentEnd = Math.min(end, this.segments[index + 1]?.base ?? end);
      const next = await this.readSegment(segment, sequence, segmentEnd, state);
      if (next === undefined) {
        // The file was deleted meanwhile (TTL, overwrite, trim): the next lookup skips past it.
        if (this.segments.includes(segment)) break;
        continue;
      }
      sequence = next;
    }
    return state.out;
  }

  private segmentIndexFor(sequence: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.segments[mid] as Segment).base <= sequence) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Returns the sequence to continue from, or undefined when the segment file is gone. */
  private async readSegment(
    segment: Segment,
    from: number,
    endSequence: number,
    state: ReadState,
  ): Promise<number | undefined> {
    const limit = segment.durableSize;
    const file = await this.dir.open(segment.name, 'read');
    if (file === undefined) return undefined;
    try {
      let { sequence, offset } = locate(segment, from);
      const info = newFrameInfo();
      let buf: Buffer = Buffer.alloc(0);
      let bufPos = offset;
      while (sequence < endSequence && offset < limit && state.out.length < state.maxRecords) {
        let rel = offset - bufPos;
        let avail = buf.length - rel;
        if (avail < FRAME_HEADER_SIZE || avail < FRAME_HEADER_SIZE + buf.readUInt32LE(rel)) {
          const need =
            avail >= FRAME_HEADER_SIZE ? FRAME_HEADER_SIZE + buf.readUInt32LE(rel) : FRAME_HEADER_SIZE;
          if (offset + need > limit) throw this.corrupt(segment, offset, sequence);
          buf = await readAt(file, offset, Math.min(limit - offset, Math.max(state.chunk, need)));
          bufPos = offset;
          rel = 0;
          avail = buf.length;
          if (avail < need) throw this.corrupt(segment, offset, sequence);
          continue;
        }
        if (decodeFrame(buf, rel, buf.length, info) !== FrameStatus.Ok || info.sequence !== sequence) {
          throw this.corrupt(segment, offset, sequence);
        }
        if (sequence >= from) {
          if (state.out.length > 0 && state.bytes + info.length > state.maxBytes) {
            state.full = true;
            break;
          }
          const start = rel + FRAME_HEADER_SIZE;
          state.out.push({
            sequence,
            timestamp: info.timestamp,
            payload: buf.subarray(start, start + info.length),
          });
          state.bytes += info.length;
        }
        noteFrame(segment, sequence, offset);
        offset += FRAME_HEADER_SIZE + info.length;
        sequence++;
        if (state.bytes >= state.maxBytes) {
          state.full = true;
          break;
        }
      }
      // A sealed segment ending early (its file shortened behind our back) is a gap, not corruption.
      return sequence < endSequence && offset >= limit ? endSequence : sequence;
    } finally {
      await file.close();
    }
  }

  private corrupt(segment: Segment, offset: number, sequence: number): CorruptRecordError {
    const index = this.segments.indexOf(segment);
    const resume = this.segments[index + 1]?.base ?? this.durableNext;
    return new CorruptRecordError(this.def.name, segment.name, offset, sequence, resume);
  }

  /** Resolves once `sequence` is acknowledged and readable. */
  waitFor(sequence: number, signal?: AbortSignal): Promise<void> {
    if (this.durableNext > sequence) return Promise.resolve();
    if (this.state === 'closing' || this.state === 'closed') return Promise.reject(new LogClosedError());
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        sequence,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  private notifyWaiters(): void {
    for (const waiter of this.waiters) {
      if (this.durableNext > waiter.sequence) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
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
    for (const waiter of this.waiters) waiter.reject(new LogClosedError());
    this.waiters.clear();
  }
}
