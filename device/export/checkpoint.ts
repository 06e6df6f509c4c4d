/**
 * Committing an export's checkpoint to the log: at most one commit in flight, each carrying the
 * highest sequence with everything before it accepted or dead-lettered (group commit, not per
 * record), and `whenExported` waiters released once it is durable. Each commit also keeps, in the
 * checkpoint's note, where the export's records last landed per shard (landed.ts).
 */
import { CHECKPOINT_NOTE_MAX_BYTES } from '../log/index.ts';
import { ExportStatusCode } from './errors.ts';
import type { ExporterContext, StreamExport } from './stream-export.ts';

export function pumpCommit(ctx: ExporterContext, e: StreamExport): void {
  const checkpoint = e.state.checkpoint;
  if (e.committing !== undefined || checkpoint === undefined) return;
  if (e.committed !== undefined && checkpoint <= e.committed) return;
  const note = e.positions.size > 0 ? e.positions.encode(CHECKPOINT_NOTE_MAX_BYTES) : undefined;
  e.committing = ctx.store
    .commit(e.definition.logStream, e.definition.checkpointName, checkpoint, note)
    .then(
      () => {
        e.committed = checkpoint;
        const waiting = e.waiters.splice(0);
        for (const waiter of waiting) {
          if (waiter.sequence <= checkpoint) waiter.resolve();
          else e.waiters.push(waiter);
        }
      },
      (error: unknown) => {
        e.state.noteError(
          ExportStatusCode.CHECKPOINT_FAILED,
          error instanceof Error ? error.message : String(error),
          ctx.clock(),
        );
      },
    )
    .finally(() => {
      e.committing = undefined;
      ctx.wake();
    });
}
