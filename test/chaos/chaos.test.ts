/**
 * The short version of `npm run chaos` (scripts/chaos.ts): the same scenarios against the device
 * bundle and its launch line, fewer kills and shorter faults. The full suite's table is in README's
 * "Reliability" section.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDeviceBundle,
  ChaosKinesis,
  type LaunchLine,
  RSS_LIMIT_BYTES,
  readLaunchLine,
} from './harness.ts';
import { runHostile } from './hostile.ts';
import { killLoop } from './kill-loop.ts';
import { outage, throttleStorm } from './outage.ts';

/**
 * Hostile cases the agent on main handles today within the RSS limit; the rest are in
 * `npm run chaos`, which reports them. Stalled requests take up to a minute each and stay out of the
 * short run.
 */
const SHORT_CASES = new Set([
  'nested objects, 100k deep',
  'number literal of 1M digits',
  'partition key with a lone surrogate',
  'partition key of 200 emoji',
  'raw card number as card_token',
  'raw card number in another field (merchant_category)',
  'raw card number under an unknown key',
  'NDJSON, one 10 MB line',
  'number literal past the double range (1e400)',
  '__proto__ key and duplicate keys',
  'partition key of 128 emoji (256 UTF-16 units)',
  'no token',
  'wrong token',
  'token as a prefix of the right one',
  'Host: localhost (allowed)',
  'path traversal in the stream name',
  'empty body',
  'unknown stream',
  'header of 100 KB',
  'Content-Length and Transfer-Encoding together (smuggling)',
]);

let dir: string;
let kinesis: ChaosKinesis;
let bundle: string;
let launch: LaunchLine;
const log = () => {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tributary-chaos-test-'));
  bundle = buildDeviceBundle(join(dir, 'bundle'));
  launch = await readLaunchLine();
  kinesis = await ChaosKinesis.start();
});

afterAll(async () => {
  await kinesis?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

// The scenarios use separate agents, stores and Kinesis streams: they run side by side.
describe.concurrent('chaos, short run against the device bundle', () => {
  it('reads the launch line from device/README.md', () => {
    expect(launch.nodeFlags).toContain('--max-old-space-size=48');
    expect(launch.env.MALLOC_ARENA_MAX).toBe('2');
  });

  it('SIGKILL loop: no acknowledged record lost, no crash', async () => {
    const result = await killLoop({
      bundle,
      launch,
      kinesis,
      dir,
      log,
      kills: 5,
      minLifeMillis: 200,
      maxLifeMillis: 500,
    });
    expect(result.crashes, result.findings.join('\n')).toBe(0);
    expect(result.acked).toBeGreaterThan(0);
    expect(result.lost).toBe(0);
  });

  it('hostile input: the expected answers, the agent stays up and small', async () => {
    const { result, cases } = await runHostile({
      bundle,
      launch,
      kinesis,
      dir,
      log,
      only: (name) => SHORT_CASES.has(name),
    });
    expect(cases.map((c) => c.name).sort()).toEqual([...SHORT_CASES].sort());
    expect(cases.filter((c) => c.failure !== undefined)).toEqual([]);
    expect(result.crashes, result.findings.join('\n')).toBe(0);
    expect(result.peakRssBytes).toBeLessThanOrEqual(RSS_LIMIT_BYTES);
    expect(result.findings).toEqual([]);
  });

  it('Kinesis outage and throttling storm: nothing lost, each key in order', async () => {
    for (const scenario of [outage, throttleStorm]) {
      const result = await scenario({
        bundle,
        launch,
        kinesis,
        dir,
        log,
        faultMillis: 2_000,
        calmMillis: 1_000,
      });
      expect(result.findings, result.scenario).toEqual([]);
      expect(result.lost).toBe(0);
      expect(result.crashes).toBe(0);
    }
  });
});
