/**
 * Reading an export's log stream ahead of what Kinesis has accepted: bounded chunks while the
 * read-ahead has room, a wait at the end of the log, and damaged frames reported (the intact records
 * before them still sent, the damaged range dead-lettered) instead of stopping the export.
 */

import { CorruptRecordError, type LogRecord } from '../log/index.ts';
import { ExportStatusCode } from './errors.ts';
import { MiB } from './options.ts';
import type { RecordRouter } from './record-router.ts';
import type { ExporterContext, StreamExport } from './stream-export.ts';

export function pumpRead(
  ctx: ExporterContext,
  router: RecordRouter,
  e: StreamExport,
  now: number,
  stopping: boolean,
  signal: AbortSignal,
): void {
  if (e.reading !== undefined || e.awaitingAppend || e.readRetryAt > now || stopping) return;
  // The read-back decides first which of the next records need no second send.
  if (e.readBack !== 'done') return;
  const { maxBufferedBytes } = ctx.options;
  const room = maxBufferedBytes - e.state.bufferedBytes;
  if (room < maxBufferedBytes / 4) return;
  const name = e.definition.logStream;
  e.reading = (async () => {
    try {
      const records = await ctx.store.read(name, {
        fromSequence: e.nextRead,
        maxRecords: 4096,
        maxBytes: Math.min(MiB, room),
      });
      const last = records.at(-1);
      if (last === undefined) {
        e.awaitingAppend = true;
        ctx.store.waitFor(name, e.nextRead, signal).then(
          () => {
            e.awaitingAppend = false;
            ctx.wake();
          },
          () => {
            e.awaitingAppend = false;
          },
        );
        return;
      }
      const first = records[0] as LogRecord;
      if (first.sequence > e.nextRead) e.lostBeforeExport += first.sequence - e.nextRead;
      e.state.offer(router.routeAll(e.state, records, e.landed));
      e.nextRead = last.sequence + 1;
      if (e.landed.size > 0 && ![...e.landed].some((sequence) => sequence >= e.nextRead))
        e.landed = new Set();
    } catch (error) {
      readFailed(ctx, router, e, error);
    }
  })().finally(() => {
    e.reading = undefined;
    ctx.wake();
  });
}

function readFailed(ctx: ExporterContext, router: RecordRouter, e: StreamExport, error: unknown): void {
  const now = ctx.clock();
  if (error instanceof CorruptRecordError) {
    // Records before the damage come back on the next read; the damaged range is reported, not skipped silently.
    if (error.sequence > e.nextRead) {
      e.readRetryAt = 0;
      e.state.noteError(error.code, error.message, now);
      readBefore(ctx, router, e, error.sequence);
      return;
    }
    e.state.reject({
      sequence: error.sequence,
      timestamp: now,
      payload: new Uint8Array(),
      reason: 'UNREADABLE_IN_LOG',
      detail: `${error.message}; sequences ${error.sequence}..${error.resumeSequence - 1} unreadable`,
    });
    e.nextRead = error.resumeSequence;
    return;
  }
  e.state.noteError(
    error instanceof Error && 'code' in error ? String(error.code) : ExportStatusCode.LOG_READ_FAILED,
    error instanceof Error ? error.message : String(error),
    now,
  );
  e.readRetryAt = now + 1_000;
}

/** Reads the intact records in front of a damaged frame. */
function readBefore(ctx: ExporterContext, router: RecordRouter, e: StreamExport, damaged: number): void {
  e.reading = (async () => {
    const records = await ctx.store.read(e.definition.logStream, {
      fromSequence: e.nextRead,
      maxRecords: damaged - e.nextRead,
    });
    const kept = records.filter((r) => r.sequence < damaged);
    e.state.offer(router.routeAll(e.state, kept, e.landed));
    e.nextRead = damaged;
  })()
    .catch((error: unknown) => readFailed(ctx, router, e, error))
    .finally(() => {
      e.reading = undefined;
      ctx.wake();
    });
}
