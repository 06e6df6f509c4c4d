/**
 * KinesisExporter: drains device log streams into Kinesis, one export definition per log stream.
 * This is the thin, stateful edge: it reads the log in bounded chunks, routes records, asks the pure
 * state machine (state.ts → planner.ts) what to send, calls PutRecords through a client from the
 * factory, writes dead letters, and commits the checkpoint to the log.
 *
 * Guarantee: at-least-once. A record leaves the backlog (checkpoint) only after Kinesis accepted it
 * or it was written to the dead-letter stream; resends carry the same user-record bytes. After a
 * restart, records accepted but not yet checkpointed are sent again (same id, same bytes).
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ConfigError, formatPath } from '../../shared/errors.ts';
import { AggregationBuilder } from '../../shared/kinesis/aggregation.ts';
import { hashKeyOf, ShardMap } from '../../shared/kinesis/hash.ts';
import {
  DEFAULT_MAX_RECORD_BYTES,
  HASH_KEY_MAX,
  PUT_RECORDS_MAX_BYTES,
  PUT_RECORDS_MAX_RECORDS,
  SHARD_WRITE_BYTES_PER_SECOND,
  SHARD_WRITE_RECORDS_PER_SECOND,
} from '../../shared/kinesis/limits.ts';
import * as z from '../../shared/zod.ts';
import {
  CorruptRecordError,
  type LogRecord,
  type LogStore,
  StorageFullError,
  StreamNotFoundError,
} from '../log/index.ts';
import { type ExportDefinition, parseExportDefinitions } from './definition.ts';
import { ExporterStoppedError, ExportNotFoundError, KinesisCallError } from './errors.ts';
import { classifyFailure, type KinesisApi, sameShards } from './kinesis.ts';
import { TokenBucket } from './pacing.ts';
import type { PendingRecord, PlanLimits } from './planner.ts';
import { partitionKeyOf, partitionKeyProblem, type RouteFunction } from './routing.ts';
import {
  type DeadLetter,
  type ExportCounters,
  ExportState,
  type LastError,
  type PlannedRequest,
  type RequestFailure,
} from './state.ts';

const MiB = 1024 * 1024;
/** Read-but-unaccepted bytes held per export (the agent config's exporter.maxBufferedBytesPerStream). */
export const DEFAULT_MAX_BUFFERED_BYTES = 1 * MiB;
export const DEFAULT_MAX_IN_FLIGHT_REQUESTS = 4;

const backoff = (baseMillis: number, capMillis: number) =>
  z._default(
    z.strictObject({ baseMillis: z.number().check(z.gte(1)), capMillis: z.number().check(z.gte(1)) }),
    { baseMillis, capMillis },
  );

/** The exporter's limits; the agent config's `exporter` section uses the same fields. */
export const exporterLimitFields = {
  maxBandwidthBytesPerSecond: z.optional(z.int().check(z.gte(1024))),
  maxBufferedBytes: z._default(z.int().check(z.gte(64 * 1024), z.lte(256 * MiB)), DEFAULT_MAX_BUFFERED_BYTES),
  maxInFlightRequests: z._default(z.int().check(z.gte(1), z.lte(64)), DEFAULT_MAX_IN_FLIGHT_REQUESTS),
};

const optionsSchema = z.object({
  defaultPartitionKey: z.optional(z.string().check(z.minLength(1))),
  ...exporterLimitFields,
  retry: backoff(100, 5_000),
  offline: backoff(250, 30_000),
  requestTimeoutMillis: z._default(z.int().check(z.gte(100)), 30_000),
  shardWriteLimits: z._default(
    z.strictObject({
      bytesPerSecond: z.number().check(z.positive()),
      recordsPerSecond: z.number().check(z.positive()),
    }),
    { bytesPerSecond: SHARD_WRITE_BYTES_PER_SECOND, recordsPerSecond: SHARD_WRITE_RECORDS_PER_SECOND },
  ),
  /** Extra pacing window beyond Kinesis' one second, for the gap between our send and the server's admission. */
  pacingSlackMillis: z._default(z.int().check(z.gte(0), z.lte(1000)), 25),
  /** Shortest time between two shard-map refreshes. */
  refreshIntervalMillis: z._default(z.int().check(z.gte(0)), 1_000),
});

export interface KinesisExporterOptions {
  readonly store: LogStore;
  /** The agent's slim `httpKinesisApi(...)`, or an SDK v3 client (from `createAwsClients(...).kinesis()`). */
  readonly kinesis: KinesisApi | KinesisClient;
  /** Export definitions (validated here; see definition.ts). */
  readonly exports: unknown;
  /** Key for payloads without a `partition_key` (the device id, usually). */
  readonly defaultPartitionKey?: string;
  /** Routing for payloads that are not contract records; may return an explicit hash key. */
  readonly route?: RouteFunction;
  /** Cap for all exports together (Greengrass' EXPORTER_MAX_BANDWIDTH); priorities decide who goes first. */
  readonly maxBandwidthBytesPerSecond?: number;
  /** Read-but-unaccepted bytes per export; the backlog stays in the log. Default 1 MiB. */
  readonly maxBufferedBytes?: number;
  readonly maxInFlightRequests?: number;
  /** Backoff of failed entries (throttles, InternalFailure). */
  readonly retry?: { baseMillis: number; capMillis: number };
  /** Backoff while Kinesis is unreachable or refusing whole requests. */
  readonly offline?: { baseMillis: number; capMillis: number };
  readonly requestTimeoutMillis?: number;
  /** Per-shard write limits to pace against; Kinesis' 1 MiB/s and 1000 records/s by default. */
  readonly shardWriteLimits?: { bytesPerSecond: number; recordsPerSecond: number };
  readonly pacingSlackMillis?: number;
  readonly refreshIntervalMillis?: number;
  /** ms since the epoch; comparable with the log's append timestamps. */
  readonly clock?: () => number;
  readonly random?: () => number;
}

export interface ExportStatus {
  readonly logStream: string;
  readonly kinesisStreamName: string;
  readonly priority: number;
  readonly aggregation: boolean;
  readonly state: 'starting' | 'exporting' | 'idle' | 'backing-off' | 'stopped';
  /** Records not yet exported; bytes estimated from the log's average record size for the unread part. */
  readonly backlog: { readonly records: number; readonly bytes: number };
  /** Highest sequence with everything up to it accepted (or dead-lettered). */
  readonly lastExportedSequence: number | undefined;
  /** The checkpoint durably in the log. */
  readonly committedSequence: number | undefined;
  /** Age of the oldest record not yet exported, ms. */
  readonly lagMillis: number;
  readonly lastError: LastError | undefined;
  readonly counters: Readonly<ExportCounters> & {
    /** Records the log deleted (TTL, overwrite) before they were exported. */
    readonly lostBeforeExport: number;
  };
  readonly inFlightRequests: number;
  readonly bufferedBytes: number;
}

/**
 * First request size after start-up or a failed request (see StreamExport.requestWindow). Small:
 * what a crash loop sends again is what was in flight when the process died, and right after a
 * start that is the first requests.
 */
const SLOW_START_REQUEST_BYTES = 16 * 1024;
/** Partition keys whose check and hash are kept; past it the cache starts over. */
const KEY_CACHE_SIZE = 4096;

interface KeyInfo {
  readonly partitionKey: string;
  /** Why Kinesis would refuse the key, when it would. */
  readonly problem: string | undefined;
  readonly hashKey: bigint;
}

/** One export definition's runtime. */
class StreamExport {
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

type ResolvedOptions = z.output<typeof optionsSchema>;

export class KinesisExporter {
  readonly #store: LogStore;
  readonly #client: KinesisApi;
  readonly #options: ResolvedOptions;
  readonly #route: RouteFunction | undefined;
  readonly #clock: () => number;
  /** Highest priority first; the order stays stable so equal priorities keep their definition order. */
  readonly #exports: StreamExport[];
  readonly #byName = new Map<string, StreamExport>();
  readonly #bucket: TokenBucket | undefined;
  readonly #abort = new AbortController();
  readonly #sizer = new AggregationBuilder();
  readonly #keys = new Map<string, KeyInfo>();
  #stopping = false;
  #drainUntil = 0;
  #stopped = false;
  #dirty = true;
  #wakeUp: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  private constructor(
    options: KinesisExporterOptions,
    client: KinesisApi,
    resolved: ResolvedOptions,
    exports: StreamExport[],
  ) {
    this.#store = options.store;
    this.#client = client;
    this.#options = resolved;
    this.#route = options.route;
    this.#clock = options.clock ?? Date.now;
    this.#exports = [...exports].sort((a, b) => b.definition.priority - a.definition.priority);
    for (const e of exports) this.#byName.set(e.definition.logStream, e);
    const cap = resolved.maxBandwidthBytesPerSecond;
    this.#bucket =
      cap === undefined ? undefined : new TokenBucket(cap, Math.max(cap, 64 * 1024), this.#clock());
  }

  /**
   * Validates the options, creates missing dead-letter streams, loads checkpoints and starts
   * exporting in the background. Kinesis need not be reachable: the exporter backs off until it is.
   */
  static async start(options: KinesisExporterOptions): Promise<KinesisExporter> {
    const {
      store,
      kinesis: _kinesis,
      exports: _exports,
      route: _route,
      clock: _clock,
      random: _random,
      ...rest
    } = options;
    const parsed = optionsSchema.safeParse(rest);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue?.path ?? [];
      let value: unknown = rest;
      for (const key of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
      throw new ConfigError(formatPath(path), value, issue?.message ?? 'invalid exporter option');
    }
    const resolved = parsed.data;
    const definitions = parseExportDefinitions(options.exports);
    const clock = options.clock ?? Date.now;
    const random = options.random ?? Math.random;
    const exports: StreamExport[] = [];
    for (const [index, definition] of definitions.entries()) {
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
      exports.push(new StreamExport(definition, state, committed, nextRead, clock()));
    }
    const client =
      'send' in options.kinesis
        ? // Only callers that bring an SDK client load the SDK.
          await (await import('./kinesis-sdk.ts')).sdkKinesisApi(options.kinesis)
        : options.kinesis;
    const exporter = new KinesisExporter(options, client, resolved, exports);
    exporter.#loop = exporter.#run();
    return exporter;
  }

  /** Status of every export, highest priority first. */
  status(): ExportStatus[] {
    return this.#exports.map((e) => this.#statusOf(e));
  }

  statusOf(logStream: string): ExportStatus {
    return this.#statusOf(this.#export(logStream));
  }

  /** Resolves once everything up to `sequence` of `logStream` is exported and the checkpoint committed. */
  whenExported(logStream: string, sequence: number): Promise<void> {
    const e = this.#export(logStream);
    if (e.committed !== undefined && e.committed >= sequence) return Promise.resolve();
    if (this.#stopping) return Promise.reject(new ExporterStoppedError());
    return new Promise((resolve, reject) => e.waiters.push({ sequence, resolve, reject }));
  }

  /**
   * Sends what `logStream` (every export without it) holds up to the end of its log now, without
   * waiting for batchSize or batchIntervalMillis. Pacing and bandwidth caps still apply.
   */
  flush(logStream?: string): void {
    for (const e of logStream === undefined ? this.#exports : [this.#export(logStream)]) {
      e.state.flush(this.#store.describeStream(e.definition.logStream).nextSequence - 1);
    }
    this.#wake();
  }

  /**
   * Stops: reads nothing more, waits for in-flight requests and log writes, commits the final
   * checkpoint. With `drainMillis`, records already read keep being sent for up to that long first,
   * so fewer records accepted past the checkpoint are sent again after a restart. The backlog stays
   * in the log for the next start.
   */
  async stop(options: { drainMillis?: number } = {}): Promise<void> {
    if (this.#stopping) return this.#loop;
    this.#stopping = true;
    this.#drainUntil = this.#clock() + (options.drainMillis ?? 0);
    this.#abort.abort(new ExporterStoppedError());
    this.#wake();
    await this.#loop;
  }

  #export(logStream: string): StreamExport {
    const e = this.#byName.get(logStream);
    if (e === undefined) throw new ExportNotFoundError(logStream);
    return e;
  }

  #statusOf(e: StreamExport): ExportStatus {
    const now = this.#clock();
    const { state, definition } = e;
    let unread = 0;
    let averageBytes = 0;
    try {
      const description = this.#store.describeStream(definition.logStream);
      unread = Math.max(0, description.nextSequence - Math.max(e.nextRead, description.firstSequence));
      averageBytes = description.records > 0 ? description.bytes / description.records : 0;
    } catch {
      // Store closed: report what the exporter itself holds.
    }
    const oldest = state.oldestUnexportedTimestamp;
    let phase: ExportStatus['state'];
    if (this.#stopped) phase = 'stopped';
    else if (e.describeDue && state.counters.requestsSent === 0) phase = 'starting';
    else if (state.offlineUntil > now) phase = 'backing-off';
    else if (state.heldRecords === 0 && unread === 0) phase = 'idle';
    else phase = 'exporting';
    return {
      logStream: definition.logStream,
      kinesisStreamName: definition.kinesisStreamName,
      priority: definition.priority,
      aggregation: definition.aggregation,
      state: phase,
      backlog: {
        records: state.heldRecords + unread,
        bytes: Math.round(state.bufferedBytes + unread * averageBytes),
      },
      lastExportedSequence: state.checkpoint,
      committedSequence: e.committed,
      lagMillis: oldest === undefined ? 0 : Math.max(0, now - oldest),
      lastError: state.lastError,
      counters: { ...state.counters, lostBeforeExport: e.lostBeforeExport },
      inFlightRequests: state.inFlightRequests,
      bufferedBytes: state.bufferedBytes,
    };
  }

  #wake(): void {
    this.#dirty = true;
    this.#wakeUp?.();
  }

  /** Running, or stopping with a drain in progress. */
  #active(now: number): boolean {
    if (!this.#stopping) return true;
    if (now >= this.#drainUntil) return false;
    return this.#exports.some((e) => e.state.heldRecords > 0 || e.letters.length > 0);
  }

  async #run(): Promise<void> {
    while (this.#active(this.#clock())) {
      this.#dirty = false;
      const now = this.#clock();
      let wake = this.#stopping ? this.#drainUntil : Number.POSITIVE_INFINITY;
      for (const e of this.#exports) {
        this.#pumpRefresh(e);
        this.#pumpRead(e, now);
        this.#pumpLetters(e, now);
        this.#pumpCommit(e);
      }
      wake = Math.min(wake, this.#dispatch(now));
      for (const e of this.#exports) {
        if (e.readRetryAt > now) wake = Math.min(wake, e.readRetryAt);
        if (e.letters.length > 0 && e.letterRetryAt > now) wake = Math.min(wake, e.letterRetryAt);
      }
      if (this.#dirty) continue;
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(wake)
          ? setTimeout(resolve, Math.max(0, wake - this.#clock()))
          : undefined;
        this.#wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
        if (this.#dirty) this.#wakeUp();
      });
      this.#wakeUp = undefined;
    }
    await this.#shutdown();
  }

  /** Plans and sends requests, highest priority first; returns when to look again. */
  #dispatch(now: number): number {
    let wake = Number.POSITIVE_INFINITY;
    for (const e of this.#exports) {
      if (e.describeDue || e.refreshing !== undefined) {
        // A failed describe backs off; its retry (#pumpRefresh) needs a wake-up when the backoff ends,
        // or an agent that started offline waits for an append that may never come (a full disk).
        if (e.refreshing === undefined && e.state.offlineUntil > now)
          wake = Math.min(wake, e.state.offlineUntil);
        continue;
      }
      for (;;) {
        const global = this.#bucket?.available(now) ?? Number.POSITIVE_INFINITY;
        // Out of shared bandwidth: lower priorities must not spend what this export is waiting for.
        if (global <= 0) return Math.min(wake, this.#bucket?.readyAt(now) ?? now);
        const own = e.bucket?.available(now) ?? Number.POSITIVE_INFINITY;
        if (own <= 0) {
          wake = Math.min(wake, e.bucket?.readyAt(now) ?? now);
          break;
        }
        // A capped link sends about what it has; one record always fits so a retry cannot starve.
        const budget = Math.max(Math.min(global, own), e.state.limits.maxRecordBytes);
        let request = e.state.plan(now, e.map, Math.min(budget, e.requestWindow));
        // A record larger than the window goes out alone rather than stalling the stream.
        if (request === undefined && e.requestWindow < budget && e.state.inFlightRequests === 0) {
          request = e.state.plan(now, e.map, budget);
        }
        if (request === undefined) break;
        this.#bucket?.take(request.bytes, now);
        e.bucket?.take(request.bytes, now);
        this.#send(e, request);
      }
      if (e.state.inFlightRequests < this.#options.maxInFlightRequests) {
        wake = Math.min(wake, e.state.wakeAt(now) ?? Number.POSITIVE_INFINITY);
      }
    }
    return wake;
  }

  #send(e: StreamExport, request: PlannedRequest): void {
    const { kinesisStreamName } = e.definition;
    const send = this.#client
      .putRecords(kinesisStreamName, request.entries, this.#options.requestTimeoutMillis)
      .then(
        (outcomes) => {
          e.requestWindow = Math.min(e.requestWindow * 2, PUT_RECORDS_MAX_BYTES);
          e.state.complete(request.id, outcomes, this.#clock());
        },
        (error: unknown) => {
          e.requestWindow = SLOW_START_REQUEST_BYTES;
          const failure = toFailure('PutRecords', error);
          e.state.fail(request.id, failure, this.#clock());
          // The stream's MaxRecordSize may have shrunk: reload it before planning again.
          if (failure.kind === 'invalid') e.describeDue = true;
        },
      )
      .finally(() => {
        e.sends.delete(send);
        this.#wake();
      });
    e.sends.add(send);
  }

  /** Loads the shard map (and the record size on start or after a ValidationException). */
  #pumpRefresh(e: StreamExport): void {
    if (e.refreshing !== undefined) return;
    if (!(e.describeDue || e.state.refreshDue)) return;
    if (e.state.inFlightRequests > 0 || e.state.offlineUntil > this.#clock()) return;
    const { kinesisStreamName } = e.definition;
    e.refreshing = (async () => {
      try {
        // Both at once: after a restart every round trip before the first checkpoint is time in
        // which a crash makes the records sent meanwhile go out again.
        const [bytes, map] = await Promise.all([
          e.describeDue ? this.#client.maxRecordBytes(kinesisStreamName) : undefined,
          this.#client.listShards(kinesisStreamName),
        ]);
        if (e.describeDue) e.state.setLimits(planLimits(bytes ?? DEFAULT_MAX_RECORD_BYTES));
        const changed = !sameShards(map, e.map);
        e.map = map;
        e.describeDue = false;
        e.state.refreshed(this.#clock(), changed);
      } catch (error) {
        e.state.backOff(toFailure('ListShards', error), this.#clock());
      }
    })().finally(() => {
      e.refreshing = undefined;
      this.#wake();
    });
  }

  #pumpRead(e: StreamExport, now: number): void {
    if (e.reading !== undefined || e.awaitingAppend || e.readRetryAt > now || this.#stopping) return;
    const room = this.#options.maxBufferedBytes - e.state.bufferedBytes;
    if (room < this.#options.maxBufferedBytes / 4) return;
    const name = e.definition.logStream;
    e.reading = (async () => {
      try {
        const records = await this.#store.read(name, {
          fromSequence: e.nextRead,
          maxRecords: 4096,
          maxBytes: Math.min(MiB, room),
        });
        const last = records.at(-1);
        if (last === undefined) {
          e.awaitingAppend = true;
          this.#store.waitFor(name, e.nextRead, this.#abort.signal).then(
            () => {
              e.awaitingAppend = false;
              this.#wake();
            },
            () => {
              e.awaitingAppend = false;
            },
          );
          return;
        }
        const first = records[0] as LogRecord;
        if (first.sequence > e.nextRead) e.lostBeforeExport += first.sequence - e.nextRead;
        e.state.offer(this.#routeAll(e, records));
        e.nextRead = last.sequence + 1;
      } catch (error) {
        this.#readFailed(e, error);
      }
    })().finally(() => {
      e.reading = undefined;
      this.#wake();
    });
  }

  #readFailed(e: StreamExport, error: unknown): void {
    const now = this.#clock();
    if (error instanceof CorruptRecordError) {
      // Records before the damage come back on the next read; the damaged range is reported, not skipped silently.
      if (error.sequence > e.nextRead) {
        e.readRetryAt = 0;
        e.state.lastError = { code: error.code, message: error.message, at: now };
        this.#readBefore(e, error.sequence);
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
    e.state.lastError = {
      code: error instanceof Error && 'code' in error ? String(error.code) : 'LOG_READ_FAILED',
      message: error instanceof Error ? error.message : String(error),
      at: now,
    };
    e.readRetryAt = now + 1_000;
  }

  /** Reads the intact records in front of a damaged frame. */
  #readBefore(e: StreamExport, damaged: number): void {
    e.reading = (async () => {
      const records = await this.#store.read(e.definition.logStream, {
        fromSequence: e.nextRead,
        maxRecords: damaged - e.nextRead,
      });
      const kept = records.filter((r) => r.sequence < damaged);
      e.state.offer(this.#routeAll(e, kept));
      e.nextRead = damaged;
    })()
      .catch((error: unknown) => this.#readFailed(e, error))
      .finally(() => {
        e.reading = undefined;
        this.#wake();
      });
  }

  /** Routes records; the ones no key can be found for go to the dead letters (same order of sequences). */
  #routeAll(e: StreamExport, records: readonly LogRecord[]): PendingRecord[] {
    const out: PendingRecord[] = [];
    for (const record of records) {
      const routed = this.#routeOne(record);
      if ('reason' in routed) {
        // Flush what came before so the tracker sees sequences in order.
        e.state.offer(out.splice(0));
        e.state.reject(routed);
      } else out.push(routed);
    }
    return out;
  }

  #routeOne(record: LogRecord): PendingRecord | DeadLetter {
    const data = record.payload;
    const custom = this.#route?.(data);
    const partitionKey = custom?.partitionKey ?? partitionKeyOf(data) ?? this.#options.defaultPartitionKey;
    if (partitionKey === undefined) {
      return deadLetter(
        record,
        undefined,
        'NO_PARTITION_KEY',
        'payload has no partition_key and no default key is configured',
      );
    }
    const key = this.#keyInfo(partitionKey);
    if (key.problem !== undefined) return deadLetter(record, partitionKey, 'INVALID_KEY', key.problem);
    const explicitHashKey = custom?.explicitHashKey;
    if (explicitHashKey !== undefined && !isExplicitHashKey(explicitHashKey)) {
      return deadLetter(
        record,
        partitionKey,
        'INVALID_KEY',
        `explicit hash key ${JSON.stringify(explicitHashKey.slice(0, 50))} is not in [0, 2^128)`,
      );
    }
    const routed = { partitionKey: key.partitionKey, explicitHashKey, data };
    return {
      sequence: record.sequence,
      timestamp: record.timestamp,
      partitionKey: key.partitionKey,
      explicitHashKey,
      hashKey: explicitHashKey === undefined ? key.hashKey : hashKeyOf(partitionKey, explicitHashKey),
      data,
      bytes: this.#sizer.sizeIfAdded(routed),
    };
  }

  /**
   * Checks and hashes a partition key once: devices reuse a handful of keys, and an MD5 per record
   * was a tenth of the agent's CPU at 10k records/s. The cached string is the one every pending
   * record of that key shares.
   */
  #keyInfo(partitionKey: string): KeyInfo {
    let info = this.#keys.get(partitionKey);
    if (info === undefined) {
      if (this.#keys.size >= KEY_CACHE_SIZE) this.#keys.clear();
      const problem = partitionKeyProblem(partitionKey);
      info = {
        partitionKey,
        problem,
        hashKey: problem === undefined ? hashKeyOf(partitionKey) : 0n,
      };
      this.#keys.set(partitionKey, info);
    }
    return info;
  }

  #pumpLetters(e: StreamExport, now: number): void {
    const taken = e.state.takeDeadLetters();
    e.letters.push(...taken);
    // A dead-lettered record shows in the status as the last error, not only in a counter.
    const last = taken.at(-1);
    if (last !== undefined)
      e.state.lastError = {
        code: last.reason,
        message: `sequence ${last.sequence} dead-lettered: ${last.detail}`,
        at: now,
      };
    if (e.writingLetters !== undefined || e.letters.length === 0 || e.letterRetryAt > now) return;
    const letters = e.letters.splice(0);
    const { definition } = e;
    e.writingLetters = this.#store
      .appendMany(
        definition.deadLetterStream,
        letters.map((letter) => encodeDeadLetter(definition, letter, now)),
      )
      .then(
        () => e.state.deadLettered(letters),
        (error: unknown) => {
          e.letters.unshift(...letters);
          e.letterRetryAt = this.#clock() + 1_000;
          e.state.lastError = {
            code: 'DEAD_LETTER_WRITE_FAILED',
            message: error instanceof Error ? error.message : String(error),
            at: this.#clock(),
          };
        },
      )
      .finally(() => {
        e.writingLetters = undefined;
        this.#wake();
      });
  }

  #pumpCommit(e: StreamExport): void {
    const checkpoint = e.state.checkpoint;
    if (e.committing !== undefined || checkpoint === undefined) return;
    if (e.committed !== undefined && checkpoint <= e.committed) return;
    e.committing = this.#store
      .commit(e.definition.logStream, e.definition.checkpointName, checkpoint)
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
          e.state.lastError = {
            code: 'CHECKPOINT_FAILED',
            message: error instanceof Error ? error.message : String(error),
            at: this.#clock(),
          };
        },
      )
      .finally(() => {
        e.committing = undefined;
        this.#wake();
      });
  }

  /** Lets in-flight work settle, then writes dead letters and the final checkpoint. */
  async #shutdown(): Promise<void> {
    for (const e of this.#exports) {
      await Promise.allSettled([...e.sends, e.reading, e.refreshing, e.writingLetters, e.committing]);
      this.#pumpLetters(e, this.#clock());
      await e.writingLetters;
      this.#pumpCommit(e);
      await e.committing;
      for (const waiter of e.waiters.splice(0)) waiter.reject(new ExporterStoppedError());
    }
    this.#stopped = true;
  }
}

function deadLetter(
  record: LogRecord,
  partitionKey: string | undefined,
  reason: DeadLetter['reason'],
  detail: string,
): DeadLetter {
  return {
    sequence: record.sequence,
    timestamp: record.timestamp,
    payload: record.payload,
    ...(partitionKey === undefined ? {} : { partitionKey }),
    reason,
    detail,
  };
}

function planLimits(streamMaxRecordBytes: number): PlanLimits {
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

function toFailure(operation: string, error: unknown): RequestFailure {
  const failure = error instanceof KinesisCallError ? error : classifyFailure(operation, error);
  return { kind: failure.kind, code: failure.code, message: failure.message };
}

const EXPLICIT_HASH_KEY = /^(?:0|[1-9][0-9]{0,38})$/;

function isExplicitHashKey(value: string): boolean {
  return EXPLICIT_HASH_KEY.test(value) && BigInt(value) <= HASH_KEY_MAX;
}

/**
 * Dead-letter record: UTF-8 JSON with where the record came from, why it was refused, and its exact
 * bytes (base64), so it can be inspected and replayed.
 */
export function encodeDeadLetter(definition: ExportDefinition, letter: DeadLetter, now: number): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      source_stream: definition.logStream,
      source_sequence: letter.sequence,
      appended_at: letter.timestamp,
      kinesis_stream: definition.kinesisStreamName,
      partition_key: letter.partitionKey ?? null,
      reason: letter.reason,
      detail: letter.detail,
      dead_lettered_at: now,
      payload_base64: Buffer.from(letter.payload).toString('base64'),
    }),
    'utf8',
  );
}
