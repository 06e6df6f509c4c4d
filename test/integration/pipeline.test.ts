import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud.ts';
import { formatDuration } from '../../local/dashboard/public/view.js';
import { openLake, syncLake } from '../../local/delivery/lake-query.ts';
import { FLEET_STREAMS } from '../../local/fleet/agent.ts';
import { parseFleetOptions } from '../../local/fleet/index.ts';
import { type RunningPipeline, startPipeline } from '../../local/pipeline.ts';
import type { TelemetryRecord, TributaryRecord } from '../../shared/contract/index.ts';
import { type HeadlessChromium, launchChromium } from '../helpers/dashboard.ts';
import { keepTestData, useTempDir } from '../helpers/temp-dir.ts';

/**
 * The whole local pipeline, end to end: a seeded fleet publishes through a real device agent for a
 * bounded (simulated) time; while it runs, the dashboard is looked at after one and three minutes of
 * pipeline time, as a user of `npm start` would; afterwards every published record is in the lake,
 * each injected anomaly raised exactly one alert, and the Flink job's closed 1-minute windows match
 * the records.
 */

/** Five pipeline minutes per wall-clock minute: minute 1 is 12 s in, minute 3 is 36 s in. */
const TIME_SCALE = 5;
const OUT_OF_ORDERNESS_MS = 30_000;
const WINDOW_MS = 60_000;

/** Kept with the pipeline's log when TRIBUTARY_KEEP_TEST_DATA is set. */
const work = useTempDir('tributary-pipeline-', { keep: keepTestData });
let cloud: LocalCloud;
let pipeline: RunningPipeline;
let browser: HeadlessChromium | undefined;
const published: TributaryRecord[] = [];
/**
 * 50 s into a minute: the first 1-minute window (10 s of records) closes at 40 s of pipeline time
 * (its end plus the 30 s out-of-orderness), so minute 1 has a real window to show.
 */
const START_TIME = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS + 50_000;

/** Retries an assertion every 500 ms until it holds (vi.waitFor), for the pipeline's eventual results. */
const eventually = (timeout: number, assertion: () => Promise<void>) =>
  vi.waitFor(assertion, { timeout, interval: 500 });

async function scanAll(table: string): Promise<Record<string, unknown>[]> {
  const documents = cloud.clients.documents();
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(
      new ScanCommand({ TableName: table, ...(start === undefined ? {} : { ExclusiveStartKey: start }) }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return items;
}

beforeAll(async () => {
  cloud = await startLocalCloud({ dataDir: join(work.path, 'cloud') });
  pipeline = await startPipeline({
    cloud,
    fleet: parseFleetOptions({
      seed: 42,
      sensors: 12,
      terminals: 10,
      transactionsPerTerminalPerMinute: 12,
      anomalyIntervalMs: 40_000,
      // Overheating first: hot from 5 s, raised about a minute later, cleared before minute 3.
      firstAnomalyAfterMs: 5_000,
      durationMs: 8 * 60_000,
      // Without the gateways' syslog: with it, some merchants' first transactions came too late for
      // their 1-minute windows at start-up (2 of 6 runs), so the minute-1 dashboard had no 1m series
      // to open on. test/integration/reshard.test.ts carries the syslog end to end instead.
      syslog: false,
      startTime: START_TIME,
      timeScale: TIME_SCALE,
    }),
    analyticsWindows: { 'out.of.orderness.ms': String(OUT_OF_ORDERNESS_MS) },
    lakeIntervalMs: 2_000,
    dashboardPort: 0,
    onPublished: (batch) => published.push(...batch.records),
    log: keepTestData ? (m) => console.error(m) : () => {},
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await pipeline?.stop();
  await cloud?.stop();
}, 60_000);

/** Simulated ms the fleet has generated since its start: the pipeline's clock. */
function pipelineTime(): number {
  const scenario = pipeline.fleet?.scenario;
  if (scenario === undefined) throw new Error('no fleet');
  return scenario.now - START_TIME;
}

async function untilPipelineTime(ms: number): Promise<void> {
  while (pipelineTime() < ms) await new Promise((resolve) => setTimeout(resolve, 200));
}

const SHOTS = resolve('.tributary/artifacts');

/** The default view (no address fragment), refreshed every second; page errors collected. */
async function openDashboard(problems: string[]) {
  const url = pipeline.dashboard?.url;
  if (url === undefined) throw new Error('no dashboard');
  browser ??= await launchChromium();
  const page = await browser.context.newPage();
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(`${url}?refresh=1000`);
  return page;
}

type Page = Awaited<ReturnType<typeof openDashboard>>;

/** What any moment must show: a default series drawn with points, its unit on the axis and in the legend. */
async function expectDefaultChart(page: Page): Promise<void> {
  const chart = page.locator('#chart');
  await expect
    .poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 60_000 })
    .toBeGreaterThan(0);
  const series = (await chart.getAttribute('data-series')) ?? '';
  expect(series).toMatch(/^(device|card|merchant)#.+\|(1m|5m)$/);
  // The chart opens on 1m once the series has it: a card or merchant whose first transactions came
  // too late for their 1-minute windows (seen on a loaded 2-core runner) has 5-minute ones only.
  await expect
    .poll(
      async () => {
        const windows = await page.locator('#window option').allTextContents();
        const shown = await page.locator('#window').inputValue();
        return { shown, expected: windows.includes('1m') ? '1m' : windows[0] };
      },
      { timeout: 10_000 },
    )
    .toSatisfy(({ shown, expected }) => shown === expected);
  const unit = (await chart.getAttribute('data-unit')) ?? '';
  expect(unit).not.toBe('');
  expect(unit).not.toBe('unit not recorded');
  // The y axis is titled with the unit (°C, %, EUR ...); the x axis with what its times are.
  expect(await chart.getAttribute('data-axis')).toContain(`(${unit})`);
  expect(await page.locator('#series-unit').textContent()).toContain(`(${unit})`);
  expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);
  expect(await page.locator('#series-summary').textContent()).toMatch(/^[0-9]+ windows? · latest /);
  // The legend shows the newest window's value with its unit before any hover: the mean (or the line
  // count) the summary gives for the latest window. Read together, as a refresh may add a window.
  const suffix = unit === '%' ? '%' : unit.startsWith('minor units') ? '' : ` ${unit}`;
  await expect
    .poll(
      async () => {
        const summary = (await page.locator('#series-summary').textContent()) ?? '';
        const legend = (await page.locator('.u-legend').textContent()) ?? '';
        const mean = /, mean ([^,]+), min /.exec(summary)?.[1];
        const lines = /: ([0-9,]+ lines)$/.exec(summary)?.[1];
        const latest = mean ?? lines;
        return {
          withUnit: latest !== undefined && /[0-9]/.test(latest) && latest.endsWith(suffix),
          inLegend:
            latest !== undefined && legend.includes(`${mean === undefined ? 'lines' : 'mean'}${latest}`),
        };
      },
      { timeout: 10_000 },
    )
    .toEqual({ withUnit: true, inLegend: true });
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SHOTS, { recursive: true });
  const path = join(SHOTS, name);
  await page.screenshot({ path, fullPage: true });
  expect((await stat(path)).size).toBeGreaterThan(10_000);
  console.log(`dashboard at ${(pipelineTime() / 1000).toFixed(0)} s of pipeline time: ${path}`);
}

describe('the dashboard while the pipeline runs (headless Chromium)', () => {
  it('shows a default chart with units after one minute', async () => {
    await untilPipelineTime(60_000);
    const problems: string[] = [];
    const page = await openDashboard(problems);
    await expectDefaultChart(page);
    // The picker lists series grouped by kind, the fleet table its devices with values and units.
    expect(await page.locator('#entity optgroup').count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#fleet tbody tr').count(), { timeout: 30_000 }).toBe(12);
    expect(await page.locator('#fleet tbody').textContent()).toMatch(/temperature [0-9.]+ °C/);
    await screenshot(page, 'pipeline-1min.png');
    expect(problems).toEqual([]);
    await page.close();
  }, 180_000);

  it('lists the cleared overheating alert in the history with its raise and clear times after three minutes', async () => {
    const overheated = pipeline.fleet?.scenario.anomalies.find((a) => a.kind === 'overheating');
    if (overheated === undefined) throw new Error('no overheating anomaly injected');
    await untilPipelineTime(180_000);
    const problems: string[] = [];
    const page = await openDashboard(problems);
    await expectDefaultChart(page);
    const api = new URL('api/alerts', pipeline.dashboard?.url);
    api.searchParams.set('entity', overheated.expectedAlert.entityId);
    type AlertView = {
      alertId: string;
      ruleId: string;
      status: string;
      raisedAt: string;
      clearedAt?: string;
    };
    let alert: AlertView | undefined;
    await expect
      .poll(
        async () => {
          const { alerts } = (await (await fetch(api)).json()) as { alerts: AlertView[] };
          alert = alerts.find((a) => a.ruleId === overheated.expectedAlert.ruleId);
          return alert?.status;
        },
        { timeout: 60_000 },
      )
      .toBe('CLEARED');
    if (alert?.clearedAt === undefined) throw new Error('cleared without a time');
    const row = page.locator(`#alert-history tr[data-alert-id="${alert.alertId}"]`);
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 30_000 }).toBe('CLEARED');
    const cells = row.locator('td');
    expect(await cells.nth(0).getAttribute('title')).toBe(alert.raisedAt);
    expect(await cells.nth(1).getAttribute('title')).toBe(alert.clearedAt);
    expect(await cells.nth(1).textContent()).not.toBe('open');
    const openFor = Date.parse(alert.clearedAt) - Date.parse(alert.raisedAt);
    // Raised after a minute above the threshold, cleared after a minute back below it.
    expect(openFor).toBeGreaterThan(60_000);
    expect(await cells.nth(2).textContent()).toBe(formatDuration(openFor));
    expect(await row.textContent()).toContain(overheated.expectedAlert.ruleId);
    expect(await page.locator(`#alerts tr[data-alert-id="${alert.alertId}"]`).count()).toBe(0);
    await screenshot(page, 'pipeline-3min.png');
    expect(problems).toEqual([]);
    await page.close();
  }, 240_000);
});

describe('the whole pipeline', () => {
  it('publishes the bounded simulation through the agent, which exports all of it', async () => {
    const fleet = pipeline.fleet;
    if (fleet === undefined) throw new Error('no fleet');
    await fleet.publisher.done;
    const stats = fleet.publisher.stats();
    expect(stats.refused).toBe(0);
    expect(stats.published).toBe(stats.generated);
    expect(published.length).toBe(stats.published);
    expect(published.length).toBeGreaterThan(3_000);
    expect(new Set(published.map((r) => r.id)).size).toBe(published.length);
    await eventually(60_000, async () => {
      const health = await pipeline.health();
      // One export per gateway stream (telemetry, transactions, logs), every one drained.
      expect(health.exports?.map((e) => e.backlogRecords)).toEqual(Object.values(FLEET_STREAMS).map(() => 0));
      expect(health.totals?.recordsExported).toBe(published.length);
    });
  }, 180_000);

  it('raises exactly one alert per injected anomaly, and no other', async () => {
    const anomalies = pipeline.fleet?.scenario.anomalies ?? [];
    expect(new Set(anomalies.map((a) => a.kind))).toEqual(
      new Set(['overheating', 'velocity', 'impossible_travel']),
    );
    const expected = anomalies.map((a) => `${a.expectedAlert.ruleId} ${a.expectedAlert.entityId}`).sort();
    const alerts = async () =>
      (await scanAll(pipeline.alertsTable))
        .filter((item) => item.sk === 'ALERT')
        .map((item) => `${String(item.ruleId)} ${String(item.entityId)}`)
        .sort();
    await eventually(60_000, async () => expect(await alerts()).toEqual(expected));
    // Replays and retries must not add any: give the consumers a moment more, then look again.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await alerts()).toEqual(expected);
  }, 90_000);

  it('delivers every published record to the Parquet lake', async () => {
    await eventually(60_000, async () => {
      expect(pipeline.lake.stats().delivered).toBeGreaterThanOrEqual(published.length);
    });
    const dir = join(work.path, 'lake');
    await syncLake(cloud.clients.s3(), pipeline.lake.bucket, dir);
    const lake = await openLake(dir);
    try {
      const { rows } = await lake.query('SELECT id, record_type FROM records');
      const ids = rows.map((row) => String(row.id));
      expect(new Set(ids)).toEqual(new Set(published.map((r) => r.id)));
      expect(ids.length).toBe(published.length);
      expect(lake.errorFiles).toBe(0);
    } finally {
      lake.close();
    }
  }, 90_000);

  it('writes 1-minute aggregates that match the published telemetry', async () => {
    const telemetry = published.filter((r): r is TelemetryRecord => r.type === 'telemetry');
    const expected = new Map<string, { count: number; sum: number; min: number; max: number }>();
    for (const record of telemetry) {
      const start = Math.floor(record.event_time / WINDOW_MS) * WINDOW_MS;
      const key = `device#${record.device_id}#${record.payload.metric}#1m ${start}`;
      const value = record.payload.value;
      const window = expected.get(key) ?? { count: 0, sum: 0, min: value, max: value };
      window.count++;
      window.sum += value;
      window.min = Math.min(window.min, value);
      window.max = Math.max(window.max, value);
      expected.set(key, window);
    }
    // Windows the watermark has certainly passed: they must all be there.
    const lastEvent = Math.max(...published.map((r) => r.event_time));
    const closedBefore = lastEvent - OUT_OF_ORDERNESS_MS - 1;
    const mustExist = [...expected.keys()].filter(
      (key) => Number(key.split(' ')[1]) + WINDOW_MS <= closedBefore,
    );
    expect(mustExist.length).toBeGreaterThan(12 * 2 * 4);
    await eventually(90_000, async () => {
      const items = (await scanAll(pipeline.aggregatesTable)).filter(
        (item) => String(item.pk).startsWith('device#') && item.windowSize === '1m',
      );
      const actual = new Map(items.map((item) => [`${String(item.pk)} ${String(item.sk)}`, item]));
      const missing = mustExist.filter((key) => !actual.has(key));
      expect(missing, `${missing.length} of ${mustExist.length} closed windows missing`).toEqual([]);
      for (const [key, item] of actual) {
        const want = expected.get(key);
        expect(want, `unexpected window ${key}`).toBeDefined();
        if (want === undefined) continue;
        expect(item.count).toBe(want.count);
        expect(item.sum as number).toBeCloseTo(want.sum, 6);
        expect(item.min).toBe(want.min);
        expect(item.max).toBe(want.max);
      }
    });
  }, 120_000);

  it("shows the fleet's anomalies and the Flink series on the dashboard page (headless Chromium)", async () => {
    const url = pipeline.dashboard?.url;
    if (url === undefined) throw new Error('no dashboard');
    const open = (await scanAll(pipeline.alertsTable)).filter(
      (item) => item.sk === 'ALERT' && item.status === 'OPEN',
    );
    expect(open.length).toBeGreaterThan(0);
    const overheated = pipeline.fleet?.scenario.anomalies.find((a) => a.kind === 'overheating');
    const series = `device#${overheated?.deviceId}#temperature`;
    browser ??= await launchChromium();
    const page = await browser.context.newPage();
    try {
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(`${url}?refresh=1000#entity=${encodeURIComponent(series)}&window=1m`);
      await expect
        .poll(async () => Number(await page.locator('#chart').getAttribute('data-points')), {
          timeout: 30_000,
        })
        .toBeGreaterThan(3);
      for (const alert of open) {
        const row = page.locator(`#alerts tr[data-alert-id="${String(alert.alertId)}"]`);
        await row.waitFor({ timeout: 30_000 });
        expect(await row.textContent()).toContain(String(alert.ruleId));
      }
      expect(await page.locator('#health-exports tbody').textContent()).toContain('gateway-01');
      // Drained: the counters agree, both counted from the agent's logs.
      const tile = (label: string) =>
        page.locator('#health-tiles .tile', { hasText: label }).locator('.value').textContent();
      expect(await tile('Records appended')).toBe(await tile('Records exported'));
      expect(Number((await tile('Records appended'))?.replace(/\D/g, ''))).toBe(published.length);
      const artifact = resolve('.tributary/artifacts/pipeline-dashboard.png');
      await page.screenshot({ path: artifact, fullPage: true });
      console.log(`dashboard screenshot of the end-to-end run: ${artifact}`);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  }, 120_000);
});
