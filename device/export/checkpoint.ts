/**
 * Committing an export's checkpoint to the log: each time it advances, the highest sequence with
 * everything before it accepted or dead-lettered goes to the store at once (group commit, not per
 * record): the store writes it without waiting for a sync in progress, so a killed agent re-sends
 * only what Kinesis had not answered, and `whenExported` waiters are released once it is durable.
 */
import { ExportStatusCode } from './errors.ts';
import type { ExporterContext, StreamExport } from './stream-export.ts';

export function pumpCommit(ctx: ExporterContext, e: StreamExport): void {
  const checkpoint = e.state.checkpoint;
  if (checkpoint === undefined) return;
  if (e.requested !== undefined && checkpoint <= e.requested) return;
  e.requested = checkpoint;
  const commit = ctx.store
    .commit(e.definition.logStream, e.definition.checkpointName, checkpoint)
    .then(
      () => {
        if (e.committed !== undefined && e.committed >= checkpoint) return;
        e.committed = checkpoint;
        const waiting = e.waiters.splice(0);
        for (const waiter of waiting) {
          if (waiter.sequence <= checkpoint) waiter.resolve();
          else e.waiters.push(waiter);
        }
      },
      (error: unknown) => {
        // Asked again at the next wake-up.
        if (e.requested === checkpoint) e.requested = e.committed;
        e.state.noteError(
          ExportStatusCode.CHECKPOINT_FAILED,
          error instanceof Error ? error.message : String(error),
          ctx.clock(),
        );
      },
    )
    .finally(() => {
      e.commits.delete(commit);
      ctx.wake();
    });
  e.commits.add(commit);
}
