/**
 * One export definition's runtime (StreamExport) and how it is opened at start: the log stream must
 * exist, its dead-letter stream is created, its checkpoint slot prepared and loaded. Also the
 * context the exporter's pumps share, so each pump can live in a module of its own.
 */
import { ConfigError, formatPath } from '../../shared/errors.ts';
import { ShardMap } from '../../shared/kinesis/hash.ts';
import {
  DEFAULT_MAX_RECORD_BYTES,
  PUT_RECORDS_MAX_BYTES,
  PUT_RECORDS_MAX_RECORDS,
} from '../../shared/kinesis/limits.ts';
import { type LogStore, StorageFullError, StreamNotFoundError } from '../log/index.ts';
import type { ExportDefinition } from './definition.ts';
import type { KinesisApi } from './kinesis.ts';
import { decodePositions, ShardPositions } from './landed.ts';
import type { ResolvedOptions } from './options.ts';
import { TokenBucket } from './pacing.ts';
import type { PlanLimits } from './planner.ts';
import { type DeadLetter, ExportState } from './state.ts';

/**
 * First request size after start-up or a failed request (see StreamExport.requestWindow). Small:
 * what a crash loop sends again is what was in flight when the process died, and right after a
 * start that is the first requests.
 */
export const SLOW_START_REQUEST_BYTES = 16 * 1024;

/** What the exporter's pumps share: where they read and write, the clock, and how to run the loop again. */
export interface ExporterContext {
  readonly store: LogStore;
  readonly client: KinesisApi;
  readonly options: ResolvedOptions;
  readonly clock: () => number;
  /** Marks the loop dirty so it runs again once the current pass ends. */
  readonly wake: () => void;
}

/** One export definition's runtime. */
export class StreamExport {
  readonly state: ExportState;
  map = new ShardMap([]);
  /** Map and record size still to be loaded (start, ValidationException). */
  describeDue = true;
  refreshing: Promise<void> | undefined;
  reading: Promise<void> | undefined;
  /** Waiting for an append past the end of the log. */
  awaitingAppend = false;
  readRetryAt = 0;
  nextRead: number;
  lostBeforeExport = 0;
  /**
   * Slow start: request size allowed right now. It starts small after start-up and after every
   * failed request, so the first records go out fast and an unreliable link does not keep
   * resending 5 MiB requests; each answered request doubles it up to the PutRecords limit.
   */
  requestWindow = SLOW_START_REQUEST_BYTES;
  letters: DeadLetter[] = [];
  writingLetters: Promise<void> | undefined;
  letterRetryAt = 0;
  committed: number | undefined;
  committing: Promise<void> | undefined;
  /** Where this export's records last landed per shard; kept in the checkpoint's note. */
  readonly positions = new ShardPositions();
  /** Reading back what a previous run sent (landed.ts): due at start when a note has positions. */
  readBack: 'due' | 'running' | 'done' = 'done';
  readingBack: Promise<void> | undefined;
  /** Sequences past the checkpoint found in Kinesis by the read-back, skipped as they are read. */
  landed: ReadonlySet<number> = new Set();
  readonly sends = new Set<Promise<void>>();
  readonly bucket: TokenBucket | undefined;
  readonly waiters: { sequence: number; resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(
    readonly definition: ExportDefinition,
    state: ExportState,
    committed: number | undefined,
    nextRead: number,
    now: number,
  ) {
    this.state = state;
    this.committed = committed;
    this.nextRead = nextRead;
    const rate = definition.bandwidthBytesPerSecond;
    this.bucket = rate === undefined ? undefined : new TokenBucket(rate, Math.max(rate, 64 * 1024), now);
  }
}

/**
 * Opens the export of `definitions[index]`: creates its dead-letter stream when missing, prepares
 * and loads its checkpoint. A missing log stream is a ConfigError on `exports[index].logStream`.
 */
export async function openExport(
  store: LogStore,
  definition: ExportDefinition,
  index: number,
  resolved: ResolvedOptions,
  random: () => number,
  clock: () => number,
): Promise<StreamExport> {
  let description: ReturnType<LogStore['describeStream']>;
  try {
    description = store.describeStream(definition.logStream);
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
    throw new ConfigError(
      formatPath(['exports', index, 'logStream']),
      definition.logStream,
      'names no stream in the log store',
    );
  }
  if (!store.listStreams().includes(definition.deadLetterStream)) {
    // A dead letter carries the whole payload in base64 plus a small JSON header.
    const maxRecordSize = Math.ceil((description.definition.maxRecordSize * 4) / 3) + 64 * 1024;
    await store.createStream({
      name: definition.deadLetterStream,
      maxRecordSize,
      segmentSize: 4 * maxRecordSize,
    });
  }
  try {
    await store.prepareCheckpoint(definition.logStream, definition.checkpointName);
  } catch (error) {
    // A full disk: the first commit tries again, once TTL, OverwriteOldestData or the user
    // has made room (nothing of this export can be reclaimed before its first checkpoint).
    if (!(error instanceof StorageFullError)) throw error;
  }
  const committed = store.committed(definition.logStream, definition.checkpointName);
  const nextRead =
    committed !== undefined ? committed + 1 : (definition.startSequence ?? description.firstSequence);
  const state = new ExportState({
    aggregate: definition.aggregation,
    limits: planLimits(DEFAULT_MAX_RECORD_BYTES),
    batchSize: definition.batchSize,
    batchIntervalMillis: definition.batchIntervalMillis,
    maxBufferedBytes: resolved.maxBufferedBytes,
    maxInFlightRequests: resolved.maxInFlightRequests,
    retry: resolved.retry,
    offline: resolved.offline,
    shardLimits: resolved.shardWriteLimits,
    pacingSlackMillis: resolved.pacingSlackMillis,
    refreshIntervalMillis: resolved.refreshIntervalMillis,
    random,
  });
  const e = new StreamExport(definition, state, committed, nextRead, clock());
  if (committed !== undefined) {
    // Oldest first, so the note written next keeps the same order of recency.
    const positions = decodePositions(store.checkpointNote(definition.logStream, definition.checkpointName));
    for (const [shardId, sequenceNumber] of [...positions].reverse())
      e.positions.accepted(shardId, sequenceNumber);
    if (definition.readBackOnStart && e.positions.size > 0) e.readBack = 'due';
  }
  return e;
}

export function planLimits(streamMaxRecordBytes: number): PlanLimits {
  // A record must also fit a PutRecords request; aggregates stay at the default record size, where
  // a shard's 1 MiB/s write limit would cut anything larger anyway.
  const maxRecordBytes = Math.min(streamMaxRecordBytes, PUT_RECORDS_MAX_BYTES);
  return {
    maxRecordBytes,
    maxAggregateBytes: Math.min(maxRecordBytes, DEFAULT_MAX_RECORD_BYTES),
    maxEntries: PUT_RECORDS_MAX_RECORDS,
    maxRequestBytes: PUT_RECORDS_MAX_BYTES,
  };
}
