import { randomUUID } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledRules } from '../../functions/alerts/rules/bundled.ts';
import { evaluateLog } from '../../functions/alerts/rules/error-rate.ts';
import {
  alertIdFor,
  type ClearedAlert,
  type Effects,
  emptyDeviceState,
  type RaisedAlert,
} from '../../functions/alerts/rules/model.ts';
import { DynamoAlertStore } from '../../functions/alerts/store/dynamodb.ts';
import { createDashboardHandler, type DashboardHandler } from '../../functions/dashboard/handler.ts';
import type { PipelineHealth } from '../../functions/dashboard/health.ts';
import type { AlertView, EntitiesPage, SeriesPage } from '../../functions/dashboard/reader.ts';
import { type DashboardServer, startDashboardServer } from '../../local/dashboard/server.ts';
import { stackResource } from '../../local/resources/stack.ts';
import { aggregateItem, functionUrlEvent, lateItem, launchChromium } from '../helpers/dashboard.ts';
import { testContext } from '../helpers/lambda.ts';
import { useLocalCloud } from '../helpers/local-cloud.ts';
import { logRecord } from '../helpers/records.ts';

/**
 * The dashboard against the real local cloud: aggregate items in the Flink sink's shape and alerts
 * written by the alert function's own store, read back through the local server, the Lambda
 * function URL handler (same router), and a real headless Chromium rendering the page.
 */

const local = useLocalCloud('dashboard');
let server: DashboardServer;
let lambda: DashboardHandler;
let alerts: DynamoAlertStore;
let alertsTable: string;
let aggregatesTable: string;
const ARTIFACT = resolve('.tributary/artifacts/dashboard.png');
/** Bounds a hang while waiting for the page's auto-refresh (every second here). */
const LIVE = { timeout: 20_000, interval: 100 };

const MINUTE = 60_000;
const tag = randomUUID().slice(0, 8);
const device = `sensor-${tag}`;
const deviceSeries = `device#${device}#temperature`;
const cardSeries = `card#tok_${tag}`;
const merchantSeries = `merchant#m-${tag}`;
/** Error lines of a gateway, as the Flink job counts log lines: value 1 per line, unit {line}. */
const logSeries = `device#gw-${tag}#log.error`;
const LOG_LINES = [3, 1, 5];
/** The latest complete minute: the page's default view ("latest windows") ends here. */
const lastMinute = Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;
const WINDOWS_1M = 30;
/** Numbers as the page writes them (en, at most two decimals). */
const twoDigits = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });

let health: () => PipelineHealth | Promise<PipelineHealth>;
const baseHealth: PipelineHealth = {
  exports: [
    {
      device,
      logStream: 'telemetry',
      kinesisStream: 'tributary-dev-records',
      state: 'exporting',
      backlogRecords: 12,
      backlogBytes: 4096,
      lagMs: 850,
      recordsAccepted: 10_400,
      throttled: 3,
      failedEntries: 0,
    },
  ],
  consumers: [
    { name: 'alerts', kind: 'lambda-esm', iteratorAgeMs: 1200, recordsProcessed: 10_390, errors: 0 },
    { name: 'lake', kind: 'firehose', millisBehindLatest: 400, recordsProcessed: 10_380, errors: 0 },
  ],
  lake: { recordsDelivered: 10_380, recordsFailed: 0, objects: 4, bytesWritten: 1_234_567 },
  analytics: { state: 'RUNNING', windowsEmitted: WINDOWS_1M },
  totals: { recordsAppended: 10_412, recordsExported: 10_400, alertsRaised: 2 },
};

function temperature(i: number): number[] {
  const base = 21 + 4 * Math.sin(i / 4);
  return [base - 0.6, base, base + 0.4, base + 1.1, i === WINDOWS_1M - 3 ? 34 : base + 0.2];
}

async function putItems(table: string, items: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    let request: Record<string, { PutRequest: { Item: Record<string, unknown> } }[]> = {
      [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })),
    };
    while (Object.keys(request).length > 0) {
      const result = await local.cloud.clients
        .documents()
        .send(new BatchWriteCommand({ RequestItems: request }));
      request = (result.UnprocessedItems ?? {}) as typeof request;
    }
  }
}

function raised(
  ruleId: string,
  ruleType: RaisedAlert['ruleType'],
  entityId: string,
  at: number,
  message: string,
  details: Record<string, unknown>,
): RaisedAlert {
  const triggerRecordIds = [randomUUID(), randomUUID()];
  return {
    alertId: alertIdFor(ruleId, entityId, triggerRecordIds),
    ruleId,
    ruleType,
    severity: ruleType === 'threshold' ? 'warning' : 'critical',
    entityId,
    raisedAt: at,
    triggerRecordIds,
    message,
    details,
  };
}

/**
 * The bundled log error-rate rule run over a gateway's lines: `raise` errors a second apart, then a
 * quiet line once the window has passed them. Returns what the core raised and cleared.
 */
function errorRateAlert(gateway: string, base: number): { raised: RaisedAlert; cleared: ClearedAlert } {
  const [rule] = bundledRules.logErrorRate;
  if (rule === undefined) throw new Error('rules.json has no log error-rate rule');
  const line = (at: number, level: 'error' | 'info', message: string) =>
    logRecord({
      device_id: gateway,
      partition_key: gateway,
      event_time: at,
      payload: { level, message, source: 'diskmon' },
    });
  const lines = [
    ...Array.from({ length: rule.raise }, (_, i) =>
      line(base + i * 1000, 'error', `write failed on /dev/sda1 (${i})`),
    ),
    line(base + rule.raise * 1000 + rule.windowMs, 'info', 'disk ok'),
  ];
  let state = emptyDeviceState();
  const effects: Effects = { raised: [], cleared: [] };
  for (const record of lines) state = evaluateLog([rule], state, record, effects);
  const [raisedAlert] = effects.raised;
  const [clearedAlert] = effects.cleared;
  if (raisedAlert === undefined || clearedAlert === undefined)
    throw new Error('expected a raise and a clear');
  return { raised: raisedAlert, cleared: clearedAlert };
}

const hot = raised(
  'temperature-high',
  'threshold',
  `device:${device}`,
  lastMinute - 3 * MINUTE,
  'temperature 34 °C is above 30 °C for 1 min 0 s',
  { metric: 'temperature', value: 34, unit: 'Cel', raise: 30, clear: 28 },
);
const travel = raised(
  'impossible_travel',
  'impossible_travel',
  `card:tok_${tag}`,
  lastMinute - 2 * MINUTE,
  'card moved 5837 km in 20 min (17511 km/h > 900 km/h)',
  { distanceKm: 5837, speedKmh: 17511, maxSpeedKmh: 900 },
);
const cleared = raised(
  'temperature-high',
  'threshold',
  `device:${device}`,
  lastMinute - 20 * MINUTE,
  'temperature 31 °C is above 30 °C for 1 min 0 s',
  { metric: 'temperature', value: 31 },
);

beforeAll(async () => {
  const name = (logicalId: string) => stackResource(local.cloud.stack, 'dynamodb-table', logicalId).name;
  alertsTable = name('AlertsTable');
  aggregatesTable = name('AggregatesTable');
  alerts = new DynamoAlertStore(local.cloud.clients.documents(), alertsTable, {
    ttlSeconds: bundledRules.alertTtlSeconds,
  });

  const windows = [
    ...Array.from({ length: WINDOWS_1M }, (_, i) =>
      aggregateItem({
        entity: deviceSeries,
        windowSize: '1m',
        windowMs: MINUTE,
        windowStart: lastMinute - (WINDOWS_1M - 1 - i) * MINUTE,
        values: temperature(i),
        unit: 'Cel',
      }),
    ),
    ...Array.from({ length: 6 }, (_, i) =>
      aggregateItem({
        entity: deviceSeries,
        windowSize: '5m',
        windowMs: 5 * MINUTE,
        windowStart: lastMinute - (5 - i) * MINUTE,
        values: [20, 21, 22 + i],
      }),
    ),
    ...Array.from({ length: 5 }, (_, i) =>
      aggregateItem({
        entity: cardSeries,
        windowSize: '1m',
        windowMs: MINUTE,
        windowStart: lastMinute - i * MINUTE,
        values: [1299, 2500 + i],
        unit: 'EUR',
      }),
    ),
    aggregateItem({
      entity: merchantSeries,
      windowSize: '1m',
      windowMs: MINUTE,
      windowStart: lastMinute,
      values: [1e120, 1.5e120],
    }),
    lateItem(deviceSeries, '1m', lastMinute - 90 * MINUTE, 19.5),
    ...LOG_LINES.map((lines, i) =>
      aggregateItem({
        entity: logSeries,
        windowSize: '1m',
        windowMs: MINUTE,
        windowStart: lastMinute - (LOG_LINES.length - 1 - i) * MINUTE,
        values: Array(lines).fill(1),
        unit: '{line}',
      }),
    ),
  ];
  await putItems(aggregatesTable, windows);
  for (const alert of [hot, travel, cleared]) expect(await alerts.raise(alert)).toBe('created');
  expect(
    await alerts.clear({
      alertId: cleared.alertId,
      ruleId: cleared.ruleId,
      entityId: cleared.entityId,
      clearedAt: lastMinute - 15 * MINUTE,
      clearedByRecordId: randomUUID(),
      value: 27,
    }),
  ).toBe('cleared');
  await alerts.quarantine({
    position: {
      shardId: 'shardId-000000000000',
      sequenceNumber: '49650000000000000000000000000000000000000000000000000001',
      subSequenceNumber: 0,
    },
    partitionKey: device,
    arrivedAt: lastMinute,
    reasonCode: 'RECORD_INVALID',
    reason: 'payload.value: expected number',
    data: new TextEncoder().encode('{"bad":true}'),
  });

  health = () => baseHealth;
  server = await startDashboardServer({
    clients: local.cloud.clients,
    stack: local.cloud.stack,
    health: () => health(),
    onError: () => undefined,
  });
  lambda = createDashboardHandler({
    dynamodb: local.cloud.clients.dynamodb(),
    alertsTable,
    aggregatesTable,
    health: () => health(),
    logger: new Logger({ serviceName: 'dashboard', logLevel: 'SILENT' }),
  });
});

afterAll(async () => {
  await server?.stop();
});

async function get<T = Record<string, unknown>>(
  path: string,
  query: Record<string, string | number> = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const url = new URL(path, server.url);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}

async function invoke(path: string, query: Record<string, string> = {}, method: 'GET' | 'POST' = 'GET') {
  const context = testContext('dashboard', {
    region: local.cloud.region,
    timeoutMs: 10_000,
    requestId: randomUUID(),
  });
  return lambda(functionUrlEvent(method, path, query), context);
}

describe('read API over the local server', () => {
  it('lists its routes', async () => {
    const { status, body } = await get<{ routes: { path: string }[] }>('/api');
    expect(status).toBe(200);
    expect(body.routes.map((r) => r.path)).toContain('/api/series');
  });

  it('reads a series over a time range, oldest first', async () => {
    const { status, body, headers } = await get<SeriesPage>('/api/series', {
      entity: deviceSeries,
      window: '1m',
      from: lastMinute - 9 * MINUTE,
      to: new Date(lastMinute).toISOString(),
    });
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/application\/json/);
    expect(body.points).toHaveLength(10);
    expect(body.points.map((p) => p.windowStart)).toEqual(
      Array.from({ length: 10 }, (_, i) => lastMinute - (9 - i) * MINUTE),
    );
    const expected = aggregateItem({
      entity: deviceSeries,
      windowSize: '1m',
      windowMs: MINUTE,
      windowStart: lastMinute,
      values: temperature(WINDOWS_1M - 1),
    });
    expect(body.points.at(-1)).toEqual({
      windowStart: lastMinute,
      windowEnd: lastMinute + MINUTE,
      count: expected.count,
      sum: expected.sum,
      min: expected.min,
      max: expected.max,
      mean: expected.mean,
      p95: expected.p95,
      p99: expected.p99,
      revision: 0,
      unit: 'Cel',
    });
    expect(body.unit).toBe('Cel');
    expect(body.nextCursor).toBeNull();
  });

  it('reads the latest N windows newest first, and numbers beyond 2^53', async () => {
    const latest = await get<SeriesPage>('/api/series', {
      entity: deviceSeries,
      window: '1m',
      order: 'desc',
      limit: 3,
    });
    expect(latest.body.points.map((p) => p.windowStart)).toEqual([
      lastMinute,
      lastMinute - MINUTE,
      lastMinute - 2 * MINUTE,
    ]);
    expect(latest.body.nextCursor).toEqual(expect.any(String));
    const huge = await get<SeriesPage>('/api/series', { entity: merchantSeries, window: '1m' });
    expect(huge.status).toBe(200);
    expect(huge.body.points[0]?.max).toBe(1.5e120);
  });

  it('pages through a series with opaque cursors: every window once, in order', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: Record<string, string | number> = { entity: deviceSeries, window: '1m', limit: 7 };
      if (cursor !== null) query.cursor = cursor;
      const { status, body } = await get<SeriesPage>('/api/series', query);
      expect(status).toBe(200);
      expect(body.points.length).toBeLessThanOrEqual(7);
      seen.push(...body.points.map((p) => p.windowStart));
      cursor = body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    expect(seen).toHaveLength(WINDOWS_1M);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(new Set(seen).size).toBe(WINDOWS_1M);
  });

  it('rejects a cursor from another query, bad parameters and unknown routes with JSON errors', async () => {
    const first = await get<SeriesPage>('/api/series', { entity: deviceSeries, window: '1m', limit: 2 });
    const cursor = first.body.nextCursor as string;
    const other = await get('/api/series', { entity: cardSeries, window: '1m', cursor });
    expect(other.status).toBe(400);
    expect(other.body).toEqual({
      error: expect.objectContaining({ code: 'DASHBOARD_INVALID_CURSOR', field: 'cursor' }),
    });

    const bad = await get('/api/series', { entity: deviceSeries, window: 'weekly' });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: expect.objectContaining({
        code: 'DASHBOARD_INVALID_REQUEST',
        field: 'window',
        retryable: false,
      }),
    });
    // A well-formed size the job does not write: 400 naming the sizes it does (was an empty 200).
    const tenMinutes = await get('/api/series', { entity: deviceSeries, window: '10m' });
    expect(tenMinutes.status).toBe(400);
    expect(tenMinutes.body).toEqual({
      error: expect.objectContaining({ field: 'window', message: 'window: must be one of 1m, 5m (got 10m)' }),
    });
    expect((await get('/api/series', { window: '1m' })).body).toEqual({
      error: expect.objectContaining({ field: 'entity' }),
    });
    expect((await get('/api/series', { entity: deviceSeries, window: '1m', from: 10, to: 5 })).body).toEqual({
      error: expect.objectContaining({ field: 'to' }),
    });
    expect((await get('/api/alerts/open', { limt: 5 })).body).toEqual({
      error: expect.objectContaining({ field: 'limt' }),
    });

    const missing = await get('/api/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: expect.objectContaining({ code: 'DASHBOARD_ROUTE_NOT_FOUND' }) });
    const post = await fetch(new URL('/api/alerts/open', server.url), { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('caps limits instead of failing', async () => {
    const { status, body } = await get<SeriesPage>('/api/series', {
      entity: deviceSeries,
      window: '1m',
      limit: 1_000_000,
    });
    expect(status).toBe(200);
    expect(body.points).toHaveLength(WINDOWS_1M);
  });

  it('lists the series seen, with their window sizes, and never late items', async () => {
    const { body } = await get<EntitiesPage>('/api/entities');
    const mine = body.entities.filter((e) => e.entity.includes(tag));
    expect(mine).toMatchObject([
      { entity: cardSeries, kind: 'card', windows: ['1m'] },
      // Sorted by entity: device#gw-… before device#sensor-….
      { entity: logSeries, kind: 'device', windows: ['1m'], records: { '1m': 9 }, unit: '{line}' },
      { entity: deviceSeries, kind: 'device', windows: ['1m', '5m'] },
      { entity: merchantSeries, kind: 'merchant', windows: ['1m'] },
    ]);
    // Activity and the newest window come with the list (the picker sorts by them; the fleet shows them).
    const device = mine.find((e) => e.entity === deviceSeries);
    expect(device?.points['1m']).toBe(WINDOWS_1M);
    expect(device?.latest?.window).toBe('1m');
    expect(body.entities.some((e) => e.entity.startsWith('late#'))).toBe(false);
    expect(body.nextCursor).toBeNull();

    const cards = await get<EntitiesPage>('/api/entities', { kind: 'card' });
    expect(cards.body.entities.every((e) => e.kind === 'card')).toBe(true);
    expect(cards.body.entities.map((e) => e.entity)).toContain(cardSeries);

    // One series per page: following the cursor reaches every series.
    const all = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: EntitiesPage } = await get<EntitiesPage>(
        '/api/entities',
        cursor === null ? { limit: 1 } : { limit: 1, cursor },
      );
      expect(page.body.entities.length).toBeLessThanOrEqual(1);
      for (const e of page.body.entities) all.add(e.entity);
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 50);
    expect([...all].filter((e) => e.includes(tag)).sort()).toEqual(
      [cardSeries, deviceSeries, logSeries, merchantSeries].sort(),
    );
  });

  it('lists open alerts newest first with their reasons; cleared alerts are not listed', async () => {
    const { status, body } = await get<{ alerts: AlertView[]; nextCursor: string | null }>(
      '/api/alerts/open',
    );
    expect(status).toBe(200);
    const mine = body.alerts.filter((a) => a.entityId.includes(tag));
    expect(mine.map((a) => a.alertId)).toEqual([travel.alertId, hot.alertId]);
    expect(mine[1]).toEqual({
      alertId: hot.alertId,
      ruleId: 'temperature-high',
      ruleType: 'threshold',
      severity: 'warning',
      entityId: `device:${device}`,
      raisedAt: new Date(hot.raisedAt).toISOString(),
      status: 'OPEN',
      reason: hot.message,
      details: hot.details,
      triggerRecordIds: hot.triggerRecordIds,
    });

    const first = await get<{ alerts: AlertView[]; nextCursor: string }>('/api/alerts/open', { limit: 1 });
    expect(first.body.alerts).toHaveLength(1);
    const second = await get<{ alerts: AlertView[] }>('/api/alerts/open', {
      limit: 1,
      cursor: first.body.nextCursor,
    });
    expect(second.body.alerts[0]?.alertId).not.toBe(first.body.alerts[0]?.alertId);

    const recent = await get<{ alerts: AlertView[] }>('/api/alerts/open', {
      since: new Date(lastMinute - 2 * MINUTE).toISOString(),
    });
    expect(recent.body.alerts.filter((a) => a.entityId.includes(tag)).map((a) => a.alertId)).toEqual([
      travel.alertId,
    ]);
  });

  it("lists an entity's alerts, cleared ones included, and one alert in detail", async () => {
    const { body } = await get<{ alerts: AlertView[] }>('/api/alerts', { entity: `device:${device}` });
    expect(body.alerts.map((a) => [a.alertId, a.status])).toEqual([
      [hot.alertId, 'OPEN'],
      [cleared.alertId, 'CLEARED'],
    ]);
    expect(body.alerts[1]).toMatchObject({
      clearValue: 27,
      clearedAt: new Date(lastMinute - 15 * MINUTE).toISOString(),
    });
    // The history across entities: open and cleared, newest first, quarantined records not listed.
    const recent = await get<{ alerts: AlertView[] }>('/api/alerts/recent');
    expect(recent.body.alerts.map((a) => [a.alertId, a.status])).toEqual([
      [travel.alertId, 'OPEN'],
      [hot.alertId, 'OPEN'],
      [cleared.alertId, 'CLEARED'],
    ]);
    const quarantine = await get<{ alerts: AlertView[] }>('/api/alerts', { entity: 'quarantine:x' });
    expect(quarantine.status).toBe(200);

    const detail = await get<AlertView>(`/api/alerts/${travel.alertId}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ reason: travel.message, details: travel.details, status: 'OPEN' });
    const unknown = await get(`/api/alerts/${'0'.repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({
      error: expect.objectContaining({ code: 'DASHBOARD_NOT_FOUND', field: 'alertId' }),
    });
    const invalid = await get('/api/alerts/not%20an%20id');
    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual({ error: expect.objectContaining({ field: 'alertId' }) });
  });

  it('serves the provider health with a derived status, and a 500 for a broken provider', async () => {
    const { status, body } = await get<PipelineHealth>('/api/health');
    expect(status).toBe(200);
    expect(body).toMatchObject({ ...baseHealth, status: 'ok', generatedAt: expect.any(Number) });

    health = () => ({ ...baseHealth, consumers: [{ name: 'alerts', iteratorAgeMs: 120_000 }] });
    expect((await get<PipelineHealth>('/api/health')).body.status).toBe('degraded');
    health = () => ({ exports: [{ lagMs: -5 }] });
    const invalid = await get('/api/health');
    expect(invalid.status).toBe(500);
    expect(invalid.body).toEqual({
      error: expect.objectContaining({
        code: 'DASHBOARD_HEALTH_UNAVAILABLE',
        message: expect.stringContaining('exports[0].lagMs'),
      }),
    });
    health = () => {
      throw new Error('agent unreachable');
    };
    expect((await get('/api/health')).status).toBe(500);
    health = () => baseHealth;
  });

  it('serves the page and the charting library from node_modules, on its own host name only', async () => {
    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    const lib = await fetch(new URL('/vendor/uPlot.esm.js', server.url));
    expect(lib.status).toBe(200);
    expect(await lib.text()).toContain('export');
    const { request } = await import('node:http');
    const status = await new Promise<number>((done, fail) => {
      request(server.url, { headers: { host: 'evil.example:80' } }, (res) => {
        res.resume();
        done(res.statusCode ?? 0);
      })
        .on('error', fail)
        .end();
    });
    expect(status).toBe(403);
  });
});

describe('the same API as a Lambda function URL (IAM auth)', () => {
  it('answers like the local server', async () => {
    for (const [path, query] of [
      ['/api/series', { entity: deviceSeries, window: '5m' }],
      ['/api/alerts/open', { limit: '50' }],
      [`/api/alerts/${hot.alertId}`, {}],
      ['/api/series', { entity: deviceSeries, window: 'bad' }],
      ['/api/missing', {}],
    ] as const) {
      const local = await get(path, query);
      const result = await invoke(path, query);
      expect(result.statusCode).toBe(local.status);
      expect(JSON.parse(result.body ?? '')).toEqual(local.body);
      expect(result.headers?.['content-type']).toMatch(/application\/json/);
    }
    expect((await invoke('/api/alerts/open', {}, 'POST')).statusCode).toBe(405);
  });
});

describe('the page in headless Chromium', () => {
  it('renders the series, the open alerts with reasons and the health, then shows a new alert live', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      await page.goto(`${server.url}?refresh=1000#entity=${encodeURIComponent(deviceSeries)}&window=1m`);

      // Chart: uPlot drew the selected series with every window.
      const chartPoints = () => page.locator('#chart').getAttribute('data-points');
      const statusPill = () => page.locator('#status').textContent();
      await expect.poll(chartPoints, LIVE).toBe(String(WINDOWS_1M));
      expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);
      expect(await page.locator('#chart').getAttribute('data-series')).toBe(`${deviceSeries}|1m`);
      expect(await page.locator('#entity').inputValue()).toBe(deviceSeries);
      expect(await page.locator('#series-summary').textContent()).toContain(`${WINDOWS_1M} windows`);
      // The whole series list was read (one page here): no truncation notice.
      expect(await page.locator('#entities-notice').count()).toBe(1);
      expect(await page.locator('#entities-notice').isHidden()).toBe(true);

      // Alerts table: the injected alerts with their reasons.
      const hotRow = page.locator(`#alerts tr[data-alert-id="${hot.alertId}"]`);
      await hotRow.waitFor({ timeout: 20_000 });
      expect(await hotRow.textContent()).toContain(hot.message);
      expect(await page.locator(`#alerts tr[data-alert-id="${travel.alertId}"]`).textContent()).toContain(
        travel.message,
      );
      expect(await page.locator(`#alerts tr[data-alert-id="${cleared.alertId}"]`).count()).toBe(0);
      // Details are rows, not a JSON dump; the entity is a link that shows its series.
      // Readings in the unit the chart uses, not the UCUM code.
      const hotDetails = (await hotRow.locator('dl.details').textContent()) ?? '';
      expect(hotDetails).toContain('value34 °C');
      expect(hotDetails).toContain('raise30 °C');
      expect(hotDetails).not.toContain('Cel');
      expect(await page.locator('#alerts').textContent()).not.toMatch(/[[{]"/);

      // Units: the axis title and the values carry the telemetry unit.
      await expect.poll(() => page.locator('#chart').getAttribute('data-unit'), LIVE).toBe('°C');
      expect(await page.locator('#series-unit').textContent()).toBe('temperature (°C)');
      expect(await page.locator('#series-summary').textContent()).toMatch(/mean [0-9.]+ °C/);
      // The legend shows the newest window's values with their unit before any hover.
      const newest = temperature(WINDOWS_1M - 1);
      const legend = await page.locator('.u-legend').textContent();
      expect(legend).toContain(`min${twoDigits.format(Math.min(...newest))} °C`);
      expect(legend).toContain(`max${twoDigits.format(Math.max(...newest))} °C`);

      // History: the cleared alert with its raise and clear times and how long it was open.
      const clearedRow = page.locator(`#alert-history tr[data-alert-id="${cleared.alertId}"]`);
      await clearedRow.waitFor({ timeout: 20_000 });
      expect(await clearedRow.getAttribute('data-status')).toBe('CLEARED');
      expect(await clearedRow.textContent()).toContain('5 min 0 s');
      expect(await page.locator(`#alert-history tr[data-alert-id="${hot.alertId}"]`).textContent()).toContain(
        'so far',
      );

      // Fleet: the device with its latest value and its open alert.
      const fleetRow = page.locator(`#fleet tr[data-device="${device}"]`);
      expect(await fleetRow.getAttribute('data-state')).toBe('alert');
      expect(await fleetRow.textContent()).toMatch(/temperature [0-9.]+ °C/);

      // An alert's entity link switches the chart; card amounts are converted from minor units.
      await page.locator(`#alerts tr[data-alert-id="${travel.alertId}"] a.entity-id`).click();
      await expect
        .poll(() => page.locator('#chart').getAttribute('data-series'), LIVE)
        .toBe(`${cardSeries}|1m`);
      expect(await page.locator('#series-unit').textContent()).toBe('amount per transaction (EUR)');
      expect(await page.locator('#series-summary').textContent()).toContain('12.99 EUR');
      // The legend too: the newest window's 1299 and 2500 minor units, converted once.
      await expect.poll(() => page.locator('.u-legend').textContent(), LIVE).toContain('min12.99 EUR');
      expect(await page.locator('.u-legend').textContent()).toContain('max25.00 EUR');
      await page.locator('#entity-search').fill(device);
      expect(await page.locator('#entity optgroup').first().getAttribute('label')).toBe(
        'Devices / metrics (1)',
      );
      await page.locator('#entity').selectOption(deviceSeries);
      await expect
        .poll(() => page.locator('#chart').getAttribute('data-series'), LIVE)
        .toBe(`${deviceSeries}|1m`);

      // Health: status pill, export lag and consumers.
      await expect.poll(statusPill, LIVE).toBe('ok');
      expect(await page.locator('#health-exports tbody').textContent()).toContain(device);
      expect(await page.locator('#health-consumers tbody').textContent()).toContain('alerts (lambda-esm)');
      expect(await page.locator('#health-tiles').textContent()).toContain('Worst export lag');

      // Live: a new alert and a new window appear on the next refreshes, without reloading.
      const burst = raised(
        'velocity',
        'velocity',
        `card:tok_${tag}`,
        Date.now(),
        'card used 7 times in 60 s (max 5)',
        { count: 7, windowSeconds: 60, maxTransactions: 5 },
      );
      expect(await alerts.raise(burst)).toBe('created');
      await putItems(aggregatesTable, [
        aggregateItem({
          entity: deviceSeries,
          windowSize: '1m',
          windowMs: MINUTE,
          windowStart: lastMinute + MINUTE,
          values: [25, 26],
        }),
      ]);
      health = () => ({
        ...baseHealth,
        consumers: [
          {
            name: 'alerts',
            kind: 'lambda-esm',
            iteratorAgeMs: 95_000,
            errors: 1,
            lastError: { code: 'ThrottlingException', message: 'Rate exceeded', at: Date.now() },
          },
        ],
      });
      const burstRow = page.locator(`#alerts tr[data-alert-id="${burst.alertId}"]`);
      await burstRow.waitFor({ timeout: 20_000 });
      expect(await burstRow.textContent()).toContain('card used 7 times in 60 s');
      await expect.poll(chartPoints, LIVE).toBe(String(WINDOWS_1M + 1));

      // A log line series charts the lines per window (its count), not a mean that is always 1.
      await page.locator('#entity-search').fill(`gw-${tag}`);
      await page.locator('#entity').selectOption(logSeries);
      await expect
        .poll(() => page.locator('#chart').getAttribute('data-series'), LIVE)
        .toBe(`${logSeries}|1m`);
      expect(await page.locator('#series-unit').textContent()).toBe('log.error (lines per window)');
      expect(await page.locator('#series-summary').textContent()).toContain(': 5 lines');
      expect(await page.locator('.u-legend').textContent()).toContain('5 lines');
      await page.locator('#entity-search').fill('');
      await expect.poll(statusPill, LIVE).toBe('degraded');
      expect(await page.locator('#health-consumers tbody').textContent()).toContain('ThrottlingException');
      expect(await page.locator('#banner').isHidden()).toBe(true);
      health = () => baseHealth;

      // A log error-rate alert, raised and then cleared by the rule core itself: its details read as
      // rows while open (the window as a duration, the last line's source and message), and the
      // history shows it cleared.
      const gatewayLog = errorRateAlert(`gateway-${tag}`, Date.now() - 2 * MINUTE);
      expect(await alerts.raise(gatewayLog.raised)).toBe('created');
      const logRow = page.locator(`#alerts tr[data-alert-id="${gatewayLog.raised.alertId}"]`);
      await logRow.waitFor({ timeout: 20_000 });
      const logDetails = await logRow.locator('dl.details').textContent();
      expect(logDetails).toContain('window5 min 0 s');
      expect(logDetails).toContain('last sourcediskmon');
      expect(logDetails).toContain('last messagewrite failed on /dev/sda1');
      expect(logDetails).toContain(`record ids${gatewayLog.raised.details.count} · …`);
      expect(await logRow.textContent()).toContain(gatewayLog.raised.message);
      expect(await alerts.clear(gatewayLog.cleared)).toBe('cleared');
      const logHistory = page.locator(`#alert-history tr[data-alert-id="${gatewayLog.raised.alertId}"]`);
      await expect.poll(() => logHistory.getAttribute('data-status'), LIVE).toBe('CLEARED');
      expect(await logHistory.textContent()).toContain(gatewayLog.raised.message);
      await logRow.waitFor({ state: 'detached', timeout: 20_000 });

      await mkdir(resolve(ARTIFACT, '..'), { recursive: true });
      await page.screenshot({ path: ARTIFACT, fullPage: true });
      expect((await stat(ARTIFACT)).size).toBeGreaterThan(10_000);
      console.log(`dashboard screenshot: ${ARTIFACT}`);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
