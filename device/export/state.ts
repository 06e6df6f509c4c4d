/**
 * The retry/ordering state machine of one export. Deterministic and without I/O: it reads no clock
 * and draws no randomness of its own (`now` and `random` come in), so a test drives it step by
 * step. It is not pure: it is a mutable object, changed only through its methods, which are the
 * events the exporter reports (records read or unreadable, a PutRecords answer or failure, dead
 * letters written, a shard map reloaded, an error elsewhere in the export); nothing outside writes
 * its fields. It owns the records read from the log until Kinesis accepted them (or they were
 * dead-lettered), decides what goes next through the planner (which is pure), and reduces
 * PutRecords outcomes to retries, backoff and the checkpoint: the highest sequence S such that
 * every record <= S is done.
 */

import type { ShardMap } from '../../shared/kinesis/hash.ts';
import { PUT_RECORDS_MAX_BYTES } from '../../shared/kinesis/limits.ts';
import { type ExportErrorCode, ExportStatusCode, type FailureKind } from './errors.ts';
import { fullJitterDelay, type RetryPolicy, ShardPacer, type WriteLimits } from './pacing.ts';
import {
  type PendingRecord,
  type PlanLimits,
  type PlannedEntry,
  planBatch,
  type RejectReason,
  recordsOf,
  slimEntry,
} from './planner.ts';

export const THROTTLED_CODE = 'ProvisionedThroughputExceededException';

/** Per-entry result of a PutRecords call, in request order. */
export type EntryOutcome =
  | { ok: true; shardId: string; sequenceNumber: string }
  | { ok: false; code: string; message: string };

export interface RequestFailure {
  kind: FailureKind;
  code: string;
  message: string;
}

export interface PlannedRequest {
  readonly id: number;
  readonly entries: readonly PlannedEntry[];
  readonly bytes: number;
  readonly records: number;
}

/** Why a record went to the dead-letter stream: one of the exporter's dead-letter reason codes (ERRORS.md). */
export type DeadLetterReason =
  | RejectReason
  | Extract<ExportErrorCode, 'REJECTED_BY_KINESIS' | 'NO_PARTITION_KEY' | 'UNREADABLE_IN_LOG'>;

/** A log record Kinesis will never accept (or the log cannot return), bound for the dead-letter stream. */
export interface DeadLetter {
  readonly sequence: number;
  /** Log append time of the record. */
  readonly timestamp: number;
  readonly payload: Uint8Array;
  readonly partitionKey?: string | undefined;
  readonly reason: DeadLetterReason;
  readonly detail: string;
}

function letterOf(record: PendingRecord, reason: DeadLetterReason, detail: string): DeadLetter {
  return {
    sequence: record.sequence,
    timestamp: record.timestamp,
    payload: record.data,
    partitionKey: record.partitionKey,
    reason,
    detail,
  };
}

export interface ExportCounters {
  /** User records in PutRecords entries, resends included. */
  recordsSent: number;
  entriesSent: number;
  requestsSent: number;
  recordsAccepted: number;
  /** Payload bytes of the accepted user records, as the log holds them (resends counted once per acceptance). */
  bytesAccepted: number;
  entriesAccepted: number;
  /** Entries answered ProvisionedThroughputExceededException. */
  throttled: number;
  /** Entries that failed otherwise (InternalFailure, KMS errors, whole-request failures). */
  failedEntries: number;
  /** Entry sends that were resends. */
  retried: number;
  failedRequests: number;
  deadLettered: number;
  /** Accepted entries that landed on another shard than the map predicted. */
  shardMismatches: number;
  /** Records past the checkpoint found in Kinesis at start (sent before a restart), so not sent again. */
  recordsFoundLanded: number;
}

export interface LastError {
  readonly code: string;
  readonly message: string;
  /** ms since the epoch */
  readonly at: number;
}

export interface ExportStateOptions {
  readonly aggregate: boolean;
  readonly limits: PlanLimits;
  /** Greengrass batching: eligible at this many waiting records... */
  readonly batchSize: number;
  /** ...or once the oldest waited this long (0: at once). */
  readonly batchIntervalMillis: number;
  /** Buffered (waiting + outstanding) bytes at which the buffer counts as full, hence eligible. */
  readonly maxBufferedBytes: number;
  readonly maxInFlightRequests: number;
  /** Per failed entry. */
  readonly retry: RetryPolicy;
  /** Whole-request failures: endpoint down, 5xx, missing stream, denied. */
  readonly offline: RetryPolicy;
  readonly shardLimits: WriteLimits;
  readonly pacingSlackMillis: number;
  /** Shortest time between two shard-map refreshes. */
  readonly refreshIntervalMillis: number;
  readonly random: () => number;
}

interface Outstanding {
  entry: PlannedEntry;
  attempts: number;
  notBefore: number;
  inFlight: boolean;
  pacerToken: number | undefined;
}

/**
 * Sequences still owned by the exporter, in read order. Sequences only arrive increasing, so the
 * checkpoint is the last one popped off a done head.
 */
class ContiguousTracker {
  #sequences: number[] = [];
  #timestamps: number[] = [];
  #head = 0;
  readonly #done = new Set<number>();
  #last: number | undefined;

  add(sequence: number, timestamp: number): void {
    this.#sequences.push(sequence);
    this.#timestamps.push(timestamp);
  }

  complete(sequence: number): void {
    this.#done.add(sequence);
    while (this.#head < this.#sequences.length) {
      const head = this.#sequences[this.#head] as number;
      if (!this.#done.delete(head)) break;
      this.#last = head;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#sequences.length) {
      this.#sequences = this.#sequences.slice(this.#head);
      this.#timestamps = this.#timestamps.slice(this.#head);
      this.#head = 0;
    }
  }

  get last(): number | undefined {
    return this.#last;
  }

  /** Timestamp of the oldest record not yet done. */
  get oldestTimestamp(): number | undefined {
    return this.#timestamps[this.#head];
  }

  get size(): number {
    return this.#sequences.length - this.#head;
  }
}

export class ExportState {
  readonly #counters: ExportCounters = {
    recordsSent: 0,
    entriesSent: 0,
    requestsSent: 0,
    recordsAccepted: 0,
    bytesAccepted: 0,
    entriesAccepted: 0,
    throttled: 0,
    failedEntries: 0,
    retried: 0,
    failedRequests: 0,
    deadLettered: 0,
    shardMismatches: 0,
    recordsFoundLanded: 0,
  };
  #lastError: LastError | undefined;
  #lastRequestAt: number | undefined;

  #pending: PendingRecord[] = [];
  #pendingBytes = 0;
  #outstandingBytes = 0;
  readonly #lanes = new Map<string, Outstanding>();
  readonly #requests = new Map<number, Outstanding[]>();
  readonly #tracker = new ContiguousTracker();
  readonly #pacers = new Map<string, ShardPacer>();
  #deadLetters: DeadLetter[] = [];
  #nextRequestId = 1;
  #offlineFailures = 0;
  #offlineUntil = 0;
  #refreshNeeded = false;
  #lastRefreshAt = Number.NEGATIVE_INFINITY;
  #unroutable = false;
  #budgetBlocked: ReadonlySet<string> = new Set();
  #limits: PlanLimits;
  /** Records up to this sequence go out without waiting for batchSize/batchIntervalMillis. */
  #flushThrough = -1;

  constructor(private readonly options: ExportStateOptions) {
    this.#limits = options.limits;
  }

  get limits(): PlanLimits {
    return this.#limits;
  }

  get counters(): Readonly<ExportCounters> {
    return this.#counters;
  }

  /** When the latest PutRecords request went out (ms since the epoch); undefined before the first. */
  get lastRequestAt(): number | undefined {
    return this.#lastRequestAt;
  }

  /** The latest failure of this export, from Kinesis or reported by the exporter (`noteError`). */
  get lastError(): LastError | undefined {
    return this.#lastError;
  }

  /** A failure outside the state's own calls (log read, dead-letter write, checkpoint commit) for the status. */
  noteError(code: string, message: string, now: number): void {
    this.#lastError = { code, message, at: now };
  }

  /** Takes freshly read records, in ascending sequence order, after everything offered before. */
  offer(records: readonly PendingRecord[]): void {
    for (const record of records) {
      this.#pending.push(record);
      this.#pendingBytes += record.bytes;
      this.#tracker.add(record.sequence, record.timestamp);
    }
  }

  /** A record read back from Kinesis at start (see landed.ts): done without being sent. */
  landed(sequence: number, timestamp: number): void {
    this.#tracker.add(sequence, timestamp);
    this.#tracker.complete(sequence);
    this.#counters.recordsFoundLanded++;
  }

  /** A record that never reaches the planner (no usable key, unreadable) goes straight to the dead letters. */
  reject(letter: DeadLetter): void {
    this.#tracker.add(letter.sequence, letter.timestamp);
    this.#deadLetters.push(letter);
  }

  /** Records waiting to be written to the dead-letter stream; the caller reports back with `deadLettered`. */
  takeDeadLetters(): DeadLetter[] {
    const out = this.#deadLetters;
    this.#deadLetters = [];
    return out;
  }

  /** The dead letters are durably in the dead-letter stream. */
  deadLettered(letters: readonly DeadLetter[]): void {
    for (const letter of letters) {
      this.#counters.deadLettered++;
      this.#tracker.complete(letter.sequence);
    }
  }

  /** Highest sequence S with every record <= S accepted or dead-lettered; undefined before the first. */
  get checkpoint(): number | undefined {
    return this.#tracker.last;
  }

  get oldestUnexportedTimestamp(): number | undefined {
    return this.#tracker.oldestTimestamp;
  }

  /** Records read and not yet done. */
  get heldRecords(): number {
    return this.#tracker.size;
  }

  get bufferedBytes(): number {
    return this.#pendingBytes + this.#outstandingBytes;
  }

  get inFlightRequests(): number {
    return this.#requests.size;
  }

  /** The shard map must be reloaded before anything new is planned (checked once nothing is in flight). */
  get refreshDue(): boolean {
    return this.#refreshNeeded && this.#requests.size === 0;
  }

  /**
   * The map was reloaded. If it changed, every outstanding entry (none is in flight: refreshes wait
   * for that) goes back to the queue and is planned again for the new shards: the user records keep
   * their bytes, only the aggregates around them are rebuilt.
   */
  refreshed(now: number, changed: boolean): void {
    this.#refreshNeeded = false;
    this.#lastRefreshAt = now;
    if (!changed) return;
    const records: PendingRecord[] = [];
    for (const outstanding of this.#lanes.values()) records.push(...recordsOf(outstanding.entry));
    this.#lanes.clear();
    this.#outstandingBytes = 0;
    this.#requeue(records);
  }

  /** The stream's record size changed (DescribeStreamSummary); entries now too big are re-planned. */
  setLimits(limits: PlanLimits): void {
    this.#limits = limits;
    for (const [lane, outstanding] of this.#lanes) {
      if (outstanding.inFlight || outstanding.entry.bytes <= limits.maxRecordBytes) continue;
      this.#dropLane(lane, outstanding);
      this.#requeue(recordsOf(outstanding.entry));
    }
  }

  /** The next request to send, or undefined when nothing may go now (see `wakeAt`). */
  plan(now: number, shardMap: ShardMap, requestBytes = PUT_RECORDS_MAX_BYTES): PlannedRequest | undefined {
    this.#budgetBlocked = new Set();
    if (now < this.#offlineUntil || this.#refreshNeeded) return undefined;
    if (this.#requests.size >= this.options.maxInFlightRequests) return undefined;
    const retries: PlannedEntry[] = [];
    const due: Outstanding[] = [];
    for (const outstanding of this.#lanes.values()) {
      if (outstanding.inFlight || outstanding.notBefore > now) continue;
      const shardBudget = this.#pacer(outstanding.entry.shardId).budget(now);
      if (shardBudget.records < 1 || shardBudget.bytes < outstanding.entry.bytes) continue;
      due.push(outstanding);
    }
    // Oldest first, so a full request favours the records holding the checkpoint back.
    due.sort((a, b) => (a.entry.records[0]?.sequence ?? 0) - (b.entry.records[0]?.sequence ?? 0));
    for (const outstanding of due) retries.push(outstanding.entry);
    const eligible = this.#eligible(now);
    const plan = planBatch({
      pending: eligible ? this.#pending : [],
      shardMap,
      aggregate: this.options.aggregate,
      limits: { ...this.#limits, maxRequestBytes: Math.min(this.#limits.maxRequestBytes, requestBytes) },
      busyLanes: new Set(this.#lanes.keys()),
      retries,
      shardBudget: (shardId) => this.#pacer(shardId).budget(now),
    });
    this.#budgetBlocked = plan.budgetBlocked;
    this.#unroutable = plan.unroutable;
    if (plan.unroutable && now - this.#lastRefreshAt >= this.options.refreshIntervalMillis) {
      this.#refreshNeeded = true;
    }
    if (plan.rejected.length > 0) {
      const rejected = new Set<number>();
      for (const { record, reason, detail } of plan.rejected) {
        rejected.add(record.sequence);
        this.#deadLetters.push(letterOf(record, reason, detail));
      }
      this.#removePending(rejected);
    }
    if (plan.entries.length === 0) return undefined;
    this.#removePending(plan.planned);

    const id = this.#nextRequestId++;
    const sent: Outstanding[] = [];
    const entries: PlannedEntry[] = [];
    let bytes = 0;
    let records = 0;
    for (const planned of plan.entries) {
      let entry = planned;
      let outstanding = this.#lanes.get(entry.lane);
      if (outstanding === undefined || outstanding.entry !== entry) {
        // Memory: the entry's data holds the records' bytes; keeping the records' own bytes too (views
        // that pin whole log read chunks) would hold every outstanding record twice.
        entry = slimEntry(planned);
        outstanding = { entry, attempts: 0, notBefore: now, inFlight: false, pacerToken: undefined };
        this.#lanes.set(entry.lane, outstanding);
        this.#outstandingBytes += entry.records.reduce((sum, r) => sum + r.bytes, 0);
      } else {
        this.#counters.retried++;
      }
      entries.push(entry);
      outstanding.attempts++;
      outstanding.inFlight = true;
      outstanding.pacerToken = this.#pacer(entry.shardId).record(now, entry.bytes, 1);
      sent.push(outstanding);
      bytes += entry.bytes;
      records += entry.records.length;
    }
    this.#requests.set(id, sent);
    this.#counters.requestsSent++;
    this.#lastRequestAt = now;
    this.#counters.entriesSent += sent.length;
    this.#counters.recordsSent += records;
    return { id, entries, bytes, records };
  }

  /** Earliest time `plan` may return something without new input, or undefined if only input can help. */
  wakeAt(now: number): number | undefined {
    // Nothing goes out before a whole-request backoff ends.
    if (this.#offlineUntil > now) return this.#offlineUntil;
    let wake = Number.POSITIVE_INFINITY;
    if ((this.#refreshNeeded && this.#requests.size === 0) || this.#unroutable) {
      wake = Math.min(wake, Math.max(now, this.#lastRefreshAt + this.options.refreshIntervalMillis));
    }
    for (const outstanding of this.#lanes.values()) {
      if (outstanding.inFlight) continue;
      const pacer = this.#pacer(outstanding.entry.shardId);
      const budget = pacer.budget(now);
      const fits = budget.records >= 1 && budget.bytes >= outstanding.entry.bytes;
      wake = Math.min(
        wake,
        fits ? outstanding.notBefore : Math.max(outstanding.notBefore, pacer.nextRelease(now) ?? now),
      );
    }
    for (const shardId of this.#budgetBlocked) {
      const release = this.#pacer(shardId).nextRelease(now);
      if (release !== undefined) wake = Math.min(wake, release);
    }
    const oldest = this.#pending[0];
    if (oldest !== undefined && !this.#eligible(now)) {
      wake = Math.min(wake, oldest.timestamp + this.options.batchIntervalMillis);
    }
    return Number.isFinite(wake) ? Math.max(wake, now) : undefined;
  }

  /** Until when whole-request failures hold sending back (0 when not backing off). */
  get offlineUntil(): number {
    return this.#offlineUntil;
  }

  /** A refresh is needed once the in-flight requests are back (unroutable records, stream errors). */
  get refreshPending(): boolean {
    return this.#refreshNeeded;
  }

  /** PutRecords answered: one outcome per entry, in request order. */
  complete(id: number, outcomes: readonly EntryOutcome[], now: number): void {
    const sent = this.#take(id);
    this.#offlineFailures = 0;
    this.#offlineUntil = 0;
    sent.forEach((outstanding, i) => {
      const outcome = outcomes[i] ?? {
        ok: false,
        code: ExportStatusCode.MISSING_RESULT,
        message: 'no result for this entry',
      };
      const { entry } = outstanding;
      if (outcome.ok) {
        this.#dropLane(entry.lane, outstanding);
        for (const record of entry.records) this.#tracker.complete(record.sequence);
        this.#counters.entriesAccepted++;
        this.#counters.recordsAccepted += entry.records.length;
        for (const record of entry.records) this.#counters.bytesAccepted += record.payloadBytes;
        if (outcome.shardId !== entry.shardId) {
          this.#counters.shardMismatches++;
          this.#refreshNeeded = true;
        }
        return;
      }
      if (outcome.code === THROTTLED_CODE) {
        this.#counters.throttled++;
        if (outstanding.pacerToken !== undefined) this.#pacer(entry.shardId).refund(outstanding.pacerToken);
      } else {
        this.#counters.failedEntries++;
        this.noteError(outcome.code, outcome.message, now);
      }
      outstanding.inFlight = false;
      outstanding.notBefore =
        now + fullJitterDelay(outstanding.attempts, this.options.retry, this.options.random);
    });
  }

  /** PutRecords failed as a whole (no per-entry answer). */
  fail(id: number, failure: RequestFailure, now: number): void {
    const sent = this.#take(id);
    this.#counters.failedRequests++;
    this.#counters.failedEntries += sent.length;
    this.noteError(failure.code, failure.message, now);
    if (failure.kind === 'invalid') {
      this.#isolate(sent, failure, now);
      return;
    }
    for (const outstanding of sent) {
      outstanding.inFlight = false;
      outstanding.notBefore = now;
    }
    this.backOff(failure, now);
  }

  /** A call failed because Kinesis is unreachable or refusing: nothing is sent until the backoff ends. */
  backOff(failure: RequestFailure, now: number): void {
    this.noteError(failure.code, failure.message, now);
    if (failure.kind === 'stream-missing') this.#refreshNeeded = true;
    this.#offlineFailures++;
    this.#offlineUntil =
      now + fullJitterDelay(this.#offlineFailures, this.options.offline, this.options.random);
  }

  /**
   * A ValidationException names no entry, so the request is split until the bad record stands
   * alone: entries of a multi-entry request go one per request; an aggregate that fails alone is
   * unpacked into solo records; a solo record that fails is dead-lettered.
   */
  #isolate(sent: readonly Outstanding[], failure: RequestFailure, now: number): void {
    if (sent.length > 1) {
      for (const outstanding of sent) {
        outstanding.entry = { ...outstanding.entry, solo: true };
        outstanding.inFlight = false;
        outstanding.notBefore = now;
      }
      return;
    }
    const outstanding = sent[0];
    if (outstanding === undefined) return;
    const { entry } = outstanding;
    this.#dropLane(entry.lane, outstanding);
    const records = recordsOf(entry);
    const [only] = records;
    // Alone in its request, one user record: that record is what Kinesis refuses.
    if (records.length === 1 && only !== undefined) {
      this.#deadLetters.push(letterOf(only, 'REJECTED_BY_KINESIS', `${failure.code}: ${failure.message}`));
      return;
    }
    this.#requeue(records.map((record) => ({ ...record, solo: true })));
  }

  #take(id: number): Outstanding[] {
    const sent = this.#requests.get(id) ?? [];
    this.#requests.delete(id);
    return sent;
  }

  #dropLane(lane: string, outstanding: Outstanding): void {
    if (this.#lanes.get(lane) !== outstanding) return;
    this.#lanes.delete(lane);
    this.#outstandingBytes -= outstanding.entry.records.reduce((sum, r) => sum + r.bytes, 0);
  }

  /** Puts records back among the waiting ones, keeping sequence order. */
  #requeue(records: readonly PendingRecord[]): void {
    if (records.length === 0) return;
    const merged = [...this.#pending, ...records].sort((a, b) => a.sequence - b.sequence);
    this.#pending = merged;
    for (const record of records) this.#pendingBytes += record.bytes;
  }

  #removePending(sequences: ReadonlySet<number>): void {
    if (sequences.size === 0) return;
    const kept: PendingRecord[] = [];
    for (const record of this.#pending) {
      if (sequences.has(record.sequence)) this.#pendingBytes -= record.bytes;
      else kept.push(record);
    }
    this.#pending = kept;
  }

  /** Sends everything up to `sequence` as soon as pacing allows, ignoring the batch thresholds. */
  flush(sequence: number): void {
    this.#flushThrough = Math.max(this.#flushThrough, sequence);
  }

  #eligible(now: number): boolean {
    const oldest = this.#pending[0];
    if (oldest === undefined) return false;
    const { batchIntervalMillis, batchSize, maxBufferedBytes } = this.options;
    return (
      batchIntervalMillis === 0 ||
      oldest.sequence <= this.#flushThrough ||
      this.#pending.length >= batchSize ||
      this.bufferedBytes >= maxBufferedBytes ||
      now - oldest.timestamp >= batchIntervalMillis
    );
  }

  #pacer(shardId: string): ShardPacer {
    let pacer = this.#pacers.get(shardId);
    if (pacer === undefined) {
      pacer = new ShardPacer(this.options.shardLimits, this.options.pacingSlackMillis);
      this.#pacers.set(shardId, pacer);
    }
    return pacer;
  }
}
