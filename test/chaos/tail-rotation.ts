/**
 * Tailing under rotation and SIGKILLs (issue 21): a writer process appends numbered lines to a log and
 * rotates it by rename and by copytruncate, alternately, while the agent tailing it is SIGKILLed at
 * random moments. A last clean run drains it; then Kinesis is read back. Every line written must be
 * there, appended to the agent's log once (one record id per line: the tail checkpoint's promise), in
 * the order written (one partition key, one shard). Extra copies of the same record id are the
 * exporter's at-least-once re-sends of what was in flight at a kill: reported, not failed (the kill
 * loop holds the exporter to its limit); a line appended twice (two ids) fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom } from '../../shared/seeded-random.ts';
import {
  AgentProcess,
  AgentStartError,
  type ChaosKinesis,
  type LaunchLine,
  once,
  percent,
  prepareScenario,
  request,
  type ScenarioResult,
  sleep,
  streamState,
  writeAgentConfig,
} from './harness.ts';

export interface TailRotationOptions {
  readonly bundle: string;
  readonly launch: LaunchLine;
  readonly kinesis: ChaosKinesis;
  readonly dir: string;
  readonly kills: number;
  /** Lines the writer appends in all (200 bytes each). */
  readonly lines: number;
  /** Lines between two rotations. */
  readonly rotateEvery: number;
  readonly minLifeMillis?: number;
  readonly maxLifeMillis?: number;
  readonly seed?: number;
  readonly log: (line: string) => void;
}

const STREAM = 'logs';
const LINE_BYTES = 200;
const DRAIN_TIMEOUT_MILLIS = 120_000;
/**
 * A bound for the whole scenario on a loaded machine: each cycle's start (at most 30 s) and life,
 * the writer, and the final drain. The scenario bounds its own waits; this only stops a hang.
 */
export function tailRotationBudgetMillis(kills: number, maxLifeMillis = 600): number {
  return kills * (maxLifeMillis + 5_000) + DRAIN_TIMEOUT_MILLIS + 60_000;
}
const LINE_NUMBER = /^L(\d{8}) era=(\d+) /;

/** `3-7, 12, 20-21 …`: the first few runs of consecutive numbers, for findings. */
function ranges(numbers: readonly number[], eraOf: (n: number) => string, max = 6): string {
  const sorted = [...numbers].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length && out.length < max; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    const a = sorted[i] as number;
    const b = sorted[j] as number;
    out.push(`${a === b ? a : `${a}-${b}`} (era ${eraOf(a)})`);
    i = j + 1;
  }
  return `${out.join(', ')}${sorted.length > 0 && out.length === max ? ' …' : ''}`;
}

interface TailStatus {
  readonly lines: number;
  readonly lagBytes: number;
  readonly filesFollowed: number;
  readonly lastError?: { code: string; message: string };
}

async function tailStatus(url: string, token: string): Promise<TailStatus | undefined> {
  const reply = await request(url, { path: '/v1/status', headers: { authorization: `Bearer ${token}` } });
  if (reply.status !== 200) return undefined;
  return (JSON.parse(reply.text) as { tail?: TailStatus[] }).tail?.[0];
}

function startWriter(
  dir: string,
  options: TailRotationOptions,
): { child: ChildProcess; done: Promise<string> } {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'tail-writer.ts'),
      JSON.stringify({
        dir,
        lines: options.lines,
        rotateEvery: options.rotateEvery,
        lineBytes: LINE_BYTES,
        seed: options.seed ?? 21,
        pauseMaxMillis: 12,
      }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const done = once(child, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`tail writer exited ${code}`);
    return out.trim();
  });
  return { child, done };
}

export async function tailRotation(options: TailRotationOptions): Promise<ScenarioResult> {
  const { bundle, launch, kinesis, kills, log } = options;
  const scenario = `tail: rotation + SIGKILL (${kills} kills)`;
  const agentDir = await prepareScenario(kinesis, options.dir, 'tail', 1);
  const logs = join(agentDir.dir, 'logs');
  await mkdir(logs, { recursive: true });
  const config = await writeAgentConfig(agentDir.dir, {
    storeRoot: join(agentDir.dir, 'store'),
    port: 0,
    tokenFile: agentDir.tokenFile,
    kinesisEndpoint: kinesis.endpoint,
    streams: [{ name: STREAM, recordTypes: ['log'], export: { kinesisStreamName: agentDir.kinesisStream } }],
    extra: {
      sources: [
        {
          filePattern: join(logs, 'app.log*'),
          stream: STREAM,
          initialPosition: 'START_OF_FILE',
          pollIntervalMillis: 50,
          dataProcessingOptions: [{ optionName: 'ADDMETADATA', fields: ['file', 'offset'] }],
        },
      ],
    },
  });
  const random = seededRandom(options.seed ?? 21);
  const minLife = options.minLifeMillis ?? 150;
  const maxLife = options.maxLifeMillis ?? 600;
  const findings: string[] = [];
  let crashes = 0;
  let peak = 0;

  // Every run's output, rotation decisions included, for when a finding needs explaining (--keep).
  const agentLog = join(agentDir.dir, 'agent.log');
  const writer = startWriter(logs, options);
  let writerDone = false;
  const written = writer.done.then((line) => {
    writerDone = true;
    return line;
  });
  written.catch(() => {});
  try {
    for (let cycle = 0; cycle < kills || !writerDone; cycle++) {
      let agent: AgentProcess;
      try {
        agent = await AgentProcess.start(bundle, config, launch, undefined, agentLog);
      } catch (error) {
        if (!(error instanceof AgentStartError)) throw error;
        crashes++;
        findings.push(`cycle ${cycle}: ${error.message}`);
        break;
      }
      const life = await agent.liveThenKill(minLife + random() * (maxLife - minLife));
      peak = Math.max(peak, life.peakRss);
      if (life.diedOnItsOwn !== undefined) {
        crashes++;
        findings.push(`cycle ${cycle}: agent died on its own (${life.diedOnItsOwn})`);
      }
    }
  } finally {
    if (!writerDone) writer.child.kill('SIGKILL');
  }
  const summary = await written;
  const [, linesText, rotationsText] = summary.split(' ');
  const lines = Number(linesText);
  log(`  writer: ${lines} lines, ${rotationsText} rotations`);

  // A clean run reads what is left and exports it all.
  let drained = false;
  try {
    const agent = await AgentProcess.start(bundle, config, launch, undefined, agentLog);
    const deadline = Date.now() + DRAIN_TIMEOUT_MILLIS;
    let quiet = 0;
    while (Date.now() < deadline && quiet < 3) {
      const tail = await tailStatus(agent.url, agentDir.token);
      const stream = await streamState(agent.url, agentDir.token, STREAM);
      quiet = tail !== undefined && tail.lagBytes === 0 && stream.backlog === 0 ? quiet + 1 : 0;
      await sleep(500);
    }
    drained = quiet >= 3;
    if (!drained) {
      const tail = await tailStatus(agent.url, agentDir.token);
      findings.push(`final run: not drained (${JSON.stringify(tail)})`);
    }
    peak = Math.max(peak, await agent.peakRss());
    if ((await agent.stop()) !== 0) {
      crashes++;
      findings.push(`final run: clean stop failed: ${agent.tail()}`);
    }
  } catch (error) {
    if (!(error instanceof AgentStartError)) throw error;
    crashes++;
    findings.push(`final run: ${error.message}`);
  }

  const ids = new Map<number, Set<string>>();
  const eras = new Map<number, string>();
  const late: number[] = [];
  let copies = 0;
  let strangers = 0;
  let last = -1;
  for (const { record } of await kinesis.records(agentDir.kinesisStream)) {
    const match = record.type === 'log' ? LINE_NUMBER.exec(record.payload.message) : null;
    const line = match?.[1];
    if (match == null || line === undefined) {
      strangers++;
      continue;
    }
    copies++;
    const n = Number(line);
    eras.set(n, match[2] ?? '?');
    const seen = ids.get(n);
    if (seen === undefined) {
      ids.set(n, new Set([record.id]));
      if (n < last) late.push(n);
      last = Math.max(last, n);
    } else seen.add(record.id);
  }
  const missing: number[] = [];
  for (let n = 0; n < lines; n++) if (!ids.has(n)) missing.push(n);
  const lost = missing.length;
  const twice = [...ids].filter(([, s]) => s.size > 1).map(([n]) => n);
  const appendedTwice = twice.length;
  const outOfOrder = late.length;
  const eraOf = (n: number) => eras.get(n) ?? `after ${eras.get(n - 1) ?? '?'}`;
  const records = [...ids.values()].reduce((sum, s) => sum + s.size, 0);
  const resent = copies - records;
  log(
    `  lines ${lines}, in Kinesis ${ids.size}, lost ${lost}, appended more than once ${appendedTwice}, out of order ${outOfOrder}, export re-sends ${resent} (${percent(resent, lines)}, ${(resent / Math.max(1, kills)).toFixed(0)} per kill)`,
  );
  if (lost > 0)
    findings.push(`${lost} of ${lines} lines written never reached Kinesis: ${ranges(missing, eraOf)}`);
  if (appendedTwice > 0)
    findings.push(`${appendedTwice} lines were appended to the log more than once: ${ranges(twice, eraOf)}`);
  if (outOfOrder > 0)
    findings.push(`${outOfOrder} lines reached Kinesis after a later line: ${ranges(late, eraOf)}`);
  if (strangers > 0) findings.push(`${strangers} records in Kinesis the writer never wrote`);
  return {
    scenario,
    acked: lines,
    lost,
    duplicated: copies - ids.size,
    crashes,
    peakRssBytes: peak,
    outcome: findings.length === 0 && drained ? 'pass' : 'FAIL',
    findings,
  };
}
