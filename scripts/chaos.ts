/**
 * The chaos suite against the device bundle (issue 17): a SIGKILL loop, a hostile-input corpus, a
 * full disk, a Kinesis outage, a throttling storm, and tailing a log rotated both ways under SIGKILLs
 * (issue 21). Prints one table; exits 1 when a scenario fails, 2 on a bad flag.
 * Usage: npm run chaos [-- --kills N] [--only kill,hostile,disk,outage,throttle,tail] [--cases <regex>] [--keep]
 * (`--cases` picks hostile cases by name; `--keep` keeps the stores and logs.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exitOnCliError } from '../local/cli-exit.ts';
import { UsageError } from '../shared/errors.ts';
import { diskFull } from '../test/chaos/disk-full.ts';
import {
  buildDeviceBundle,
  ChaosKinesis,
  readLaunchLine,
  type ScenarioResult,
} from '../test/chaos/harness.ts';
import { hostileCorpus } from '../test/chaos/hostile.ts';
import { killLoop } from '../test/chaos/kill-loop.ts';
import { outage, throttleStorm } from '../test/chaos/outage.ts';
import { findings, table } from '../test/chaos/report.ts';
import { tailRotation } from '../test/chaos/tail-rotation.ts';

const SCENARIOS = ['kill', 'hostile', 'disk', 'outage', 'throttle', 'tail'] as const;

const USAGE = `usage: npm run chaos [-- --kills N] [--only ${SCENARIOS.join(',')}] [--cases <regex>] [--keep]`;

/** The flags, checked; a bad one ends the run with the usage and exit code 2 (UsageError). */
function parseFlags() {
  try {
    const { values } = parseArgs({
      options: {
        kills: { type: 'string', default: '200' },
        only: { type: 'string' },
        cases: { type: 'string' },
        keep: { type: 'boolean', default: false },
      },
    });
    const kills = Number(values.kills);
    if (!Number.isInteger(kills) || kills < 1)
      throw new UsageError(`--kills must be a positive integer (got ${values.kills})`);
    const only = new Set(values.only?.split(',') ?? SCENARIOS);
    for (const name of only) {
      if (!(SCENARIOS as readonly string[]).includes(name))
        throw new UsageError(`--only: unknown scenario ${name} (one of ${SCENARIOS.join(', ')})`);
    }
    return { ...values, kills, only };
  } catch (error) {
    // parseArgs words an unknown flag or a missing value as a plain TypeError.
    return exitOnCliError(
      error instanceof UsageError
        ? error
        : new UsageError(error instanceof Error ? error.message : String(error)),
      USAGE,
    );
  }
}

const { kills, only, ...values } = parseFlags();

// The SDK's Node 20 notice would interleave with the report.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const log = (line: string) => console.log(line);
const bundle = buildDeviceBundle();
const launch = await readLaunchLine();
log(`device bundle ${bundle}`);
log(
  `launch line: ${Object.entries(launch.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')} node ${launch.nodeFlags.join(' ')}`,
);
const dir = await mkdtemp(join(tmpdir(), 'tributary-chaos-'));
const kinesis = await ChaosKinesis.start();
const results: ScenarioResult[] = [];
try {
  const common = { bundle, launch, kinesis, dir, log };
  const run = async (name: (typeof SCENARIOS)[number], scenario: () => Promise<ScenarioResult>) => {
    if (!only.has(name)) return;
    log(`\n== ${name}`);
    const began = performance.now();
    const result = await scenario();
    log(`  ${result.outcome} in ${((performance.now() - began) / 1000).toFixed(0)} s`);
    for (const finding of result.findings) log(`  - ${finding}`);
    results.push(result);
  };
  await run('kill', () => killLoop({ ...common, kills }));
  const cases = values.cases === undefined ? undefined : new RegExp(values.cases, 'i');
  await run('hostile', () => hostileCorpus({ ...common, only: (name) => cases?.test(name) ?? true }));
  await run('disk', () => diskFull(common));
  await run('outage', () => outage(common));
  await run('throttle', () => throttleStorm(common));
  await run('tail', () =>
    tailRotation({
      ...common,
      kills: Math.max(20, Math.round(kills / 4)),
      lines: kills * 500,
      rotateEvery: 1_500,
    }),
  );
} finally {
  await kinesis.stop();
  if (values.keep) log(`kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
log(`\n${table(results)}`);
const failed = findings(results);
if (failed !== '') log(`\n${failed}`);
process.exitCode = results.some((r) => r.outcome === 'FAIL') ? 1 : 0;
