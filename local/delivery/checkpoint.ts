import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CheckpointError } from './errors.ts';

/**
 * Per-shard progress of a delivery stream, on disk. A flush is two-phase so a crash can never
 * produce a second copy of an object:
 *   1. `begin`: record the batch's last sequence number as pending (fsync),
 *   2. write the objects (names derive from shard + first/last sequence number),
 *   3. `commit`: move the checkpoint to that sequence number and clear pending (fsync).
 * After a crash between 1 and 3, the runner re-reads exactly the pending range, which rebuilds the
 * same objects under the same keys: S3 overwrites them, nothing is lost and nothing doubles.
 */

export interface ShardCheckpoint {
  /** Last sequence number whose records are all in the lake (exclusive start of the next read). */
  sequenceNumber?: string;
  /** A batch whose objects may be partly written: replay exactly up to this sequence number. */
  pendingLastSequenceNumber?: string;
  /** The shard was read to its end (after a reshard) and everything in it delivered. */
  closed?: boolean;
}

/** What the committed batches delivered in all: kept with the checkpoints, so counts continue across restarts. */
export interface DeliveryTotals {
  readonly delivered: number;
  readonly failed: number;
  readonly objects: number;
  readonly bytesWritten: number;
  readonly failures: Readonly<Record<string, number>>;
}

const NO_TOTALS: DeliveryTotals = { delivered: 0, failed: 0, objects: 0, bytesWritten: 0, failures: {} };

interface CheckpointFile {
  version: 1;
  deliveryStream: string;
  /** The source stream's ARN and creation time: a recreated stream restarts from its beginning. */
  streamArn: string;
  streamCreatedMs: number;
  shards: Record<string, ShardCheckpoint>;
  /** Absent in files written before totals were kept: counting starts there. */
  totals?: DeliveryTotals;
}

const count = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

function validTotals(totals: unknown): totals is DeliveryTotals {
  if (totals === null || typeof totals !== 'object') return false;
  const t = totals as Record<string, unknown>;
  return (
    count(t.delivered) &&
    count(t.failed) &&
    count(t.objects) &&
    count(t.bytesWritten) &&
    t.failures !== null &&
    typeof t.failures === 'object' &&
    Object.values(t.failures).every(count)
  );
}

export interface StreamIdentity {
  readonly arn: string;
  readonly createdMs: number;
}

export class CheckpointStore {
  #state: CheckpointFile;
  #writes: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    state: CheckpointFile,
    /** True when an existing checkpoint was dropped because the stream was recreated. */
    readonly reset: boolean,
  ) {
    this.#state = state;
  }

  static async open(file: string, deliveryStream: string, stream: StreamIdentity): Promise<CheckpointStore> {
    const fresh: CheckpointFile = {
      version: 1,
      deliveryStream,
      streamArn: stream.arn,
      streamCreatedMs: stream.createdMs,
      shards: {},
    };
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new CheckpointStore(file, fresh, false);
      throw new CheckpointError(file, 'cannot be read', { cause: error });
    }
    let parsed: CheckpointFile;
    try {
      parsed = JSON.parse(text) as CheckpointFile;
    } catch (error) {
      throw new CheckpointError(file, 'is not valid JSON; delete it to start over from the stream', {
        cause: error,
      });
    }
    if (
      parsed.version !== 1 ||
      parsed.deliveryStream !== deliveryStream ||
      typeof parsed.shards !== 'object' ||
      (parsed.totals !== undefined && !validTotals(parsed.totals))
    ) {
      throw new CheckpointError(file, `is not a checkpoint of delivery stream ${deliveryStream}`);
    }
    // Sequence numbers of another incarnation of the stream mean nothing (in-memory emulators restart empty).
    if (parsed.streamArn !== stream.arn || parsed.streamCreatedMs !== stream.createdMs) {
      return new CheckpointStore(file, fresh, true);
    }
    return new CheckpointStore(file, parsed, false);
  }

  shard(shardId: string): Readonly<ShardCheckpoint> {
    return { ...this.#state.shards[shardId] };
  }

  async begin(shardId: string, lastSequenceNumber: string): Promise<void> {
    this.#update(shardId, (s) => ({ ...s, pendingLastSequenceNumber: lastSequenceNumber }));
    await this.#persist();
  }

  /** Totals of every committed batch (of this stream incarnation, as the checkpoints are). */
  totals(): DeliveryTotals {
    const totals = this.#state.totals ?? NO_TOTALS;
    return { ...totals, failures: { ...totals.failures } };
  }

  /** Moves the shard's checkpoint and adds the batch's figures to the totals, in one write. */
  async commit(shardId: string, sequenceNumber: string, batch: DeliveryTotals = NO_TOTALS): Promise<void> {
    this.#update(shardId, ({ closed }) =>
      closed === undefined ? { sequenceNumber } : { sequenceNumber, closed },
    );
    const totals = this.#state.totals ?? NO_TOTALS;
    const failures = { ...totals.failures };
    for (const [code, n] of Object.entries(batch.failures)) failures[code] = (failures[code] ?? 0) + n;
    this.#state = {
      ...this.#state,
      totals: {
        delivered: totals.delivered + batch.delivered,
        failed: totals.failed + batch.failed,
        objects: totals.objects + batch.objects,
        bytesWritten: totals.bytesWritten + batch.bytesWritten,
        failures,
      },
    };
    await this.#persist();
  }

  async close(shardId: string): Promise<void> {
    this.#update(shardId, (s) => ({ ...s, closed: true }));
    await this.#persist();
  }

  #update(shardId: string, change: (current: ShardCheckpoint) => ShardCheckpoint): void {
    this.#state = {
      ...this.#state,
      shards: { ...this.#state.shards, [shardId]: change(this.#state.shards[shardId] ?? {}) },
    };
  }

  /** Writes are serialized; each writes the latest state via temp file + fsync + rename + dir fsync. */
  #persist(): Promise<void> {
    const run = this.#writes.then(async () => {
      const text = `${JSON.stringify(this.#state, null, 2)}\n`;
      await mkdir(dirname(this.file), { recursive: true });
      const temp = `${this.file}.${randomUUID()}.tmp`;
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.file);
      const dir = await open(dirname(this.file), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    });
    this.#writes = run.catch(() => undefined);
    return run;
  }
}
