import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud.ts';
import { openLake, syncLake } from '../../local/delivery/lake-query.ts';
import { parseFleetOptions } from '../../local/fleet/index.ts';
import { type RunningPipeline, startPipeline } from '../../local/pipeline.ts';
import type { TelemetryRecord, TributaryRecord } from '../../shared/contract/index.ts';
import { launchChromium } from '../helpers/dashboard.ts';

/**
 * The whole local pipeline, end to end: a seeded fleet publishes through a real device agent for a
 * bounded (simulated) time; afterwards every published record is in the lake, each injected anomaly
 * raised exactly one alert, and the Flink job's closed 1-minute windows match the records.
 */

const TIME_SCALE = 16;
const OUT_OF_ORDERNESS_MS = 30_000;
const WINDOW_MS = 60_000;

let work: string;
let cloud: LocalCloud;
let pipeline: RunningPipeline;
const published: TributaryRecord[] = [];

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
  work = await mkdtemp(join(tmpdir(), 'tributary-pipeline-'));
  cloud = await startLocalCloud({ dataDir: join(work, 'cloud') });
  pipeline = await startPipeline({
    cloud,
    fleet: parseFleetOptions({
      seed: 42,
      sensors: 12,
      terminals: 10,
      transactionsPerTerminalPerMinute: 12,
      anomalyIntervalMs: 40_000,
      firstAnomalyAfterMs: 20_000,
      durationMs: 8 * 60_000,
      timeScale: TIME_SCALE,
    }),
    analyticsWindows: { 'out.of.orderness.ms': String(OUT_OF_ORDERNESS_MS) },
    lakeIntervalMs: 2_000,
    dashboardPort: 0,
    onPublished: (batch) => published.push(...batch.records),
    log: process.env.TRIBUTARY_KEEP_TEST_DATA === undefined ? () => {} : (m) => console.error(m),
  });
}, 180_000);

afterAll(async () => {
  await pipeline?.stop();
  await cloud?.stop();
  if (work !== undefined && process.env.TRIBUTARY_KEEP_TEST_DATA === undefined) {
    await rm(work, { recursive: true, force: true });
  }
}, 60_000);

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
      expect(health.exports?.map((e) => e.backlogRecords)).toEqual([0, 0]);
      expect(health.totals?.recordsExported).toBe(published.length);
    });
  }, 120_000);

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
    const dir = join(work, 'lake');
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
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
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
      const artifact = resolve('.tributary/artifacts/pipeline-dashboard.png');
      await page.screenshot({ path: artifact, fullPage: true });
      console.log(`dashboard screenshot of the end-to-end run: ${artifact}`);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
