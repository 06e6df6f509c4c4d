import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../device/config.ts';
import { bundledRules } from '../../../functions/alerts/rules/bundled.ts';
import {
  applyRecord,
  type EntityState,
  emptyState,
  routeRecord,
} from '../../../functions/alerts/rules/engine.ts';
import type { Effects } from '../../../functions/alerts/rules/model.ts';
import { gatewayConfig } from '../../../local/fleet/agent.ts';
import { parseFleetOptions } from '../../../local/fleet/config.ts';
import { FleetConfigError } from '../../../local/fleet/errors.ts';
import { agentIndex } from '../../../local/fleet/publisher.ts';
import { DEFAULT_SCENARIO, FleetScenario, type FleetScenarioOptions } from '../../../local/fleet/scenario.ts';
import { validateRecord } from '../../../shared/contract/index.ts';

const START = Date.UTC(2026, 10, 23, 12, 0, 0);

function scenario(overrides: Partial<FleetScenarioOptions> = {}): FleetScenario {
  return new FleetScenario({ ...DEFAULT_SCENARIO, startTime: START, ...overrides }, bundledRules);
}

/** Runs the alert rules' pure core over the records, as the alert function would per entity. */
function raisedAlerts(records: Parameters<typeof routeRecord>[1][]) {
  const states = new Map<string, EntityState>();
  const raised: { ruleId: string; entityId: string }[] = [];
  for (const record of records) {
    const route = routeRecord(bundledRules, record);
    if (route === undefined) continue;
    const effects: Effects = { raised: [], cleared: [] };
    const current = states.get(route.entityId) ?? emptyState(route.kind);
    states.set(route.entityId, applyRecord(bundledRules, current, record, effects));
    raised.push(...effects.raised.map(({ ruleId, entityId }) => ({ ruleId, entityId })));
  }
  return raised;
}

describe('fleet scenario', () => {
  it('produces the same records however the wall clock slices time', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 7_000 }), { minLength: 1, maxLength: 40 }), (steps) => {
        const whole = scenario({ seed: 7 }).advanceTo(START + 120_000);
        const sliced = scenario({ seed: 7 });
        const parts = [];
        let t = START;
        for (const step of steps) {
          t += step;
          parts.push(...sliced.advanceTo(t));
        }
        parts.push(...sliced.advanceTo(START + 120_000));
        expect(parts).toEqual(whole);
      }),
      { numRuns: 20 },
    );
  });

  it('differs by seed, and every record is valid under the strict contract with a unique id', () => {
    const a = scenario({ seed: 1 }).advanceTo(START + 60_000);
    const b = scenario({ seed: 2 }).advanceTo(START + 60_000);
    expect(a).not.toEqual(b);
    for (const record of a) expect(() => validateRecord(record, 'strict')).not.toThrow();
    expect(new Set(a.map((r) => r.id)).size).toBe(a.length);
    const times = a.map((r) => r.event_time);
    expect(times).toEqual([...times].sort((x, y) => x - y));
  });

  it('emits the configured rates', () => {
    const records = scenario({ anomalyIntervalMs: 0 }).advanceTo(START + 600_000);
    const telemetry = records.filter((r) => r.type === 'telemetry').length;
    const transactions = records.length - telemetry;
    // 50 sensors × 2 metrics every 5 s for 10 min.
    expect(telemetry).toBe(50 * 2 * 120);
    // 20 terminals × 6/min × 10 min, Poisson: within a generous band.
    expect(transactions).toBeGreaterThan(1_000);
    expect(transactions).toBeLessThan(1_400);
  });

  it('normal traffic trips no rule', () => {
    const records = scenario({ anomalyIntervalMs: 0, seed: 3 }).advanceTo(START + 40 * 60_000);
    expect(raisedAlerts(records)).toEqual([]);
  });

  it('each completed anomaly trips exactly its one expected alert, and nothing else fires', () => {
    const fleet = scenario({ seed: 11, anomalyIntervalMs: 45_000, endTime: START + 30 * 60_000 });
    const records = fleet.advanceTo(START + 30 * 60_000);
    const expected = fleet.anomalies.map((a) => a.expectedAlert);
    expect(new Set(fleet.anomalies.map((a) => a.kind))).toEqual(
      new Set(['overheating', 'velocity', 'impossible_travel']),
    );
    expect(fleet.anomalies.every((a) => a.completesAt <= START + 30 * 60_000)).toBe(true);
    const sortKey = (a: { ruleId: string; entityId: string }) => `${a.ruleId} ${a.entityId}`;
    expect(raisedAlerts(records).map(sortKey).sort()).toEqual(expected.map(sortKey).sort());
  });

  it('keeps a device on one gateway', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 16 }), (id, n) => {
        const index = agentIndex(id, n);
        expect(index).toBe(agentIndex(id, n));
        expect(index).toBeGreaterThanOrEqual(0);
        expect(index).toBeLessThan(n);
      }),
    );
  });
});

describe('fleet options', () => {
  it('fills defaults', () => {
    expect(parseFleetOptions({})).toMatchObject({ sensors: 50, terminals: 20, timeScale: 1, agents: 1 });
  });

  it('names the flag and the bad value', () => {
    const attempt = () => parseFleetOptions({ sensors: -1 }, { sensors: '--sensors' });
    expect(attempt).toThrow(FleetConfigError);
    expect(attempt).toThrow(/config --sensors: .* \(got -1\)/);
    expect(() => parseFleetOptions({ anomalyKinds: ['meteor'] })).toThrow(/anomalyKinds\[0\]/);
    expect(() => parseFleetOptions({ bogus: 1 })).toThrow(FleetConfigError);
  });
});

describe('gateway agent config', () => {
  it("points the agent's stream manager S3 and SiteWise exports at the local cloud, and parses as an agent config", () => {
    const config = parseConfig(
      gatewayConfig(
        {
          name: 'gateway-01',
          dataDir: '/tmp/fleet',
          region: 'us-east-1',
          kinesisEndpoint: 'http://127.0.0.1:4567',
          kinesisStreamName: 'records',
          s3Endpoint: 'http://127.0.0.1:4568',
          siteWiseEndpoint: 'http://127.0.0.1:4569',
        },
        '/tmp/fleet/gateway-01/store',
        8080,
      ),
    );
    expect(config.aws).toMatchObject({
      endpoint: 'http://127.0.0.1:4567',
      s3Endpoint: 'http://127.0.0.1:4568',
      siteWiseEndpoint: 'http://127.0.0.1:4569',
    });
  });
});
