/**
 * The short version of `npm run chaos` (scripts/chaos.ts): the same scenarios against the device
 * bundle and its launch line, fewer kills and shorter faults. The full suite's table is in README's
 * "Reliability" section.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTempDir } from '../helpers/temp-dir.ts';
import { DISK_FULL_BUDGET_MILLIS, diskFull, unmountDisk } from './disk-full.ts';
import {
  buildDeviceBundle,
  ChaosKinesis,
  type LaunchLine,
  ProxyPortTakenError,
  RSS_LIMIT_BYTES,
  readLaunchLine,
} from './harness.ts';
import { HOSTILE_BUDGET_MILLIS, runHostile } from './hostile.ts';
import { killLoop, killLoopBudgetMillis } from './kill-loop.ts';
import { FAULT_SCENARIO_BUDGET_MILLIS, outage, throttleStorm } from './outage.ts';
import { tailRotation, tailRotationBudgetMillis } from './tail-rotation.ts';

// Removed after the file's afterAll has unmounted the disk-full scenario's disk from it.
const tmp = useTempDir('tributary-chaos-test-');
let dir: string;
let kinesis: ChaosKinesis;
let bundle: string;
let launch: LaunchLine;
const log = () => {};

beforeAll(async () => {
  dir = tmp.path;
  bundle = buildDeviceBundle(join(dir, 'bundle'));
  launch = await readLaunchLine();
  kinesis = await ChaosKinesis.start();
});

afterAll(async () => {
  await kinesis?.stop();
  if (dir !== undefined) unmountDisk(dir);
});

// The scenarios use separate agents, stores and Kinesis streams: they run side by side.
describe.concurrent('chaos, short run against the device bundle', () => {
  it('reads the launch line from device/README.md', () => {
    expect(launch.nodeFlags).toContain('--max-old-space-size=48');
    expect(launch.env.MALLOC_ARENA_MAX).toBe('2');
  });

  it(
    'SIGKILL loop: no acknowledged record lost, no crash',
    async () => {
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
    },
    killLoopBudgetMillis(5, 500),
  );

  it(
    'tailing a log rotated by rename and copytruncate under SIGKILLs: every line once, in order',
    async () => {
      const result = await tailRotation({
        bundle,
        launch,
        kinesis,
        dir,
        log,
        kills: 12,
        lines: 12_000,
        rotateEvery: 700,
      });
      expect(result.findings).toEqual([]);
      expect(result.crashes).toBe(0);
      expect(result.lost).toBe(0);
    },
    tailRotationBudgetMillis(12),
  );

  it(
    'hostile input, every case: the expected answers, the agent stays up and small',
    async () => {
      const { result, cases } = await runHostile({
        bundle,
        launch,
        kinesis,
        dir,
        log,
      });
      expect(cases.length).toBeGreaterThanOrEqual(43);
      expect(cases.filter((c) => c.failure !== undefined)).toEqual([]);
      expect(result.crashes, result.findings.join('\n')).toBe(0);
      expect(result.peakRssBytes).toBeLessThanOrEqual(RSS_LIMIT_BYTES);
      expect(result.findings).toEqual([]);
    },
    HOSTILE_BUDGET_MILLIS,
  );

  // Faults go to proxies of their own over the shared emulator: the scenarios beside them keep Kinesis.
  it(
    'Kinesis outage and throttling storm: nothing lost, each key in order',
    async () => {
      const faulty = await kinesis.separateProxy();
      try {
        for (const scenario of [outage, throttleStorm]) {
          const result = await scenario({
            bundle,
            launch,
            kinesis: faulty,
            dir,
            log,
            faultMillis: 2_000,
            calmMillis: 1_000,
          });
          expect(result.findings, result.scenario).toEqual([]);
          expect(result.lost).toBe(0);
          expect(result.crashes).toBe(0);
        }
      } finally {
        await faulty.stop();
      }
    },
    2 * FAULT_SCENARIO_BUDGET_MILLIS,
  );

  it('Kinesis comes back on the port the agents know, even after another process held it a while', async () => {
    const faulty = await kinesis.separateProxy();
    const blocker = createServer();
    try {
      await faulty.down();
      blocker.listen(faulty.port, '127.0.0.1');
      await once(blocker, 'listening');
      const taken = await faulty.up({ windowMillis: 0 }).catch((error: unknown) => error);
      expect(taken).toBeInstanceOf(ProxyPortTakenError);
      expect((taken as Error).message).toContain(`127.0.0.1:${faulty.port}`);
      // The holder lets go after the first refused attempt: up() takes the port on a retry.
      let busy = 0;
      await faulty.up({
        onPortBusy: () => {
          if (busy++ === 0) blocker.close();
        },
      });
      expect(busy).toBeGreaterThan(0);
      await faulty.createStream(`rebind-${process.pid}`, 1);
    } finally {
      blocker.close();
      await faulty.stop();
    }
  });

  // Mounting the tmpfs needs root (CI runs as root).
  it.skipIf(process.getuid?.() !== 0)(
    'full disk: STORAGE_FULL, recovery once exported, nothing sent twice after a clean stop',
    async () => {
      const faulty = await kinesis.separateProxy();
      try {
        const result = await diskFull({ bundle, launch, kinesis: faulty, dir, log });
        expect(result.findings).toEqual([]);
        expect(result.lost).toBe(0);
        expect(result.duplicated).toBe(0);
        expect(result.crashes).toBe(0);
      } finally {
        await faulty.stop();
      }
    },
    // The scenario bounds its own waits and reports them as findings; this only stops a hang.
    DISK_FULL_BUDGET_MILLIS,
  );
});
