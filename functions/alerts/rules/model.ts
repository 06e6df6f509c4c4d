import { createHash } from 'node:crypto';
import type { Severity } from './config.ts';

/**
 * What the pure rule core consumes and produces. No AWS types here: the store adapters map these
 * to DynamoDB items.
 */

export type AlertRuleType =
  | 'threshold'
  | 'log_error_rate'
  | 'velocity'
  | 'amount_anomaly'
  | 'impossible_travel';

/** A new alert. `alertId` is derived from the rule and the triggering record ids only. */
export interface RaisedAlert {
  alertId: string;
  ruleId: string;
  ruleType: AlertRuleType;
  severity: Severity;
  /** `device:<device_id>` or `card:<card_token>`. */
  entityId: string;
  /** Event time of the record that raised it (epoch ms). */
  raisedAt: number;
  /** Records whose ids the alert id derives from, oldest first; the last one raised it. */
  triggerRecordIds: string[];
  message: string;
  details: Record<string, unknown>;
}

/** A threshold or error-rate alert that returned to normal. */
export interface ClearedAlert {
  alertId: string;
  ruleId: string;
  entityId: string;
  clearedAt: number;
  clearedByRecordId: string;
  /** The figure that cleared it: the reading (threshold), the lines left in the window (error rate). */
  value: number;
}

export interface Effects {
  raised: RaisedAlert[];
  cleared: ClearedAlert[];
}

/** Threshold rule state of one device for one rule. */
export type ThresholdState =
  | { phase: 'breaching'; since: number; sinceRecordId: string }
  | { phase: 'raised'; alertId: string }
  | { phase: 'recovering'; alertId: string; since: number };

/**
 * Error-rate rule state of one device for one rule: the counted log lines still in the window, oldest
 * first by (event time, id), at most the rule's `raise` of them; `alertId` while the alert is open.
 */
export interface ErrorRateState {
  lines: { id: string; t: number }[];
  alertId?: string;
}

/** Rule state of one device: threshold and error-rate states by rule id (absent = normal, nothing counted). */
export interface DeviceState {
  thresholds: Record<string, ThresholdState>;
  /** Absent in states stored before error-rate rules existed. */
  errorRates?: Record<string, ErrorRateState>;
}

export interface AmountProfile {
  count: number;
  mean: number;
  variance: number;
  /** Event time of the last update, to evict the least recently used currency. */
  lastSeen: number;
}

/** Fraud state of one card. Bounded: at most maxTransactions+1 recent entries and a few currencies. */
export interface CardState {
  recent: { id: string; t: number }[];
  velocityQuietUntil: number;
  profiles: Record<string, AmountProfile>;
  lastLocated?: { id: string; t: number; lat: number; lon: number };
}

export const emptyDeviceState = (): DeviceState => ({ thresholds: {} });
export const emptyCardState = (): CardState => ({ recent: [], velocityQuietUntil: 0, profiles: {} });

/**
 * Deterministic alert id: the same rule fired by the same records always yields the same id, so a
 * replayed batch rewrites nothing (the store's conditional put sees the id exists).
 */
export function alertIdFor(ruleId: string, entityId: string, recordIds: readonly string[]): string {
  const hash = createHash('sha256');
  hash.update(ruleId).update('\0').update(entityId);
  for (const id of recordIds) hash.update('\0').update(id);
  return hash.digest('hex').slice(0, 32);
}
