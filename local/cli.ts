import { parseArgs } from 'node:util';
import { removeDiscovery } from '../device/api/discovery.ts';
import { UsageError } from '../shared/errors.ts';
import { writeAgentDiscovery } from './agent-discovery.ts';
import { AnalyticsError } from './analytics/errors.ts';
import { exitOnCliError } from './cli-exit.ts';
import { type LocalCloud, startLocalCloud } from './cloud.ts';
import { parseFleetOptions } from './fleet/index.ts';
import { describePipeline, formatPipelineLine, type RunningPipeline, startPipeline } from './pipeline.ts';
import { processTreeRss } from './process-memory.ts';
import { formatStatusLine } from './resources/create.ts';
import { TRIBUTARY_DIR } from './servers/runtime.ts';
import { stateBanner } from './state-rule.ts';

// Lambda runs Node 22; locally Node 20 is supported on purpose, so the SDK's upgrade notice is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// EMF lines are CloudWatch's input; here they would flood the terminal. Set it to false to see them.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const LOCAL_LAKE_INTERVAL_MS = 60_000;
const STATUS_EVERY_MS = 10_000;

const USAGE = `usage: npm start -- [options]

Starts the embedded local cloud on 127.0.0.1 (Kinesis with EFO and AWS-like shard limits,
DynamoDB Local, S3, MQTT), creates the resources declared in serverless.yml, and runs the whole
pipeline until Ctrl-C: a device agent (gateway) with a simulated fleet appending through it, the
alert function on its event source mapping, the Firehose-equivalent lake delivery, the Flink job and
the dashboard.

options:
  --data-dir <dir>        where servers keep data and logs (default .tributary/cloud)
  --persist               keep all state across restarts: Kinesis, DynamoDB (alerts, aggregates), the
                          lake, the agent's log and checkpoints. Status counters: in, exported,
                          alerts and lake continue; windows count again (the Flink job re-reads the
                          kept stream and recounts its windows), as do the dashboard's per-consumer
                          figures. Without it every start is fresh: the data dir is emptied,
                          nothing of earlier runs remains
  --fresh                 with --persist: empty the data dir once, then keep state from there
  --no-limits             do not enforce per-shard write limits (1 MiB/s, 1000 records/s)
  --stage <name>          serverless stage used to name resources (default dev)
  --sensors <n>           simulated sensors (default 50)
  --terminals <n>         simulated card terminals (default 20)
  --agents <n>            device agents (gateways) the fleet appends through (default 1)
  --seed <n>              simulation seed (default 1)
  --time-scale <x>        simulated seconds per second (default 1)
  --anomaly-every <s>     simulated seconds between injected anomalies, 0 for none (default 60)
  --no-fleet              no simulator: the agent runs for your own devices (its API URL is printed)
  --no-analytics          do not run the Flink job (it needs a JDK 17 and Maven)
  --dashboard-port <n>    port of the dashboard on 127.0.0.1 (default: a free one, printed)
  -h, --help              show this help

environment:
  TRIBUTARY_PROXY_EFO=0   SubscribeToShard served by the Kinesis emulator (events on a 1 s tick)
                          instead of the limits proxy (AWS's pace, the default)`;

const FLAG_NAMES = {
  sensors: '--sensors',
  terminals: '--terminals',
  agents: '--agents',
  seed: '--seed',
  timeScale: '--time-scale',
  anomalyIntervalMs: '--anomaly-every',
} as const;

function parse(argv: string[]) {
  let values: ReturnType<typeof parseFlags>['values'];
  try {
    const parsed = parseFlags(argv);
    const [command = 'start', ...rest] = parsed.positionals;
    if (command !== 'start') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    values = parsed.values;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const number = (flag: string | undefined) => (flag === undefined ? undefined : Number(flag));
  const anomalySeconds = number(values['anomaly-every']);
  const fleetInput = Object.fromEntries(
    Object.entries({
      sensors: values.fleet ? number(values.sensors) : 0,
      terminals: values.fleet ? number(values.terminals) : 0,
      agents: number(values.agents),
      seed: number(values.seed),
      timeScale: number(values['time-scale']),
      anomalyIntervalMs: anomalySeconds === undefined ? undefined : anomalySeconds * 1000,
    }).filter(([, value]) => value !== undefined),
  );
  const port = values['dashboard-port'];
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) <= 65_535)) {
    throw new UsageError(`--dashboard-port must be a port number 0-65535 (got ${JSON.stringify(port)})`);
  }
  try {
    return { values, fleet: parseFleetOptions(fleetInput, FLAG_NAMES) };
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    allowNegative: true,
    options: {
      'data-dir': { type: 'string' },
      persist: { type: 'boolean', default: false },
      fresh: { type: 'boolean', default: false },
      limits: { type: 'boolean', default: true },
      stage: { type: 'string' },
      sensors: { type: 'string' },
      terminals: { type: 'string' },
      agents: { type: 'string' },
      seed: { type: 'string' },
      'time-scale': { type: 'string' },
      'anomaly-every': { type: 'string' },
      'dashboard-port': { type: 'string' },
      fleet: { type: 'boolean', default: true },
      analytics: { type: 'boolean', default: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

function describe(cloud: LocalCloud, rssBytes: number): string {
  const { endpoints } = cloud;
  const lines = [
    `Tributary local cloud is up in ${(cloud.startupMs / 1000).toFixed(1)} s (stage ${cloud.stack.stage}, region ${cloud.region}), ${mib(rssBytes)} resident`,
    stateBanner(cloud.persist, cloud.dataDir),
    '',
    'endpoints (127.0.0.1 only):',
    `  kinesis   ${endpoints.kinesis}   per-shard limits ${cloud.limits.stats().enabled ? 'on' : 'off'}; raw emulator ${endpoints.kinesisEmulator}`,
    `  dynamodb  ${endpoints.dynamodb}`,
    `  s3        ${endpoints.s3}`,
    `  sitewise  ${endpoints.sitewise}   BatchPutAssetPropertyValue only (stand-in; every property exists)`,
    `  mqtt      ${endpoints.mqtt}   (${cloud.mqttKind === 'mosquitto' ? 'mosquitto, MQTT 3.1.1 and 5' : 'aedes fallback, MQTT 3.1.1 only: apt-get install mosquitto for MQTT 5'})`,
    '',
    'resources from serverless.yml:',
    ...cloud.resources.map((status) => `  ${formatStatusLine(status)}`),
    '',
    'AWS CLI/SDK: AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 and --endpoint-url above.',
    'Ctrl-C stops everything.',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values: flags, fleet } = parse(process.argv.slice(2));
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const cloud = await startLocalCloud({
    ...(flags['data-dir'] === undefined ? {} : { dataDir: flags['data-dir'] }),
    ...(flags.stage === undefined ? {} : { stage: flags.stage }),
    persist: flags.persist,
    fresh: flags.fresh,
    enforceLimits: flags.limits,
  });
  let pipeline: RunningPipeline;
  try {
    pipeline = await startPipeline({
      cloud,
      fleet,
      analytics: flags.analytics,
      dashboardPort: flags['dashboard-port'] === undefined ? 0 : Number(flags['dashboard-port']),
      lakeIntervalMs: LOCAL_LAKE_INTERVAL_MS,
      log: (message) => console.error(message),
    });
  } catch (error) {
    await cloud.stop();
    if (error instanceof AnalyticsError) {
      console.error('the Flink job could not start; `npm start -- --no-analytics` runs everything else.');
    }
    throw error;
  }
  const rss = await processTreeRss([
    process.pid,
    ...cloud.pids,
    ...(pipeline.fleet?.agents.flatMap((agent) => (agent.pid === undefined ? [] : [agent.pid])) ?? []),
    ...(pipeline.analytics?.pid === undefined ? [] : [pipeline.analytics.pid]),
  ]);
  console.log(describe(cloud, rss));
  console.log('');
  console.log(describePipeline(pipeline, cloud, LOCAL_LAKE_INTERVAL_MS));
  // `tributary status` and `tributary append` run in this project then find the first agent by themselves.
  const first = pipeline.fleet?.agents[0];
  if (first !== undefined) {
    const file = await writeAgentDiscovery(TRIBUTARY_DIR, first);
    console.log(`tributary status | append --stream telemetry ... (no flags) reach ${first.name}: ${file}`);
  }
  console.log('');

  const live = process.stdout.isTTY === true;
  let last = '';
  const summary = setInterval(() => {
    pipeline
      .health()
      .then((health) => {
        const line = formatPipelineLine(health);
        if (live) process.stdout.write(`\r\x1b[2K${line}`);
        else if (line !== last) console.log(`[${new Date().toISOString()}] ${line}`);
        last = line;
      })
      .catch((error: unknown) =>
        console.error(`status: ${error instanceof Error ? error.message : String(error)}`),
      );
  }, STATUS_EVERY_MS);
  summary.unref();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      // A second Ctrl-C: exit now; the exit hook still stops the servers.
      process.exit(130);
    }
    stopping = true;
    clearInterval(summary);
    console.log(`\n${signal}: stopping the pipeline and the local cloud...`);
    if (first?.pid !== undefined) await removeDiscovery(TRIBUTARY_DIR, first.pid);
    await pipeline.stop();
    await cloud.stop();
    console.log('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => exitOnCliError(error, USAGE));
