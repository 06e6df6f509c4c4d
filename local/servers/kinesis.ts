import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { kinesisReady } from './probes.ts';
import {
  choosePort,
  freePort,
  LOOPBACK,
  nodeChildEnv,
  type RunningServer,
  serverLog,
  startChildServer,
} from './runtime.ts';

export interface KinesisOptions {
  /** Streams are persisted here and reloaded on start; undefined keeps them in memory. */
  dataDir?: string;
  /** Plain-HTTP port; a free one when unset. */
  port?: number;
  /** Open-shard limit per account (kinesis-mock's SHARD_LIMIT); emulator default 50. */
  shardLimit?: number;
}

const PRELOAD = new URL('./loopback-preload.cjs', import.meta.url).pathname;

// kinesis-mock simulates control-plane latency (CREATING → ACTIVE etc.); none of it is useful locally.
const DURATIONS = [
  'CREATE_STREAM_DURATION',
  'DELETE_STREAM_DURATION',
  'REGISTER_STREAM_CONSUMER_DURATION',
  'DEREGISTER_STREAM_CONSUMER_DURATION',
  'MERGE_SHARDS_DURATION',
  'SPLIT_SHARD_DURATION',
  'START_STREAM_ENCRYPTION_DURATION',
  'STOP_STREAM_ENCRYPTION_DURATION',
  'UPDATE_SHARD_COUNT_DURATION',
  'UPDATE_STREAM_MODE_DURATION',
] as const;

/**
 * Starts kinesis-local (kinesis-mock compiled to one Node program) as a child `node` process. It has
 * no listen-host setting, so loopback-preload.cjs pins its listeners (plain HTTP and the TLS port it
 * always opens) to 127.0.0.1. Clients must use HTTP/1.1 (NodeHttpHandler): SubscribeToShard over
 * the SDK's default HTTP/2 handler fails against it.
 */
export async function startKinesis(opts: KinesisOptions = {}): Promise<RunningServer> {
  const name = 'kinesis';
  const port = await choosePort(name, opts.port);
  const packageDir = dirname(createRequire(import.meta.url).resolve('kinesis-local/package.json'));
  const env: Record<string, string> = {
    KINESIS_MOCK_PLAIN_PORT: String(port),
    KINESIS_MOCK_TLS_PORT: String(await freePort()),
    AWS_REGION: 'us-east-1',
    LOG_LEVEL: 'WARN',
  };
  for (const variable of DURATIONS) env[variable] = '0ms';
  if (opts.shardLimit !== undefined) env.SHARD_LIMIT = String(opts.shardLimit);
  if (opts.dataDir !== undefined) {
    Object.assign(env, {
      SHOULD_PERSIST_DATA: 'true',
      LOAD_DATA_IF_EXISTS: 'true',
      // The emulator runs in its package folder: a relative path would land there.
      PERSIST_PATH: resolve(opts.dataDir),
      PERSIST_FILE_NAME: 'kinesis-data.json',
    });
  }
  return startChildServer({
    name,
    command: process.execPath,
    args: ['--require', PRELOAD, join(packageDir, 'main.js')],
    // main.js reads its TLS material (server.json) relative to the working directory.
    cwd: packageDir,
    env: nodeChildEnv(env),
    ...serverLog(name, port, opts.dataDir),
    port,
    endpoint: `http://${LOOPBACK}:${port}`,
    probe: () => kinesisReady(port),
  });
}
