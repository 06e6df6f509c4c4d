import type { EntityState } from '../../functions/alerts/rules/engine.ts';
import type { ClearedAlert, RaisedAlert } from '../../functions/alerts/rules/model.ts';
import type {
  AlertStore,
  QuarantinedRecord,
  StateStore,
  StoredState,
  StreamPosition,
} from '../../functions/alerts/store/types.ts';

/**
 * In-memory stores with the DynamoDB adapters' semantics (functions/alerts/store/dynamodb.ts), for
 * pure-core tests that run the real BatchPipeline without a server: the state goes through JSON
 * like its `state` attribute, the state put is conditional on the version, an alert is put only if
 * its id is new, and a clear applies to an open alert or repeats the same record's clear. `fault`
 * is asked before every write and may throw to stand for a crash or a throttle at that point.
 */

export interface StoredAlert {
  alert: RaisedAlert;
  status: 'OPEN' | 'CLEARED';
  clearedAt?: number;
  clearedByRecordId?: string;
  clearValue?: number;
}

export type Fault = (operation: 'state' | 'raise' | 'clear' | 'quarantine', key: string) => void;

export class MemoryStateStore implements StateStore {
  readonly items = new Map<
    string,
    { kind: string; state: string; version: number; applied: StreamPosition }
  >();
  readonly #fault: Fault;

  constructor(fault: Fault = () => undefined) {
    this.#fault = fault;
  }

  async get(entityId: string): Promise<StoredState | undefined> {
    const item = this.items.get(entityId);
    if (item === undefined) return undefined;
    return {
      entity: { kind: item.kind, state: JSON.parse(item.state) } as EntityState,
      version: item.version,
      applied: { ...item.applied },
    };
  }

  async put(
    entityId: string,
    entity: EntityState,
    applied: StreamPosition,
    expectedVersion: number,
  ): Promise<'written' | 'conflict'> {
    this.#fault('state', entityId);
    if ((this.items.get(entityId)?.version ?? 0) !== expectedVersion) return 'conflict';
    this.items.set(entityId, {
      kind: entity.kind,
      state: JSON.stringify(entity.state),
      version: expectedVersion + 1,
      applied: { ...applied },
    });
    return 'written';
  }
}

export class MemoryAlertStore implements AlertStore {
  readonly alerts = new Map<string, StoredAlert>();
  readonly quarantined = new Map<string, QuarantinedRecord>();
  readonly #fault: Fault;

  constructor(fault: Fault = () => undefined) {
    this.#fault = fault;
  }

  async raise(alert: RaisedAlert): Promise<'created' | 'exists'> {
    this.#fault('raise', alert.alertId);
    if (this.alerts.has(alert.alertId)) return 'exists';
    this.alerts.set(alert.alertId, { alert: structuredClone(alert), status: 'OPEN' });
    return 'created';
  }

  async clear(cleared: ClearedAlert): Promise<'cleared' | 'unchanged'> {
    this.#fault('clear', cleared.alertId);
    const item = this.alerts.get(cleared.alertId);
    if (item === undefined) return 'unchanged';
    if (item.status !== 'OPEN' && item.clearedByRecordId !== cleared.clearedByRecordId) return 'unchanged';
    item.status = 'CLEARED';
    item.clearedAt = cleared.clearedAt;
    item.clearedByRecordId = cleared.clearedByRecordId;
    item.clearValue = cleared.value;
    return 'cleared';
  }

  async quarantine(record: QuarantinedRecord): Promise<'created' | 'exists'> {
    const key = `${record.position.shardId}#${record.position.sequenceNumber}#${record.position.subSequenceNumber}`;
    this.#fault('quarantine', key);
    if (this.quarantined.has(key)) return 'exists';
    this.quarantined.set(key, record);
    return 'created';
  }
}
