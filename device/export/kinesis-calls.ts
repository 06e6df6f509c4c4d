/**
 * The exporter's calls to Kinesis and what their answers do to an export: PutRecords (with the
 * slow-start request window) and the stream description plus shard map, loaded together. Failures
 * become the state machine's RequestFailure; the state decides retries and backoff.
 */
import { DEFAULT_MAX_RECORD_BYTES, PUT_RECORDS_MAX_BYTES } from '../../shared/kinesis/limits.ts';
import { KinesisCallError } from './errors.ts';
import { classifyFailure, sameShards } from './kinesis.ts';
import type { PlannedRequest, RequestFailure } from './state.ts';
import {
  type ExporterContext,
  planLimits,
  SLOW_START_REQUEST_BYTES,
  type StreamExport,
} from './stream-export.ts';

export function sendRequest(ctx: ExporterContext, e: StreamExport, request: PlannedRequest): void {
  const { kinesisStreamName } = e.definition;
  const send = ctx.client
    .putRecords(kinesisStreamName, request.entries, ctx.options.requestTimeoutMillis)
    .then(
      (outcomes) => {
        e.requestWindow = Math.min(e.requestWindow * 2, PUT_RECORDS_MAX_BYTES);
        e.positions.acceptedRequest(outcomes);
        e.state.complete(request.id, outcomes, ctx.clock());
      },
      (error: unknown) => {
        e.requestWindow = SLOW_START_REQUEST_BYTES;
        const failure = toFailure('PutRecords', error);
        e.state.fail(request.id, failure, ctx.clock());
        // The stream's MaxRecordSize may have shrunk: reload it before planning again.
        if (failure.kind === 'invalid') e.describeDue = true;
      },
    )
    .finally(() => {
      e.sends.delete(send);
      ctx.wake();
    });
  e.sends.add(send);
}

/** Loads the shard map (and the record size on start or after a ValidationException). */
export function pumpRefresh(ctx: ExporterContext, e: StreamExport): void {
  if (e.refreshing !== undefined) return;
  if (!(e.describeDue || e.state.refreshDue)) return;
  if (e.state.inFlightRequests > 0 || e.state.offlineUntil > ctx.clock()) return;
  const { kinesisStreamName } = e.definition;
  e.refreshing = (async () => {
    try {
      // Both at once: after a restart every round trip before the first checkpoint is time in
      // which a crash makes the records sent meanwhile go out again.
      const [bytes, map] = await Promise.all([
        e.describeDue ? ctx.client.maxRecordBytes(kinesisStreamName) : undefined,
        ctx.client.listShards(kinesisStreamName),
      ]);
      if (e.describeDue) e.state.setLimits(planLimits(bytes ?? DEFAULT_MAX_RECORD_BYTES));
      const changed = !sameShards(map, e.map);
      e.map = map;
      e.describeDue = false;
      e.state.refreshed(ctx.clock(), changed);
    } catch (error) {
      e.state.backOff(toFailure('ListShards', error), ctx.clock());
    }
  })().finally(() => {
    e.refreshing = undefined;
    ctx.wake();
  });
}

function toFailure(operation: string, error: unknown): RequestFailure {
  const failure = error instanceof KinesisCallError ? error : classifyFailure(operation, error);
  return { kind: failure.kind, code: failure.code, message: failure.message };
}
