import type { TributaryRecord } from '../../../shared/contract/index.ts';
import type { RulesConfig } from './config.ts';
import { evaluateLog } from './error-rate.ts';
import { cardEntityId, evaluateTransaction } from './fraud.ts';
import { type CardState, type DeviceState, type Effects, emptyCardState, emptyDeviceState } from './model.ts';
import { deviceEntityId, evaluateTelemetry, thresholdMatches } from './threshold.ts';

/**
 * The pure rule core: which entity a record belongs to, and what one record does to that entity's
 * state. Records of one entity must be applied in stream order; Kinesis gives that order when the
 * partition key is the entity (device_id for telemetry and log lines, the card token for transactions).
 */

export type EntityState = { kind: 'device'; state: DeviceState } | { kind: 'card'; state: CardState };

export interface Route {
  kind: EntityState['kind'];
  /** Alert entity id: `device:<id>` / `card:<token>`. Also the state key. */
  entityId: string;
}

/** The entity whose state the record touches, or undefined when no enabled rule looks at it (no I/O needed). */
export function routeRecord(config: RulesConfig, record: TributaryRecord): Route | undefined {
  if (record.type === 'telemetry') {
    if (!config.threshold.some((rule) => thresholdMatches(rule, record))) return undefined;
    return { kind: 'device', entityId: deviceEntityId(record.device_id) };
  }
  if (record.type === 'log') {
    // Every line of the device, not only counted ones: a quiet line moves the window and clears.
    if (config.logErrorRate.length === 0) return undefined;
    return { kind: 'device', entityId: deviceEntityId(record.device_id) };
  }
  const { velocity, amountAnomaly, impossibleTravel } = config.fraud;
  if (!velocity.enabled && !amountAnomaly.enabled && !impossibleTravel.enabled) return undefined;
  return { kind: 'card', entityId: cardEntityId(record.payload.card_token) };
}

export function emptyState(kind: EntityState['kind']): EntityState {
  return kind === 'device' ? { kind, state: emptyDeviceState() } : { kind, state: emptyCardState() };
}

/**
 * Applies one record to its entity's state. Returns the next state, or the very same object when the
 * record changed nothing (the caller then skips the write).
 */
export function applyRecord(
  config: RulesConfig,
  current: EntityState,
  record: TributaryRecord,
  effects: Effects,
): EntityState {
  if (record.type === 'telemetry') {
    if (current.kind !== 'device') return current;
    const next = evaluateTelemetry(config.threshold, current.state, record, effects);
    return next === current.state ? current : { kind: 'device', state: next };
  }
  if (record.type === 'log') {
    if (current.kind !== 'device') return current;
    const next = evaluateLog(config.logErrorRate, current.state, record, effects);
    return next === current.state ? current : { kind: 'device', state: next };
  }
  if (current.kind !== 'card') return current;
  return { kind: 'card', state: evaluateTransaction(config.fraud, current.state, record, effects) };
}
