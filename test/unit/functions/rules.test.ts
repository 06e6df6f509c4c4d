import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bundledRules } from '../../../functions/alerts/rules/bundled.ts';
import { parseRulesConfig, type ThresholdRule } from '../../../functions/alerts/rules/config.ts';
import {
  applyRecord,
  type EntityState,
  emptyState,
  routeRecord,
} from '../../../functions/alerts/rules/engine.ts';
import { distanceKm, evaluateTransaction, updateProfile } from '../../../functions/alerts/rules/fraud.ts';
import { type Effects, emptyCardState, emptyDeviceState } from '../../../functions/alerts/rules/model.ts';
import { evaluateTelemetry, stepThreshold } from '../../../functions/alerts/rules/threshold.ts';
import type { TelemetryRecord, TransactionRecord, TributaryRecord } from '../../../shared/contract/index.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { logRecord, telemetryRecord, transactionRecord } from '../../helpers/records.ts';

const T0 = Date.UTC(2026, 10, 23, 12);
const config = parseRulesConfig({});
const noEffects = (): Effects => ({ raised: [], cleared: [] });

const rule = (overrides: Partial<ThresholdRule> = {}): ThresholdRule => ({
  id: 'temp-high',
  metric: 'temperature',
  direction: 'above',
  raise: 30,
  clear: 28,
  minDurationMs: 0,
  severity: 'warning',
  ...overrides,
});

const reading = (seconds: number, value: number, metric = 'temperature'): TelemetryRecord =>
  telemetryRecord({ event_time: T0 + seconds * 1000, payload: { metric, value, unit: 'Cel' } });

/** Runs a threshold rule over readings; returns raise/clear events in order. */
function run(r: ThresholdRule, readings: TelemetryRecord[]): ('raise' | 'clear')[] {
  let state = emptyDeviceState();
  const events: ('raise' | 'clear')[] = [];
  for (const record of readings) {
    const effects = noEffects();
    state = evaluateTelemetry([r], state, record, effects);
    for (const _ of effects.raised) events.push('raise');
    for (const _ of effects.cleared) events.push('clear');
  }
  return events;
}

describe('rule config', () => {
  it('the bundled rules.json is valid and {} gets the documented defaults', () => {
    expect(bundledRules.threshold.length).toBeGreaterThan(0);
    expect(config.fraud.velocity).toMatchObject({ enabled: true, maxTransactions: 5, windowMs: 600_000 });
    expect(config.threshold).toEqual([]);
  });

  it('rejects a clear level on the wrong side of raise, naming the path', () => {
    const bad = { threshold: [{ id: 'x', metric: 'temperature', direction: 'above', raise: 30, clear: 35 }] };
    expect(() => parseRulesConfig(bad)).toThrow(ConfigError);
    expect(() => parseRulesConfig(bad)).toThrow(/threshold\[0\]\.clear/);
    expect(() => parseRulesConfig({ fraud: { velocity: { maxTransactoins: 3 } } })).toThrow(
      /maxTransactoins/,
    );
  });
});

describe('threshold rules', () => {
  it('raises once when crossing and clears once below the hysteresis level', () => {
    expect(
      run(rule(), [reading(0, 25), reading(1, 31), reading(2, 35), reading(3, 29), reading(4, 27)]),
    ).toEqual(['raise', 'clear']);
  });

  it('ignores other metrics and records without the rule tags', () => {
    const tagged = rule({ tags: { room: 'lab' } });
    const untagged = telemetryRecord({ payload: { metric: 'temperature', value: 99, unit: 'Cel' } });
    const lab = telemetryRecord({
      payload: { metric: 'temperature', value: 99, unit: 'Cel', tags: { room: 'lab' } },
    });
    expect(run(tagged, [untagged, reading(1, 99, 'humidity')])).toEqual([]);
    expect(run(tagged, [lab])).toEqual(['raise']);
  });

  it('with a minimum duration, raises only after the condition held that long', () => {
    const slow = rule({ minDurationMs: 60_000 });
    expect(run(slow, [reading(0, 31), reading(30, 32), reading(59, 33)])).toEqual([]);
    expect(run(slow, [reading(0, 31), reading(30, 32), reading(60, 33)])).toEqual(['raise']);
    expect(run(slow, [reading(0, 31), reading(30, 25), reading(60, 33)])).toEqual([]);
  });

  it('says why it raised with the unit symbol and a readable duration', () => {
    const reason = (r: ThresholdRule, readings: TelemetryRecord[]) => {
      let state = emptyDeviceState();
      const effects = noEffects();
      for (const record of readings) state = evaluateTelemetry([r], state, record, effects);
      return effects.raised.map((alert) => alert.message);
    };
    expect(reason(rule({ minDurationMs: 60_000 }), [reading(0, 31), reading(60, 34)])).toEqual([
      'temperature 34 °C is above 30 °C for 1 min 0 s',
    ]);
    expect(reason(rule(), [reading(0, 31)])).toEqual(['temperature 31 °C is above 30 °C']);
    const dry = rule({ metric: 'humidity', direction: 'below', raise: 20, clear: 25, minDurationMs: 90_000 });
    const humidity = (seconds: number, value: number) =>
      telemetryRecord({ event_time: T0 + seconds * 1000, payload: { metric: 'humidity', value, unit: '%' } });
    expect(reason(dry, [humidity(0, 15), humidity(90, 12)])).toEqual([
      'humidity 12% is below 20% for 1 min 30 s',
    ]);
    // A code without a known symbol is shown as sent.
    const heavy = rule({ metric: 'load', raise: 5, clear: 4 });
    const load = telemetryRecord({ event_time: T0, payload: { metric: 'load', value: 7, unit: 'kg' } });
    expect(reason(heavy, [load])).toEqual(['load 7 kg is above 5 kg']);
  });

  it('property: a value flapping across one level never raises more than it clears plus one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 20, max: 40, noNaN: true }), { maxLength: 200 }),
        fc.integer({ min: 0, max: 5 }),
        (values, gap) => {
          const r = rule({ raise: 30, clear: 30 - gap });
          const events = run(
            r,
            values.map((v, i) => reading(i, v)),
          );
          // Raises and clears strictly alternate, starting with a raise.
          events.forEach((event, i) => {
            expect(event).toBe(i % 2 === 0 ? 'raise' : 'clear');
          });
        },
      ),
    );
  });

  it('property: a sensor flapping faster than minDuration raises nothing', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 100 }), (highs) => {
        // Alternate high/low every 10 s, never high for 60 s in a row.
        const readings = highs.flatMap((high, i) => [
          reading(i * 20, high ? 35 : 25),
          reading(i * 20 + 10, 25),
        ]);
        expect(run(rule({ minDurationMs: 60_000 }), readings)).toEqual([]);
      }),
    );
  });

  it('derives the same alert id on a replay of the same records', () => {
    const records = [reading(0, 31), reading(1, 32)];
    const ids = () => {
      const effects = noEffects();
      stepThreshold(rule(), undefined, records[0] as TelemetryRecord, effects);
      return effects.raised.map((a) => a.alertId);
    };
    expect(ids()).toEqual(ids());
  });
});

const txn = (minutes: number, amount: number, location?: { lat: number; lon: number }): TransactionRecord =>
  transactionRecord({
    event_time: T0 + minutes * 60_000,
    payload: {
      card_token: 'tok_4f9a1c2b7d',
      merchant_id: 'm-1',
      amount_minor: amount,
      currency: 'EUR',
      channel: 'card_present',
      ...(location === undefined ? {} : { location }),
    },
  });

function runCard(records: TransactionRecord[]): string[] {
  let state = emptyCardState();
  const rules: string[] = [];
  for (const record of records) {
    const effects = noEffects();
    state = evaluateTransaction(config.fraud, state, record, effects);
    rules.push(...effects.raised.map((a) => a.ruleId));
  }
  return rules;
}

describe('fraud rules', () => {
  it('velocity: alerts on the 6th transaction within the window, once per burst', () => {
    const burst = Array.from({ length: 8 }, (_, i) => txn(i, 1000));
    expect(runCard(burst)).toEqual(['velocity']);
    // Spread out over more than the window: never.
    expect(runCard(Array.from({ length: 20 }, (_, i) => txn(i * 3, 1000)))).toEqual([]);
  });

  it('amount anomaly: a large amount far above the running profile', () => {
    const history = Array.from({ length: 6 }, (_, i) => txn(i * 60, 1000 + i * 50));
    expect(runCard([...history, txn(500, 200_000)])).toEqual(['amount_anomaly']);
    // Too few samples, or a small absolute amount, never alerts.
    expect(runCard([txn(0, 1000), txn(60, 200_000)])).toEqual([]);
    expect(runCard([...Array.from({ length: 6 }, (_, i) => txn(i * 60, 100)), txn(500, 9_000)])).toEqual([]);
  });

  it('impossible travel: Paris then New York within the hour', () => {
    const paris = { lat: 48.8566, lon: 2.3522 };
    const newYork = { lat: 40.7128, lon: -74.006 };
    expect(Math.round(distanceKm(paris, newYork))).toBe(5837);
    expect(runCard([txn(0, 1000, paris), txn(60, 1000, newYork)])).toEqual(['impossible_travel']);
    // Twelve hours is a plausible flight.
    expect(runCard([txn(0, 1000, paris), txn(12 * 60, 1000, newYork)])).toEqual([]);
  });

  it('property: the running profile mean stays within the amounts seen', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 100 }),
        (amounts) => {
          let profile: ReturnType<typeof updateProfile> | undefined;
          amounts.forEach((amount, i) => {
            profile = updateProfile(profile, amount, 0.1, i);
          });
          expect(profile?.mean).toBeGreaterThanOrEqual(Math.min(...amounts) - 1e-6);
          expect(profile?.mean).toBeLessThanOrEqual(Math.max(...amounts) + 1e-6);
          expect(profile?.variance).toBeGreaterThanOrEqual(0);
        },
      ),
    );
  });

  it('property: card state stays bounded however many transactions arrive', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            minutes: fc.integer({ min: 0, max: 10_000 }),
            amount: fc.integer({ min: 0, max: 1e7 }),
          }),
          {
            maxLength: 300,
          },
        ),
        (items) => {
          let state = emptyCardState();
          for (const { minutes, amount } of items)
            state = evaluateTransaction(config.fraud, state, txn(minutes, amount), noEffects());
          expect(state.recent.length).toBeLessThanOrEqual(config.fraud.velocity.maxTransactions + 1);
        },
      ),
    );
  });
});

describe('engine', () => {
  it('routes records to their entity, and telemetry no rule watches to nowhere', () => {
    const withRules = bundledRules;
    expect(routeRecord(withRules, txn(0, 1))).toEqual({ kind: 'card', entityId: 'card:tok_4f9a1c2b7d' });
    expect(routeRecord(withRules, reading(0, 20))).toEqual({
      kind: 'device',
      entityId: 'device:sensor-0001',
    });
    expect(routeRecord(withRules, reading(0, 20, 'humidity'))).toBeUndefined();
  });

  it('returns the same state object when a record changes nothing (no write needed)', () => {
    const current: EntityState = emptyState('device');
    expect(applyRecord(bundledRules, current, reading(0, 20) as TributaryRecord, noEffects())).toBe(current);
  });

  it('routes log lines to their device while a log rule exists, nowhere without one', () => {
    const line = logRecord({
      device_id: 'sensor-0001',
      payload: { level: 'info', message: 'started', source: 'app' },
    });
    expect(routeRecord(config, line)).toBeUndefined();
    expect(routeRecord(bundledRules, line)).toEqual({ kind: 'device', entityId: 'device:sensor-0001' });
    // A healthy line changes no device state; a card's state is never a log line's business.
    for (const kind of ['device', 'card'] as const) {
      const current = emptyState(kind);
      expect(applyRecord(bundledRules, current, line, noEffects())).toBe(current);
    }
  });
});
