/**
 * The read-back at start (landed.ts holds the pure part): before the first record past the
 * checkpoint is offered again, the shards the previous run wrote are read from where its records
 * last landed, and the records found there are done without a second send. It runs once the shard
 * map is loaded; reading the log waits for it. Bounded in time, calls and memory, and it gives up
 * quietly (the status keeps the reason) on any failure: missing permissions, throttling, an
 * unknown shard or position, an expired iterator. Then the records are sent again, as always.
 */
import { GET_RECORDS_CALLS_PER_SECOND, GET_RECORDS_MAX_RECORDS } from '../../shared/kinesis/limits.ts';
import { ExportStatusCode, KinesisCallError } from './errors.ts';
import { RESPONSE_TOO_LARGE_CODE } from './kinesis.ts';
import { type Candidate, decodePositions, LandedMatcher } from './landed.ts';
import type { RecordRouter } from './record-router.ts';
import type { ExporterContext, StreamExport } from './stream-export.ts';

/** The whole read-back, all shards together: a restart is held up at most this long. */
export const READ_BACK_MAX_MILLIS = 5_000;
/** GetRecords calls per shard (paced to GET_RECORDS_CALLS_PER_SECOND, shared with other readers). */
export const READ_BACK_MAX_CALLS_PER_SHARD = 10;
/**
 * Largest GetRecords answer taken (JSON, base64 data): bounds the memory of one page on a device
 * whose heap is capped at 48 MB. A larger answer is dropped and asked for again with fewer records.
 */
export const READ_BACK_MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
/** Records asked for in the first call; later calls scale it to the record sizes seen. */
const FIRST_LIMIT = 100;
/** Log records past the checkpoint considered: more than one read-ahead cannot have been sent. */
const MAX_CANDIDATES = 16_384;

export function pumpReadBack(
  ctx: ExporterContext,
  router: RecordRouter,
  e: StreamExport,
  signal: AbortSignal,
): void {
  if (e.readBack !== 'due' || e.describeDue || e.refreshing !== undefined) return;
  e.readBack = 'running';
  e.readingBack = findLanded(ctx, router, e, signal)
    .then(({ landed, failure }) => {
      e.landed = landed;
      if (failure !== undefined) throw failure;
    })
    .catch((error: unknown) => {
      const detail =
        error instanceof KinesisCallError
          ? `${error.code}: ${error.message}`
          : error instanceof Error
            ? error.message
            : String(error);
      e.state.noteError(
        ExportStatusCode.READ_BACK_FAILED,
        `reading back what the previous run sent failed (records past the checkpoint are sent again): ${detail}`,
        ctx.clock(),
      );
    })
    .finally(() => {
      e.readBack = 'done';
      e.readingBack = undefined;
      ctx.wake();
    });
}

async function findLanded(
  ctx: ExporterContext,
  router: RecordRouter,
  e: StreamExport,
  signal: AbortSignal,
): Promise<{ landed: Set<number>; failure?: unknown }> {
  const { logStream, checkpointName, kinesisStreamName } = e.definition;
  const positions = decodePositions(ctx.store.checkpointNote(logStream, checkpointName));
  const records = await ctx.store.read(logStream, {
    fromSequence: e.nextRead,
    maxRecords: MAX_CANDIDATES,
    maxBytes: ctx.options.maxBufferedBytes,
  });
  const byShard = new Map<string, Candidate[]>();
  for (const record of records) {
    const routed = router.route(record);
    if ('reason' in routed) continue;
    const shardId = e.map.shardFor(routed.hashKey)?.shardId;
    if (shardId === undefined || !positions.has(shardId)) continue;
    const candidates = byShard.get(shardId);
    const candidate = { sequence: routed.sequence, partitionKey: routed.partitionKey, data: routed.data };
    if (candidates === undefined) byShard.set(shardId, [candidate]);
    else candidates.push(candidate);
  }
  const deadline = { at: ctx.clock() + READ_BACK_MAX_MILLIS, signal };
  // Each shard on its own: one that cannot be read leaves what the others found.
  const results = await Promise.allSettled(
    [...byShard].map(([shardId, candidates]) =>
      readShard(ctx, kinesisStreamName, shardId, positions.get(shardId) as string, candidates, deadline),
    ),
  );
  const landed = new Set<number>();
  let failure: unknown;
  for (const result of results) {
    if (result.status === 'rejected') failure ??= result.reason;
    else for (const sequence of result.value) landed.add(sequence);
  }
  return { landed, failure };
}

async function readShard(
  ctx: ExporterContext,
  streamName: string,
  shardId: string,
  position: string,
  candidates: readonly Candidate[],
  deadline: { readonly at: number; readonly signal: AbortSignal },
): Promise<ReadonlySet<number>> {
  const matcher = new LandedMatcher(candidates);
  let iterator: string | undefined = await ctx.client.shardIteratorAfter(streamName, shardId, position);
  let limit = FIRST_LIMIT;
  for (let call = 0; call < READ_BACK_MAX_CALLS_PER_SHARD && matcher.remaining > 0; call++) {
    if (call > 0) await new Promise((resolve) => setTimeout(resolve, 1000 / GET_RECORDS_CALLS_PER_SECOND));
    const timeout = deadline.at - ctx.clock();
    // A stop does not wait for the read-back: what it has not found is sent again next time.
    if (iterator === undefined || timeout <= 0 || deadline.signal.aborted) break;
    let page: Awaited<ReturnType<typeof ctx.client.getRecords>>;
    try {
      page = await ctx.client.getRecords(iterator, limit, timeout, READ_BACK_MAX_RESPONSE_BYTES);
    } catch (error) {
      if (!(error instanceof KinesisCallError && error.code === RESPONSE_TOO_LARGE_CODE) || limit === 1)
        throw error;
      limit = Math.max(1, Math.floor(limit / 8));
      continue;
    }
    let largest = 1;
    for (const record of page.records) {
      matcher.seeRecord(record);
      largest = Math.max(largest, record.data.byteLength);
    }
    // Base64 makes each record's data 4/3 its size on the wire.
    limit = Math.min(
      GET_RECORDS_MAX_RECORDS,
      Math.max(1, Math.floor((READ_BACK_MAX_RESPONSE_BYTES * 0.7) / largest)),
    );
    // At the tip: the previous run is gone, nothing of it can land later. (An empty page behind
    // the tip is a gap in the shard; the next page goes on.)
    if (page.millisBehindLatest === 0 || (page.records.length === 0 && page.millisBehindLatest === undefined))
      break;
    iterator = page.nextShardIterator;
  }
  return matcher.landed;
}
