import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { processor } from '../../../device/tail/process.ts';
import { bundledRules } from '../../../functions/alerts/rules/bundled.ts';
import { parseRulesConfig } from '../../../functions/alerts/rules/config.ts';
import {
  applyRecord,
  type EntityState,
  emptyState,
  routeRecord,
} from '../../../functions/alerts/rules/engine.ts';
import type { Effects } from '../../../functions/alerts/rules/model.ts';
import { FleetLogFiles, GATEWAY_LOG_FILE, type WrittenLogLines } from '../../../local/fleet/log-files.ts';
import {
  countedLineSpacingMs,
  DEFAULT_GATEWAY_LOG,
  GatewayLog,
  type GatewayLogOptions,
  type LogLine,
} from '../../../local/fleet/logs.ts';
import { type LogRecord, SCHEMA_VERSION, validateRecord } from '../../../shared/contract/index.ts';
import { useTempDirs } from '../../helpers/temp-dir.ts';

const START = Date.UTC(2026, 10, 23, 12, 0, 0);
const MINUTE = 60_000;
const DEVICES = ['sensor-0001', 'sensor-0004', 'terminal-0002', 'terminal-0007'];

function gatewayLog(overrides: Partial<GatewayLogOptions> = {}): GatewayLog {
  return new GatewayLog(
    {
      seed: 1,
      gateway: 'gateway-01',
      devices: DEVICES,
      startTime: START,
      ...DEFAULT_GATEWAY_LOG,
      ...overrides,
    },
    bundledRules,
  );
}

const linesOf = (writes: ReturnType<GatewayLog['advanceTo']>) =>
  writes.filter((w): w is LogLine => w.kind === 'line');

/** The agent's processing for the fleet's syslog source (local/fleet/agent.ts). */
const agentProcessing = processor([{ optionName: 'LOGTOJSON', logFormat: 'RFC5424SYSLOG' }]);

describe('gateway syslog model', () => {
  it('writes the same lines and rotations however the wall clock slices time', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 40 }), (steps) => {
        const whole = gatewayLog({ seed: 7 }).advanceTo(START + 10 * MINUTE);
        const sliced = gatewayLog({ seed: 7 });
        const parts = [];
        let t = START;
        for (const step of steps) {
          t += step;
          parts.push(...sliced.advanceTo(t));
        }
        parts.push(...sliced.advanceTo(START + 10 * MINUTE));
        expect(parts).toEqual(whole);
      }),
      { numRuns: 20 },
    );
  });

  it('differs by seed and by gateway', () => {
    const a = gatewayLog({ seed: 1 }).advanceTo(START + 5 * MINUTE);
    expect(gatewayLog({ seed: 2 }).advanceTo(START + 5 * MINUTE)).not.toEqual(a);
    expect(gatewayLog({ gateway: 'gateway-02' }).advanceTo(START + 5 * MINUTE)).not.toEqual(a);
  });

  it('writes RFC 5424 lines the agent reads back: time, level, host, program, message', () => {
    const lines = linesOf(gatewayLog({ seed: 3 }).advanceTo(START + 30 * MINUTE));
    expect(new Set(lines.map((l) => l.level))).toEqual(
      new Set(['debug', 'info', 'notice', 'warning', 'error']),
    );
    lines.forEach((line, offset) => {
      const entry = agentProcessing(line.text, {
        deviceId: 'gateway-01',
        file: 'messages',
        offset,
        readTime: START - 86_400_000,
      });
      expect(entry.unparsed, line.text).toBe(false);
      expect(entry.time).toBe(line.at);
      expect(entry.level).toBe(line.level);
      expect(entry.message).toBe(line.message);
      expect(entry.fields).toMatchObject({ hostname: 'gateway-01', appname: line.program });
      // Devices named are the gateway's own.
      for (const named of line.text.match(/(sensor|terminal)-\d{4}/g) ?? []) expect(DEVICES).toContain(named);
    });
  });

  it('writes about 20 lines per simulated minute in time order, and rotates every 3 simulated minutes', () => {
    const writes = gatewayLog().advanceTo(START + 60 * MINUTE);
    const lines = linesOf(writes);
    expect(lines.length).toBeGreaterThan(1_000);
    expect(lines.length).toBeLessThan(1_400);
    const times = writes.map((w) => w.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(writes.filter((w) => w.kind === 'rotate').map((w) => w.at)).toEqual(
      Array.from({ length: 20 }, (_, i) => START + (i + 1) * 3 * MINUTE),
    );
  });

  it('stops at the end of a bounded run', () => {
    const log = gatewayLog({ endTime: START + 4 * MINUTE });
    const writes = log.advanceTo(START + 10 * MINUTE);
    expect(Math.max(...writes.map((w) => w.at))).toBeLessThanOrEqual(START + 4 * MINUTE);
    expect(log.advanceTo(START + 20 * MINUTE)).toEqual([]);
  });

  it('normal logs trip no error-rate rule, though they do hold error lines', () => {
    const lines = linesOf(gatewayLog({ seed: 5 }).advanceTo(START + 4 * 60 * MINUTE));
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors.length).toBeGreaterThan(20);
    const rule = bundledRules.logErrorRate[0];
    if (rule === undefined) throw new Error('no bundled log error-rate rule');
    // No window of the rule holds more than its clear level.
    for (const last of errors) {
      const inWindow = errors.filter((e) => e.at > last.at - rule.windowMs && e.at <= last.at);
      expect(inWindow.length).toBeLessThanOrEqual(rule.clear);
    }
    let state: EntityState | undefined;
    const raised: string[] = [];
    lines.forEach((line, i) => {
      const record: LogRecord = {
        id: `0190a000-0000-7000-8000-${String(i).padStart(12, '0')}`,
        schema_version: SCHEMA_VERSION,
        type: 'log',
        device_id: 'gateway-01',
        partition_key: 'gateway-01',
        event_time: line.at,
        payload: { level: line.level, message: line.message, source: '/var/log/messages*' },
      };
      expect(() => validateRecord(record, 'strict')).not.toThrow();
      const route = routeRecord(bundledRules, record);
      if (route === undefined) throw new Error('log lines are routed to the error-rate rules');
      const effects: Effects = { raised: [], cleared: [] };
      state = applyRecord(bundledRules, state ?? emptyState(route.kind), record, effects);
      raised.push(...effects.raised.map((a) => a.ruleId));
    });
    expect(raised).toEqual([]);
  });

  it('spaces counted lines by the strictest rule, and writes none for a rule raising at one line', () => {
    const rules = (logErrorRate: unknown) => parseRulesConfig({ ...bundledRules, logErrorRate }).logErrorRate;
    // 10 raise, 2 clear, 5 min: 2 lines per window, so just over 150 s apart.
    expect(countedLineSpacingMs(bundledRules.logErrorRate)).toBe(150_001);
    expect(countedLineSpacingMs(rules([{ id: 'a', raise: 4, clear: 0, windowMs: 60_000 }]))).toBe(60_001);
    expect(countedLineSpacingMs(rules([{ id: 'a', raise: 1, clear: 0, windowMs: 60_000 }]))).toBeUndefined();
    const strict = parseRulesConfig({
      ...bundledRules,
      logErrorRate: [{ id: 'any-warning', level: 'warning', raise: 1, clear: 0, windowMs: 60_000 }],
    });
    const log = new GatewayLog(
      { seed: 1, gateway: 'gateway-01', devices: DEVICES, startTime: START, ...DEFAULT_GATEWAY_LOG },
      strict,
    );
    const levels = new Set(linesOf(log.advanceTo(START + 30 * MINUTE)).map((l) => l.level));
    expect(levels).toEqual(new Set(['debug', 'info', 'notice']));
  });
});

describe('gateway syslog files', () => {
  const tempDir = useTempDirs('tributary-fleet-logs-');

  it('appends the lines and rotates by rename, so the files hold every line once, in order', async () => {
    const dir = await tempDir();
    const written: WrittenLogLines[] = [];
    const files = new FleetLogFiles({
      gateways: [{ dir, model: gatewayLog({ seed: 9 }) }],
      onWritten: (w) => written.push(w),
    });
    for (let t = START; t <= START + 10 * MINUTE; t += 7_000) await files.advanceTo(t);
    const expected = linesOf(
      gatewayLog({ seed: 9 }).advanceTo(START + 10 * MINUTE - ((10 * MINUTE) % 7_000)),
    );
    expect(files.stats()).toEqual({ linesWritten: expected.length, rotations: 3 });
    expect(written.flatMap((w) => w.lines)).toEqual(expected);
    const names = (await readdir(dir)).sort();
    expect(names).toEqual([
      GATEWAY_LOG_FILE,
      `${GATEWAY_LOG_FILE}-20261123120300`,
      `${GATEWAY_LOG_FILE}-20261123120600`,
      `${GATEWAY_LOG_FILE}-20261123120900`,
    ]);
    // Oldest rotated file first, the live one last.
    const ordered = [...names.slice(1), names[0] as string];
    const text = (await Promise.all(ordered.map((n) => readFile(join(dir, n), 'utf8')))).join('');
    expect(text).toBe(expected.map((l) => `${l.text}\n`).join(''));
  });
});
