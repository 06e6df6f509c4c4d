import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchPipeline, type StreamRecord } from '../../../functions/alerts/pipeline.ts';
import { bundledRules } from '../../../functions/alerts/rules/bundled.ts';
import { type LogErrorRateRule, parseRulesConfig } from '../../../functions/alerts/rules/config.ts';
import { applyRecord, emptyState, routeRecord } from '../../../functions/alerts/rules/engine.ts';
import {
  countsForRule,
  DETAIL_MESSAGE_MAX_CHARS,
  evaluateLog,
  stepErrorRate,
} from '../../../functions/alerts/rules/error-rate.ts';
import {
  alertIdFor,
  type DeviceState,
  type Effects,
  type ErrorRateState,
  emptyDeviceState,
} from '../../../functions/alerts/rules/model.ts';
import {
  encodeRecord,
  LOG_LEVELS,
  type LogLevel,
  type LogRecord,
  type TributaryRecord,
} from '../../../shared/contract/index.ts';
import { ConfigError } from '../../../shared/errors.ts';
import type { UserRecord } from '../../../shared/kinesis/aggregation.ts';
import { aggregatedRecord } from '../../helpers/aggregated.ts';
import { MemoryAlertStore, MemoryStateStore } from '../../helpers/alert-stores.ts';
import { shardRecords } from '../../helpers/kinesis-events.ts';
import { logRecord, telemetryRecord } from '../../helpers/records.ts';

const T0 = Date.UTC(2026, 11, 5, 12);
const DEVICE = 'gateway-0001';
const noEffects = (): Effects => ({ raised: [], cleared: [] });

const rule = (overrides: Partial<LogErrorRateRule> = {}): LogErrorRateRule => ({
  id: 'log-errors',
  level: 'error',
  raise: 3,
  clear: 1,
  windowMs: 60_000,
  severity: 'warning',
  ...overrides,
});

function logLine(seconds: number, level: LogLevel, overrides: Partial<LogRecord> = {}): LogRecord {
  return logRecord({
    device_id: DEVICE,
    partition_key: DEVICE,
    event_time: T0 + seconds * 1000,
    payload: { level, message: `${level} at ${seconds} s`, source: 'app' },
    ...overrides,
  });
}

type Event = 'raise' | 'clear';

/** Runs rules over lines; returns the raise/clear events in order and the final state. */
function run(r: LogErrorRateRule | LogErrorRateRule[], lines: readonly LogRecord[]) {
  let state: DeviceState = emptyDeviceState();
  const events: Event[] = [];
  const effects = noEffects();
  for (const line of lines) {
    const step = noEffects();
    state = evaluateLog(Array.isArray(r) ? r : [r], state, line, step);
    events.push(...step.raised.map((): Event => 'raise'), ...step.cleared.map((): Event => 'clear'));
    effects.raised.push(...step.raised);
    effects.cleared.push(...step.cleared);
  }
  return { events, state, effects };
}

describe('log error-rate config', () => {
  it('the bundled rules.json has a log rule, and a rule gets the documented defaults', () => {
    expect(bundledRules.logErrorRate.length).toBeGreaterThan(0);
    expect(parseRulesConfig({}).logErrorRate).toEqual([]);
    expect(parseRulesConfig({ logErrorRate: [{ id: 'errors', raise: 10 }] }).logErrorRate).toEqual([
      { id: 'errors', level: 'error', raise: 10, clear: 0, windowMs: 300_000, severity: 'warning' },
    ]);
  });

  it.each([
    [{ logErrorRate: [{ id: 'e', raise: 5, clear: 5 }] }, /logErrorRate\[0\]\.clear: must be < raise \(5\)/],
    [{ logErrorRate: [{ id: 'e', raise: 0 }] }, /logErrorRate\[0\]\.raise/],
    [{ logErrorRate: [{ id: 'e', raise: 5, level: 'fatal' }] }, /logErrorRate\[0\]\.level/],
    [{ logErrorRate: [{ id: 'e', raise: 5, windowMs: 10 }] }, /logErrorRate\[0\]\.windowMs/],
    [{ logErrorRate: [{ id: 'e', raise: 5, leve: 'error' }] }, /logErrorRate\[0\]\.leve/],
    [{ logErrorRate: [{ raise: 5 }] }, /logErrorRate\[0\]\.id/],
    [
      {
        logErrorRate: [
          { id: 'e', raise: 5 },
          { id: 'e', raise: 9 },
        ],
      },
      /logErrorRate\[1\]\.id: is used twice/,
    ],
    [
      {
        threshold: [{ id: 'e', metric: 'temperature', direction: 'above', raise: 30, clear: 28 }],
        logErrorRate: [{ id: 'e', raise: 5 }],
      },
      /logErrorRate\[0\]\.id: is already a threshold rule id/,
    ],
  ])('refuses a bad rule, naming its path (%#)', (config, message) => {
    expect(() => parseRulesConfig(config)).toThrow(ConfigError);
    expect(() => parseRulesConfig(config)).toThrow(message);
  });
});

describe('log error-rate rule', () => {
  it('counts error, critical, alert and emergency lines, not the milder ones', () => {
    expect(LOG_LEVELS.filter((level) => countsForRule(rule(), level))).toEqual([
      'emergency',
      'alert',
      'critical',
      'error',
    ]);
    expect(LOG_LEVELS.filter((level) => countsForRule(rule({ level: 'warning' }), level))).toHaveLength(5);
    const mild = ['warning', 'notice', 'info', 'debug'] as const;
    const { events, state } = run(
      rule(),
      mild.flatMap((level, i) => [logLine(i, level), logLine(i, level), logLine(i, level)]),
    );
    expect(events).toEqual([]);
    // Nothing counted: no state for the rule, so a healthy device's lines write nothing.
    expect(state.errorRates ?? {}).toEqual({});
  });

  it('raises once at the N-th error within the window and clears once at most `clear` remain', () => {
    const lines = [
      logLine(0, 'error'),
      logLine(10, 'critical'),
      logLine(20, 'info'),
      logLine(30, 'emergency'), // 3rd within 60 s: raise
      logLine(40, 'error'), // 4 in the window, still one alert
      logLine(75, 'info'), // window (15, 75]: 30 s and 40 s left, above clear = 1: still open
      logLine(95, 'info'), // window (35, 95]: one line left: clear
      logLine(96, 'error'), // two again: below raise, no new alert
    ];
    const { events, effects, state } = run(rule(), lines);
    expect(events).toEqual(['raise', 'clear']);
    const [raised] = effects.raised;
    const ids = lines.map((line) => line.id);
    expect(raised).toMatchObject({
      ruleId: 'log-errors',
      ruleType: 'log_error_rate',
      severity: 'warning',
      entityId: `device:${DEVICE}`,
      raisedAt: T0 + 30_000,
      triggerRecordIds: [ids[0], ids[3]],
      alertId: alertIdFor('log-errors', `device:${DEVICE}`, [ids[0] ?? '', ids[3] ?? '']),
      message: '3 log lines at error or worse within 60 s (raises at 3)',
      details: {
        metric: 'log.error',
        count: 3,
        level: 'error',
        windowMs: 60_000,
        raise: 3,
        clear: 1,
        lastLevel: 'emergency',
        lastSource: 'app',
        lastMessage: 'emergency at 30 s',
        recordIds: [ids[0], ids[1], ids[3]],
      },
    });
    expect(effects.cleared).toEqual([
      {
        alertId: raised?.alertId,
        ruleId: 'log-errors',
        entityId: `device:${DEVICE}`,
        clearedAt: T0 + 95_000,
        clearedByRecordId: ids[6],
        value: 1,
      },
    ]);
    expect(state.errorRates?.['log-errors']).toEqual({
      lines: [
        { id: ids[4], t: T0 + 40_000 },
        { id: ids[7], t: T0 + 96_000 },
      ],
    });
  });

  it('errors spread wider than the window never raise, and a quiet window forgets them', () => {
    const sparse = Array.from({ length: 20 }, (_, i) => logLine(i * 31, 'error'));
    expect(run(rule(), sparse).events).toEqual([]);
    const { state } = run(rule(), [logLine(0, 'error'), logLine(60, 'debug')]);
    expect(state.errorRates).toEqual({});
  });

  it('a line delivered twice counts once, and a late line does not move the window', () => {
    const a = logLine(0, 'error');
    const b = logLine(1, 'error');
    expect(run(rule(), [a, b, a, b, a]).events).toEqual([]);
    // A late info line (before the newest error) changes nothing: the very same state comes back.
    const { state } = run(rule(), [a, b]);
    expect(evaluateLog([rule()], state, logLine(-100, 'info'), noEffects())).toBe(state);
    // A late error outside the window is not counted; inside it, it is.
    const late = run(rule(), [logLine(100, 'error'), logLine(101, 'error'), logLine(30, 'error')]);
    expect(late.events).toEqual([]);
    expect(run(rule(), [logLine(100, 'error'), logLine(101, 'error'), logLine(50, 'error')]).events).toEqual([
      'raise',
    ]);
  });

  it('keeps rules apart and cuts a long message in the details without splitting a character', () => {
    const strict = rule({ id: 'critical-burst', level: 'critical', raise: 2, clear: 0 });
    const long = `${'x'.repeat(DETAIL_MESSAGE_MAX_CHARS - 2)}😀 tail`;
    const lines = [
      logLine(0, 'error'),
      logLine(1, 'critical'),
      logLine(2, 'alert', { payload: { level: 'alert', message: long, source: 'kernel' } }),
    ];
    const { effects, state } = run([rule(), strict], lines);
    expect(effects.raised.map((a) => a.ruleId)).toEqual(['log-errors', 'critical-burst']);
    const message = String(effects.raised[0]?.details.lastMessage);
    expect(message).toBe(`${'x'.repeat(DETAIL_MESSAGE_MAX_CHARS - 2)}…`);
    expect(effects.raised[0]?.details).toMatchObject({ lastSource: 'kernel', lastLevel: 'alert' });
    expect(Object.keys(state.errorRates ?? {}).sort()).toEqual(['critical-burst', 'log-errors']);
    // A state stored before error-rate rules existed has no errorRates: read as empty.
    expect(evaluateLog([rule()], { thresholds: {} }, logLine(0, 'error'), noEffects()).errorRates).toEqual({
      'log-errors': { lines: [{ id: expect.any(String), t: T0 }] },
    });
  });

  it('routes every log line of a device to it while a log rule exists, and nowhere without one', () => {
    const withRule = parseRulesConfig({ logErrorRate: [{ id: 'errors', raise: 2 }] });
    const info = logLine(0, 'info');
    expect(routeRecord(withRule, info)).toEqual({ kind: 'device', entityId: `device:${DEVICE}` });
    expect(routeRecord(parseRulesConfig({}), logLine(0, 'emergency'))).toBeUndefined();
    // A healthy line changes no state (no write); an error line does; a card's state is not a device's.
    const device = emptyState('device');
    expect(applyRecord(withRule, device, info, noEffects())).toBe(device);
    expect(applyRecord(withRule, device, logLine(0, 'error'), noEffects())).not.toBe(device);
    const card = emptyState('card');
    expect(applyRecord(withRule, card, logLine(0, 'error'), noEffects())).toBe(card);
  });

  it('leaves a threshold state of the same device alone', () => {
    const device: DeviceState = { thresholds: { hot: { phase: 'raised', alertId: 'a1' } } };
    const next = evaluateLog([rule({ raise: 1, clear: 0 })], device, logLine(0, 'error'), noEffects());
    expect(next.thresholds).toBe(device.thresholds);
    expect(device.errorRates).toBeUndefined();
  });
});

/**
 * Times in seconds, non-decreasing, with levels; each line a fresh record. Steps and windows are
 * round figures so lines often sit exactly on a window's edge.
 */
const linesArb = fc
  .array(fc.record({ dt: fc.constantFrom(0, 1, 5, 10, 30, 60), level: fc.constantFrom(...LOG_LEVELS) }), {
    maxLength: 150,
  })
  .map((items) => {
    let t = 0;
    return items.map(({ dt, level }) => {
      t += dt;
      return logLine(t, level);
    });
  });

const ruleArb = fc
  .record({
    raise: fc.integer({ min: 1, max: 6 }),
    clearBelow: fc.integer({ min: 0, max: 5 }),
    windowS: fc.constantFrom(1, 5, 10, 30, 60, 120),
    level: fc.constantFrom(...LOG_LEVELS),
  })
  .map(({ raise, clearBelow, windowS, level }) =>
    rule({ raise, clear: Math.min(clearBelow, raise - 1), windowMs: windowS * 1000, level }),
  );

describe('log error-rate properties', () => {
  it('in event-time order, matches a brute-force count of counted lines in the trailing window', () => {
    fc.assert(
      fc.property(ruleArb, linesArb, (r, lines) => {
        const expected: Event[] = [];
        let open = false;
        lines.forEach((line, i) => {
          const count = lines
            .slice(0, i + 1)
            .filter(
              (l) => countsForRule(r, l.payload.level) && l.event_time > line.event_time - r.windowMs,
            ).length;
          if (!open && count >= r.raise) {
            open = true;
            expected.push('raise');
          } else if (open && count <= r.clear) {
            open = false;
            expected.push('clear');
          }
        });
        expect(run(r, lines).events).toEqual(expected);
      }),
    );
  });

  it('raises and clears alternate, and the state never holds more than `raise` lines', () => {
    fc.assert(
      fc.property(
        ruleArb,
        // Any order of event times: late and early lines mixed.
        fc.array(fc.record({ t: fc.integer({ min: 0, max: 600 }), level: fc.constantFrom(...LOG_LEVELS) }), {
          maxLength: 150,
        }),
        (r, items) => {
          let state: DeviceState = emptyDeviceState();
          const events: Event[] = [];
          for (const { t, level } of items) {
            const effects = noEffects();
            state = evaluateLog([r], state, logLine(t, level), effects);
            events.push(
              ...effects.raised.map((): Event => 'raise'),
              ...effects.cleared.map((): Event => 'clear'),
            );
            const rate: ErrorRateState | undefined = state.errorRates?.[r.id];
            expect(rate?.lines.length ?? 0).toBeLessThanOrEqual(r.raise);
            // An empty, closed state is no state: nothing to write for a device without errors.
            if (rate !== undefined) expect(rate.lines.length > 0 || rate.alertId !== undefined).toBe(true);
          }
          events.forEach((event, i) => {
            expect(event).toBe(i % 2 === 0 ? 'raise' : 'clear');
          });
        },
      ),
    );
  });

  it('a state that goes through JSON between any two lines decides the same (batch boundaries are free)', () => {
    fc.assert(
      fc.property(ruleArb, linesArb, fc.array(fc.boolean(), { maxLength: 150 }), (r, lines, cuts) => {
        const whole = run(r, lines);
        let state: DeviceState = emptyDeviceState();
        const effects = noEffects();
        lines.forEach((line, i) => {
          // The DynamoDB store keeps the state as a JSON string.
          if (cuts[i] === true) state = JSON.parse(JSON.stringify(state)) as DeviceState;
          state = evaluateLog([r], state, line, effects);
        });
        expect(effects).toEqual(whole.effects);
      }),
    );
  });

  it('stepErrorRate returns the very object when a line changes nothing', () => {
    fc.assert(
      fc.property(ruleArb, linesArb, (r, lines) => {
        let state: ErrorRateState | undefined;
        for (const line of lines) {
          const effects = noEffects();
          const next = stepErrorRate(r, state, line, effects);
          if (effects.raised.length === 0 && effects.cleared.length === 0 && next !== state)
            expect(next).not.toEqual(state);
          state = next;
        }
      }),
    );
  });
});

const pipelineRules = parseRulesConfig({
  threshold: [{ id: 'hot', metric: 'temperature', direction: 'above', raise: 30, clear: 28 }],
  logErrorRate: [{ id: 'log-errors', raise: 3, clear: 1, windowMs: 60_000 }],
});

/**
 * Lambda's delivery of one shard to the pipeline, at least once: batches of any size; a batch whose
 * checkpoint is lost is delivered again; a write that fails (crash, throttle) fails its record and
 * every later record of its entity, and delivery resumes at the first failed record (what
 * ReportBatchItemFailures does). `faults` are write numbers that throw, once each.
 */
async function deliverAtLeastOnce(
  records: readonly StreamRecord[],
  plan: { batchSizes: readonly number[]; lostCheckpoints: readonly boolean[]; faults: readonly number[] },
) {
  const failing = new Set(plan.faults);
  let writes = 0;
  const fault = () => {
    if (failing.delete(++writes)) throw new Error('simulated crash before this write');
  };
  const deps = {
    config: pipelineRules,
    states: new MemoryStateStore(fault),
    alerts: new MemoryAlertStore(fault),
  };
  let position = 0;
  for (let delivery = 0; position < records.length; delivery++) {
    const size = plan.batchSizes[delivery % plan.batchSizes.length] ?? records.length;
    const batch = records.slice(position, position + size);
    const pipeline = new BatchPipeline(deps, batch);
    const outcomes = await Promise.allSettled(batch.map((r) => pipeline.outcome(r.sequenceNumber)));
    await pipeline.settled();
    const failed = outcomes.findIndex((outcome) => outcome.status === 'rejected');
    if (failed >= 0) position += failed;
    else if (plan.lostCheckpoints[delivery] !== true) position += batch.length;
  }
  return deps.alerts;
}

/** Lines of three gateways (one also sends temperatures), and poison lines; grouped into Kinesis records. */
const shardArb = fc
  .array(
    fc.record({
      gateway: fc.integer({ min: 0, max: 2 }),
      dt: fc.constantFrom(0, 1, 5, 20, 60),
      what: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...LOG_LEVELS) },
        { weight: 1, arbitrary: fc.constantFrom('poison' as const, 'temperature' as const) },
      ),
      aggregateWithNext: fc.boolean(),
    }),
    { maxLength: 60 },
  )
  .map((items) => {
    let t = 0;
    const users = items.map(({ gateway, dt, what }) => {
      t += dt;
      const device = `gateway-${gateway}`;
      const common = { device_id: device, partition_key: device, event_time: T0 + t * 1000 };
      if (what === 'temperature')
        return telemetryRecord({
          ...common,
          payload: { metric: 'temperature', value: 25 + (t % 10), unit: 'Cel' },
        });
      if (what === 'poison') {
        const bad = {
          ...logRecord(common),
          payload: { level: 'fatal', message: 'no such level', source: 's' },
        };
        return { partitionKey: device, data: new TextEncoder().encode(JSON.stringify(bad)) };
      }
      return logRecord({ ...common, payload: { level: what, message: `${what} at ${t}`, source: 'app' } });
    });
    const kinesis: StreamRecord[] = [];
    let group: UserRecord[] = [];
    users.forEach((user, i) => {
      group.push(
        'data' in user && user.data instanceof Uint8Array
          ? (user as UserRecord)
          : {
              partitionKey: (user as TributaryRecord).partition_key,
              data: encodeRecord(user as TributaryRecord),
            },
      );
      if (items[i]?.aggregateWithNext === true && i < users.length - 1) return;
      const data = group.length === 1 ? (group[0] as UserRecord).data : aggregatedRecord(group).data;
      kinesis.push(
        ...shardRecords([{ partitionKey: (group[0] as UserRecord).partitionKey, data }], {
          firstIndex: kinesis.length,
        }),
      );
      group = [];
    });
    return kinesis;
  });

describe('log error-rate alerts through the batch pipeline', () => {
  it('property: the alerts do not depend on batch boundaries, redelivered batches or crashes mid-batch', async () => {
    await fc.assert(
      fc.asyncProperty(
        shardArb,
        fc.record({
          batchSizes: fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 8 }),
          lostCheckpoints: fc.array(fc.boolean(), { maxLength: 10 }),
          faults: fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 6 }),
        }),
        async (records, plan) => {
          const once = await deliverAtLeastOnce(records, {
            batchSizes: [records.length],
            lostCheckpoints: [],
            faults: [],
          });
          const atLeastOnce = await deliverAtLeastOnce(records, plan);
          expect(atLeastOnce.alerts).toEqual(once.alerts);
          expect([...atLeastOnce.quarantined.keys()].sort()).toEqual([...once.quarantined.keys()].sort());
        },
      ),
      { numRuns: 60 },
    );
  });
});
