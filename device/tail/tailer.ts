/**
 * The file edge of a tail source: finds its files by polling the directory (fs.watch only wakes the
 * poll early: it misses events on network and overlay filesystems), follows each file by identity
 * (device + inode, checked by its first bytes), reads it in chunks through the pure splitter and
 * processor, and appends batches to the log with a checkpoint announced before each append
 * (device/FORMAT.md "Tail checkpoint"). Files are read one at a time, the least recently modified
 * first, so a file rotated away is read to its end before the new one.
 */
import { type FSWatcher, watch } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TributaryError } from '../../shared/errors.ts';
import {
  batchDigest,
  FINGERPRINT_BYTES,
  fingerprintOf,
  TailCheckpointFile,
  type TailPosition,
} from './checkpoint.ts';
import { TailCheckpointWriteError, TailReadError } from './errors.ts';
import { isCompressedName, MIN_COPY_PREFIX, matchesFingerprint, samePrefix } from './files.ts';
import { LineSplitter, type SplitRecord } from './lines.ts';
import { type Processor, processor, type TailEntry } from './process.ts';
import { tailRecordId } from './record-id.ts';
import { type LoggedRecord, type RecreatedRecord, resolvePending } from './resolve.ts';
import { fileNameRegExp, type SourceDefinition } from './source.ts';

/** The log stream a source appends to. */
export interface TailTarget {
  /** The sequence the next append will get at the earliest. */
  nextSequence(): number;
  /** All or none; resolves once durable. Retryable errors (full stream, full disk) are retried. */
  appendMany(payloads: readonly Uint8Array[]): Promise<unknown>;
  /** Acknowledged records from `fromSequence` to the end of the log. */
  read(fromSequence: number): AsyncIterable<LoggedRecord>;
}

export interface EntryMeta {
  /** Deterministic UUIDv7 of the line (record-id.ts). */
  readonly id: string;
  /** The source's filePattern: one name for a log across its rotations. */
  readonly source: string;
  /** The splitter cut the record at maxLineBytes. */
  readonly truncated: boolean;
  /** ms since the epoch the line's batch was read. */
  readonly readTime: number;
}

/** One processed line to the bytes appended; must be a pure function of its arguments. */
export type EntryEncoder = (entry: TailEntry, meta: EntryMeta) => Uint8Array;

export interface SourceTailerOptions {
  readonly source: SourceDefinition;
  readonly deviceId: string;
  /** This source's own directory of checkpoint files. */
  readonly checkpointDir: string;
  readonly target: TailTarget;
  readonly encode: EntryEncoder;
  readonly clock?: () => number;
  readonly log?: (line: string) => void;
  /** Bytes of payloads per append (default 1 MiB). */
  readonly maxBatchBytes?: number;
  readonly readChunkBytes?: number;
}

export interface TailSourceStatus {
  readonly filePattern: string;
  readonly stream: string;
  /** `blocked`: the stream refuses appends (full); tailing waits and resumes. */
  readonly state: 'starting' | 'running' | 'blocked' | 'stopped';
  readonly lines: number;
  /** File bytes consumed (lines sent and header lines skipped). */
  readonly bytes: number;
  readonly unparsed: number;
  readonly truncated: number;
  readonly filesFollowed: number;
  /** Bytes written to followed files and not yet in the log. */
  readonly lagBytes: number;
  /** ms since the oldest unsent byte's file last grew while it waited; 0 when caught up. */
  readonly lagMillis: number;
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: number } | undefined;
}

interface Listed {
  readonly name: string;
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

interface Follower {
  readonly key: string;
  readonly dev: number;
  readonly ino: number;
  path: string;
  readonly handle: FileHandle;
  readonly ckpt: TailCheckpointFile;
  head: Buffer;
  splitter: LineSplitter;
  /** Next byte to read. */
  readOffset: number;
  /** Durable position: everything before it is in the log. */
  committed: number;
  committedHeaderLines: number;
  /** The checkpoint on disk still announces a batch now in the log (rewritten when idle). */
  diskPending: boolean;
  size: number;
  mtimeMs: number;
  /**
   * Holds what a truncated file had before (copytruncate): at equal mtimes it is read before the
   * others. The kernel stamps mtimes at its clock tick, so a copy, the truncation and the first new
   * line can share one, and the new lines must not overtake the copy's.
   */
  readonly isCopy: boolean;
  /** Clock when bytes last arrived. */
  grewAt: number;
  /** In the last directory listing under a matching name. */
  listed: boolean;
  /** Clock when it first went missing from the listings (renamed away, deleted, or mid-rename). */
  unlistedSince: number | undefined;
}

interface EncodedBatch {
  readonly payloads: Uint8Array[];
  /** File offset the batch ends at, and header lines still to skip there. */
  readonly to: number;
  readonly headerLinesLeft: number;
  readonly readTime: number;
  readonly unparsed: number;
  readonly truncated: number;
}

interface CopyCandidate {
  readonly entry: Listed;
  readonly handle: FileHandle;
  readonly head: Buffer;
  readonly of: Follower;
  readonly seenAt: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_BATCH_RECORDS = 10_000;
const BACKOFF_MIN = 50;
const BACKOFF_MAX = 5_000;
/** A dormant position whose file has not been listed again for this long is dropped, with its file. */
const DORMANT_MILLIS = 10 * 60_000;
/** Listings taken until two agree (a rotation in progress moves names): at start, and at each poll. */
const SETTLE_LOOKS_AT_START = 50;
const SETTLE_LOOKS = 3;

const keyOf = (dev: number, ino: number) => `${dev}-${ino}`;

/** Unwinds a read when the tailer is stopped; caught by the loop, never raised to a caller. */
class TailStoppedError extends Error {}

export class SourceTailer {
  readonly source: SourceDefinition;
  readonly #o: SourceTailerOptions;
  readonly #clock: () => number;
  readonly #process: Processor;
  readonly #nameRe: RegExp;
  readonly #followers = new Map<string, Follower>();
  readonly #candidates = new Map<string, CopyCandidate>();
  /** Files truncated lately, by their first bytes before: a copy appearing later takes their place. */
  readonly #ghosts: { of: Follower; head: Buffer; offset: number; headerLinesLeft: number; at: number }[] =
    [];
  /** New files still shorter than MIN_COPY_PREFIX, by when first seen: maybe a copy being written. */
  readonly #young = new Map<string, number>();
  /** Plain copies of a followed file (no truncation followed): never read. */
  readonly #ignored = new Set<string>();
  /**
   * Positions of files let go while they still existed, or not found at start: a file listed again
   * (renamed back, or only missed by a listing taken mid-rename) resumes there instead of at 0.
   */
  readonly #dormant = new Map<string, { position: TailPosition; since: number }>();
  /**
   * Dormant positions whose inode came back with other first bytes (truncated and written again while
   * unwatched): a copy of the old bytes (copytruncate) resumes there instead of at 0.
   */
  readonly #orphans: { position: TailPosition; since: number }[] = [];
  readonly #buf: Buffer;
  #state: TailSourceStatus['state'] = 'starting';
  #lines = 0;
  #bytes = 0;
  #unparsed = 0;
  #truncated = 0;
  #lastError: TailSourceStatus['lastError'];
  #stopped = false;
  #wake: (() => void) | undefined;
  #watcher: FSWatcher | undefined;
  #running: Promise<void> | undefined;
  #firstRun = false;

  constructor(options: SourceTailerOptions) {
    this.#o = options;
    this.source = options.source;
    this.#clock = options.clock ?? Date.now;
    const s = options.source;
    this.#process = processor(s.dataProcessingOptions, {
      levelPatterns: s.levelPatterns,
      defaultLevel: s.defaultLevel,
      truncationMarker: s.truncationMarker,
    });
    this.#nameRe = fileNameRegExp(s.fileNamePattern);
    this.#buf = Buffer.allocUnsafe(options.readChunkBytes ?? 256 * KiB);
  }

  /** Loads checkpoints, settles announced batches against the log, and starts polling. */
  async start(): Promise<void> {
    await this.#load();
    this.#state = 'running';
    try {
      this.#watcher = watch(this.source.directory, () => this.#wake?.());
      this.#watcher.on('error', () => {
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch {
      // No inotify here (or the directory is missing yet): polling alone finds changes.
    }
    this.#running = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    this.#watcher?.close();
    await this.#running;
    for (const f of this.#followers.values()) {
      await f.handle.close().catch(() => {});
      await f.ckpt.close().catch(() => {});
    }
    for (const c of this.#candidates.values()) await c.handle.close().catch(() => {});
    this.#followers.clear();
    this.#candidates.clear();
    this.#state = 'stopped';
  }

  status(): TailSourceStatus {
    let lagBytes = 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const f of this.#followers.values()) {
      const behind = Math.max(0, f.size - f.committed);
      lagBytes += behind;
      if (behind > 0) oldest = Math.min(oldest, f.grewAt);
    }
    return {
      filePattern: this.source.filePattern,
      stream: this.source.stream,
      state: this.#state,
      lines: this.#lines,
      bytes: this.#bytes,
      unparsed: this.#unparsed,
      truncated: this.#truncated,
      filesFollowed: this.#followers.size,
      lagBytes,
      lagMillis: Number.isFinite(oldest) ? Math.max(0, this.#clock() - oldest) : 0,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
    };
  }

  /** Rotation decisions, one line each: what an operator reads to see why a file was (re)read. */
  #say(message: string): void {
    this.#o.log?.(`tail ${this.source.filePattern}: ${message}`);
  }

  #noteError(error: unknown): void {
    const code = error instanceof TributaryError ? error.code : 'TAIL_READ_FAILED';
    const message = error instanceof Error ? error.message : String(error);
    this.#lastError = { code, message, at: this.#clock() };
    this.#o.log?.(`tail ${this.source.filePattern}: ${code}: ${message}`);
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#poll();
      } catch (error) {
        if (error instanceof TailStoppedError) break;
        this.#noteError(error);
      }
      if (this.#stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.source.pollIntervalMillis);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = done;
      });
      this.#wake = undefined;
    }
  }

  // ------------------------------------------------------------------ discovery

  /** Regular files in the directory (all of them with `all`, else those the pattern matches). */
  async #list(all: boolean): Promise<Listed[]> {
    let names: string[];
    try {
      names = (await readdir(this.source.directory)).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new TailReadError(this.source.directory, error);
    }
    const out: Listed[] = [];
    for (const name of names) {
      if (isCompressedName(name)) continue;
      if (!all && !this.#nameRe.test(name)) continue;
      try {
        const st = await stat(join(this.source.directory, name));
        if (st.isFile()) out.push({ name, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // Gone between readdir and stat (rotated): the next poll sees where it went.
      }
    }
    return out;
  }

  /**
   * A listing two looks in a row agree on (names to inodes): a rotation renaming files while the
   * directory is read shows a file twice or not at all, and at start a missed file would have its
   * checkpoint taken by a copy of it.
   */
  async #settledList(all: boolean, looks: number): Promise<{ entries: Listed[]; settled: boolean }> {
    const same = (a: readonly Listed[], b: readonly Listed[]) =>
      a.length === b.length &&
      a.every((x, i) => x.name === b[i]?.name && x.dev === b[i]?.dev && x.ino === b[i]?.ino);
    let last = await this.#list(all);
    for (let look = 0; look < looks; look++) {
      const again = await this.#list(all);
      if (same(last, again)) return { entries: again, settled: true };
      last = again;
    }
    return { entries: last, settled: false };
  }

  /**
   * Opens a listed file by name, if the name still leads to the inode listed: a rotation between the
   * listing and the open would otherwise pair one file's identity with another's bytes.
   */
  async #openListed(entry: Listed): Promise<{ entry: Listed; handle: FileHandle } | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(join(this.source.directory, entry.name), 'r');
    } catch {
      return undefined;
    }
    const st = await handle.stat().catch(() => undefined);
    if (st === undefined || st.dev !== entry.dev || st.ino !== entry.ino) {
      await handle.close().catch(() => {});
      return undefined;
    }
    return { entry: { ...entry, size: st.size, mtimeMs: st.mtimeMs }, handle };
  }

  async #readHead(handle: FileHandle, size: number): Promise<Buffer> {
    const n = Math.min(size, FINGERPRINT_BYTES);
    const head = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await handle.read(head, got, n - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return head.subarray(0, got);
  }

  #newSplitter(offset: number, headerLinesLeft: number): LineSplitter {
    const s = this.source;
    return new LineSplitter({
      maxRecordBytes: s.maxLineBytes,
      truncationMarker: s.truncationMarker,
      multiLineStartPattern: s.multiLineStartPattern,
      skipHeaderLines: headerLinesLeft,
      startOffset: offset,
    });
  }

  async #follow(
    entry: Listed,
    handle: FileHandle,
    head: Buffer,
    offset: number,
    headerLinesLeft: number,
    why: string,
    isCopy = false,
  ): Promise<Follower> {
    const path = join(this.source.directory, entry.name);
    const key = keyOf(entry.dev, entry.ino);
    this.#say(`following ${entry.name} (${key}, ${entry.size} bytes) from ${offset}: ${why}`);
    const ckptPath = join(this.#o.checkpointDir, `${key}.ckpt`);
    let ckpt: TailCheckpointFile;
    try {
      ckpt = (await TailCheckpointFile.open(ckptPath)).file;
    } catch (error) {
      throw new TailCheckpointWriteError(ckptPath, error);
    }
    const f: Follower = {
      key,
      dev: entry.dev,
      ino: entry.ino,
      path,
      handle,
      ckpt,
      head,
      splitter: this.#newSplitter(offset, headerLinesLeft),
      readOffset: offset,
      committed: offset,
      committedHeaderLines: headerLinesLeft,
      diskPending: false,
      size: entry.size,
      mtimeMs: entry.mtimeMs,
      isCopy,
      grewAt: this.#clock(),
      listed: true,
      unlistedSince: undefined,
    };
    await this.#writePosition(f, undefined);
    this.#followers.set(key, f);
    return f;
  }

  #positionOf(f: Follower, pending: TailPosition['pending']): TailPosition {
    return {
      path: f.path,
      dev: f.dev,
      ino: f.ino,
      fingerprintBytes: f.head.length,
      fingerprint: fingerprintOf(f.head),
      offset: f.committed,
      headerLinesLeft: f.committedHeaderLines,
      ...(pending === undefined ? {} : { pending }),
    };
  }

  async #writePosition(f: Follower, pending: TailPosition['pending']): Promise<void> {
    const position = this.#positionOf(f, pending);
    try {
      await f.ckpt.write(position);
    } catch (error) {
      throw new TailCheckpointWriteError(f.ckpt.path, error);
    }
    f.diskPending = pending !== undefined;
  }

  /** Where a file seen for the first time starts: initialPosition applies on a source's first run. */
  async #startOffset(handle: FileHandle, size: number): Promise<number> {
    if (!this.#firstRun || this.source.initialPosition === 'START_OF_FILE' || size === 0) return 0;
    // END_OF_FILE: after the last complete line, so a line being written is sent whole.
    const n = Math.min(size, 64 * KiB);
    const tail = Buffer.alloc(n);
    const { bytesRead } = await handle.read(tail, 0, n, size - n);
    const nl = tail.subarray(0, bytesRead).lastIndexOf(0x0a);
    return nl < 0 ? size : size - n + nl + 1;
  }

  async #load(): Promise<void> {
    const dir = this.#o.checkpointDir;
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.ckpt'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new TailReadError(dir, error);
      this.#firstRun = true;
      names = [];
      await mkdir(dir, { recursive: true }).catch((e: unknown) => {
        throw new TailCheckpointWriteError(dir, e);
      });
    }
    const positions: { name: string; position: TailPosition }[] = [];
    for (const name of names) {
      const { file, position } = await TailCheckpointFile.open(join(dir, name));
      await file.close();
      if (position !== undefined) positions.push({ name, position });
    }
    const { entries } = await this.#settledList(true, SETTLE_LOOKS_AT_START);
    const heads = new Map<string, { entry: Listed; handle: FileHandle; head: Buffer }>();
    const claimed = new Set<string>();
    const opened = async (entry: Listed) => {
      const key = keyOf(entry.dev, entry.ino);
      let h = heads.get(key);
      if (h === undefined) {
        const at = await this.#openListed(entry);
        if (at === undefined) return undefined;
        h = { ...at, head: await this.#readHead(at.handle, at.entry.size) };
        heads.set(key, h);
      }
      return h;
    };
    const resumed: { position: TailPosition; at: { entry: Listed; handle: FileHandle; head: Buffer } }[] = [];
    // The same inode with the same first bytes first; then a copy (copytruncate while stopped).
    for (const pass of ['inode', 'copy'] as const) {
      for (const { position } of positions) {
        if (resumed.some((r) => r.position === position)) continue;
        for (const entry of entries) {
          const key = keyOf(entry.dev, entry.ino);
          if (claimed.has(key)) continue;
          if (pass === 'inode' && (entry.dev !== position.dev || entry.ino !== position.ino)) continue;
          if (pass === 'copy' && position.fingerprintBytes < MIN_COPY_PREFIX) continue;
          const h = await opened(entry);
          if (h === undefined) continue;
          if (!matchesFingerprint(h.head, position.fingerprintBytes, position.fingerprint)) continue;
          if (h.entry.size < position.offset) continue;
          claimed.add(key);
          resumed.push({ position, at: h });
          break;
        }
      }
    }
    // Checkpoints of files not found: gone, or missed by a listing taken while they were renamed.
    for (const { position } of positions) {
      if (!resumed.some((r) => r.position === position))
        this.#dormant.set(keyOf(position.dev, position.ino), { position, since: this.#clock() });
    }
    for (const { position, at } of resumed) {
      const key = keyOf(at.entry.dev, at.entry.ino);
      const own = keyOf(position.dev, position.ino);
      // A copy took the position over; the original's checkpoint is stale.
      if (key !== own) await rm(join(dir, `${own}.ckpt`), { force: true });
      this.#dormant.delete(key);
      await this.#resume(
        at.entry,
        at.handle,
        at.head,
        position,
        key === own
          ? `its checkpoint (at ${position.offset})`
          : `the checkpoint of ${position.path} (${own}, at ${position.offset}): a copy of it`,
      );
      heads.delete(key);
    }
    for (const { handle } of heads.values()) await handle.close();
    if (!this.#firstRun) return;
    // Later runs leave new files to the first poll: it tells copies (copytruncate) from new logs.
    for (const entry of entries) {
      if (!this.#nameRe.test(entry.name) || claimed.has(keyOf(entry.dev, entry.ino))) continue;
      const at = await this.#openListed(entry);
      if (at === undefined) continue;
      const { handle } = at;
      const head = await this.#readHead(handle, entry.size);
      const offset = await this.#startOffset(handle, entry.size);
      await this.#follow(
        entry,
        handle,
        head,
        offset,
        offset === 0 ? this.source.skipHeaderLines : 0,
        `first run, ${this.source.initialPosition}`,
      );
    }
  }

  /** Settles a batch announced before a crash: in the log (whole or a torn prefix) or not. */
  async #resolve(position: TailPosition, handle: FileHandle, size: number) {
    const pending = position.pending;
    if (pending === undefined) return { offset: position.offset, found: 0 };
    const logged: LoggedRecord[] = [];
    for await (const r of this.#o.target.read(pending.lowSequence)) logged.push(r);
    let recreated: RecreatedRecord[] | undefined;
    if (size >= pending.to) {
      const bytes = Buffer.alloc(pending.to - position.offset);
      let got = 0;
      while (got < bytes.length) {
        const { bytesRead } = await handle.read(bytes, got, bytes.length - got, position.offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      const splitter = this.#newSplitter(position.offset, position.headerLinesLeft);
      const records = [...splitter.push(bytes.subarray(0, got)), ...splitter.flush(true)];
      recreated = records.map((r) => ({
        payload: this.#encode(r, position.path, position.dev, position.ino, pending.readTime).payload,
        end: r.end,
      }));
    }
    const resolution = resolvePending(position.offset, pending, logged, recreated);
    this.#say(
      `batch announced for ${position.path} (${keyOf(position.dev, position.ino)}) at ${position.offset}-${pending.to}, ${pending.count} records from sequence ${pending.lowSequence}: ${resolution.found} in the log`,
    );
    return resolution;
  }

  #encode(r: SplitRecord, path: string, dev: number, ino: number, readTime: number) {
    const entry = this.#process(r.text, {
      deviceId: this.#o.deviceId,
      file: path,
      offset: r.offset,
      readTime,
    });
    const id = tailRecordId(readTime, `${this.source.checkpointName}:${dev}:${ino}:${r.offset}`);
    return {
      payload: this.#o.encode(entry, {
        id,
        source: this.source.filePattern,
        truncated: r.truncated,
        readTime,
      }),
      entry,
    };
  }

  // ------------------------------------------------------------------ polling

  async #poll(): Promise<void> {
    const now = this.#clock();
    const grace = Math.max(1_000, 4 * this.source.pollIntervalMillis);
    const { entries: listed, settled } = await this.#settledList(false, SETTLE_LOOKS);
    // Mid-rotation a file may be missed, and the files seen read before an older one not yet seen.
    let readable = settled;
    for (const f of this.#followers.values()) f.listed = false;
    for (const listedEntry of listed) {
      const key = keyOf(listedEntry.dev, listedEntry.ino);
      const f = this.#followers.get(key);
      if (f !== undefined) {
        f.path = join(this.source.directory, listedEntry.name);
        f.listed = true;
        f.unlistedSince = undefined;
        continue;
      }
      if (this.#ignored.has(key) || this.#candidates.has(key)) continue;
      const at = await this.#openListed(listedEntry);
      if (at === undefined) {
        readable = false;
        continue;
      }
      const { entry, handle } = at;
      const head = await this.#readHead(handle, entry.size);
      if (await this.#resumeDormant(key, entry, handle, head)) continue;
      if (await this.#resumeOrphan(entry, handle, head)) continue;
      if (head.length < MIN_COPY_PREFIX) {
        // Too short to tell a new log from a copy still being written: wait a little for more bytes.
        const first = this.#young.get(key) ?? now;
        this.#young.set(key, first);
        if (now - first < grace) {
          await handle.close();
          continue;
        }
      }
      this.#young.delete(key);
      const ghost = this.#ghosts.findIndex((g) => samePrefix(g.head, head, MIN_COPY_PREFIX));
      if (ghost >= 0) {
        // The copy of a file whose truncation was seen first (copytruncate between two looks).
        const [g] = this.#ghosts.splice(ghost, 1);
        if (g !== undefined) {
          if (entry.size >= g.offset)
            await this.#follow(
              entry,
              handle,
              head,
              g.offset,
              g.headerLinesLeft,
              `the copy of ${g.of.path} (${g.of.key}), truncated`,
              true,
            );
          await this.#startOver(g.of);
          if (entry.size >= g.offset) continue;
        }
      }
      const of = [...this.#followers.values()].find((g) => samePrefix(g.head, head, MIN_COPY_PREFIX));
      if (of !== undefined) {
        // Same first bytes as a followed file: a copy. It is read only if the original is truncated
        // (copytruncate), from where the original had got to.
        this.#say(
          `${entry.name} (${key}) starts like ${of.path} (${of.key}): a copy, read if that is truncated`,
        );
        this.#candidates.set(key, { entry, handle, head, of, seenAt: now });
        continue;
      }
      await this.#follow(entry, handle, head, 0, this.source.skipHeaderLines, 'a new file');
    }
    for (const f of this.#followers.values()) if (!f.listed) f.unlistedSince ??= now;
    for (let i = this.#orphans.length - 1; i >= 0; i--) {
      if (now - (this.#orphans[i]?.since ?? now) >= DORMANT_MILLIS) this.#orphans.splice(i, 1);
    }
    for (const [key, d] of this.#dormant) {
      if (now - d.since < DORMANT_MILLIS) continue;
      this.#dormant.delete(key);
      await rm(join(this.#o.checkpointDir, `${key}.ckpt`), { force: true });
    }
    for (const f of [...this.#followers.values()]) await this.#checkIdentity(f);
    for (let i = this.#ghosts.length - 1; i >= 0; i--) {
      const g = this.#ghosts[i];
      if (g === undefined || now - g.at < grace) continue;
      this.#ghosts.splice(i, 1);
      await this.#startOver(g.of);
    }
    for (const [key, c] of this.#candidates) {
      if (now - c.seenAt < grace) continue;
      this.#candidates.delete(key);
      this.#ignored.add(key);
      await c.handle.close().catch(() => {});
    }
    if (!readable) return;
    const order = [...this.#followers.values()].sort(
      (a, b) => a.mtimeMs - b.mtimeMs || Number(b.isCopy) - Number(a.isCopy),
    );
    for (const f of order) {
      if (this.#stopped) throw new TailStoppedError();
      // Truncated, its copy not seen yet: the copy's lines come first, so the new ones wait for it.
      if (this.#ghosts.some((g) => g.of === f)) continue;
      await this.#drain(f);
    }
    await this.#closeFinished(grace);
  }

  /** A file with a dormant position and the same first bytes resumes there (its pending batch settled). */
  async #resumeDormant(key: string, entry: Listed, handle: FileHandle, head: Buffer): Promise<boolean> {
    const dormant = this.#dormant.get(key);
    if (dormant === undefined) return false;
    this.#dormant.delete(key);
    const { position } = dormant;
    if (
      !matchesFingerprint(head, position.fingerprintBytes, position.fingerprint) ||
      entry.size < position.offset
    ) {
      // The inode now holds other bytes; its checkpoint file goes to them, the position waits for a copy.
      this.#orphans.push({ position, since: this.#clock() });
      return false;
    }
    await this.#resume(entry, handle, head, position, `listed again, its checkpoint (at ${position.offset})`);
    return true;
  }

  /** A new file starting with an orphaned position's bytes is its copy: it resumes there. */
  async #resumeOrphan(entry: Listed, handle: FileHandle, head: Buffer): Promise<boolean> {
    const at = this.#orphans.findIndex(
      ({ position: p }) =>
        p.fingerprintBytes >= MIN_COPY_PREFIX &&
        matchesFingerprint(head, p.fingerprintBytes, p.fingerprint) &&
        entry.size >= p.offset,
    );
    const orphan = this.#orphans[at];
    if (orphan === undefined) return false;
    this.#orphans.splice(at, 1);
    const { position } = orphan;
    await this.#resume(
      entry,
      handle,
      head,
      position,
      `the copy of ${position.path} (${keyOf(position.dev, position.ino)}, at ${position.offset}), truncated while unwatched`,
    );
    return true;
  }

  /** Follows a file from a stored position, its announced batch settled against the log first. */
  async #resume(entry: Listed, handle: FileHandle, head: Buffer, position: TailPosition, why: string) {
    const { offset, found } = await this.#resolve(position, handle, entry.size);
    const isCopy = entry.dev !== position.dev || entry.ino !== position.ino;
    await this.#follow(entry, handle, head, offset, found > 0 ? 0 : position.headerLinesLeft, why, isCopy);
  }

  /** Truncation (copytruncate) and a reused inode start the file over; a waiting copy takes its place. */
  async #checkIdentity(f: Follower): Promise<void> {
    const st = await f.handle.stat();
    if (st.size !== f.size) f.grewAt = this.#clock();
    f.size = st.size;
    f.mtimeMs = st.mtimeMs;
    const head = await this.#readHead(f.handle, st.size);
    const truncated = st.size < f.readOffset || !samePrefix(head, f.head, 0) || head.length < f.head.length;
    if (!truncated) {
      if (head.length > f.head.length) f.head = head;
      return;
    }
    // Already waiting for this truncated file's copy: its checkpoint keeps the old position till then.
    if (this.#ghosts.some((g) => g.of === f)) return;
    let copied = false;
    for (const [key, c] of this.#candidates) {
      if (c.of !== f) continue;
      this.#candidates.delete(key);
      copied = true;
      // The copy holds what the original had before the truncation: read it from the original's position.
      await this.#follow(
        c.entry,
        c.handle,
        c.head,
        f.committed,
        f.committedHeaderLines,
        `the copy of ${f.path} (${f.key}), truncated`,
        true,
      );
    }
    if (!copied && f.head.length >= MIN_COPY_PREFIX) {
      // The copy may show up at the next look (copytruncate between our listing and this check).
      // Until it does (or the wait ends) the file keeps its old checkpoint, so a crash loses nothing.
      this.#say(`${f.path} (${f.key}) truncated: waiting for its copy`);
      this.#ghosts.push({
        of: f,
        head: f.head,
        offset: f.committed,
        headerLinesLeft: f.committedHeaderLines,
        at: this.#clock(),
      });
      return;
    }
    await this.#startOver(f);
  }

  /** A truncated or reused file is read again from its start. */
  async #startOver(f: Follower): Promise<void> {
    this.#say(`${f.path} (${f.key}) truncated or reused: reading it again from its start`);
    f.size = (await f.handle.stat()).size;
    f.head = await this.#readHead(f.handle, f.size);
    f.splitter = this.#newSplitter(0, this.source.skipHeaderLines);
    f.readOffset = 0;
    f.committed = 0;
    f.committedHeaderLines = this.source.skipHeaderLines;
    await this.#writePosition(f, undefined);
  }

  /** Reads `f` to its current end, appending batch after batch. */
  async #drain(f: Follower): Promise<void> {
    let batch: SplitRecord[] = [];
    let batchBytes = 0;
    let readTime = 0;
    // One batch appends while the next is read and encoded: its fsync no longer stalls the reading.
    // The next is announced only once it is in (the checkpoint has one pending slot).
    let inflight: Promise<void> | undefined;
    const cut = async () => {
      const encoded = this.#encodeBatch(f, batch, readTime);
      batch = [];
      batchBytes = 0;
      await inflight;
      inflight = this.#commit(f, encoded);
      inflight.catch(() => {});
    };
    try {
      await this.#read(f, (records) => {
        if (records.length > 0 && batch.length === 0) readTime = this.#clock();
        for (const r of records) {
          batch.push(r);
          batchBytes += r.text.length;
        }
        return batchBytes >= (this.#o.maxBatchBytes ?? MiB) || batch.length >= MAX_BATCH_RECORDS
          ? cut()
          : undefined;
      });
      if (batch.length > 0) await cut();
    } finally {
      await inflight;
    }
    // Quiet: a pending multi-line record is complete as far as anyone can tell.
    if (
      this.source.multiLineStartPattern !== undefined &&
      this.#clock() - f.grewAt >= this.source.multiLineFlushMillis
    ) {
      const flushed = f.splitter.flush(false);
      if (flushed.length > 0) await this.#send(f, flushed, this.#clock());
    }
    if (f.diskPending) await this.#writePosition(f, undefined);
  }

  /** Reads `f` to its current end through the splitter, handing each chunk's records to `take`. */
  async #read(f: Follower, take: (records: SplitRecord[]) => Promise<void> | undefined): Promise<void> {
    for (;;) {
      if (this.#stopped) throw new TailStoppedError();
      if (f.readOffset >= f.size) {
        const st = await f.handle.stat();
        if (st.size !== f.size) f.grewAt = this.#clock();
        f.size = st.size;
        if (f.readOffset >= f.size) break;
      }
      let n: number;
      try {
        ({ bytesRead: n } = await f.handle.read(
          this.#buf,
          0,
          Math.min(this.#buf.length, f.size - f.readOffset),
          f.readOffset,
        ));
      } catch (error) {
        throw new TailReadError(f.path, error);
      }
      if (n === 0) {
        f.size = f.readOffset;
        break;
      }
      // Truncated and written again since the last look (copytruncate), the bytes just read may be the
      // new content at an old offset: checked after the read, so what passes was read before any cut.
      const head = await this.#readHead(f.handle, FINGERPRINT_BYTES);
      if (!samePrefix(head, f.head, 0) || head.length < f.head.length) {
        this.#say(`${f.path} (${f.key}) changed under a read: left to the next look`);
        break;
      }
      if (head.length > f.head.length) f.head = head;
      const records = f.splitter.push(this.#buf.subarray(0, n));
      f.readOffset += n;
      await take(records);
    }
  }

  /**
   * Rotated away or deleted, read to the end and quiet: the last partial line goes, the file is let go.
   * Missing from one listing is not enough (a listing taken mid-rename misses a file): it must stay
   * missing for `grace`. A file that still exists keeps its position, dormant, in case it comes back.
   */
  async #closeFinished(grace: number): Promise<void> {
    const now = this.#clock();
    for (const f of [...this.#followers.values()]) {
      if (f.unlistedSince === undefined || now - f.unlistedSince < grace) continue;
      if (f.readOffset < f.size || now - f.grewAt < grace) continue;
      if ([...this.#candidates.values()].some((c) => c.of === f)) continue;
      const last = f.splitter.flush(true);
      if (last.length > 0) await this.#send(f, last, now);
      if (f.diskPending) await this.#writePosition(f, undefined);
      const deleted = (await f.handle.stat()).nlink === 0;
      this.#say(`${f.path} (${f.key}) ${deleted ? 'deleted' : 'renamed away'} and read to its end: let go`);
      this.#followers.delete(f.key);
      await f.handle.close().catch(() => {});
      await f.ckpt.close().catch(() => {});
      if (deleted) await rm(f.ckpt.path, { force: true });
      else this.#dormant.set(f.key, { position: this.#positionOf(f, undefined), since: now });
    }
  }

  async #send(f: Follower, records: readonly SplitRecord[], readTime: number): Promise<void> {
    await this.#commit(f, this.#encodeBatch(f, records, readTime));
  }

  /** The batch's payloads, and where the file stands once they are in (taken when the batch is cut). */
  #encodeBatch(f: Follower, records: readonly SplitRecord[], readTime: number): EncodedBatch {
    const payloads: Uint8Array[] = [];
    let unparsed = 0;
    let truncated = 0;
    for (const r of records) {
      const { payload, entry } = this.#encode(r, f.path, f.dev, f.ino, readTime);
      payloads.push(payload);
      if (entry.unparsed) unparsed++;
      if (r.truncated || entry.fieldTruncated) truncated++;
    }
    return {
      payloads,
      to: f.splitter.safeOffset,
      headerLinesLeft: f.splitter.headerLinesLeft,
      readTime,
      unparsed,
      truncated,
    };
  }

  /** Announces the batch in the checkpoint, appends it (waiting out a full stream), then moves on. */
  async #commit(f: Follower, batch: EncodedBatch): Promise<void> {
    const { payloads, to, headerLinesLeft, readTime, unparsed, truncated } = batch;
    await this.#writePosition(f, {
      to,
      lowSequence: this.#o.target.nextSequence(),
      count: payloads.length,
      digest: batchDigest(payloads),
      readTime,
    });
    let backoff = BACKOFF_MIN;
    for (;;) {
      try {
        await this.#o.target.appendMany(payloads);
        break;
      } catch (error) {
        if (!(error instanceof TributaryError) || !error.retryable) throw error;
        // A full stream or disk: wait, never drop. The announced batch stays valid (same payloads).
        this.#state = 'blocked';
        this.#noteError(error);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(BACKOFF_MAX, backoff * 2);
        if (this.#stopped) throw new TailStoppedError();
      }
    }
    this.#state = 'running';
    this.#bytes += to - f.committed;
    f.committed = to;
    f.committedHeaderLines = headerLinesLeft;
    this.#lines += payloads.length;
    this.#unparsed += unparsed;
    this.#truncated += truncated;
  }
}
