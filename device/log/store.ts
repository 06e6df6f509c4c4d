/**
 * LogStore: named streams under one root directory, their definitions and consumer checkpoints.
 *
 *   <root>/LOCK                                  pid + boot id of the owning process
 *   <root>/streams/<name>/stream.json            definition (atomic replace)
 *   <root>/streams/<name>/segments/<seq20>.seg   the log (File persistence)
 *   <root>/streams/<name>/consumers/<c>.ckpt     committed sequence per consumer (slot file, in place)
 *   <root>/streams/<name>/sequence.json          Memory persistence: sequence high-water mark
 *   <root>/.tmp, <root>/.trash                   staging for atomic stream create/delete
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../../shared/errors.ts';
import { CHECKPOINT_SUFFIX, CheckpointFile } from './checkpoint.ts';
import { parseStreamDefinition, type StreamDefinition, type StreamDefinitionInput } from './definition.ts';
import {
  InvalidSequenceError,
  LogClosedError,
  LogFormatError,
  StoreLockedError,
  StreamExistsError,
  StreamNotFoundError,
} from './errors.ts';
import { FsDir, isCode, type LogDir, MemoryDir, syncDir, writeFileAtomic } from './io.ts';
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
}

export interface StreamDescription extends StreamStats {
  readonly definition: StreamDefinition;
}

export interface RecordsOptions extends ReadOptions {
  /** Keep waiting for new records instead of ending at the current end. */
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
}

const CONSUMER_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const DEFAULT_RETENTION_INTERVAL = 60_000;

interface Entry {
  readonly stream: LogStream;
  readonly dir: string;
  readonly checkpoints: Map<string, number>;
  /** Checkpoint files, opened (created on first commit) once per consumer; File persistence only. */
  readonly checkpointFiles: Map<string, Promise<CheckpointFile>>;
  /** Consumers whose checkpoint is still a version-1 `<c>.json` (migrated at open, or at the next commit). */
  readonly legacy: Set<string>;
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

/** One process per store: a second writer would interleave frames. Stale locks (dead pid, reboot) are taken over. */
async function acquireLock(root: string): Promise<void> {
  const path = join(root, 'LOCK');
  const boot = bootId();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(`${process.pid} ${boot}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return;
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
    }
    const [pidText, lockBoot] = (await readFile(path, 'utf8').catch(() => '')).trim().split(' ');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && lockBoot === boot && isAlive(pid)) {
      throw new StoreLockedError(root, pid);
    }
    await rm(path, { force: true });
  }
  throw new StoreLockedError(root, 0);
}

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LogFormatError(path, `not JSON: ${String(error)}`);
  }
}

/** A small JSON file through the LogDir seam (version-1 checkpoints). */
async function readDirJson(dir: LogDir, name: string): Promise<unknown> {
  const file = await dir.open(name, 'read');
  if (file === undefined) return {};
  try {
    const buf = Buffer.alloc(64 * 1024);
    const text = buf.subarray(0, await file.read(buf, 0, buf.length)).toString('utf8');
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new LogFormatError(`${dir.path}/${name}`, `not JSON: ${String(error)}`);
    }
  } finally {
    await file.close();
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

  private constructor(
    readonly rootDir: string,
    options: LogStoreOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.openDir = options.openDir ?? ((path) => new FsDir(path));
  }

  /**
   * Opens (creating if needed) the store at `rootDir`. Per stream this lists segment files and
   * scans only the last segment's tail, so open time does not grow with the backlog.
   */
  static async open(rootDir: string, options: LogStoreOptions = {}): Promise<LogStore> {
    await mkdir(join(rootDir, 'streams'), { recursive: true });
    await acquireLock(rootDir);
    const store = new LogStore(rootDir, options);
    try {
      for (const staging of ['.tmp', '.trash']) {
        await rm(join(rootDir, staging), { recursive: true, force: true });
        await mkdir(join(rootDir, staging));
      }
      for (const name of (await readdir(join(rootDir, 'streams'))).sort()) {
        await store.load(name);
      }
    } catch (error) {
      await store.close();
      throw error;
    }
    const interval = options.retentionIntervalMillis ?? DEFAULT_RETENTION_INTERVAL;
    if (interval > 0) {
      store.retentionTimer = setInterval(() => {
        store.enforceRetention().catch(options.onBackgroundError ?? ((e) => process.emitWarning(String(e))));
      }, interval);
      store.retentionTimer.unref();
    }
    return store;
  }

  private streamDir(name: string): string {
    return join(this.rootDir, 'streams', name);
  }

  private async load(dirName: string): Promise<void> {
    const dir = this.streamDir(dirName);
    const definition = parseStreamDefinition(await readJson(join(dir, 'stream.json')));
    if (definition.name !== dirName) {
      throw new LogFormatError(join(dir, 'stream.json'), `names stream ${JSON.stringify(definition.name)}`);
    }
    const checkpoints = new Map<string, number>();
    const legacy = new Set<string>();
    if (definition.persistence === 'File') {
      const consumers = this.openDir(join(dir, 'consumers'));
      const names = (await consumers.list()).map((e) => e.name).sort();
      for (const file of names) {
        if (file.startsWith('.')) await consumers.remove(file);
        else if (file.endsWith(CHECKPOINT_SUFFIX)) {
          const value = await CheckpointFile.read(consumers, file);
          if (value !== undefined) checkpoints.set(file.slice(0, -CHECKPOINT_SUFFIX.length), value.sequence);
        }
      }
      for (const file of names) {
        const consumer = file.slice(0, -'.json'.length);
        if (!file.endsWith('.json') || file.startsWith('.')) continue;
        // A valid .ckpt beside it was created from it (crash before the .json was removed) or is newer.
        if (checkpoints.has(consumer)) await consumers.remove(file);
        else {
          const value = (await readDirJson(consumers, file)) as { sequence?: unknown };
          if (typeof value.sequence === 'number') checkpoints.set(consumer, value.sequence);
          legacy.add(consumer);
        }
      }
    }
    const entry = await this.attach(definition, dir, checkpoints, legacy);
    for (const consumer of [...legacy]) {
      try {
        await this.checkpointFile(entry, consumer);
      } catch (error) {
        // A full disk: the .json keeps the checkpoint until a commit finds room for the slot file.
        if (!isCode(error, 'ENOSPC')) throw error;
      }
    }
  }

  private async attach(
    definition: StreamDefinition,
    dir: string,
    checkpoints: Map<string, number>,
    legacy = new Set<string>(),
  ): Promise<Entry> {
    const clock = this.clock;
    const stream =
      definition.persistence === 'File'
        ? await LogStream.open(definition, this.openDir(join(dir, 'segments')), { clock, initialSequence: 0 })
        : await LogStream.open(definition, new MemoryDir(), {
            clock,
            initialSequence: await this.readReservation(dir),
            reserveSequences: (upTo) => writeFileAtomic(dir, 'sequence.json', JSON.stringify({ next: upTo })),
          });
    const entry: Entry = { stream, dir, checkpoints, checkpointFiles: new Map(), legacy };
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
      opening = (async () => {
        const file = await CheckpointFile.open(
          dir,
          `${consumer}${CHECKPOINT_SUFFIX}`,
          sequence === undefined ? undefined : { sequence, committedAt: this.clock() },
        );
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
    try {
      const value = (await readJson(join(dir, 'sequence.json'))) as { next?: unknown };
      return typeof value.next === 'number' && Number.isSafeInteger(value.next) ? value.next : 0;
    } catch (error) {
      if (isCode(error, 'ENOENT')) return 0;
      throw error;
    }
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
      await writeFileAtomic(staging, 'stream.json', `${JSON.stringify(definition, null, 2)}\n`);
      const dir = this.streamDir(definition.name);
      await rename(staging, dir);
      await syncDir(join(this.rootDir, 'streams'));
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
      await writeFileAtomic(entry.dir, 'stream.json', `${JSON.stringify(definition, null, 2)}\n`);
      entry.stream.updateDefinition(definition);
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
   */
  async commit(name: string, consumer: string, sequence: number): Promise<void> {
    const entry = this.entry(name);
    if (!CONSUMER_NAME.test(consumer)) {
      throw new ConfigError(
        'consumer',
        consumer,
        'must be 1-128 of A-Z a-z 0-9 _ - . and not start with "."',
      );
    }
    const next = entry.stream.stats().nextSequence;
    if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence >= next) {
      throw new InvalidSequenceError(name, sequence, `is not an acknowledged sequence (next is ${next})`);
    }
    if (entry.stream.definition.persistence === 'Memory') {
      entry.checkpoints.set(consumer, sequence);
      return;
    }
    const file = await this.checkpointFile(entry, consumer);
    await file.commit({ sequence, committedAt: this.clock() });
    entry.checkpoints.set(consumer, sequence);
  }

  /** The last sequence `consumer` committed, or undefined if it never did. */
  committed(name: string, consumer: string): number | undefined {
    return this.entry(name).checkpoints.get(consumer);
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
    await this.adminChain;
    await this.retentionRunning?.catch(() => {});
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
    await rm(join(this.rootDir, 'LOCK'), { force: true });
    if (errors.length > 0) throw errors[0];
  }
}
