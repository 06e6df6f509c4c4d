/**
 * The few file operations a stream needs, with two implementations: real files (fsync'd) and RAM
 * (Memory persistence). Keeping the stream code on this seam means both persistences share one
 * code path for policy, encoding and CRC checks.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface LogFile {
  /** Reads up to `length` bytes at `position`; fewer only at end of file. */
  read(buffer: Buffer, position: number, length: number): Promise<number>;
  /** Writes all buffers back to back at `position`. */
  writev(buffers: readonly Buffer[], position: number): Promise<void>;
  /** Makes written bytes (and the file size) durable. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface DirEntry {
  readonly name: string;
  readonly size: number;
}

export interface LogDir {
  /** For error messages. */
  readonly path: string;
  list(): Promise<DirEntry[]>;
  /** Creates a new, empty file; fails if it exists. */
  create(name: string): Promise<LogFile>;
  /** Opens an existing file, or undefined when there is none (e.g. deleted meanwhile). */
  open(name: string, mode: 'read' | 'write'): Promise<LogFile | undefined>;
  remove(name: string): Promise<void>;
  /** Makes creations and removals in this directory durable. */
  sync(): Promise<void>;
  /**
   * Replaces the small file `name` (stream.json, sequence.json) atomically and durably: a crash
   * leaves the old content or the new one, never a mix, and the new one is durable on return.
   */
  replace(name: string, data: Uint8Array): Promise<void>;
}

export function isCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

class FsFile implements LogFile {
  constructor(private readonly handle: FileHandle) {}

  async read(buffer: Buffer, position: number, length: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  async writev(buffers: readonly Buffer[], position: number): Promise<void> {
    let pending = buffers.filter((b) => b.length > 0);
    let at = position;
    while (pending.length > 0) {
      let { bytesWritten } = await this.handle.writev(pending, at);
      at += bytesWritten;
      // Regular files rarely write short, but the syscall allows it: resume after the written bytes.
      const rest: Buffer[] = [];
      for (const b of pending) {
        if (bytesWritten >= b.length) bytesWritten -= b.length;
        else {
          rest.push(bytesWritten > 0 ? b.subarray(bytesWritten) : b);
          bytesWritten = 0;
        }
      }
      pending = rest;
    }
  }

  sync(): Promise<void> {
    return this.handle.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** fsync of a directory, which makes renames, creations and unlinks in it durable. */
export async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class FsDir implements LogDir {
  constructor(readonly path: string) {}

  async list(): Promise<DirEntry[]> {
    const names = await readdir(this.path);
    const entries: DirEntry[] = [];
    for (const name of names) {
      try {
        entries.push({ name, size: (await stat(join(this.path, name))).size });
      } catch (error) {
        if (!isCode(error, 'ENOENT')) throw error;
      }
    }
    return entries;
  }

  async create(name: string): Promise<LogFile> {
    return new FsFile(await open(join(this.path, name), 'wx+'));
  }

  async open(name: string, mode: 'read' | 'write'): Promise<LogFile | undefined> {
    try {
      return new FsFile(await open(join(this.path, name), mode === 'read' ? 'r' : 'r+'));
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await unlink(join(this.path, name));
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error;
    }
  }

  sync(): Promise<void> {
    return syncDir(this.path);
  }

  /** Temp file, fsync, rename over the target, fsync of the directory. */
  async replace(name: string, data: Uint8Array): Promise<void> {
    const temp = join(this.path, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    try {
      await rename(temp, join(this.path, name));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await this.sync();
  }
}

class MemoryFile implements LogFile {
  constructor(readonly content: { data: Buffer; length: number }) {}

  async read(buffer: Buffer, position: number, length: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.content.length - position));
    this.content.data.copy(buffer, 0, position, position + n);
    return n;
  }

  async writev(buffers: readonly Buffer[], position: number): Promise<void> {
    let total = 0;
    for (const b of buffers) total += b.length;
    const c = this.content;
    const needed = position + total;
    if (needed > c.data.length) {
      // Double to keep appends amortised O(1).
      const grown = Buffer.alloc(Math.max(needed, c.data.length * 2, 4096));
      c.data.copy(grown, 0, 0, c.length);
      c.data = grown;
    }
    let at = position;
    for (const b of buffers) {
      b.copy(c.data, at);
      at += b.length;
    }
    c.length = Math.max(c.length, needed);
  }

  async sync(): Promise<void> {}

  async truncate(length: number): Promise<void> {
    this.content.length = Math.min(this.content.length, length);
  }

  async close(): Promise<void> {}
}

/** RAM-backed directory. Open files keep their content after remove(), as on POSIX. */
export class MemoryDir implements LogDir {
  readonly path = '<memory>';
  private readonly files = new Map<string, { data: Buffer; length: number }>();

  async list(): Promise<DirEntry[]> {
    return [...this.files].map(([name, f]) => ({ name, size: f.length }));
  }

  async create(name: string): Promise<LogFile> {
    if (this.files.has(name)) throw new Error(`${name} exists`);
    const content = { data: Buffer.alloc(0), length: 0 };
    this.files.set(name, content);
    return new MemoryFile(content);
  }

  async open(name: string): Promise<LogFile | undefined> {
    const content = this.files.get(name);
    return content ? new MemoryFile(content) : undefined;
  }

  async remove(name: string): Promise<void> {
    this.files.delete(name);
  }

  async sync(): Promise<void> {}

  async replace(name: string, data: Uint8Array): Promise<void> {
    this.files.set(name, { data: Buffer.from(data), length: data.length });
  }
}
