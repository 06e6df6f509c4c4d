import type { TelemetryRecord } from '../../../shared/contract/index.ts';
import { formatDuration, withUnit } from '../../../shared/units.ts';
import type { ThresholdRule } from './config.ts';
import { alertIdFor, type DeviceState, type Effects, type ThresholdState } from './model.ts';

export function deviceEntityId(deviceId: string): string {
  return `device:${deviceId}`;
}

/** True when the record is one the rule watches: same metric and every rule tag present with its value. */
export function thresholdMatches(rule: ThresholdRule, record: TelemetryRecord): boolean {
  if (rule.metric !== record.payload.metric) return false;
  if (rule.tags === undefined) return true;
  const tags = record.payload.tags ?? {};
  for (const [key, value] of Object.entries(rule.tags)) if (tags[key] !== value) return false;
  return true;
}

function breaches(rule: ThresholdRule, value: number): boolean {
  return rule.direction === 'above' ? value > rule.raise : value < rule.raise;
}

function recovered(rule: ThresholdRule, value: number): boolean {
  return rule.direction === 'above' ? value < rule.clear : value > rule.clear;
}

/**
 * One rule, one record: the next state of the rule (undefined = normal) and what to raise or clear.
 * State machine: normal → breaching (condition holds, waiting minDurationMs) → raised →
 * recovering (back under `clear`, waiting minDurationMs) → normal. With minDurationMs = 0 the
 * waiting states are skipped. Durations are measured in event time, so a replay decides the same.
 */
export function stepThreshold(
  rule: ThresholdRule,
  state: ThresholdState | undefined,
  record: TelemetryRecord,
  effects: Effects,
): ThresholdState | undefined {
  const value = record.payload.value;
  const unit = record.payload.unit;
  const t = record.event_time;
  const entityId = deviceEntityId(record.device_id);
  const raise = (firstId: string): ThresholdState => {
    const triggerRecordIds = firstId === record.id ? [record.id] : [firstId, record.id];
    const alertId = alertIdFor(rule.id, entityId, triggerRecordIds);
    effects.raised.push({
      alertId,
      ruleId: rule.id,
      ruleType: 'threshold',
      severity: rule.severity,
      entityId,
      raisedAt: t,
      triggerRecordIds,
      // `temperature 34 °C is above 30 °C for 1 min 0 s`. Not part of the alert id: a replay by a newer
      // version finds the alert already stored and leaves its message as first written.
      message: `${rule.metric} ${withUnit(value, unit)} is ${rule.direction} ${withUnit(rule.raise, unit)}${rule.minDurationMs > 0 ? ` for ${formatDuration(rule.minDurationMs)}` : ''}`,
      details: {
        metric: rule.metric,
        value,
        unit,
        direction: rule.direction,
        raise: rule.raise,
        clear: rule.clear,
        minDurationMs: rule.minDurationMs,
      },
    });
    return { phase: 'raised', alertId };
  };
  const clear = (alertId: string): undefined => {
    effects.cleared.push({
      alertId,
      ruleId: rule.id,
      entityId,
      clearedAt: t,
      clearedByRecordId: record.id,
      value,
    });
    return undefined;
  };

  switch (state?.phase) {
    case undefined:
      if (!breaches(rule, value)) return undefined;
      return rule.minDurationMs === 0
        ? raise(record.id)
        : { phase: 'breaching', since: t, sinceRecordId: record.id };
    case 'breaching':
      if (!breaches(rule, value)) return undefined;
      return t - state.since >= rule.minDurationMs ? raise(state.sinceRecordId) : state;
    case 'raised':
      if (!recovered(rule, value)) return state;
      return rule.minDurationMs === 0
        ? clear(state.alertId)
        : { phase: 'recovering', alertId: state.alertId, since: t };
    case 'recovering':
      if (!recovered(rule, value)) return { phase: 'raised', alertId: state.alertId };
      return t - state.since >= rule.minDurationMs ? clear(state.alertId) : state;
  }
}

/** Applies every matching rule to a telemetry record. Returns the new state, or the same object if nothing changed. */
export function evaluateTelemetry(
  rules: readonly ThresholdRule[],
  state: DeviceState,
  record: TelemetryRecord,
  effects: Effects,
): DeviceState {
  let next: DeviceState | undefined;
  for (const rule of rules) {
    if (!thresholdMatches(rule, record)) continue;
    const before = state.thresholds[rule.id];
    const after = stepThreshold(rule, before, record, effects);
    if (after === before) continue;
    next ??= { thresholds: { ...state.thresholds } };
    if (after === undefined) delete next.thresholds[rule.id];
    else next.thresholds[rule.id] = after;
  }
  return next ?? state;
}
