import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exitOnCliError } from './cli-exit.ts';
import { type LocalCloud, startLocalCloud } from './cloud.ts';
import { type LakeDelivery, startLakeDelivery } from './delivery/delivery.ts';
import { CliUsageError } from './errors.ts';
import { type EventSourceRunner, startEventSourceRunner } from './esm/index.ts';
import { processTreeRss } from './process-memory.ts';
import { formatStatusLine } from './resources/create.ts';

// Lambda runs Node 22; locally Node 20 is supported on purpose, so the SDK's upgrade notice is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const LOCAL_LAKE_INTERVAL_MS = 60_000;

const USAGE = `usage: npm start -- [options]

Starts the embedded local cloud on 127.0.0.1 (Kinesis with EFO and AWS-like shard limits,
DynamoDB Local, S3, MQTT), creates the resources declared in serverless.yml, runs the alert function
through a local event source mapping and the Firehose-equivalent lake delivery, until Ctrl-C.

options:
  --data-dir <dir>   where servers keep data and logs (default .tributary/cloud)
  --persist          keep Kinesis and DynamoDB state on disk across restarts
  --fresh            delete the data dir before starting
  --no-limits        do not enforce per-shard write limits (1 MiB/s, 1000 records/s)
  --stage <name>     serverless stage used to name resources (default dev)
  -h, --help         show this help`;

function parse(argv: string[]) {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      allowNegative: true,
      options: {
        'data-dir': { type: 'string' },
        persist: { type: 'boolean', default: false },
        fresh: { type: 'boolean', default: false },
        limits: { type: 'boolean', default: true },
        stage: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    const [command = 'start', ...rest] = positionals;
    if (command !== 'start') throw new CliUsageError(`unknown command ${JSON.stringify(command)}`);
    if (rest.length > 0) throw new CliUsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    return values;
  } catch (error) {
    if (error instanceof CliUsageError) throw error;
    throw new CliUsageError(error instanceof Error ? error.message : String(error));
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

function describe(cloud: LocalCloud, rssBytes: number): string {
  const { endpoints } = cloud;
  const lines = [
    `Tributary local cloud is up in ${(cloud.startupMs / 1000).toFixed(1)} s (stage ${cloud.stack.stage}, region ${cloud.region}), ${mib(rssBytes)} resident`,
    '',
    'endpoints (127.0.0.1 only):',
    `  kinesis   ${endpoints.kinesis}   per-shard limits ${cloud.limits.stats().enabled ? 'on' : 'off'}; raw emulator ${endpoints.kinesisEmulator}`,
    `  dynamodb  ${endpoints.dynamodb}`,
    `  s3        ${endpoints.s3}`,
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

/** The stack's consumers on the local cloud: the alert function's event source mapping and the lake. */
async function startPipeline(
  cloud: LocalCloud,
): Promise<{ functions: EventSourceRunner; lake: LakeDelivery }> {
  // Function checkpoints name stream positions: they only make sense while the stream's data persists.
  const esmDir = join(cloud.dataDir, 'esm');
  if (!cloud.persist) await rm(esmDir, { recursive: true, force: true });
  const functions = await startEventSourceRunner({ cloud, dataDir: esmDir });
  try {
    // Firehose's smallest interval with dynamic partitioning (60 s) instead of the template's
    // 300 s, so local data shows up in the lake while someone is watching.
    const lake = await startLakeDelivery({
      stack: cloud.stack,
      clients: cloud.clients,
      dataDir: join(cloud.dataDir, 'delivery'),
      buffering: { intervalMs: LOCAL_LAKE_INTERVAL_MS },
    });
    return { functions, lake };
  } catch (error) {
    await functions.stop();
    throw error;
  }
}

async function main(): Promise<void> {
  const flags = parse(process.argv.slice(2));
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
  let functions: EventSourceRunner;
  let lake: LakeDelivery;
  try {
    ({ functions, lake } = await startPipeline(cloud));
  } catch (error) {
    await cloud.stop();
    throw error;
  }
  lake.done.catch((error: unknown) => {
    console.error(`lake delivery stopped: ${error instanceof Error ? error.message : String(error)}`);
  });
  const rss = await processTreeRss([process.pid, ...cloud.pids]);
  console.log(describe(cloud, rss));
  console.log(
    `lake: ${lake.deliveryStream.logicalId} delivers Parquet to s3://${lake.bucket}/ every ${LOCAL_LAKE_INTERVAL_MS / 1000} s; query with TRIBUTARY_S3_ENDPOINT=${cloud.endpoints.s3} npm run query -- --examples`,
  );
  for (const mapping of functions.mappings) {
    console.log(
      `function ${mapping.definition.functionName} runs on ${mapping.consumerArn} (local event source mapping; on-failure: ${mapping.onFailureFile ?? 'none'})`,
    );
  }
  const summary = setInterval(() => {
    const lakeStats = lake.stats();
    const parts = functions.mappings.map(
      ({ definition, stats }) =>
        `${definition.functionName}: ${stats.invocations} batches, ${stats.recordsSucceeded} records ok, ${stats.recordsGivenUp} given up, ${stats.functionErrors} errors`,
    );
    parts.push(
      `lake: ${lakeStats.delivered} records in ${lakeStats.objects} objects, ${lakeStats.failed} to errors/`,
    );
    console.log(`[${new Date().toISOString()}] ${parts.join('; ')}`);
  }, 30_000);
  summary.unref();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the local cloud...`);
    clearInterval(summary);
    await Promise.allSettled([functions.stop(), lake.stop()]);
    await cloud.stop();
    console.log('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => exitOnCliError(error, USAGE));
