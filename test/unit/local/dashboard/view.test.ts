import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SeriesSummary } from '../../../../functions/dashboard/reader.ts';
import {
  activity,
  alertDuration,
  chooseDefaultEntity,
  currencyExponent,
  detailRows,
  entitiesNotice,
  fleetRows,
  formatDuration,
  formatValue,
  groupEntities,
  MAX_ENTITY_PAGES,
  MIN_AXIS_WINDOWS,
  mergeEntities,
  readEntityPages,
  unitInfo,
  xRange,
  yRange,
} from '../../../../local/dashboard/public/view.js';
import { formatDuration as reasonDuration, UCUM_SYMBOLS } from '../../../../shared/units.ts';

/** A series summary as /api/entities returns it (1-minute windows only). */
function series(
  entity: string,
  records: number,
  windows: number,
  extra: Partial<SeriesSummary> = {},
): SeriesSummary {
  return {
    entity,
    kind: entity.slice(0, entity.indexOf('#')),
    windows: ['1m'],
    records: { '1m': records },
    points: { '1m': windows },
    ...extra,
  };
}

const NOW = Date.parse('2026-12-05T12:00:00Z');
const alertOn = (entityId: string, raisedAt: string, extra = {}) => ({ entityId, raisedAt, ...extra });

describe('units', () => {
  it('converts card amounts from minor units with the currency exponent and names the currency', () => {
    expect(currencyExponent('EUR')).toBe(2);
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('BHD')).toBe(3);
    const eur = unitInfo('card#tok_1234abcd', 'EUR');
    expect(eur.axis).toBe('amount per transaction (EUR)');
    expect(formatValue(8012, eur)).toBe('80.12 EUR');
    expect(formatValue(8012, unitInfo('merchant#m-1', 'JPY'))).toBe('8,012 JPY');
    expect(formatValue(8012, unitInfo('merchant#m-1', 'BHD'))).toBe('8.012 BHD');
  });

  it('says minor units when the currency is unknown or mixed, never a bare number as if it were money', () => {
    expect(unitInfo('card#tok_1234abcd', undefined).axis).toBe('amount per transaction (minor units)');
    expect(unitInfo('card#tok_1234abcd', 'mixed').axis).toContain('mixed currencies');
    expect(formatValue(8012, unitInfo('card#tok_1234abcd', 'mixed'))).toBe('8,012');
  });

  it('shows telemetry units as people write them, the metric as the axis title', () => {
    const celsius = unitInfo('device#sensor-0001#temperature', 'Cel');
    expect(celsius.axis).toBe('temperature (°C)');
    expect(formatValue(21.456, celsius)).toBe('21.46 °C');
    expect(formatValue(40, unitInfo('device#sensor-0001#humidity', '%'))).toBe('40%');
    expect(unitInfo('device#pump-1#flow', 'L/min').axis).toBe('flow (L/min)');
    expect(formatValue(undefined, celsius)).toBe('–');
  });

  it('shows log line counts as lines per window, the count being the figure', () => {
    const errors = unitInfo('device#gateway-1#log.error', '{line}');
    expect(errors).toMatchObject({ axis: 'log.error (lines per window)', unit: 'lines', counts: true });
    expect(formatValue(12, errors)).toBe('12 lines');
    expect(unitInfo('device#sensor-0001#temperature', 'Cel').counts).toBeUndefined();
  });
});

describe('the default series', () => {
  const busy = series('device#sensor-0001#temperature', 900, 30);
  const cliTest = series('device#cli-test#temperature', 1, 1);
  const card = series('card#tok_aaaaaaaa', 40, 12);
  const hot = series('device#sensor-0007#temperature', 300, 30);
  const hotHumidity = series('device#sensor-0007#humidity', 310, 30);

  it('is the entity of the most recent alert, on the metric the alert names', () => {
    const alerts = [
      alertOn('card:tok_aaaaaaaa', '2026-12-05T11:50:00Z'),
      alertOn('device:sensor-0007', '2026-12-05T11:58:00Z', { details: { metric: 'temperature' } }),
    ];
    expect(chooseDefaultEntity([busy, cliTest, card, hot, hotHumidity], alerts)).toBe(hot.entity);
  });

  it('is the busiest series with a few windows when no alert has a series, never a one-window test device', () => {
    const loud = series('device#cli-test#temperature', 5000, 1);
    expect(
      chooseDefaultEntity([cliTest, loud, card, busy], [alertOn('device:gone', '2026-12-05T11:00:00Z')]),
    ).toBe(busy.entity);
    expect(chooseDefaultEntity([loud], [])).toBe(loud.entity);
    // Records too late for their 1-minute windows leave a series with 5-minute ones only: not the default.
    const lateMerchant = series('merchant#merchant-0008', 2000, 0, {
      windows: ['5m'],
      records: { '5m': 2000 },
      points: { '5m': 3 },
    });
    expect(chooseDefaultEntity([lateMerchant, busy], [])).toBe(busy.entity);
    expect(chooseDefaultEntity([lateMerchant], [])).toBe(lateMerchant.entity);
    expect(chooseDefaultEntity([], [])).toBe('');
  });
});

describe('the picker', () => {
  it('groups by kind in a fixed order, busiest first, filtered by the search text', () => {
    const entities = [
      series('merchant#m-2', 50, 5),
      series('card#tok_bbbbbbbb', 3, 2),
      series('device#s-1#temperature', 100, 9),
      series('card#tok_aaaaaaaa', 30, 8),
      series('device#s-2#humidity', 400, 9),
      series('store#x', 1, 1),
    ];
    const groups = groupEntities(entities);
    expect(groups.map((g) => [g.label, g.series.map((s) => s.entity)])).toEqual([
      ['Devices / metrics', ['device#s-2#humidity', 'device#s-1#temperature']],
      ['Cards', ['card#tok_aaaaaaaa', 'card#tok_bbbbbbbb']],
      ['Merchants', ['merchant#m-2']],
      ['store', ['store#x']],
    ]);
    expect(groupEntities(entities, ' TOK_A').map((g) => g.series.map((s) => s.entity))).toEqual([
      ['card#tok_aaaaaaaa'],
    ]);
    expect(groupEntities(entities, 'nothing')).toEqual([]);
  });

  it('merges pages: counts added, windows united, the newest latest window kept', () => {
    const latest = (windowEnd: number, mean: number) => ({
      window: '1m',
      windowStart: windowEnd - 60_000,
      windowEnd,
      count: 1,
      mean,
      min: mean,
      max: mean,
    });
    const merged = mergeEntities([
      [series('device#a#t', 10, 2, { latest: latest(2, 20) })],
      [
        series('device#a#t', 5, 1, {
          windows: ['5m'],
          records: { '5m': 15 },
          points: { '5m': 3 },
          latest: latest(3, 21),
        }),
      ],
    ]);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({
      windows: ['1m', '5m'],
      records: { '1m': 10, '5m': 15 },
      points: { '1m': 2, '5m': 3 },
    });
    expect(merged[0]?.latest?.mean).toBe(21);
    expect(activity(merged[0] ?? {})).toBe(15);
  });
});

describe('axes', () => {
  it('draws a single window on a scale of minutes, not years', () => {
    const t = NOW / 1000;
    const [from, to] = xRange([t], 60);
    expect(to - from).toBe(MIN_AXIS_WINDOWS * 60);
    expect(from).toBeLessThanOrEqual(t);
    expect(to).toBeGreaterThan(t);
  });

  it('covers every window of a long series plus the last one’s end, and never less than the minimum span', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1_700_000_000, max: 1_900_000_000 }), { minLength: 1, maxLength: 50 }),
        fc.constantFrom(60, 300),
        (xs, w) => {
          const [from, to] = xRange(xs, w);
          expect(from).toBeLessThanOrEqual(Math.min(...xs));
          expect(to).toBe(Math.max(...xs) + w);
          expect(to - from).toBeGreaterThanOrEqual(MIN_AXIS_WINDOWS * w);
        },
      ),
    );
  });

  it('gives a flat series a visible band around its value', () => {
    expect(yRange(21, 21)).toEqual([21 - 1.05, 21 + 1.05]);
    expect(yRange(0, 0)).toEqual([-1, 1]);
    const [lo, hi] = yRange(10, 20);
    expect(lo).toBeLessThan(10);
    expect(hi).toBeGreaterThan(20);
  });
});

describe('the series list', () => {
  /** A table of `pages` pages of one series each, read through the cursor as /api/entities does. */
  const table = (pages: number) => {
    const calls: (string | undefined)[] = [];
    const fetchPage = async (cursor: string | undefined) => {
      calls.push(cursor);
      const at = cursor === undefined ? 0 : Number(cursor);
      return {
        entities: [series(`device#d${at}#temperature`, at + 1, 3)],
        nextCursor: at + 1 < pages ? String(at + 1) : null,
      };
    };
    return { calls, fetchPage };
  };

  it('reads every page of a table that fits, and says nothing', async () => {
    const small = table(3);
    const { entities, truncated } = await readEntityPages(small.fetchPage);
    expect(small.calls).toEqual([undefined, '1', '2']);
    expect(entities.map((s) => s.entity)).toEqual([
      'device#d0#temperature',
      'device#d1#temperature',
      'device#d2#temperature',
    ]);
    expect(truncated).toBe(false);
    expect(entitiesNotice(entities.length, truncated)).toBeUndefined();
  });

  it('stops after MAX_ENTITY_PAGES pages and says the list is truncated', async () => {
    const big = table(MAX_ENTITY_PAGES + 5);
    const { entities, truncated } = await readEntityPages(big.fetchPage);
    expect(big.calls).toHaveLength(MAX_ENTITY_PAGES);
    expect(entities).toHaveLength(MAX_ENTITY_PAGES);
    expect(truncated).toBe(true);
    expect(entitiesNotice(1234, truncated)).toBe(
      `list truncated: showing the 1,234 series found in the first ${MAX_ENTITY_PAGES} pages of the aggregates table; more exist, which this list and its search do not show`,
    );
    // Exactly MAX_ENTITY_PAGES pages and no cursor left: complete.
    expect((await readEntityPages(table(MAX_ENTITY_PAGES).fetchPage)).truncated).toBe(false);
  });
});

describe('alerts and the fleet', () => {
  it('shows details as rows: record id lists counted and shortened, nested figures flattened, no JSON', () => {
    const ids = ['019ab4e1-8c2a-7d43-9f1e-2b6c7d8e9f01', '019ab4e1-8c2a-7d43-9f1e-2b6c7d8e9f02', 'x', 'y'];
    const rows = detailRows({
      details: { count: 7, windowSeconds: 60, recordIds: ids, from: { lat: 48.85661, country: 'FR' } },
      triggerRecordIds: ids,
    });
    expect(rows).toEqual([
      ['count', '7'],
      ['window seconds', '60'],
      ['record ids', '4 · …2b6c7d8e9f01, …2b6c7d8e9f02, x, …'],
      ['from lat', '48.86'],
      ['from country', 'FR'],
    ]);
    expect(rows.flat().join(' ')).not.toMatch(/[[\]{}"]/);
    expect(detailRows({ details: {}, triggerRecordIds: ['a'] })).toEqual([['trigger records', '1 · a']]);
  });

  it('shows durations in words, and a log error-rate alert as rows', () => {
    const ids = ['019ab4e1-8c2a-7d43-9f1e-2b6c7d8e9f01', '019ab4e1-8c2a-7d43-9f1e-2b6c7d8e9f02'];
    const rows = detailRows({
      ruleType: 'log_error_rate',
      details: {
        metric: 'log.error',
        count: 10,
        level: 'error',
        windowMs: 300_000,
        raise: 10,
        clear: 2,
        lastLevel: 'critical',
        lastSource: 'diskmon',
        lastMessage: 'disk /dev/sda1 is 97% full',
        recordIds: ids,
      },
      triggerRecordIds: ids,
    });
    expect(rows).toEqual([
      ['metric', 'log.error'],
      ['count', '10'],
      ['level', 'error'],
      ['window', '5 min 0 s'],
      ['raise', '10'],
      ['clear', '2'],
      ['last level', 'critical'],
      ['last source', 'diskmon'],
      ['last message', 'disk /dev/sda1 is 97% full'],
      ['record ids', '2 · …2b6c7d8e9f01, …2b6c7d8e9f02'],
    ]);
    expect(detailRows({ ruleType: 'threshold', details: { minDurationMs: 60_000 }, clearValue: 27 })).toEqual(
      [
        ['min duration', '1 min 0 s'],
        ['cleared at value', '27'],
      ],
    );
  });

  it("shows a threshold alert's readings in the telemetry's unit, as the chart does", () => {
    const rows = detailRows({
      entityId: 'device:sensor-1',
      ruleType: 'threshold',
      details: {
        metric: 'temperature',
        value: 34,
        unit: 'Cel',
        direction: 'above',
        raise: 30,
        clear: 28,
        minDurationMs: 60_000,
      },
      clearValue: 27.5,
    });
    expect(rows).toEqual([
      ['metric', 'temperature'],
      ['value', '34 °C'],
      ['direction', 'above'],
      ['raise', '30 °C'],
      ['clear', '28 °C'],
      ['min duration', '1 min 0 s'],
      ['cleared at value', '27.5 °C'],
    ]);
    expect(rows.flat().join(' ')).not.toContain('Cel');
    const humid = detailRows({
      entityId: 'device:s',
      details: { metric: 'humidity', value: 12, unit: '%', raise: 20 },
    });
    expect(humid).toEqual([
      ['metric', 'humidity'],
      ['value', '12%'],
      ['raise', '20%'],
    ]);
  });

  it('writes units and durations as the alert reasons of shared/units.ts do', () => {
    for (const [code, symbol] of Object.entries(UCUM_SYMBOLS)) {
      expect(unitInfo('device#d#m', code).unit).toBe(symbol);
    }
    for (const ms of [0, 850, 5_000, 59_999, 60_000, 90_000, 3_599_000, 3_600_000, 5_400_000]) {
      expect(formatDuration(ms)).toBe(reasonDuration(ms));
    }
  });

  it('measures an alert from raise to clear, or to now while open', () => {
    expect(
      alertDuration(alertOn('device:a', '2026-12-05T11:00:00Z', { clearedAt: '2026-12-05T11:02:30Z' })),
    ).toBe(150_000);
    expect(alertDuration(alertOn('device:a', '2026-12-05T11:59:00Z'), NOW)).toBe(60_000);
  });

  it('lists each device once with its metrics, alerting devices first, quiet ones marked', () => {
    const latest = (windowEnd: number, mean: number) => ({
      window: '1m',
      windowStart: windowEnd - 60_000,
      windowEnd,
      count: 4,
      mean,
      min: mean,
      max: mean,
    });
    const rows = fleetRows(
      [
        series('device#s-1#temperature', 9, 9, { unit: 'Cel', latest: latest(NOW - 60_000, 21.5) }),
        series('device#s-1#humidity', 9, 9, { unit: '%', latest: latest(NOW - 60_000, 40) }),
        series('device#s-2#temperature', 9, 9, { unit: 'Cel', latest: latest(NOW - 60_000, 35) }),
        series('device#s-3#temperature', 9, 9, { unit: 'Cel', latest: latest(NOW - 10 * 60_000, 20) }),
        series('card#tok_aaaaaaaa', 9, 9),
      ],
      [alertOn('device:s-2', '2026-12-05T11:59:00Z'), alertOn('card:tok_aaaaaaaa', '2026-12-05T11:59:00Z')],
      NOW,
    );
    expect(rows.map((r) => [r.device, r.state])).toEqual([
      ['s-2', 'alert'],
      ['s-3', 'quiet'],
      ['s-1', 'ok'],
    ]);
    expect(rows[2]?.metrics.map((m) => `${m.metric} ${m.value}`)).toEqual([
      'humidity 40%',
      'temperature 21.5 °C',
    ]);
  });
});
