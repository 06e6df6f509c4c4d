import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A shard that was read to its end (after a reshard): its children take over. */
export const SHARD_END = 'SHARD_END';

/**
 * Durable per-shard checkpoints of one mapping: the sequence number of the last Kinesis record whose
 * batch completed (processed, or given up to the on-failure destination). A restarted runner resumes
 * with SubscribeToShard AFTER_SEQUENCE_NUMBER this value, so acknowledged work is never redone and
 * nothing after it is skipped. One JSON file, replaced atomically (write + rename).
 */
export class FileCheckpointStore {
  readonly path: string;
  #checkpoints: Record<string, string> = {};
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string) {
    this.path = path;
  }

  static async open(path: string): Promise<FileCheckpointStore> {
    const store = new FileCheckpointStore(path);
    try {
      store.#checkpoints = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await mkdir(dirname(path), { recursive: true });
    }
    return store;
  }

  get(shardId: string): string | undefined {
    return this.#checkpoints[shardId];
  }

  all(): Readonly<Record<string, string>> {
    return { ...this.#checkpoints };
  }

  /** Records the checkpoint; resolves once it is on disk. Writes are serialized, newest wins. */
  set(shardId: string, sequenceNumber: string): Promise<void> {
    this.#checkpoints[shardId] = sequenceNumber;
    const snapshot = JSON.stringify(this.#checkpoints);
    this.#writing = this.#writing.then(async () => {
      const temporary = `${this.path}.${process.pid}.tmp`;
      await writeFile(temporary, snapshot);
      await rename(temporary, this.path);
    });
    return this.#writing;
  }
}
