import { LOG_LEVELS, type LogLevel, type LogRecord } from '../../../shared/contract/index.ts';
import type { LogErrorRateRule } from './config.ts';
import { alertIdFor, type DeviceState, type Effects, type ErrorRateState } from './model.ts';
import { deviceEntityId } from './threshold.ts';

/** RFC 5424 severity of each level: 0 (emergency) to 7 (debug); LOG_LEVELS is in that order. */
const SEVERITY = Object.fromEntries(LOG_LEVELS.map((level, index) => [level, index])) as Record<
  LogLevel,
  number
>;

/** Longest log message an alert's details keep (a line may be as long as a record, an item has 400 KB). */
export const DETAIL_MESSAGE_MAX_CHARS = 256;

/** True when a line at `level` counts for the rule: at the rule's level or more severe. */
export function countsForRule(rule: LogErrorRateRule, level: LogLevel): boolean {
  return SEVERITY[level] <= SEVERITY[rule.level];
}

type Line = ErrorRateState['lines'][number];

function byTimeThenId(a: Line, b: Line): number {
  return a.t - b.t || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function sameLines(a: readonly Line[], b: readonly Line[]): boolean {
  return a.length === b.length && a.every((line, i) => line.id === b[i]?.id);
}

/** Cuts `text` to `max` UTF-16 units without leaving half a surrogate pair (DynamoDB strings are UTF-8). */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/**
 * One rule, one log line of the device: the next state (undefined = nothing counted, no alert open)
 * and what to raise or clear. A counted line joins the window unless its id is already there (a
 * duplicate never counts twice); the window ends at the newest event time among the line and the
 * kept lines, so a late line moves nothing. Lines at or before the window's start leave, and only
 * the newest `raise` are kept: "at least `raise`" is all the rule asks of a longer list. Everything
 * is event time and record ids, so a replay decides the same. Returns the same object when nothing
 * changed (no state write).
 */
export function stepErrorRate(
  rule: LogErrorRateRule,
  state: ErrorRateState | undefined,
  record: LogRecord,
  effects: Effects,
): ErrorRateState | undefined {
  const before = state?.lines ?? [];
  const counted = countsForRule(rule, record.payload.level) && !before.some((line) => line.id === record.id);
  let lines = counted ? [...before, { id: record.id, t: record.event_time }].sort(byTimeThenId) : before;
  const end = Math.max(record.event_time, lines.at(-1)?.t ?? record.event_time);
  const start = end - rule.windowMs;
  let drop = lines.findIndex((line) => line.t > start);
  if (drop < 0) drop = lines.length;
  drop = Math.max(drop, lines.length - rule.raise);
  if (drop > 0) lines = lines.slice(drop);
  const entityId = deviceEntityId(record.device_id);

  let alertId = state?.alertId;
  if (alertId === undefined && lines.length >= rule.raise) {
    const first = lines[0]?.id ?? record.id;
    const triggerRecordIds = first === record.id ? [record.id] : [first, record.id];
    alertId = alertIdFor(rule.id, entityId, triggerRecordIds);
    effects.raised.push({
      alertId,
      ruleId: rule.id,
      ruleType: 'log_error_rate',
      severity: rule.severity,
      entityId,
      raisedAt: record.event_time,
      triggerRecordIds,
      message: `${lines.length} log lines at ${rule.level} or worse within ${rule.windowMs / 1000} s (raises at ${rule.raise})`,
      details: {
        // The Flink job's series of the device's lines at this level (device#<id>#log.<level>): the
        // dashboard shows it beside the alert.
        metric: `log.${rule.level}`,
        count: lines.length,
        level: rule.level,
        windowMs: rule.windowMs,
        raise: rule.raise,
        clear: rule.clear,
        // The line that tipped it, so the alert says what went wrong without a trip to the lake.
        ...(counted
          ? {
              lastLevel: record.payload.level,
              lastSource: record.payload.source,
              lastMessage: truncate(record.payload.message, DETAIL_MESSAGE_MAX_CHARS),
            }
          : {}),
        recordIds: lines.map((line) => line.id),
      },
    });
  } else if (alertId !== undefined && lines.length <= rule.clear) {
    effects.cleared.push({
      alertId,
      ruleId: rule.id,
      entityId,
      clearedAt: record.event_time,
      clearedByRecordId: record.id,
      value: lines.length,
    });
    alertId = undefined;
  }

  if (alertId === state?.alertId && sameLines(lines, before)) return state;
  if (alertId === undefined) return lines.length === 0 ? undefined : { lines };
  return { lines, alertId };
}

/** Applies every error-rate rule to a log line. Returns the new state, or the same object if nothing changed. */
export function evaluateLog(
  rules: readonly LogErrorRateRule[],
  state: DeviceState,
  record: LogRecord,
  effects: Effects,
): DeviceState {
  let next: DeviceState | undefined;
  let rates: Record<string, ErrorRateState> | undefined;
  for (const rule of rules) {
    const before = state.errorRates?.[rule.id];
    const after = stepErrorRate(rule, before, record, effects);
    if (after === before) continue;
    rates ??= { ...state.errorRates };
    next ??= { ...state, errorRates: rates };
    if (after === undefined) delete rates[rule.id];
    else rates[rule.id] = after;
  }
  return next ?? state;
}
