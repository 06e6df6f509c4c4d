import { seededRandom } from '../../shared/seeded-random.ts';
import {
  AgentProcess,
  AgentStartError,
  Appender,
  type ChaosKinesis,
  DUPLICATE_LIMIT,
  type LaunchLine,
  lossFindings,
  percent,
  prepareScenario,
  type ScenarioResult,
  STREAM,
  streamState,
  tally,
  waitDrained,
  writeScenarioConfig,
} from './harness.ts';

export interface KillLoopOptions {
  readonly bundle: string;
  readonly launch: LaunchLine;
  readonly kinesis: ChaosKinesis;
  readonly dir: string;
  readonly kills: number;
  /** Each cycle lives this long (uniform) after its API came up, before the SIGKILL. */
  readonly minLifeMillis?: number;
  readonly maxLifeMillis?: number;
  readonly seed?: number;
  readonly log: (line: string) => void;
}

/** Consecutive failed starts after which the loop gives up (a store that no longer opens). */
const MAX_FAILED_STARTS = 3;
const DRAIN_TIMEOUT_MILLIS = 300_000;
/** A bound for the whole loop on a loaded machine (its own waits are bounded; this only stops a hang). */
export function killLoopBudgetMillis(kills: number, maxLifeMillis = 600): number {
  return kills * (maxLifeMillis + 5_000) + DRAIN_TIMEOUT_MILLIS + 60_000;
}

export async function killLoop(options: KillLoopOptions): Promise<ScenarioResult> {
  const { bundle, launch, kinesis, kills, log } = options;
  const scenario = `SIGKILL loop (${kills} kills)`;
  const scenarioAgent = await prepareScenario(kinesis, options.dir, 'kill-loop', 2);
  const { kinesisStream, token } = scenarioAgent;
  const config = await writeScenarioConfig(scenarioAgent, kinesis, 0);
  let url = '';
  const random = seededRandom(options.seed ?? 17);
  const minLife = options.minLifeMillis ?? 150;
  const maxLife = options.maxLifeMillis ?? 600;
  const findings: string[] = [];
  let crashes = 0;
  let peak = 0;
  let failedStarts = 0;
  const appender = new Appender(() => url, {
    token,
    stream: STREAM,
    workers: 3,
    keysPerWorker: 8,
    batch: 25,
  });
  appender.start();
  try {
    for (let cycle = 0; cycle < kills; cycle++) {
      let agent: AgentProcess;
      try {
        agent = await AgentProcess.start(bundle, config, launch);
        url = agent.url;
        failedStarts = 0;
      } catch (error) {
        if (!(error instanceof AgentStartError)) throw error;
        crashes++;
        findings.push(`cycle ${cycle}: ${error.message}`);
        if (++failedStarts >= MAX_FAILED_STARTS) {
          findings.push(`gave up after ${MAX_FAILED_STARTS} failed starts in a row`);
          break;
        }
        continue;
      }
      const life = await agent.liveThenKill(minLife + random() * (maxLife - minLife));
      peak = Math.max(peak, life.peakRss);
      if (life.diedOnItsOwn !== undefined) {
        crashes++;
        findings.push(`cycle ${cycle}: agent died on its own (${life.diedOnItsOwn})`);
      }
      if ((cycle + 1) % 25 === 0)
        log(`  ${cycle + 1}/${kills} kills, ${appender.ledger.acked.size} records acked`);
    }
  } finally {
    await appender.stop();
  }

  // A last clean run drains what the kills left behind; then Kinesis is read back.
  let drained = false;
  try {
    const agent = await AgentProcess.start(bundle, config, launch);
    drained = await waitDrained(agent.url, token, STREAM, DRAIN_TIMEOUT_MILLIS);
    if (!drained) {
      const state = await streamState(agent.url, token, STREAM);
      findings.push(`final run: backlog ${state.backlog} not drained (${state.lastError ?? 'no error'})`);
    }
    peak = Math.max(peak, await agent.peakRss());
    const code = await agent.stop();
    if (code !== 0) {
      crashes++;
      findings.push(`final run: clean stop exited ${code}: ${agent.tail()}`);
    }
  } catch (error) {
    if (!(error instanceof AgentStartError)) throw error;
    crashes++;
    findings.push(`final run: ${error.message}`);
  }
  const counted = tally(appender.ledger, await kinesis.copies(kinesisStream));
  log(
    `  answers: ${[...appender.statuses].map(([label, n]) => `${label} ×${n}`).join(', ')}; most copies of one id: ${counted.mostCopies}`,
  );
  // What a kill costs, independent of how much each life appended: about the records in flight.
  log(`  extra copies per kill: ${(counted.duplicated / Math.max(1, kills)).toFixed(0)}`);
  findings.push(...lossFindings(counted));
  if (counted.duplicated > DUPLICATE_LIMIT * counted.acked)
    findings.push(
      `extra copies ${percent(counted.duplicated, counted.acked)} of acked (target ≤ ${DUPLICATE_LIMIT * 100}%; one id ${counted.mostCopies} times)`,
    );
  if (counted.strangers > 0) findings.push(`${counted.strangers} records in Kinesis the clients never sent`);
  return {
    scenario,
    acked: counted.acked,
    lost: counted.lost,
    duplicated: counted.duplicated,
    crashes,
    peakRssBytes: peak,
    outcome: findings.length === 0 && drained ? 'pass' : 'FAIL',
    findings,
  };
}
