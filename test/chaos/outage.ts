import { CONTROL_PATH } from '../../local/kinesis-limits/proxy.ts';
import {
  AgentProcess,
  Appender,
  type ChaosKinesis,
  type LaunchLine,
  lossFindings,
  percent,
  prepareScenario,
  request,
  type ScenarioResult,
  STREAM,
  sleep,
  streamState,
  tally,
  waitDrained,
  writeScenarioConfig,
} from './harness.ts';

export interface FaultOptions {
  readonly bundle: string;
  readonly launch: LaunchLine;
  readonly kinesis: ChaosKinesis;
  readonly dir: string;
  readonly log: (line: string) => void;
  /** How long the fault lasts (default 10 s). */
  readonly faultMillis?: number;
  /** Traffic before and after the fault (default 3 s each). */
  readonly calmMillis?: number;
}

const CALM_MILLIS = 3_000;
const DRAIN_TIMEOUT_MILLIS = 180_000;
/** A bound for one outage or storm scenario on a loaded machine (its waits are bounded; this only stops a hang). */
export const FAULT_SCENARIO_BUDGET_MILLIS = DRAIN_TIMEOUT_MILLIS + 60_000;

interface Fault {
  readonly scenario: string;
  begin(kinesis: ChaosKinesis): Promise<void>;
  end(kinesis: ChaosKinesis): Promise<void>;
}

async function control(kinesis: ChaosKinesis, change: object): Promise<void> {
  const reply = await request(kinesis.endpoint, {
    method: 'POST',
    path: CONTROL_PATH,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(change),
  });
  if (reply.status !== 200) throw new Error(`limits proxy control: ${reply.status} ${reply.text}`);
}

async function underFault(options: FaultOptions, fault: Fault, tag: string): Promise<ScenarioResult> {
  const { bundle, launch, kinesis, log } = options;
  const scenarioAgent = await prepareScenario(kinesis, options.dir, tag, 2);
  const { kinesisStream, token } = scenarioAgent;
  const config = await writeScenarioConfig(scenarioAgent, kinesis);
  const findings: string[] = [];
  let crashes = 0;
  const agent = await AgentProcess.start(bundle, config, launch);
  const appender = new Appender(() => agent.url, {
    token,
    stream: STREAM,
    workers: 3,
    keysPerWorker: 8,
    batch: 25,
  });
  appender.start();
  let faulted = false;
  try {
    await sleep(options.calmMillis ?? CALM_MILLIS);
    await fault.begin(kinesis);
    faulted = true;
    await sleep(options.faultMillis ?? 10_000);
    const during = await streamState(agent.url, token, STREAM);
    log(`  during the fault: backlog ${during.backlog}, ${during.lastError ?? 'no export error'}`);
    await fault.end(kinesis);
    faulted = false;
    await sleep(options.calmMillis ?? CALM_MILLIS);
  } finally {
    await appender.stop();
    if (faulted) await fault.end(kinesis);
  }
  const drained = agent.alive && (await waitDrained(agent.url, token, STREAM, DRAIN_TIMEOUT_MILLIS));
  if (!drained) findings.push(`backlog not drained within ${DRAIN_TIMEOUT_MILLIS / 1000} s after the fault`);
  const peak = await agent.peakRss();
  if (agent.unexpectedExit !== undefined) {
    crashes++;
    findings.push(`agent died (${agent.unexpectedExit}): ${agent.tail(300)}`);
  } else {
    const code = await agent.stop();
    if (code !== 0) {
      crashes++;
      findings.push(`clean stop exited ${code}: ${agent.tail(300)}`);
    }
  }
  const counted = tally(appender.ledger, await kinesis.copies(kinesisStream));
  log(
    `  answers: ${[...appender.statuses].map(([label, n]) => `${label} ×${n}`).join(', ')}; extra copies ${percent(counted.duplicated, counted.acked)}`,
  );
  findings.push(...lossFindings(counted));
  if (counted.acked === 0) findings.push('no record was acknowledged');
  return {
    scenario: fault.scenario,
    acked: counted.acked,
    lost: counted.lost,
    duplicated: counted.duplicated,
    crashes,
    peakRssBytes: peak,
    outcome: findings.length === 0 ? 'pass' : 'FAIL',
    findings,
  };
}

export function outage(options: FaultOptions): Promise<ScenarioResult> {
  const seconds = (options.faultMillis ?? 10_000) / 1000;
  return underFault(
    options,
    {
      scenario: `Kinesis outage (${seconds} s, connections refused)`,
      begin: (kinesis) => kinesis.down(),
      end: (kinesis) => kinesis.up(),
    },
    'outage',
  );
}

export function throttleStorm(options: FaultOptions): Promise<ScenarioResult> {
  const seconds = (options.faultMillis ?? 10_000) / 1000;
  return underFault(
    options,
    {
      scenario: `throttling storm (${seconds} s)`,
      // Most records throttled or failed, some whole requests failing, on top of the per-shard limits.
      begin: (kinesis) =>
        control(kinesis, {
          faults: { throttleFraction: 0.7, internalFailureFraction: 0.1, failRequestFraction: 0.2, seed: 17 },
        }),
      end: (kinesis) => control(kinesis, { faults: {} }),
    },
    'throttle',
  );
}
