/**
 * LogStore: named streams under one root directory, their definitions and consumer checkpoints.
 *
 *   <root>/LOCK                                  pid + boot id of the owning process
 *   <root>/streams/<name>/stream.json            definition (atomic replace through the LogDir seam)
 *   <root>/streams/<name>/segments/<seq20>.seg   the log (File persistence)
 *   <root>/streams/<name>/consumers/<c>.ckpt     committed sequence per consumer (slot file, in place)
 *   <root>/streams/<name>/sequence.json          Memory persistence: sequence high-water mark
 *   <root>/.tmp, <root>/.trash                   staging for atomic stream create/delete
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../../shared/errors.ts';
import { CHECKPOINT_NOTE_MAX_BYTES, CHECKPOINT_SUFFIX, CheckpointFile } from './checkpoint.ts';
import { parseStreamDefinition, type StreamDefinition, type StreamDefinitionInput } from './definition.ts';
import {
  InvalidSequenceError,
  isNoSpace,
  LogClosedError,
  LogFormatError,
  MetadataWriteError,
  StorageFullError,
  StoreLockedError,
  StreamExistsError,
  StreamNotFoundError,
} from './errors.ts';
import { FsDir, isCode, type LogDir, MemoryDir, syncDir } from './io.ts';
import {
  type AppendManyResult,
  type AppendResult,
  type LogRecord,
  LogStream,
  type ReadOptions,
  type StreamStats,
} from './stream.ts';

export interface LogStoreOptions {
  /** Source of append timestamps and TTL decisions, ms since the epoch. Default Date.now. */
  readonly clock?: () => number;
  /** How often TTL retention runs in the background; 0 turns the timer off. Default 60 s. */
  readonly retentionIntervalMillis?: number;
  /** Receives errors of background retention. Default: process.emitWarning. */
  readonly onBackgroundError?: (error: unknown) => void;
  /**
   * The file operations of segments and checkpoints for a directory path; real files by default.
   * Tests pass implementations that fail writes or fsyncs, run out of space or lose power.
   */
  readonly openDir?: (path: string) => LogDir;
  /**
   * Free space kept on the store's filesystem: below it, segments every consumer has had (exported
   * to Kinesis) are deleted, then expired ones, then the oldest of OverwriteOldestData streams.
   * Default 64 MiB or a tenth of the filesystem, whichever is smaller.
   */
  readonly freeSpaceReserveBytes?: number;
  /** How often the free space is looked at besides every segment roll; 0: only at rolls. Default 5 s. */
  readonly diskCheckIntervalMillis?: number;
  /** Free bytes on the store's filesystem; statfs by default. */
  readonly freeSpace?: () => Promise<number>;
}

/** What the store's streams may still grow by, against the room there is. */
export interface StorageReport {
  readonly rootDir: string;
  readonly freeBytes: number;
  /** Sum over File streams of maxSize minus the bytes they hold. */
  readonly growthBytes: number;
}

export interface StreamDescription extends StreamStats {
  readonly definition: StreamDefinition;
}

export interface RecordsOptions extends ReadOptions {
  /** Keep waiting for new records instead of ending at the current end. */
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
}

/** A stream's definition, in its directory. */
const STREAM_FILE = 'stream.json';
/** Memory streams: the sequence high-water mark. */
const SEQUENCE_FILE = 'sequence.json';

const CONSUMER_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const DEFAULT_RETENTION_INTERVAL = 60_000;
const DEFAULT_DISK_CHECK_INTERVAL = 5_000;
const DEFAULT_RESERVE = 64 * 1024 * 1024;

interface Entry {
  readonly stream: LogStream;
  readonly dir: string;
  readonly checkpoints: Map<string, number>;
  /** The note of each consumer's latest commit, where it left one. */
  readonly notes: Map<string, Uint8Array>;
  /** Checkpoint files, opened (created on first commit) once per consumer; File persistence only. */
  readonly checkpointFiles: Map<string, Promise<CheckpointFile>>;
  /** Consumers whose checkpoint is still a version-1 `<c>.json` (migrated at open, or at the next commit). */
  readonly legacy: Set<string>;
}

function setNote(entry: Entry, consumer: string, note: Uint8Array | undefined): void {
  if (note === undefined) entry.notes.delete(consumer);
  else entry.notes.set(consumer, note);
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isCode(error, 'EPERM');
  }
}

/** LOCK's fixed size: it is rewritten in place, so taking over a stale lock needs no free space. */
const LOCK_BYTES = 64;

function lockContent(pid: number, boot: string): Buffer {
  return Buffer.from(`${`${pid} ${boot}`.padEnd(LOCK_BYTES - 1)}\n`);
}

/**
 * One process per store: a second writer would interleave frames. Stale locks (dead pid, reboot,
 * or pid 0, written by a clean close) are taken over by rewriting the file in place.
 */
async function acquireLock(root: string): Promise<void> {
  const path = join(root, 'LOCK');
  const boot = bootId();
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx');
  } catch (error) {
    if (!isCode(error, 'EEXIST')) throw storageError(error, path);
    const [pidText, lockBoot] = (await readFile(path, 'utf8').catch(() => '')).trim().split(/\s+/);
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && lockBoot === boot && isAlive(pid)) {
      throw new StoreLockedError(root, pid);
    }
    handle = await open(path, 'r+');
  }
  try {
    const content = lockContent(process.pid, boot);
    await handle.write(content, 0, content.length, 0);
    await handle.truncate(content.length);
    await handle.sync();
  } catch (error) {
    throw storageError(error, path);
  } finally {
    await handle.close();
  }
}

/** Marks the lock released (pid 0) in place, keeping the file's block for the next start. */
async function releaseLock(root: string): Promise<void> {
  const handle = await open(join(root, 'LOCK'), 'r+');
  try {
    const content = lockContent(0, bootId());
    await handle.write(content, 0, content.length, 0);
  } finally {
    await handle.close();
  }
}

/** ENOSPC and EDQUOT become StorageFullError naming `path`; anything else is returned as is. */
function storageError(error: unknown, path: string): unknown {
  return isNoSpace(error) ? new StorageFullError(path, error) : error;
}

async function statfsFree(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}

/** A small JSON file through the LogDir seam (definitions, reservations, version-1 checkpoints); undefined when missing. */
async function readDirJson(dir: LogDir, name: string): Promise<unknown> {
  const file = await dir.open(name, 'read');
  if (file === undefined) return undefined;
  try {
    const chunks: Buffer[] = [];
    for (let position = 0; ; ) {
      const buf = Buffer.alloc(64 * 1024);
      const n = await file.read(buf, position, buf.length);
      chunks.push(buf.subarray(0, n));
      position += n;
      if (n < buf.length) break;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new LogFormatError(join(dir.path, name), `not JSON: ${String(error)}`);
    }
  } finally {
    await file.close();
  }
}

function assertConsumerName(consumer: string): void {
  if (!CONSUMER_NAME.test(consumer)) {
    throw new ConfigError('consumer', consumer, 'must be 1-128 of A-Z a-z 0-9 _ - . and not start with "."');
  }
}

async function closeCheckpoints(entry: Entry): Promise<void> {
  const files = await Promise.allSettled(entry.checkpointFiles.values());
  entry.checkpointFiles.clear();
  for (const file of files) if (file.status === 'fulfilled') await file.value.close();
}

export class LogStore {
  private readonly streams = new Map<string, Entry>();
  private adminChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly clock: () => number;
  private readonly openDir: (path: string) => LogDir;
  private retentionTimer: NodeJS.Timeout | undefined;
  private retentionRunning: Promise<void> | undefined;
  private diskTimer: NodeJS.Timeout | undefined;
  private relieving: Promise<void> | undefined;
  /** A write failed for lack of space since the last relief started: free what can be freed. */
  private spaceShort = false;
  private reserve = 0;
  private readonly freeSpace: () => Promise<number>;
  private readonly reportError: (error: unknown) => void;

  private constructor(
    readonly rootDir: string,
    options: LogStoreOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.openDir = options.openDir ?? ((path) => new FsDir(path));
    this.freeSpace = options.freeSpace ?? (() => statfsFree(rootDir));
    this.reportError = options.onBackgroundError ?? ((e) => process.emitWarning(String(e)));
  }

  /**
   * Opens (creating if needed) the store at `rootDir`. Per stream this lists segment files and
   * scans only the last segment's tail, so open time does not grow with the backlog.
   */
  static async open(rootDir: string, options: LogStoreOptions = {}): Promise<LogStore> {
    await mkdir(join(rootDir, 'streams'), { recursive: true }).catch((error: unknown) => {
      throw storageError(error, join(rootDir, 'streams'));
    });
    await acquireLock(rootDir);
    const store = new LogStore(rootDir, options);
    try {
      for (const staging of ['.tmp', '.trash']) {
        // Emptied, not recreated: a new directory needs a block, which a full disk does not have.
        const path = join(rootDir, staging);
        await mkdir(path, { recursive: true }).catch((error: unknown) => {
          throw storageError(error, path);
        });
        for (const name of await readdir(path)) await rm(join(path, name), { recursive: true, force: true });
      }
      for (const name of (await readdir(join(rootDir, 'streams'))).sort()) {
        await store.load(name);
      }
      store.reserve = options.freeSpaceReserveBytes ?? (await store.defaultReserve());
    } catch (error) {
      await store.close();
      throw error;
    }
    const interval = options.retentionIntervalMillis ?? DEFAULT_RETENTION_INTERVAL;
    if (interval > 0) {
      store.retentionTimer = setInterval(() => {
        store.enforceRetention().catch(store.reportError);
      }, interval);
      store.retentionTimer.unref();
    }
    const diskInterval = options.diskCheckIntervalMillis ?? DEFAULT_DISK_CHECK_INTERVAL;
    if (diskInterval > 0) {
      store.diskTimer = setInterval(() => store.checkSpace(), diskInterval);
      store.diskTimer.unref();
    }
    // A restart on a full disk: make room before the first append asks for it.
    store.checkSpace();
    return store;
  }

  private async defaultReserve(): Promise<number> {
    try {
      const stats = await statfs(this.rootDir);
      return Math.min(DEFAULT_RESERVE, Math.floor((stats.blocks * stats.bsize) / 10));
    } catch {
      return DEFAULT_RESERVE;
    }
  }

  /** Starts a look at the free space (and relief if it is short) unless one is running. */
  private checkSpace(): void {
    if (this.closed) return;
    this.relieving ??= this.relieve()
      .catch(this.reportError)
      .finally(() => {
        this.relieving = undefined;
        // A write failed for space while the relief ran: look again.
        if (this.spaceShort) this.checkSpace();
      });
  }

  /**
   * Frees space when it is below the reserve (or a write just failed for lack of it): first the
   * segments every consumer has had (exported to Kinesis, so nothing is lost), then expired ones,
   * then the oldest segments of OverwriteOldestData streams, counted as dropped.
   */
  private async relieve(): Promise<void> {
    const forced = this.spaceShort;
    this.spaceShort = false;
    const before = await this.freeSpace();
    // After a failed write the reserve may look kept while the write still did not fit: then any
    // space freed counts as progress, and each step runs at least once.
    const enough = async (): Promise<boolean> => {
      if (this.closed) return true;
      const free = await this.freeSpace();
      return free >= this.reserve && (!forced || free > before);
    };
    if (!forced && before >= this.reserve) return;
    const entries = () =>
      [...this.streams.values()].filter((e) => e.stream.definition.persistence === 'File');
    for (const { stream } of entries()) await stream.reclaim().catch(this.reportError);
    if (await enough()) return;
    for (const { stream } of entries()) await stream.expire().catch(this.reportError);
    let freed = true;
    while (freed && !(await enough())) {
      freed = false;
      for (const { stream } of entries()) {
        if (stream.definition.strategyOnFull !== 'OverwriteOldestData') continue;
        const bytes = await stream.dropOldest().catch((error: unknown) => {
          this.reportError(error);
          return 0;
        });
        if (bytes > 0) freed = true;
        if (await enough()) return;
      }
    }
  }

  /**
   * Resolves once the streams' reloads after failed writes and the space relief they or low space
   * started (if any) are done: what a caller waits for before retrying a refused append.
   */
  async settled(): Promise<void> {
    for (const { stream } of [...this.streams.values()]) await stream.settled();
    while (this.relieving !== undefined) await this.relieving;
  }

  /** Free space against what the File streams may still grow by (their maxSize). */
  async storageReport(): Promise<StorageReport> {
    this.assertOpen();
    let growthBytes = 0;
    for (const { stream } of this.streams.values()) {
      if (stream.definition.persistence !== 'File') continue;
      growthBytes += Math.max(0, stream.definition.maxSize - stream.stats().bytes);
    }
    return { rootDir: this.rootDir, freeBytes: await this.freeSpace(), growthBytes };
  }

  /** Every consumer of the stream has the records below min(checkpoint) + 1. */
  private updateReclaimable(entry: Entry): void {
    if (entry.checkpoints.size === 0) return;
    entry.stream.setReclaimable(Math.min(...entry.checkpoints.values()) + 1);
  }

  private streamDir(name: string): string {
    return join(this.rootDir, 'streams', name);
  }

  private async load(dirName: string): Promise<void> {
    const dir = this.streamDir(dirName);
    const json = await readDirJson(this.openDir(dir), STREAM_FILE);
    if (json === undefined) {
      await this.dropUnfinished(dir);
      return;
    }
    const definition = parseStreamDefinition(json);
    if (definition.name !== dirName) {
      throw new LogFormatError(join(dir, STREAM_FILE), `names stream ${JSON.stringify(definition.name)}`);
    }
    const checkpoints = new Map<string, number>();
    const notes = new Map<string, Uint8Array>();
    const legacy = new Set<string>();
    if (definition.persistence === 'File') {
      const consumers = this.openDir(join(dir, 'consumers'));
      const names = (await consumers.list()).map((e) => e.name).sort();
      for (const file of names) {
        if (file.startsWith('.')) await consumers.remove(file);
        else if (file.endsWith(CHECKPOINT_SUFFIX)) {
          const value = await CheckpointFile.read(consumers, file);
          const consumer = file.slice(0, -CHECKPOINT_SUFFIX.length);
          if (value !== undefined) checkpoints.set(consumer, value.sequence);
          if (value?.note !== undefined) notes.set(consumer, value.note);
        }
      }
      for (const file of names) {
        const consumer = file.slice(0, -'.json'.length);
        if (!file.endsWith('.json') || file.startsWith('.')) continue;
        // A valid .ckpt beside it was created from it (crash before the .json was removed) or is newer.
        if (checkpoints.has(consumer)) await consumers.remove(file);
        else {
          const value = ((await readDirJson(consumers, file)) ?? {}) as { sequence?: unknown };
          if (typeof value.sequence === 'number') checkpoints.set(consumer, value.sequence);
          legacy.add(consumer);
        }
      }
    }
    const entry = await this.attach(definition, dir, checkpoints, legacy, notes);
    for (const consumer of [...legacy]) {
      try {
        await this.checkpointFile(entry, consumer);
      } catch (error) {
        // A full disk: the .json keeps the checkpoint until a commit finds room for the slot file.
        if (!(error instanceof StorageFullError)) throw error;
      }
    }
  }

  private async attach(
    definition: StreamDefinition,
    dir: string,
    checkpoints: Map<string, number>,
    legacy = new Set<string>(),
    notes = new Map<string, Uint8Array>(),
  ): Promise<Entry> {
    const clock = this.clock;
    const hooks = {
      onStorageFull: () => {
        this.spaceShort = true;
        this.checkSpace();
      },
      onRoll: () => this.checkSpace(),
    };
    const stream =
      definition.persistence === 'File'
        ? await LogStream.open(definition, this.openDir(join(dir, 'segments')), {
            clock,
            initialSequence: 0,
            ...hooks,
          })
        : await LogStream.open(definition, new MemoryDir(), {
            clock,
            initialSequence: await this.readReservation(dir),
            reserveSequences: (upTo) => this.writeMeta(dir, SEQUENCE_FILE, JSON.stringify({ next: upTo })),
          });
    const entry: Entry = { stream, dir, checkpoints, notes, checkpointFiles: new Map(), legacy };
    this.updateReclaimable(entry);
    this.streams.set(definition.name, entry);
    return entry;
  }

  /**
   * The consumer's open slot file, created on first use; a version-1 `.json` checkpoint is carried
   * over into it and then removed.
   */
  private checkpointFile(entry: Entry, consumer: string): Promise<CheckpointFile> {
    let opening = entry.checkpointFiles.get(consumer);
    if (opening === undefined) {
      const dir = this.openDir(join(entry.dir, 'consumers'));
      const sequence = entry.checkpoints.get(consumer);
      const name = `${consumer}${CHECKPOINT_SUFFIX}`;
      opening = (async () => {
        const file = await CheckpointFile.open(
          dir,
          name,
          sequence === undefined ? undefined : { sequence, committedAt: this.clock() },
        ).catch((error: unknown) => {
          throw storageError(error, join(dir.path, name));
        });
        if (entry.legacy.delete(consumer)) {
          await dir.remove(`${consumer}.json`);
          await dir.sync();
        }
        return file;
      })();
      entry.checkpointFiles.set(consumer, opening);
      // A failed open (no space for the new file) is retried by the next commit.
      opening.catch(() => entry.checkpointFiles.delete(consumer));
    }
    return opening;
  }

  /** Memory streams restart after every sequence they may have handed out, so ids are never reused. */
  private async readReservation(dir: string): Promise<number> {
    const value = (await readDirJson(this.openDir(dir), SEQUENCE_FILE)) as { next?: unknown } | undefined;
    return typeof value?.next === 'number' && Number.isSafeInteger(value.next) ? value.next : 0;
  }

  /**
   * Replaces a stream's metadata file through the LogDir seam (so storage faults can be injected):
   * no space is StorageFullError, anything else MetadataWriteError; both name the file.
   */
  private async writeMeta(dir: string, name: string, content: string): Promise<void> {
    try {
      await this.openDir(dir).replace(name, Buffer.from(content, 'utf8'));
    } catch (error) {
      if (isNoSpace(error)) throw new StorageFullError(join(dir, name), error);
      throw new MetadataWriteError(join(dir, name), error);
    }
  }

  /**
   * A stream directory without stream.json: a create that stopped before its definition was durable.
   * Removed when it holds nothing; one that holds data is refused rather than deleted.
   */
  private async dropUnfinished(dir: string): Promise<void> {
    for (const sub of ['segments', 'consumers']) {
      const entries = await this.openDir(join(dir, sub))
        .list()
        .catch((error: unknown) => {
          if (isCode(error, 'ENOENT')) return [];
          throw error;
        });
      if (entries.length > 0) {
        throw new LogFormatError(
          join(dir, STREAM_FILE),
          `is missing while ${sub}/ holds ${entries.length} files; restore it or remove the directory`,
        );
      }
    }
    const trash = join(this.rootDir, '.trash', randomBytes(8).toString('hex'));
    await rename(dir, trash);
    await rm(trash, { recursive: true, force: true });
  }

  private assertOpen(): void {
    if (this.closed) throw new LogClosedError();
  }

  private entry(name: string): Entry {
    this.assertOpen();
    const entry = this.streams.get(name);
    if (entry === undefined) throw new StreamNotFoundError(name);
    return entry;
  }

  /** Runs stream create/update/delete one at a time. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.adminChain.then(() => {
      this.assertOpen();
      return work();
    });
    this.adminChain = run.catch(() => {});
    return run;
  }

  /** Creates a stream; its directory appears atomically (staged in .tmp, then renamed). */
  createStream(input: StreamDefinitionInput): Promise<StreamDefinition> {
    return this.exclusive(async () => {
      const definition = parseStreamDefinition(input);
      if (this.streams.has(definition.name)) throw new StreamExistsError(definition.name);
      const staging = join(this.rootDir, '.tmp', randomBytes(8).toString('hex'));
      await mkdir(join(staging, 'segments'), { recursive: true });
      await mkdir(join(staging, 'consumers'));
      const dir = this.streamDir(definition.name);
      await rename(staging, dir);
      await syncDir(join(this.rootDir, 'streams'));
      // The definition goes last: a stream exists once its stream.json is durable, and an open
      // removes a directory left without one (see dropUnfinished).
      try {
        await this.writeMeta(dir, STREAM_FILE, `${JSON.stringify(definition, null, 2)}\n`);
      } catch (error) {
        await this.dropUnfinished(dir).catch(() => {});
        throw error;
      }
      await this.attach(definition, dir, new Map());
      return definition;
    });
  }

  /** Replaces a stream's definition. Persistence cannot change; limits apply from the next append. */
  updateStream(input: StreamDefinitionInput): Promise<StreamDefinition> {
    return this.exclusive(async () => {
      const definition = parseStreamDefinition(input);
      const entry = this.entry(definition.name);
      const current = entry.stream.definition;
      if (definition.persistence !== current.persistence) {
        throw new ConfigError(
          'persistence',
          definition.persistence,
          `cannot change from ${current.persistence}`,
        );
      }
      const content = `${JSON.stringify(definition, null, 2)}\n`;
      try {
        await this.writeMeta(entry.dir, STREAM_FILE, content);
        entry.stream.updateDefinition(definition);
      } catch (error) {
        if (!(error instanceof StorageFullError)) throw error;
        // A full disk is what a new policy (OverwriteOldestData, a TTL) is often meant to fix:
        // apply it, free what it allows, and try once more. If that fails the new definition
        // still applies in this process, and the error says stream.json is behind.
        entry.stream.updateDefinition(definition);
        this.spaceShort = true;
        this.checkSpace();
        await this.settled();
        await this.writeMeta(entry.dir, STREAM_FILE, content);
      }
      return definition;
    });
  }

  /** Flushes pending appends, then removes the stream and all its data and checkpoints. */
  deleteStream(name: string): Promise<void> {
    return this.exclusive(async () => {
      const entry = this.entry(name);
      this.streams.delete(name);
      await entry.stream.close();
      await closeCheckpoints(entry);
      const trash = join(this.rootDir, '.trash', randomBytes(8).toString('hex'));
      await rename(entry.dir, trash);
      await syncDir(join(this.rootDir, 'streams'));
      await rm(trash, { recursive: true, force: true });
    });
  }

  listStreams(): string[] {
    this.assertOpen();
    return [...this.streams.keys()].sort();
  }

  describeStream(name: string): StreamDescription {
    const { stream } = this.entry(name);
    return { definition: stream.definition, ...stream.stats() };
  }

  /** Resolves once the record is fsynced (group commit or per-append, per the definition). */
  append(name: string, payload: Uint8Array): Promise<AppendResult> {
    try {
      return this.entry(name).stream.append(payload);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Appends all payloads with consecutive sequences in one batch, or none of them. */
  appendMany(name: string, payloads: readonly Uint8Array[]): Promise<AppendManyResult> {
    try {
      return this.entry(name).stream.appendMany(payloads);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** One bounded batch of acknowledged records, every CRC verified. */
  async read(name: string, options: ReadOptions = {}): Promise<LogRecord[]> {
    return this.entry(name).stream.read(options);
  }

  /** All records from `fromSequence` on, batch by batch; with `follow`, waits for new ones. */
  async *records(name: string, options: RecordsOptions = {}): AsyncGenerator<LogRecord> {
    let next = options.fromSequence ?? 0;
    for (;;) {
      const batch = await this.read(name, { ...options, fromSequence: next });
      const last = batch.at(-1);
      if (last === undefined) {
        if (options.follow !== true) return;
        await this.waitFor(name, next, options.signal);
        continue;
      }
      yield* batch;
      next = last.sequence + 1;
    }
  }

  /** Resolves once `sequence` is acknowledged and readable. */
  async waitFor(name: string, sequence: number, signal?: AbortSignal): Promise<void> {
    return this.entry(name).stream.waitFor(sequence, signal);
  }

  /** Deletes whole segments whose records are all below `beforeSequence`. Returns records removed. */
  async trim(name: string, beforeSequence: number): Promise<number> {
    return this.entry(name).stream.trim(beforeSequence);
  }

  /**
   * Durably records that `consumer` has processed `stream` up to and including `sequence`: one
   * in-place slot write and fdatasync (in RAM for Memory streams). Commits issued while a write is
   * in flight are coalesced: the newest is written next, and all of them resolve when it is durable.
   * `note` (at most CHECKPOINT_NOTE_MAX_BYTES) is kept with the commit; `checkpointNote` returns it.
   */
  async commit(name: string, consumer: string, sequence: number, note?: Uint8Array): Promise<void> {
    const entry = this.entry(name);
    assertConsumerName(consumer);
    const next = entry.stream.stats().nextSequence;
    if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence >= next) {
      throw new InvalidSequenceError(name, sequence, `is not an acknowledged sequence (next is ${next})`);
    }
    if (note !== undefined && note.byteLength > CHECKPOINT_NOTE_MAX_BYTES) {
      throw new RangeError(`checkpoint note of ${note.byteLength} bytes, over ${CHECKPOINT_NOTE_MAX_BYTES}`);
    }
    if (entry.stream.definition.persistence === 'Memory') {
      entry.checkpoints.set(consumer, sequence);
      setNote(entry, consumer, note);
      return;
    }
    let file: CheckpointFile;
    try {
      file = await this.checkpointFile(entry, consumer);
    } catch (error) {
      // Only a missing slot file needs space; make room for the next try.
      if (error instanceof StorageFullError) {
        this.spaceShort = true;
        this.checkSpace();
      }
      throw error;
    }
    await file.commit({ sequence, committedAt: this.clock(), note }).catch((error: unknown) => {
      throw storageError(error, join(entry.dir, 'consumers', file.name));
    });
    entry.checkpoints.set(consumer, sequence);
    setNote(entry, consumer, note);
    this.updateReclaimable(entry);
  }

  /**
   * Creates the consumer's checkpoint file now, so its first commit needs no free space either: a
   * consumer that first commits on a full disk would otherwise find no room, and nothing can be
   * reclaimed before some consumer has committed.
   */
  async prepareCheckpoint(name: string, consumer: string): Promise<void> {
    const entry = this.entry(name);
    assertConsumerName(consumer);
    if (entry.stream.definition.persistence === 'Memory') return;
    await this.checkpointFile(entry, consumer);
  }

  /** The last sequence `consumer` committed, or undefined if it never did. */
  committed(name: string, consumer: string): number | undefined {
    return this.entry(name).checkpoints.get(consumer);
  }

  /** The note of `consumer`'s latest commit, or undefined when it left none (or it was torn). */
  checkpointNote(name: string, consumer: string): Uint8Array | undefined {
    return this.entry(name).notes.get(consumer);
  }

  /** Applies timeToLiveMillis to every stream now (the background timer calls this too). */
  enforceRetention(): Promise<void> {
    this.assertOpen();
    this.retentionRunning ??= (async () => {
      try {
        for (const { stream } of [...this.streams.values()]) await stream.expire();
      } finally {
        this.retentionRunning = undefined;
      }
    })();
    return this.retentionRunning;
  }

  /** Flushes every stream, releases files and the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.retentionTimer);
    clearInterval(this.diskTimer);
    await this.adminChain;
    await this.retentionRunning?.catch(() => {});
    await this.relieving?.catch(() => {});
    const errors: unknown[] = [];
    for (const entry of this.streams.values()) {
      try {
        await entry.stream.close();
        await closeCheckpoints(entry);
      } catch (error) {
        errors.push(error);
      }
    }
    this.streams.clear();
    await releaseLock(this.rootDir).catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw errors[0];
  }
}
