// Tributary dashboard page: plain ES module, no framework. Reads the read API (same origin) and
// refreshes every few seconds (`?refresh=<ms>` overrides, minimum 500). Every value from the API is
// put into the DOM with textContent, never as HTML.
import uPlot from '/vendor/uPlot.esm.js';
import {
  activity,
  alertDuration,
  chooseDefaultEntity,
  DEFAULT_WINDOW,
  detailRows,
  entitiesNotice,
  fleetRows,
  formatDuration,
  formatNumber,
  formatValue,
  groupEntities,
  parseEntity,
  readEntityPages,
  seriesForAlert,
  unitInfo,
  xRange,
  yRange,
} from '/view.js';

const params = new URLSearchParams(location.search);
const REFRESH_MS = Math.max(500, Number(params.get('refresh')) || 3000);
const ENTITIES_REFRESH_MS = 30_000;
const LATEST_WINDOWS = 120;

const $ = (id) => document.getElementById(id);
const state = {
  entities: [],
  entitiesLoadedAt: 0,
  /** The series list stopped at its last page with more of the table unread (readEntityPages). */
  entitiesTruncated: false,
  openAlerts: [],
  recentAlerts: [],
  search: '',
  entity: '',
  window: '',
  /** The address or the user named the window; otherwise DEFAULT_WINDOW is taken as soon as it exists. */
  windowChosen: false,
  range: 'latest',
  chart: undefined,
  chartKey: '',
  refreshing: false,
};

// ----------------------------------------------------------------------------------------------
// helpers

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

async function api(path, query = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') search.set(name, String(value));
  }
  const url = search.size > 0 ? `${path}?${search}` : path;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  try {
    const response = await fetch(url, { signal: controller.signal, headers: { accept: 'application/json' } });
    const body = await response.json().catch(() => undefined);
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  } finally {
    clearTimeout(timer);
  }
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (name === 'className') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== undefined && child !== null) node.append(child);
  }
  return node;
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const fmt = (n) => (n === undefined || n === null ? '–' : numberFormat.format(n));

function bytes(n) {
  if (n === undefined || n === null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function timeText(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

function clock(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleTimeString();
}

function ago(ms) {
  const seconds = Math.round((Date.now() - ms) / 1000);
  if (seconds < 60) return `${Math.max(0, seconds)} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return `${Math.floor(seconds / 3600)} h ago`;
}

/** Cells at or above warn/bad thresholds get a colour class. */
function level(value, warn, bad) {
  if (value === undefined || value === null) return undefined;
  if (value >= bad) return 'bad';
  if (value >= warn) return 'warn';
  return undefined;
}

function errorText(error) {
  if (!error) return '';
  const when = error.at === undefined ? '' : ` (${ago(error.at)})`;
  return `${error.code ? `${error.code}: ` : ''}${error.message}${when}`;
}

function showBanner(message) {
  const banner = $('banner');
  banner.hidden = message === undefined;
  banner.textContent = message ?? '';
}

// ----------------------------------------------------------------------------------------------
// series picker

function readHash() {
  const hash = new URLSearchParams(location.hash.slice(1));
  state.entity = hash.get('entity') ?? '';
  state.window = hash.get('window') ?? '';
  state.windowChosen = hash.has('window');
  state.range = hash.get('range') ?? 'latest';
}

function writeHash() {
  const hash = new URLSearchParams({ entity: state.entity, window: state.window, range: state.range });
  history.replaceState(null, '', `#${hash}`);
}

async function loadEntities() {
  // Follow the cursor: locally the table is small; the API bounds each page's cost. A list cut
  // short (MAX_ENTITY_PAGES read, a cursor left) is said above the chart.
  const { entities, truncated } = await readEntityPages((cursor) =>
    api('/api/entities', { cursor, limit: 1000 }),
  );
  state.entities = entities;
  state.entitiesTruncated = truncated;
  state.entitiesLoadedAt = Date.now();
}

/** The address's series if it exists, else the default (newest alert's entity, else the busiest). */
function settleEntity() {
  if (state.entities.some((s) => s.entity === state.entity)) return;
  state.entity = chooseDefaultEntity(state.entities, state.recentAlerts);
}

function renderPicker() {
  const select = $('entity');
  const groups = groupEntities(state.entities, state.search);
  const selected = state.entities.find((s) => s.entity === state.entity);
  const options = groups.map((group) =>
    el(
      'optgroup',
      { label: `${group.label} (${group.series.length})` },
      ...group.series.map((s) =>
        el('option', {
          value: s.entity,
          text: `${s.entity.slice(group.kind.length + 1).replaceAll('#', ' · ')} — ${fmt(activity(s))} records`,
        }),
      ),
    ),
  );
  // The selected series stays selectable while a search hides it.
  if (selected !== undefined && !groups.some((g) => g.series.includes(selected))) {
    options.unshift(el('option', { value: selected.entity, text: selected.entity.replaceAll('#', ' · ') }));
  }
  if (state.entities.length === 0) {
    select.replaceChildren(el('option', { value: '', text: 'no series yet (first window after ~1 min)' }));
  } else if (options.length === 0) {
    select.replaceChildren(el('option', { value: '', text: 'no series matches' }));
  } else {
    select.replaceChildren(...options);
  }
  select.value = state.entity;
  $('entity-matches').textContent =
    state.search.trim() === '' ? '' : `${groups.reduce((n, g) => n + g.series.length, 0)} match`;
  const notice = entitiesNotice(state.entities.length, state.entitiesTruncated);
  $('entities-notice').hidden = notice === undefined;
  $('entities-notice').textContent = notice ?? '';
  renderWindows();
}

function renderWindows() {
  const select = $('window');
  const windows = state.entities.find((s) => s.entity === state.entity)?.windows ?? [];
  select.replaceChildren(
    ...(windows.length === 0
      ? [el('option', { value: '', text: '–' })]
      : windows.map((w) => el('option', { value: w, text: w }))),
  );
  // A series' 5-minute windows can be written a moment before its first 1-minute one.
  const preferred = windows.includes(DEFAULT_WINDOW) ? DEFAULT_WINDOW : (windows[0] ?? '');
  if (!windows.includes(state.window) || (!state.windowChosen && state.window !== preferred))
    state.window = preferred;
  select.value = state.window;
  $('range').value = state.range;
  writeHash();
}

// ----------------------------------------------------------------------------------------------
// chart

async function loadSeries() {
  if (state.entity === '' || state.window === '') {
    renderChart(undefined);
    return;
  }
  const query = { entity: state.entity, window: state.window };
  if (state.range === 'latest') {
    Object.assign(query, { order: 'desc', limit: LATEST_WINDOWS });
  } else {
    const to = Date.now();
    Object.assign(query, { from: to - Number(state.range), to, order: 'asc', limit: 1000 });
  }
  const page = await api('/api/series', query);
  const points = page.order === 'desc' ? [...page.points].reverse() : page.points;
  const unit = page.unit ?? state.entities.find((s) => s.entity === state.entity)?.unit;
  renderChart(points, unitInfo(state.entity, unit));
}

function windowSeconds(label) {
  const match = /^([0-9]+)([smhd])$/.exec(label);
  if (match === null) return 60;
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[match[2]];
}

function chartOptions(width, info) {
  // Before any hover the legend shows the newest window's values, not `–`.
  const value = (u, v, seriesIdx, idx) => formatValue(idx === null ? u.data[seriesIdx].at(-1) : v, info);
  const seconds = windowSeconds(state.window);
  return {
    width,
    height: 300,
    cursor: { drag: { x: true, y: false } },
    scales: {
      x: { time: true, range: (u) => xRange(u.data[0], seconds) },
      y: { range: (_u, min, max) => yRange(min, max) },
    },
    axes: [
      { stroke: '#6b7385', label: 'window start (local time)', labelSize: 20 },
      {
        stroke: '#6b7385',
        size: 70,
        label: info.axis,
        labelSize: 20,
        values: (_u, splits) => splits.map((v) => formatNumber(v)),
      },
    ],
    series: [
      {
        label: 'window start',
        value: (u, v, _s, idx) => timeText(1000 * (idx === null ? u.data[0].at(-1) : v)),
      },
      ...(info.counts
        ? [{ label: 'lines', stroke: '#2f6fde', width: 2.5, value, points: { show: true } }]
        : statSeries(value)),
    ],
    ...(info.counts ? {} : { bands: [{ series: [4, 1], fill: 'rgba(47, 111, 222, 0.08)' }] }),
  };
}

/** min, mean, p95 and max of a value series. */
function statSeries(value) {
  return [
    { label: 'min', stroke: '#9db6e8', width: 1, value, points: { show: true } },
    { label: 'mean', stroke: '#2f6fde', width: 2.5, value, points: { show: true } },
    { label: 'p95', stroke: '#d98b00', width: 1.5, dash: [6, 4], value, points: { show: true } },
    { label: 'max', stroke: '#d64545', width: 1, value, points: { show: true } },
  ];
}

function renderChart(points, info) {
  const container = $('chart');
  const summary = $('series-summary');
  const key = `${state.entity}|${state.window}`;
  if (points === undefined) {
    state.chart?.destroy();
    state.chart = undefined;
    state.chartKey = '';
    container.dataset.points = '0';
    container.dataset.unit = '';
    container.dataset.axis = '';
    summary.textContent =
      'No series yet: the Flink job writes a window when it closes (the first after about a minute).';
    return;
  }
  const scaled = (v) => (v === undefined || v === null ? v : v * info.scale);
  const data = info.counts
    ? [points.map((p) => p.windowStart / 1000), points.map((p) => p.count)]
    : [
        points.map((p) => p.windowStart / 1000),
        points.map((p) => scaled(p.min)),
        points.map((p) => scaled(p.mean)),
        points.map((p) => scaled(p.p95)),
        points.map((p) => scaled(p.max)),
      ];
  // A unit change (first items with a unit) rebuilds the axis title too.
  const chartKey = `${key}|${info.axis}`;
  if (state.chart === undefined || state.chartKey !== chartKey) {
    state.chart?.destroy();
    container.replaceChildren();
    state.chart = new uPlot(
      chartOptions(container.clientWidth || 800, { ...info, scale: 1 }),
      data,
      container,
    );
    state.chartKey = chartKey;
  } else {
    state.chart.setData(data);
  }
  container.dataset.points = String(points.length);
  container.dataset.series = key;
  container.dataset.unit = info.unit;
  // The y axis' title as drawn (uPlot draws it on the canvas), for tests and accessibility tools.
  container.dataset.axis = info.axis;
  $('series-title').textContent = seriesTitle(state.entity);
  $('series-unit').textContent = info.axis;
  const last = points.at(-1);
  const v = (n) => formatValue(n, info);
  summary.textContent =
    last === undefined
      ? 'No windows in this range.'
      : info.counts
        ? `${points.length} window${points.length === 1 ? '' : 's'} · latest ${timeText(last.windowStart)}: ${fmt(last.count)} lines`
        : `${points.length} window${points.length === 1 ? '' : 's'} · latest ${timeText(last.windowStart)}: ${fmt(last.count)} records, ` +
          `mean ${v(last.mean)}, min ${v(last.min)}, max ${v(last.max)}, p99 ${v(last.p99)}`;
}

function seriesTitle(entity) {
  const { kind, id, metric } = parseEntity(entity);
  if (kind === 'device') return `${metric} of ${id}`;
  return `${kind} ${id}`;
}

new ResizeObserver(() => {
  const width = $('chart').clientWidth;
  if (state.chart !== undefined && width > 0) state.chart.setSize({ width, height: 300 });
}).observe($('chart'));

// ----------------------------------------------------------------------------------------------
// alerts

function entityLink(alert) {
  const series = seriesForAlert(state.entities, alert);
  if (series === undefined)
    return el('span', { className: 'entity-id', text: alert.entityId, title: alert.entityId });
  return el('a', {
    className: 'entity-id link',
    href: `#${new URLSearchParams({ entity: series.entity, window: '1m', range: state.range })}`,
    text: alert.entityId,
    title: `Show ${series.entity}`,
    onclick: (event) => {
      event.preventDefault();
      selectSeries(series.entity);
    },
  });
}

function detailsList(alert) {
  const rows = detailRows(alert);
  if (rows.length === 0) return undefined;
  return el(
    'dl',
    { className: 'details' },
    ...rows.flatMap(([label, text]) => [el('dt', { text: label }), el('dd', { text })]),
  );
}

function alertCell(alert) {
  return el(
    'td',
    {},
    el('span', { className: `sev sev-${alert.severity}`, text: alert.severity }),
    el('div', { className: 'rule', text: alert.ruleId, title: alert.ruleType }),
    el('div', { className: 'entity' }, entityLink(alert)),
  );
}

async function loadAlerts() {
  const [open, recent] = await Promise.all([
    api('/api/alerts/open', { limit: 100 }),
    api('/api/alerts/recent', { limit: 50 }),
  ]);
  state.openAlerts = open.alerts;
  state.recentAlerts = recent.alerts;
}

function renderAlerts() {
  const rows = state.openAlerts.map((alert) =>
    el(
      'tr',
      { 'data-alert-id': alert.alertId },
      el(
        'td',
        { className: 'nowrap', title: alert.raisedAt },
        el('div', { text: clock(alert.raisedAt) }),
        el('div', { className: 'muted', text: `open ${formatDuration(alertDuration(alert))}` }),
      ),
      alertCell(alert),
      el('td', { className: 'reason' }, el('div', { text: alert.reason }), detailsList(alert)),
    ),
  );
  $('alerts').tBodies[0].replaceChildren(...rows);
  $('alerts-empty').hidden = rows.length > 0;
  const count = $('alerts-count');
  count.textContent = String(rows.length);
  count.classList.toggle('hot', rows.length > 0);

  const history = state.recentAlerts.map((alert) =>
    el(
      'tr',
      { 'data-alert-id': alert.alertId, 'data-status': alert.status },
      el('td', { className: 'nowrap', title: alert.raisedAt, text: timeText(alert.raisedAt) }),
      el('td', {
        className: 'nowrap',
        title: alert.clearedAt ?? '',
        text: alert.clearedAt === undefined ? 'open' : timeText(alert.clearedAt),
      }),
      el('td', {
        className: 'num nowrap',
        text: `${formatDuration(alertDuration(alert))}${alert.clearedAt === undefined ? ' so far' : ''}`,
      }),
      alertCell(alert),
      el('td', { className: 'reason', text: alert.reason }),
    ),
  );
  $('alert-history').tBodies[0].replaceChildren(...history);
  $('history-empty').hidden = history.length > 0;
}

function selectSeries(entity) {
  state.entity = entity;
  renderPicker();
  refresh();
}

// ----------------------------------------------------------------------------------------------
// fleet

function renderFleet() {
  const rows = fleetRows(state.entities, state.openAlerts);
  $('fleet').tBodies[0].replaceChildren(
    ...rows.map((row) =>
      el(
        'tr',
        { 'data-device': row.device, 'data-state': row.state },
        el('td', { className: 'nowrap', text: row.device }),
        el(
          'td',
          {},
          ...row.metrics.map((m) =>
            el('a', {
              className: 'metric link',
              href: `#${new URLSearchParams({ entity: m.entity, window: '1m', range: state.range })}`,
              text: `${m.metric} ${m.value}`,
              onclick: (event) => {
                event.preventDefault();
                selectSeries(m.entity);
              },
            }),
          ),
        ),
        el('td', { className: 'nowrap', text: row.lastWindowEnd > 0 ? ago(row.lastWindowEnd) : '–' }),
        el(
          'td',
          {},
          el('span', {
            className: `state state-${row.state}`,
            text:
              row.state === 'alert'
                ? `${row.alerts.length} open alert${row.alerts.length > 1 ? 's' : ''}`
                : row.state,
          }),
        ),
      ),
    ),
  );
  $('fleet-empty').hidden = rows.length > 0;
  $('fleet-count').textContent = String(rows.length);
}

// ----------------------------------------------------------------------------------------------
// health

function tile(label, value, cls) {
  return el(
    'div',
    { className: `tile${cls ? ` ${cls}` : ''}` },
    el('div', { className: 'label', text: label }),
    el('div', { className: 'value', text: value }),
  );
}

async function loadHealth() {
  const health = await api('/api/health');
  const pill = $('status');
  pill.textContent = health.status;
  pill.className = `pill pill-${health.status}`;

  const exports = health.exports ?? [];
  const consumers = health.consumers ?? [];
  const tiles = [];
  const t = health.totals ?? {};
  if (t.recordsAppended !== undefined) tiles.push(tile('Records appended', fmt(t.recordsAppended)));
  if (t.recordsExported !== undefined) tiles.push(tile('Records exported', fmt(t.recordsExported)));
  const worstLag = Math.max(0, ...exports.map((e) => e.lagMs ?? 0));
  if (exports.length > 0)
    tiles.push(tile('Worst export lag', formatDuration(worstLag), level(worstLag, 60_000, 900_000)));
  const worstAge = Math.max(
    0,
    ...consumers.map((c) => Math.max(c.iteratorAgeMs ?? 0, c.millisBehindLatest ?? 0)),
  );
  if (consumers.length > 0)
    tiles.push(tile('Worst iterator age', formatDuration(worstAge), level(worstAge, 60_000, 900_000)));
  if (t.alertsRaised !== undefined) tiles.push(tile('Alerts raised', fmt(t.alertsRaised)));
  const lake = health.lake;
  if (lake !== undefined) {
    tiles.push(tile('Lake records delivered', fmt(lake.recordsDelivered)));
    tiles.push(
      tile(
        'Lake records failed',
        fmt(lake.recordsFailed ?? 0),
        (lake.recordsFailed ?? 0) > 0 ? 'warn' : undefined,
      ),
    );
    if (lake.objects !== undefined)
      tiles.push(
        tile('Lake objects', [fmt(lake.objects), bytes(lake.bytesWritten)].filter(Boolean).join(' · ')),
      );
  }
  const analytics = health.analytics;
  if (analytics !== undefined) {
    if (analytics.state !== undefined) tiles.push(tile('Flink job', analytics.state));
    tiles.push(tile('Windows emitted', fmt(analytics.windowsEmitted ?? t.windowsEmitted)));
    if (analytics.lateRecords !== undefined) tiles.push(tile('Late records', fmt(analytics.lateRecords)));
  } else if (t.windowsEmitted !== undefined) {
    tiles.push(tile('Windows emitted', fmt(t.windowsEmitted)));
  }
  for (const store of health.stores ?? []) {
    tiles.push(
      tile(
        store.name,
        store.ok ? `ok · ${formatDuration(store.latencyMs)}` : 'unreachable',
        store.ok ? undefined : 'bad',
      ),
    );
  }
  $('health-tiles').replaceChildren(...tiles);

  const dash = (rows, cols) =>
    rows.length > 0
      ? rows
      : [el('tr', {}, el('td', { className: 'muted', colspan: String(cols), text: 'nothing reported' }))];
  $('health-exports').tBodies[0].replaceChildren(
    ...dash(
      exports.map((e) =>
        el(
          'tr',
          {},
          el('td', {
            text: [e.device, e.logStream].filter(Boolean).join(' / ') || '–',
            title: e.kinesisStream,
          }),
          el('td', { text: e.state ?? '–' }),
          el('td', {
            className: 'num',
            text: [fmt(e.backlogRecords), bytes(e.backlogBytes)].filter(Boolean).join(' · '),
          }),
          el('td', {
            className: `num ${level(e.lagMs, 60_000, 900_000) ?? ''}`,
            text: formatDuration(e.lagMs),
          }),
          el('td', { className: 'num', text: fmt(e.throttled) }),
          el('td', {
            className: `num ${(e.failedEntries ?? 0) > 0 ? 'warn' : ''}`,
            text: fmt(e.failedEntries),
          }),
          el('td', { className: e.lastError ? 'warn' : '', text: errorText(e.lastError) }),
        ),
      ),
      7,
    ),
  );
  $('health-consumers').tBodies[0].replaceChildren(
    ...dash(
      consumers.map((c) =>
        el(
          'tr',
          {},
          el('td', { text: c.kind ? `${c.name} (${c.kind})` : c.name }),
          el('td', {
            className: `num ${level(c.iteratorAgeMs, 60_000, 900_000) ?? ''}`,
            text: formatDuration(c.iteratorAgeMs),
          }),
          el('td', {
            className: `num ${level(c.millisBehindLatest, 60_000, 900_000) ?? ''}`,
            text: formatDuration(c.millisBehindLatest),
          }),
          el('td', { className: 'num', text: fmt(c.recordsProcessed) }),
          el('td', { className: `num ${(c.errors ?? 0) > 0 ? 'warn' : ''}`, text: fmt(c.errors) }),
          el('td', {
            className: `num ${(c.recordsGivenUp ?? 0) > 0 ? 'bad' : ''}`,
            text: fmt(c.recordsGivenUp),
          }),
          el('td', { className: c.lastError ? 'warn' : '', text: errorText(c.lastError) }),
        ),
      ),
      7,
    ),
  );
  $('health-notes').replaceChildren(...(health.notes ?? []).map((note) => el('li', { text: note })));
}

// ----------------------------------------------------------------------------------------------
// refresh loop

async function refresh() {
  if (state.refreshing) return;
  state.refreshing = true;
  const problems = [];
  const attempt = async (what, run) => {
    try {
      await run();
    } catch (error) {
      problems.push(`${what}: ${error.message}`);
    }
  };
  try {
    const entitiesDue =
      state.entities.length === 0 || Date.now() - state.entitiesLoadedAt > ENTITIES_REFRESH_MS;
    await Promise.all([
      entitiesDue ? attempt('series list', loadEntities) : undefined,
      attempt('alerts', loadAlerts),
    ]);
    settleEntity();
    renderPicker();
    renderAlerts();
    renderFleet();
    await Promise.all([attempt('series', loadSeries), attempt('health', loadHealth)]);
    showBanner(problems.length > 0 ? `Could not refresh ${problems.join('; ')}` : undefined);
    const updated = $('updated');
    updated.textContent = `updated ${new Date().toLocaleTimeString()} · every ${REFRESH_MS / 1000} s`;
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes ?? 0) + 1);
  } finally {
    state.refreshing = false;
  }
}

$('entity').addEventListener('change', (event) => {
  if (event.target.value !== '') selectSeries(event.target.value);
});
$('entity-search').addEventListener('input', (event) => {
  state.search = event.target.value;
  renderPicker();
});
$('entity-search').addEventListener('keydown', (event) => {
  // Enter shows the busiest match.
  if (event.key !== 'Enter') return;
  const first = groupEntities(state.entities, state.search)[0]?.series[0];
  if (first !== undefined) selectSeries(first.entity);
});
$('window').addEventListener('change', (event) => {
  state.window = event.target.value;
  state.windowChosen = true;
  writeHash();
  refresh();
});
$('range').addEventListener('change', (event) => {
  state.range = event.target.value;
  writeHash();
  refresh();
});

readHash();
await refresh();
setInterval(refresh, REFRESH_MS);
