import { ContractError, decodeRecord, type TributaryRecord } from '../../shared/contract/index.ts';
import { type DeaggregatedRecord, deaggregate } from '../../shared/kinesis/aggregation.ts';
import { AggregationCorruptError } from '../../shared/kinesis/errors.ts';
import { EarlierRecordFailedError, StateConflictError } from './errors.ts';
import type { RulesConfig } from './rules/config.ts';
import { applyRecord, emptyState, type Route, routeRecord } from './rules/engine.ts';
import type { Effects } from './rules/model.ts';
import {
  type AlertStore,
  comparePositions,
  type StateStore,
  type StoredState,
  type StreamPosition,
} from './store/types.ts';

/**
 * One invocation's worth of work: every Kinesis record of the batch is deaggregated and decoded up
 * front, then each entity's user records run as one ordered chain while different entities run in
 * parallel. `outcome(sequenceNumber)` settles when that Kinesis record's user records are done, so
 * the batch processor can report partial failures per Kinesis record.
 *
 * Invalid data (corrupt aggregate, bytes that are not a contract record) is quarantined to the alert
 * store and the record counts as processed: retrying cannot fix bytes, and it must not block the shard.
 * Anything else that fails (throttling, conflicts) fails the record, and every later record of the same
 * entity in this batch with it, so Lambda redelivers from the first failure in order.
 */

export interface StreamRecord {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
  /** Approximate arrival in the stream, epoch ms. */
  arrivedAt: number;
}

export interface PipelineDeps {
  config: RulesConfig;
  states: StateStore;
  alerts: AlertStore;
}

export interface QuarantineNote {
  reasonCode: string;
  reason: string;
  position: StreamPosition;
  partitionKey: string;
}

export interface BatchReport {
  kinesisRecords: number;
  userRecords: number;
  /** Valid records no enabled rule looks at (no state I/O). */
  unrouted: number;
  /** Records applied to their entity's state. */
  applied: number;
  /** Records already included in the stored state (a redelivery); skipped. */
  replayed: number;
  raised: number;
  /** Raises whose alert id already existed (a redelivery after a partial write). */
  duplicateRaises: number;
  cleared: number;
  stateConflicts: number;
  quarantined: QuarantineNote[];
}

/** Retries of one record after version conflicts before failing it back to the event source. */
const MAX_CONFLICT_RETRIES = 3;

export class BatchPipeline {
  readonly report: BatchReport;
  readonly #deps: PipelineDeps;
  readonly #outcomes = new Map<string, Promise<void>>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #cache = new Map<string, StoredState>();

  /** Starts processing at once; await `outcome()` per record or `settled()` for all. */
  constructor(deps: PipelineDeps, records: readonly StreamRecord[]) {
    this.#deps = deps;
    this.report = {
      kinesisRecords: records.length,
      userRecords: 0,
      unrouted: 0,
      applied: 0,
      replayed: 0,
      raised: 0,
      duplicateRaises: 0,
      cleared: 0,
      stateConflicts: 0,
      quarantined: [],
    };
    for (const record of records) {
      let outcome: Promise<void>;
      try {
        outcome = Promise.all(this.#plan(record)).then(() => undefined);
      } catch (error) {
        outcome = Promise.reject(error);
      }
      // Marked handled here; the failure still reaches whoever awaits outcome().
      outcome.catch(() => undefined);
      this.#outcomes.set(record.sequenceNumber, outcome);
    }
  }

  outcome(sequenceNumber: string): Promise<void> {
    return this.#outcomes.get(sequenceNumber) ?? Promise.resolve();
  }

  async settled(): Promise<void> {
    await Promise.allSettled(this.#outcomes.values());
  }

  #plan(record: StreamRecord): Promise<unknown>[] {
    let users: DeaggregatedRecord[];
    try {
      users = deaggregate(record.data, {
        partitionKey: record.partitionKey,
        sequenceNumber: record.sequenceNumber,
      });
    } catch (error) {
      if (!(error instanceof AggregationCorruptError)) throw error;
      return [this.#quarantine(record, 0, record.data, error.code, error.message)];
    }
    this.report.userRecords += users.length;
    const tasks: Promise<unknown>[] = [];
    for (const user of users) {
      let decoded: TributaryRecord;
      try {
        decoded = decodeRecord(user.data, 'compatible');
      } catch (error) {
        if (!(error instanceof ContractError)) throw error;
        tasks.push(this.#quarantine(record, user.subSequenceNumber, user.data, error.code, error.message));
        continue;
      }
      const route = routeRecord(this.#deps.config, decoded);
      if (route === undefined) {
        this.report.unrouted++;
        continue;
      }
      const position = {
        shardId: record.shardId,
        sequenceNumber: record.sequenceNumber,
        subSequenceNumber: user.subSequenceNumber,
      };
      const previous = this.#chains.get(route.entityId) ?? Promise.resolve();
      const next = previous.then(
        () => this.#apply(route, decoded, position),
        () => {
          throw new EarlierRecordFailedError(route.entityId);
        },
      );
      this.#chains.set(route.entityId, next);
      tasks.push(next);
    }
    return tasks;
  }

  async #quarantine(
    record: StreamRecord,
    subSequenceNumber: number,
    data: Uint8Array,
    reasonCode: string,
    reason: string,
  ): Promise<void> {
    const position = { shardId: record.shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber };
    await this.#deps.alerts.quarantine({
      position,
      partitionKey: record.partitionKey,
      arrivedAt: record.arrivedAt,
      reasonCode,
      reason,
      data,
    });
    this.report.quarantined.push({ reasonCode, reason, position, partitionKey: record.partitionKey });
  }

  async #apply(route: Route, record: TributaryRecord, position: StreamPosition): Promise<void> {
    const { config, states, alerts } = this.#deps;
    for (let attempt = 0; attempt <= MAX_CONFLICT_RETRIES; attempt++) {
      const stored = this.#cache.get(route.entityId) ??
        (await states.get(route.entityId)) ?? {
          entity: emptyState(route.kind),
          version: 0,
          applied: undefined,
        };
      if (stored.applied !== undefined && (comparePositions(position, stored.applied) ?? 1) <= 0) {
        this.report.replayed++;
        this.#cache.set(route.entityId, stored);
        return;
      }
      const effects: Effects = { raised: [], cleared: [] };
      const next = applyRecord(config, stored.entity, record, effects);
      // Effects before state: if we crash in between, the redelivery recomputes the same alert ids
      // from the same stored state and the conditional puts turn into no-ops.
      const raised = await Promise.all(effects.raised.map((alert) => alerts.raise(alert)));
      for (const result of raised) {
        if (result === 'created') this.report.raised++;
        else this.report.duplicateRaises++;
      }
      for (const cleared of effects.cleared) {
        if ((await alerts.clear(cleared)) === 'cleared') this.report.cleared++;
      }
      if (next === stored.entity) {
        this.report.applied++;
        this.#cache.set(route.entityId, stored);
        return;
      }
      if ((await states.put(route.entityId, next, position, stored.version)) === 'written') {
        this.report.applied++;
        this.#cache.set(route.entityId, { entity: next, version: stored.version + 1, applied: position });
        return;
      }
      this.report.stateConflicts++;
      this.#cache.delete(route.entityId);
    }
    throw new StateConflictError(route.entityId, MAX_CONFLICT_RETRIES + 1);
  }
}
