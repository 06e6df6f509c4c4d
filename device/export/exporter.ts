/**
 * KinesisExporter: drains device log streams into Kinesis, one export definition per log stream.
 * This is the thin, stateful edge: it reads the log in bounded chunks (log-reader.ts), routes
 * records (record-router.ts), asks each export's state machine (state.ts: deterministic, no I/O,
 * changed only through its methods; planner.ts is its pure planner) what to send, calls Kinesis
 * (kinesis-calls.ts), writes dead letters (dead-letters.ts), and commits the checkpoint to the log
 * (checkpoint.ts). At start, what the previous run sent past the checkpoint is read back from
 * Kinesis first (read-back.ts). This file holds the loop that drives those pumps.
 *
 * Guarantee: at-least-once. A record leaves the backlog (checkpoint) only after Kinesis accepted it
 * or it was written to the dead-letter stream; resends carry the same user-record bytes. After a
 * restart, records accepted but not yet checkpointed are sent again (same id, same bytes), except
 * those the read-back finds in Kinesis.
 */
import { SharedBandwidth } from './bandwidth.ts';
import { pumpCommit } from './checkpoint.ts';
import { pumpLetters } from './dead-letters.ts';
import { parseExportDefinitions } from './definition.ts';
import { ExporterStoppedError, ExportNotFoundError } from './errors.ts';
import type { KinesisApi } from './kinesis.ts';
import { pumpRefresh, sendRequest } from './kinesis-calls.ts';
import { pumpRead } from './log-reader.ts';
import { type KinesisExporterOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import { pumpReadBack } from './read-back.ts';
import { RecordRouter } from './record-router.ts';
import { type ExportStatus, exportStatus } from './status.ts';
import { type ExporterContext, openExport, type StreamExport } from './stream-export.ts';

export class KinesisExporter {
  readonly #store: KinesisExporterOptions['store'];
  readonly #options: ResolvedOptions;
  readonly #clock: () => number;
  readonly #ctx: ExporterContext;
  readonly #router: RecordRouter;
  /** Highest priority first; the order stays stable so equal priorities keep their definition order. */
  readonly #exports: StreamExport[];
  readonly #byName = new Map<string, StreamExport>();
  readonly #bandwidth: SharedBandwidth | undefined;
  readonly #unsubscribe: (() => void) | undefined;
  readonly #abort = new AbortController();
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
    this.#options = resolved;
    this.#clock = options.clock ?? Date.now;
    this.#ctx = {
      store: this.#store,
      client,
      options: resolved,
      clock: this.#clock,
      wake: () => this.#wake(),
    };
    this.#router = new RecordRouter(options.route, resolved.defaultPartitionKey);
    this.#exports = [...exports].sort((a, b) => b.definition.priority - a.definition.priority);
    for (const e of exports) this.#byName.set(e.definition.logStream, e);
    const cap = resolved.maxBandwidthBytesPerSecond;
    this.#bandwidth =
      options.bandwidth ?? (cap === undefined ? undefined : new SharedBandwidth(cap, this.#clock()));
    // A more urgent exporter that waited has sent: this one may look again.
    this.#unsubscribe = this.#bandwidth?.subscribe(() => this.#wake());
  }

  /**
   * Validates the options, creates missing dead-letter streams, loads checkpoints and starts
   * exporting in the background. Kinesis need not be reachable: the exporter backs off until it is.
   */
  static async start(options: KinesisExporterOptions): Promise<KinesisExporter> {
    const resolved = resolveOptions(options);
    const definitions = parseExportDefinitions(options.exports);
    const clock = options.clock ?? Date.now;
    const random = options.random ?? Math.random;
    const exports: StreamExport[] = [];
    for (const [index, definition] of definitions.entries()) {
      exports.push(await openExport(options.store, definition, index, resolved, random, clock));
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
    return exportStatus(e, this.#store, this.#clock(), this.#stopped);
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
        pumpRefresh(this.#ctx, e);
        pumpReadBack(this.#ctx, this.#router, e, this.#abort.signal);
        pumpRead(this.#ctx, this.#router, e, now, this.#stopping, this.#abort.signal);
        pumpLetters(this.#ctx, e, now);
        pumpCommit(this.#ctx, e);
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
        // A failed describe backs off; its retry (pumpRefresh) needs a wake-up when the backoff ends,
        // or an agent that started offline waits for an append that may never come (a full disk).
        if (e.refreshing === undefined && e.state.offlineUntil > now)
          wake = Math.min(wake, e.state.offlineUntil);
        continue;
      }
      for (;;) {
        const bandwidth = this.#bandwidth;
        const priority = e.definition.priority;
        const global = bandwidth?.available(now, priority, this) ?? Number.POSITIVE_INFINITY;
        // Out of shared bandwidth (or a more urgent exporter waits for it): lower priorities must not
        // spend what this export is waiting for. The most urgent export with data claims the next bytes.
        if (bandwidth !== undefined && global <= 0) {
          const wanting = this.#exports.find((x) => x.state.heldRecords > 0);
          if (wanting !== undefined) bandwidth.claim(this, wanting.definition.priority, now);
          return Math.min(wake, bandwidth.readyAt(now, priority, this));
        }
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
        this.#bandwidth?.take(this, request.bytes, now);
        e.bucket?.take(request.bytes, now);
        sendRequest(this.#ctx, e, request);
      }
      if (e.state.inFlightRequests < this.#options.maxInFlightRequests) {
        wake = Math.min(wake, e.state.wakeAt(now) ?? Number.POSITIVE_INFINITY);
      }
    }
    return wake;
  }

  /** Lets in-flight work settle, then writes dead letters and the final checkpoint. */
  async #shutdown(): Promise<void> {
    for (const e of this.#exports) {
      await Promise.allSettled([
        ...e.sends,
        e.reading,
        e.refreshing,
        e.readingBack,
        e.writingLetters,
        e.committing,
      ]);
      pumpLetters(this.#ctx, e, this.#clock());
      await e.writingLetters;
      pumpCommit(this.#ctx, e);
      await e.committing;
      for (const waiter of e.waiters.splice(0)) waiter.reject(new ExporterStoppedError());
    }
    this.#unsubscribe?.();
    this.#bandwidth?.release(this);
    this.#stopped = true;
  }
}
