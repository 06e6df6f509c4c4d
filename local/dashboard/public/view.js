// Pure parts of the dashboard page (no DOM, no fetch): units, the default series, the grouped
// picker, axis ranges, alert rows and the fleet table. app.js renders what these return; the unit
// tests import this file directly (types in view.d.ts).

/** Unit of the Flink job's log line counts (UCUM annotation). */
const LINE_UNIT = '{line}';

/**
 * UCUM codes the contract's examples use, as people write them; anything else is shown as sent. The
 * same table as shared/units.ts (alert reasons); view.test.ts checks they agree.
 */
const UCUM_LABELS = {
  Cel: '°C',
  '[degF]': '°F',
  K: 'K',
  '%': '%',
  kPa: 'kPa',
  hPa: 'hPa',
  Pa: 'Pa',
  V: 'V',
  A: 'A',
  W: 'W',
};

/** Kinds in the order the picker shows them, with their group labels. */
export const KIND_LABELS = { device: 'Devices / metrics', card: 'Cards', merchant: 'Merchants' };

/** Digits of a currency's minor unit (ISO 4217 exponent as Intl knows it): EUR 2, JPY 0, BHD 3. */
export function currencyExponent(code) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return undefined;
  }
}

/** `device#sensor-1#temperature` → { kind: 'device', id: 'sensor-1', metric: 'temperature' }. */
export function parseEntity(entity) {
  const [kind = '', ...rest] = entity.split('#');
  if (kind === 'device' && rest.length >= 2) {
    return { kind, id: rest.slice(0, -1).join('#'), metric: rest.at(-1) };
  }
  return { kind, id: rest.join('#') };
}

/**
 * How to show a series' values: `scale` multiplies stored values (amounts are minor units: EUR
 * 1299 is 12.99), `suffix` follows each value, `axis` titles the y axis.
 */
export function unitInfo(entity, unit) {
  const { kind, metric } = parseEntity(entity);
  if (kind === 'card' || kind === 'merchant') {
    const what = kind === 'card' ? 'amount per transaction' : 'amount per sale';
    const exponent = unit === undefined || unit === 'mixed' ? undefined : currencyExponent(unit);
    if (exponent === undefined) {
      const label = unit === 'mixed' ? 'minor units, mixed currencies' : 'minor units';
      return { scale: 1, suffix: '', unit: label, axis: `${what} (${label})` };
    }
    return { scale: 10 ** -exponent, suffix: ` ${unit}`, unit, axis: `${what} (${unit})`, digits: exponent };
  }
  const name = metric ?? 'value';
  // Log line counts (Flink's device#<id>#log.<level>, 1 per line): the window's count is the figure.
  if (unit === LINE_UNIT) {
    return { scale: 1, suffix: ' lines', unit: 'lines', axis: `${name} (lines per window)`, counts: true };
  }
  if (unit === undefined) return { scale: 1, suffix: '', unit: 'unit not recorded', axis: name };
  const label = UCUM_LABELS[unit] ?? unit;
  return { scale: 1, suffix: label === '%' ? '%' : ` ${label}`, unit: label, axis: `${name} (${label})` };
}

/** Activity of a series: records in its tumbling (smallest) window size, which counts each record once. */
export function activity(series) {
  const counts = Object.entries(series.records ?? {});
  if (counts.length === 0) return 0;
  return Math.max(...counts.map(([, n]) => n));
}

/** Windows the series has in its smallest window size: one window is a dot, not a chart. */
export function windowCount(series) {
  const counts = Object.values(series.points ?? {});
  return counts.length === 0 ? 0 : Math.max(...counts);
}

/** Merges entity pages (a series may appear on two pages): windows as a set, counts added, newest latest. */
export function mergeEntities(pages) {
  const all = new Map();
  for (const page of pages) {
    for (const series of page) {
      const known = all.get(series.entity);
      if (known === undefined) {
        all.set(series.entity, {
          ...series,
          windows: [...series.windows],
          records: { ...series.records },
          points: { ...series.points },
        });
        continue;
      }
      known.windows = [...new Set([...known.windows, ...series.windows])].sort();
      for (const [w, n] of Object.entries(series.records ?? {}))
        known.records[w] = (known.records[w] ?? 0) + n;
      for (const [w, n] of Object.entries(series.points ?? {})) known.points[w] = (known.points[w] ?? 0) + n;
      if (
        series.latest !== undefined &&
        (known.latest === undefined || series.latest.windowEnd > known.latest.windowEnd)
      ) {
        known.latest = series.latest;
      }
      known.unit ??= series.unit;
    }
  }
  return [...all.values()];
}

/**
 * Pages of /api/entities the page reads per refresh of the series list, each a scan of at most
 * 5,000 items of the aggregates table (one item per window): about 100,000 windows in all.
 */
export const MAX_ENTITY_PAGES = 20;

/**
 * The series list: /api/entities pages through `fetchPage(cursor)` (the page's fetch; none here),
 * following the cursor for at most `maxPages` pages, merged. `truncated` when a cursor is left: the
 * table holds series this list does not.
 */
export async function readEntityPages(fetchPage, maxPages = MAX_ENTITY_PAGES) {
  const pages = [];
  let cursor;
  for (let page = 0; page < maxPages; page++) {
    const result = await fetchPage(cursor);
    pages.push(result.entities);
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return { entities: mergeEntities(pages), truncated: Boolean(cursor) };
}

/**
 * What the picker says when the series list stopped at MAX_ENTITY_PAGES with more of the table
 * unread (`truncated`): the series found so far, and that others exist which neither the list nor
 * the search shows. undefined when the whole table was read.
 */
export function entitiesNotice(count, truncated) {
  if (!truncated) return undefined;
  return (
    `list truncated: showing the ${formatNumber(count)} series found in the first ` +
    `${MAX_ENTITY_PAGES} pages of the aggregates table; more exist, which this list and its search do not show`
  );
}

/**
 * Picker groups: devices/metrics, cards, merchants (then any other kind), each busiest first, only
 * the series whose entity contains `query` (case-insensitive).
 */
export function groupEntities(entities, query = '') {
  const needle = query.trim().toLowerCase();
  const groups = new Map();
  for (const kind of Object.keys(KIND_LABELS)) groups.set(kind, []);
  for (const series of entities) {
    if (needle !== '' && !series.entity.toLowerCase().includes(needle)) continue;
    if (!groups.has(series.kind)) groups.set(series.kind, []);
    groups.get(series.kind).push(series);
  }
  return [...groups.entries()]
    .filter(([, list]) => list.length > 0)
    .map(([kind, list]) => ({
      kind,
      label: KIND_LABELS[kind] ?? kind,
      series: [...list].sort((a, b) => activity(b) - activity(a) || a.entity.localeCompare(b.entity)),
    }));
}

/** `device:sensor-1` → `device#sensor-1`: the series prefix of an alert's entity. */
export function alertSeriesPrefix(entityId) {
  const colon = entityId.indexOf(':');
  return colon < 0 ? entityId : `${entityId.slice(0, colon)}#${entityId.slice(colon + 1)}`;
}

/** The series an alert is about: its metric when the details name one, else the entity's busiest. */
export function seriesForAlert(entities, alert) {
  const prefix = alertSeriesPrefix(alert.entityId);
  const metric = typeof alert.details?.metric === 'string' ? alert.details.metric : undefined;
  const candidates = entities.filter((s) => s.entity === prefix || s.entity.startsWith(`${prefix}#`));
  const exact = metric === undefined ? undefined : candidates.find((s) => s.entity === `${prefix}#${metric}`);
  return exact ?? [...candidates].sort((a, b) => activity(b) - activity(a))[0];
}

/** Fewest windows a series needs to be a default view (a test device's single window is not one). */
export const MIN_DEFAULT_WINDOWS = 3;

/** The window the chart opens on when a series has it (app.js). */
export const DEFAULT_WINDOW = '1m';

/**
 * The series to show when the address names none: the entity of the most recent alert (open or
 * cleared) that has a series, else the busiest series with a few windows of DEFAULT_WINDOW (a
 * series whose records came too late for those still has its longer ones), else with a few windows
 * of any size, else the busiest.
 */
export function chooseDefaultEntity(entities, alerts) {
  const newestFirst = [...alerts].sort((a, b) => Date.parse(b.raisedAt) - Date.parse(a.raisedAt));
  for (const alert of newestFirst) {
    const series = seriesForAlert(entities, alert);
    if (series !== undefined && windowCount(series) >= 2) return series.entity;
  }
  const busiest = [...entities].sort((a, b) => activity(b) - activity(a) || a.entity.localeCompare(b.entity));
  return (
    (
      busiest.find((s) => (s.points?.[DEFAULT_WINDOW] ?? 0) >= MIN_DEFAULT_WINDOWS) ??
      busiest.find((s) => windowCount(s) >= MIN_DEFAULT_WINDOWS) ??
      busiest[0]
    )?.entity ?? ''
  );
}

/** Windows the x axis shows at least, so a short series is drawn on a scale of minutes, not years. */
export const MIN_AXIS_WINDOWS = 10;

/**
 * x-axis range in seconds for window starts `xs` (seconds) of windows `windowSeconds` long: the data
 * plus one window after it, widened backwards to MIN_AXIS_WINDOWS windows when shorter.
 */
export function xRange(xs, windowSeconds) {
  if (xs.length === 0) {
    const now = Math.floor(Date.now() / 1000);
    return [now - MIN_AXIS_WINDOWS * windowSeconds, now];
  }
  const first = Math.min(...xs);
  const last = Math.max(...xs) + windowSeconds;
  return [Math.min(first, last - MIN_AXIS_WINDOWS * windowSeconds), last];
}

/** y-axis range with 5% headroom; a flat series gets ±1 (or ±5% of its value) around it. */
export function yRange(min, max) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) {
    const pad = Math.abs(min) * 0.05 || 1;
    return [min - pad, max + pad];
  }
  const pad = (max - min) * 0.05;
  return [min - pad, max + pad];
}

/** As shared/units.ts formatDuration (alert reasons), plus '–' for no figure. */
export function formatDuration(ms) {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

/** How long an alert was (or has been) open, ms. */
export function alertDuration(alert, now = Date.now()) {
  const raised = Date.parse(alert.raisedAt);
  const end = alert.clearedAt === undefined ? now : Date.parse(alert.clearedAt);
  return Math.max(0, end - raised);
}

/** `windowSeconds` → `window seconds`; `maxTransactions` → `max transactions`. */
export function humanKey(key) {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .toLowerCase();
}

const shortId = (id) => (id.length > 13 ? `…${id.slice(-12)}` : id);

/** Detail keys that are readings of the metric, shown in the details' `unit` (a threshold rule's). */
const READING_KEYS = new Set(['value', 'raise', 'clear']);

/**
 * An alert's details as [label, text] rows: numbers as numbers, a `…Ms` figure as a duration
 * (`windowMs` → `window`, `5 min 0 s`), lists of record ids counted with their short forms, nested
 * objects flattened one level (`location lat`). Never raw JSON. When the details carry the
 * telemetry's `unit` (a threshold alert), the readings (value, raise, clear, cleared at) are shown
 * in it as the chart shows them (`34 °C`), and the code itself is not a row of its own.
 */
export function detailRows(alert) {
  const details = alert.details ?? {};
  const reading =
    typeof details.unit === 'string'
      ? unitInfo(
          `${alertSeriesPrefix(alert.entityId ?? '')}#${typeof details.metric === 'string' ? details.metric : 'value'}`,
          details.unit,
        )
      : undefined;
  const rows = [];
  const add = (label, value) => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) {
      const ids = value.filter((v) => typeof v === 'string');
      if (ids.length === value.length && ids.length > 0) {
        const shown = ids.slice(0, 3).map(shortId).join(', ');
        rows.push([label, `${ids.length} · ${shown}${ids.length > 3 ? ', …' : ''}`]);
      } else {
        rows.push([label, value.map((v) => (typeof v === 'object' ? summarize(v) : String(v))).join(', ')]);
      }
      return;
    }
    if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) add(`${label} ${humanKey(k)}`, v);
      return;
    }
    if (typeof value === 'number' && label.endsWith(' ms')) {
      rows.push([label.slice(0, -3), formatDuration(value)]);
      return;
    }
    rows.push([label, typeof value === 'number' ? formatNumber(value) : String(value)]);
  };
  const addReading = (label, value) =>
    typeof value === 'number' && reading !== undefined
      ? rows.push([label, formatValue(value, reading)])
      : add(label, value);
  for (const [key, value] of Object.entries(details)) {
    if (key === 'unit' && reading !== undefined) continue;
    if (READING_KEYS.has(key)) addReading(humanKey(key), value);
    else add(humanKey(key), value);
  }
  if (alert.triggerRecordIds?.length > 0 && !rows.some(([label]) => label.includes('record'))) {
    add('trigger records', alert.triggerRecordIds);
  }
  if (alert.clearValue !== undefined) addReading('cleared at value', alert.clearValue);
  return rows;
}

function summarize(object) {
  return Object.entries(object)
    .map(([k, v]) => `${humanKey(k)} ${typeof v === 'number' ? formatNumber(v) : String(v)}`)
    .join(' ');
}

const numberFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });
export const formatNumber = (n) => (n === undefined || n === null ? '–' : numberFormat.format(n));

/** A value with its unit: `unitInfo` applied. */
export function formatValue(value, info) {
  if (value === undefined || value === null || !Number.isFinite(value)) return '–';
  const scaled = value * info.scale;
  const text =
    info.digits === undefined
      ? numberFormat.format(scaled)
      : new Intl.NumberFormat('en', {
          minimumFractionDigits: info.digits,
          maximumFractionDigits: info.digits,
        }).format(scaled);
  return `${text}${info.suffix}`;
}

/** A series counts as quiet when its newest window ended this long ago. */
export const QUIET_AFTER_MS = 3 * 60_000;

/**
 * Fleet table rows: one per device, each metric's newest value with its unit, state `alert` (an
 * open alert on the device), `quiet` (no window for QUIET_AFTER_MS) or `ok`; alerting first.
 */
export function fleetRows(entities, openAlerts, now = Date.now()) {
  const devices = new Map();
  for (const series of entities) {
    if (series.kind !== 'device') continue;
    const { id, metric } = parseEntity(series.entity);
    if (!devices.has(id)) devices.set(id, { device: id, metrics: [], lastWindowEnd: 0, alerts: [] });
    const row = devices.get(id);
    const info = unitInfo(series.entity, series.unit);
    row.metrics.push({
      metric,
      entity: series.entity,
      value:
        series.latest === undefined
          ? '–'
          : formatValue(info.counts ? series.latest.count : series.latest.mean, info),
    });
    row.lastWindowEnd = Math.max(row.lastWindowEnd, series.latest?.windowEnd ?? 0);
  }
  for (const alert of openAlerts) {
    const prefix = 'device:';
    if (!alert.entityId.startsWith(prefix)) continue;
    devices.get(alert.entityId.slice(prefix.length))?.alerts.push(alert);
  }
  const rank = { alert: 0, quiet: 1, ok: 2 };
  return [...devices.values()]
    .map((row) => ({
      ...row,
      metrics: row.metrics.sort((a, b) => a.metric.localeCompare(b.metric)),
      state: row.alerts.length > 0 ? 'alert' : now - row.lastWindowEnd > QUIET_AFTER_MS ? 'quiet' : 'ok',
    }))
    .sort((a, b) => rank[a.state] - rank[b.state] || a.device.localeCompare(b.device));
}
