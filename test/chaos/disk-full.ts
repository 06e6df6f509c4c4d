/**
 * A full disk: the agent's store on a small tmpfs (needs root to mount; skipped otherwise), a stream
 * whose maxSize exceeds the free space, Kinesis down while the clients fill it. Then:
 *  - appends on the full disk are refused with STORAGE_FULL (not a "busy" code);
 *  - once Kinesis is back, exported segments are reclaimed and appends are accepted again;
 *  - a clean stop on a full disk, then a restart, sends nothing twice;
 *  - the agent starts on a full disk after a config change (what a user does to recover).
 */
import { spawnSync } from 'node:child_process';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AgentProcess,
  AgentStartError,
  Appender,
  type ChaosKinesis,
  type LaunchLine,
  lossFindings,
  prepareScenario,
  type ScenarioResult,
  STREAM,
  sleep,
  statusAnswers,
  streamState,
  tally,
  waitDrained,
  writeAgentConfig,
} from './harness.ts';

export interface DiskFullOptions {
  readonly bundle: string;
  readonly launch: LaunchLine;
  readonly kinesis: ChaosKinesis;
  readonly dir: string;
  readonly log: (line: string) => void;
}

const SCENARIO = 'full disk (16 MiB tmpfs)';
const DISK_BYTES = 16 * 1024 * 1024;
const MiB = 1024 * 1024;
/** How long the agent gets to make room again once Kinesis is back. */
const RECOVERY_MILLIS = 60_000;
/** How long the backlog gets to drain after the recovery. */
const DRAIN_MILLIS = 120_000;
/** The scenario's waits (two drains) and a margin for filling the disk and three agent starts on a loaded machine. */
export const DISK_FULL_BUDGET_MILLIS = RECOVERY_MILLIS + 2 * DRAIN_MILLIS + 60_000;

/** Mounts a tmpfs at `dir`; a reason when that is not possible here. */
function mountTmpfs(dir: string): string | undefined {
  if (process.getuid?.() !== 0)
    return 'not running as root: cannot mount a tmpfs (run npm run chaos as root)';
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', dir], {
    encoding: 'utf8',
  });
  if (mounted.status !== 0)
    return `mount -t tmpfs failed: ${(mounted.stderr || mounted.error?.message || '').trim()}`;
  return undefined;
}

/**
 * Unmounts the scenario's tmpfs under `dir`, lazily (a killed agent may still hold a file there). Also
 * for the test's clean-up: a scenario cut short by its timeout never reaches its own `finally`.
 */
export function unmountDisk(dir: string): void {
  spawnSync('umount', ['-l', join(dir, 'disk-full', 'disk')], { stdio: 'ignore' });
}

/** Fills what is left of the file system holding `file`, one MiB at a time, then byte-sized tails. */
async function fillDisk(file: string): Promise<void> {
  const handle = await open(file, 'w');
  try {
    for (const size of [MiB, 64 * 1024, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x2e);
      for (;;) {
        try {
          await handle.write(chunk);
        } catch {
          break;
        }
      }
    }
  } finally {
    await handle.close().catch(() => {});
  }
}

export async function diskFull(options: DiskFullOptions): Promise<ScenarioResult> {
  const { bundle, launch, kinesis, log } = options;
  const dir = join(options.dir, 'disk-full');
  const disk = join(dir, 'disk');
  await mkdir(disk, { recursive: true });
  const skipped = mountTmpfs(disk);
  if (skipped !== undefined) {
    log(`  skipped: ${skipped}`);
    return { scenario: SCENARIO, crashes: 0, peakRssBytes: 0, outcome: 'skipped', findings: [skipped] };
  }
  const findings: string[] = [];
  let crashes = 0;
  let peak = 0;
  let agent: AgentProcess | undefined;
  const { kinesisStream, tokenFile, token } = await prepareScenario(kinesis, options.dir, 'disk-full', 1);
  const stream = (strategyOnFull: string) => ({
    name: STREAM,
    maxSize: 64 * MiB,
    segmentSize: MiB,
    strategyOnFull,
    export: { kinesisStreamName: kinesisStream },
  });
  const config = (strategyOnFull: string) =>
    writeAgentConfig(dir, {
      storeRoot: join(disk, 'store'),
      port: 0,
      tokenFile,
      kinesisEndpoint: kinesis.endpoint,
      streams: [stream(strategyOnFull)],
    });
  // Port 0 and the agent's reported URL: a fixed port freed by a stop can go to a scenario beside this one.
  let url = '';
  const appender = new Appender(() => url, {
    token,
    stream: STREAM,
    workers: 1,
    keysPerWorker: 4,
    batch: 200,
  });
  const filler = join(disk, 'filler');
  const start = async (what: string): Promise<AgentProcess | undefined> => {
    try {
      const started = await AgentProcess.start(bundle, join(dir, 'agent.json'), launch);
      url = started.url;
      return started;
    } catch (error) {
      if (!(error instanceof AgentStartError)) throw error;
      crashes++;
      findings.push(`${what}: ${error.message}`);
      return undefined;
    }
  };
  const stop = async (what: string) => {
    if (agent === undefined) return;
    peak = Math.max(peak, await agent.peakRss());
    if (agent.unexpectedExit !== undefined) {
      crashes++;
      findings.push(`${what}: agent died (${agent.unexpectedExit}): ${agent.tail(300)}`);
    }
    const code = await agent.stop();
    if (code !== 0 && agent.unexpectedExit === undefined) {
      crashes++;
      findings.push(`${what}: clean stop exited ${code}: ${agent.tail(300)}`);
    }
    agent = undefined;
  };
  try {
    // 1. Kinesis down, clients fill the disk: the refusal must say the storage is full.
    await config('RejectNewData');
    agent = await start('first start');
    if (agent === undefined) throw new Error('the agent did not start on an empty tmpfs');
    await kinesis.down();
    let refusal = '';
    for (let batches = 0; refusal === '' && batches < 2_000; batches++) {
      const before = new Map(appender.statuses);
      await appender.appendBatches(1);
      for (const [label, n] of appender.statuses)
        if (!label.startsWith('2') && before.get(label) !== n) refusal = label;
    }
    log(`  disk filled: ${appender.ledger.acked.size} records acked, then ${refusal || 'no refusal'}`);
    if (!refusal.includes('STORAGE_FULL'))
      findings.push(`full disk answered ${refusal || 'nothing'}, expected STORAGE_FULL`);

    // 2. Kinesis back: exported segments must be reclaimed so appends are accepted again.
    await kinesis.up();
    const acked = appender.ledger.acked.size;
    const deadline = Date.now() + RECOVERY_MILLIS;
    while (appender.ledger.acked.size === acked && Date.now() < deadline) {
      await appender.appendBatches(1);
      if (appender.ledger.acked.size === acked) await sleep(500);
    }
    const state = await streamState(url, token, STREAM);
    if (appender.ledger.acked.size === acked)
      findings.push(
        `appends still refused ${RECOVERY_MILLIS / 1000} s after Kinesis came back (backlog ${state.backlog}, ${[...appender.statuses.keys()].filter((l) => !l.startsWith('2')).join(', ')})`,
      );
    else log(`  appends accepted again after Kinesis came back`);

    // 3. Drained, then the disk filled to the last byte: a clean stop and a restart send nothing twice.
    if (!(await waitDrained(url, token, STREAM, DRAIN_MILLIS)))
      findings.push('backlog not drained after recovery');
    await sleep(1_000);
    await fillDisk(filler);
    await stop('clean stop on a full disk');
    const before = (await kinesis.copies(kinesisStream)).length;
    agent = await start('restart on a full disk');
    if (agent !== undefined) {
      await sleep(3_000);
      await stop('second clean stop on a full disk');
      const after = (await kinesis.copies(kinesisStream)).length;
      if (after !== before)
        findings.push(`${after - before} records sent again after a clean stop on a full disk`);
    }

    // 4. A config change on a full disk (what a user does to recover) must not stop the agent from starting.
    await writeAgentConfig(dir, {
      storeRoot: join(disk, 'store'),
      port: 0,
      tokenFile,
      kinesisEndpoint: kinesis.endpoint,
      streams: [{ ...stream('OverwriteOldestData'), timeToLiveMillis: 3_600_000 }],
    });
    agent = await start('start on a full disk after a config change');
    if (agent !== undefined && !(await statusAnswers(url, token)))
      findings.push('after a config change on a full disk: status does not answer');
    // Space again: whatever is still in the log must reach Kinesis, or it counts as lost.
    await rm(filler, { force: true });
    agent ??= await start('start once the disk has room again');
    if (agent !== undefined && !(await waitDrained(url, token, STREAM, DRAIN_MILLIS)))
      findings.push('backlog not drained at the end, with room on the disk');
    await stop('final stop');
  } finally {
    if (agent !== undefined) await agent.stop();
    await kinesis.up();
    unmountDisk(options.dir);
  }
  const counted = tally(appender.ledger, await kinesis.copies(kinesisStream));
  findings.push(...lossFindings(counted));
  if (counted.duplicated > 0) findings.push(`${counted.duplicated} records sent twice (there was no crash)`);
  return {
    scenario: SCENARIO,
    acked: counted.acked,
    lost: counted.lost,
    duplicated: counted.duplicated,
    crashes,
    peakRssBytes: peak,
    outcome: findings.length === 0 ? 'pass' : 'FAIL',
    findings,
  };
}
