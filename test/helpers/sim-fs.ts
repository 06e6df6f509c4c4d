/**
 * A simulated filesystem behind the log's LogDir seam, for storage-fault tests: it fails the next
 * write, fsync or create on request (segments, checkpoints and the atomic replace of stream.json), runs out of space (writes that need new blocks fail with
 * ENOSPC, overwrites inside a file's size do not, as on ext4), and on `powerLoss()` drops every byte
 * and every directory change not yet synced, as a power cut would.
 */
import type { DirEntry, LogDir, LogFile } from '../../device/log/io.ts';

export type FaultOp = 'write' | 'sync' | 'create' | 'dirSync' | 'remove';

function errno(code: string, op: string, path: string): NodeJS.ErrnoException {
  const error = new Error(`${code}: simulated ${op} failure, ${path}`) as NodeJS.ErrnoException;
  error.code = code;
  return error;
}

interface SimFile {
  /** What a read sees (the page cache). */
  data: Buffer;
  /** What survives a power cut. */
  durable: Buffer;
}

interface DirState {
  /** Current names (the dentry cache). */
  readonly files: Map<string, SimFile>;
  /** Names that survive a power cut. */
  durable: Map<string, SimFile>;
}

export class SimFs {
  readonly #dirs = new Map<string, DirState>();
  readonly #faults: { op: FaultOp; code: string; match: (path: string) => boolean }[] = [];
  /** Bumped by powerLoss(): handles of an earlier epoch fail with EIO. */
  epoch = 0;
  /** Bytes that may still be allocated; undefined: no limit. */
  freeBytes: number | undefined;
  readonly counts: Record<FaultOp, number> = { write: 0, sync: 0, create: 0, dirSync: 0, remove: 0 };

  /** The LogStore `openDir` option. */
  readonly openDir = (path: string): LogDir => new SimDir(this, path, this.#dir(path));

  #dir(path: string): DirState {
    let dir = this.#dirs.get(path);
    if (dir === undefined) {
      dir = { files: new Map(), durable: new Map() };
      this.#dirs.set(path, dir);
    }
    return dir;
  }

  /** The next `op` on a path containing `pathPart` fails with `code`. */
  failNext(op: FaultOp, code = 'EIO', pathPart = ''): void {
    this.#faults.push({ op, code, match: (path) => path.includes(pathPart) });
  }

  /** Throws when a queued fault matches. */
  check(op: FaultOp, path: string): void {
    this.counts[op]++;
    const at = this.#faults.findIndex((f) => f.op === op && f.match(path));
    if (at < 0) return;
    const [fault] = this.#faults.splice(at, 1);
    throw errno(fault?.code ?? 'EIO', op, path);
  }

  /** Takes `bytes` of space, or throws ENOSPC. */
  allocate(bytes: number, path: string): void {
    if (bytes <= 0 || this.freeBytes === undefined) return;
    if (bytes > this.freeBytes) throw errno('ENOSPC', 'write', path);
    this.freeBytes -= bytes;
  }

  release(bytes: number): void {
    if (this.freeBytes !== undefined && bytes > 0) this.freeBytes += bytes;
  }

  /** A power cut: unsynced bytes and directory changes are gone; open handles are dead. */
  powerLoss(): void {
    this.epoch++;
    for (const dir of this.#dirs.values()) {
      dir.files.clear();
      for (const [name, file] of dir.durable) {
        file.data = Buffer.from(file.durable);
        dir.files.set(name, file);
      }
    }
  }

  /** Current content of a file, for assertions. */
  content(path: string, name: string): Buffer | undefined {
    return this.#dirs.get(path)?.files.get(name)?.data;
  }
}

class SimHandle implements LogFile {
  readonly #epoch: number;
  constructor(
    private readonly fs: SimFs,
    private readonly path: string,
    private readonly file: SimFile,
  ) {
    this.#epoch = fs.epoch;
  }

  #alive(): void {
    if (this.#epoch !== this.fs.epoch) {
      const error = new Error(`EIO: handle from before a power loss, ${this.path}`) as NodeJS.ErrnoException;
      error.code = 'EIO';
      throw error;
    }
  }

  async read(buffer: Buffer, position: number, length: number): Promise<number> {
    this.#alive();
    const n = Math.max(0, Math.min(length, this.file.data.length - position));
    this.file.data.copy(buffer, 0, position, position + n);
    return n;
  }

  async writev(buffers: readonly Buffer[], position: number): Promise<void> {
    this.#alive();
    this.fs.check('write', this.path);
    const total = buffers.reduce((n, b) => n + b.length, 0);
    const end = position + total;
    const f = this.file;
    if (end > f.data.length) {
      this.fs.allocate(end - f.data.length, this.path);
      const grown = Buffer.alloc(end);
      f.data.copy(grown);
      f.data = grown;
    }
    let at = position;
    for (const b of buffers) {
      b.copy(f.data, at);
      at += b.length;
    }
  }

  async sync(): Promise<void> {
    this.#alive();
    this.fs.check('sync', this.path);
    this.file.durable = Buffer.from(this.file.data);
  }

  async truncate(length: number): Promise<void> {
    this.#alive();
    if (length < this.file.data.length) {
      this.fs.release(this.file.data.length - length);
      this.file.data = Buffer.from(this.file.data.subarray(0, length));
    }
  }

  async close(): Promise<void> {}
}

/** Directories opened before a power loss are dead too: a crashed process's retries must not touch the disk. */
class SimDir implements LogDir {
  readonly #epoch: number;
  constructor(
    private readonly fs: SimFs,
    readonly path: string,
    private readonly state: DirState,
  ) {
    this.#epoch = fs.epoch;
  }

  #alive(): void {
    if (this.#epoch !== this.fs.epoch) {
      throw Object.assign(new Error(`EIO: directory from before a power loss, ${this.path}`), {
        code: 'EIO',
      });
    }
  }

  async list(): Promise<DirEntry[]> {
    this.#alive();
    return [...this.state.files].map(([name, f]) => ({ name, size: f.data.length }));
  }

  async create(name: string): Promise<LogFile> {
    this.#alive();
    const path = `${this.path}/${name}`;
    this.fs.check('create', path);
    if (this.state.files.has(name)) throw Object.assign(new Error(`EEXIST: ${path}`), { code: 'EEXIST' });
    const file: SimFile = { data: Buffer.alloc(0), durable: Buffer.alloc(0) };
    this.state.files.set(name, file);
    return new SimHandle(this.fs, path, file);
  }

  async open(name: string): Promise<LogFile | undefined> {
    this.#alive();
    const file = this.state.files.get(name);
    return file === undefined ? undefined : new SimHandle(this.fs, `${this.path}/${name}`, file);
  }

  async remove(name: string): Promise<void> {
    this.#alive();
    this.fs.check('remove', `${this.path}/${name}`);
    const file = this.state.files.get(name);
    if (file === undefined) return;
    this.state.files.delete(name);
    this.fs.release(file.data.length);
  }

  async sync(): Promise<void> {
    this.#alive();
    this.fs.check('dirSync', this.path);
    this.state.durable = new Map(this.state.files);
  }

  /**
   * As FsDir does it: a temp file (create, write, fsync), renamed over the target, then a directory
   * fsync. Each step can fail; a failed directory fsync leaves the new content visible but not
   * durable, so a power loss brings the old one back.
   */
  async replace(name: string, data: Uint8Array): Promise<void> {
    this.#alive();
    const path = `${this.path}/${name}`;
    this.fs.check('create', path);
    this.fs.check('write', path);
    this.fs.allocate(data.length, path);
    try {
      this.fs.check('sync', path);
    } catch (error) {
      this.fs.release(data.length);
      throw error;
    }
    const previous = this.state.files.get(name);
    this.state.files.set(name, { data: Buffer.from(data), durable: Buffer.from(data) });
    if (previous !== undefined) this.fs.release(previous.data.length);
    await this.sync();
  }
}
