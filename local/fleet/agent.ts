import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AgentStatus } from '../../device/agent.ts';
import { ApiClient } from '../../device/api/client.ts';
import { ensureAuthToken } from '../../device/api/token.ts';
import { DEFAULT_TOKEN_FILE_NAME } from '../../device/config.ts';
import {
  choosePort,
  LOOPBACK,
  nodeChildEnv,
  PROJECT_ROOT,
  type RunningServer,
  startChildServer,
} from '../servers/runtime.ts';
import { GATEWAY_LOG_DIR, GATEWAY_LOG_FILE } from './log-files.ts';

/** The log streams a simulated gateway keeps, by record type; transactions drain first, log lines last. */
export const FLEET_STREAMS = { telemetry: 'telemetry', transaction: 'transactions', log: 'logs' } as const;

export interface DeviceAgentOptions {
  /** Also the agent's deviceId. */
  readonly name: string;
  /** The agent's store and config live in `<dataDir>/<name>`. */
  readonly dataDir: string;
  readonly region: string;
  /** Kinesis endpoint of the local cloud (the limits proxy, so the agent meets AWS-like throttling). */
  readonly kinesisEndpoint: string;
  readonly kinesisStreamName: string;
  /** S3 and IoT SiteWise endpoints of the local cloud, for stream manager's S3 and SiteWise exports. */
  readonly s3Endpoint?: string;
  readonly siteWiseEndpoint?: string;
  readonly port?: number;
  /** Tail the gateway's syslog (`<dataDir>/<name>/var/log/messages*`) into the logs stream. */
  readonly tailSyslog?: boolean;
}

export interface RunningDeviceAgent {
  readonly name: string;
  readonly url: string;
  readonly pid: number | undefined;
  readonly configFile: string;
  /** The API token the agent was started with (mode 0600). */
  readonly tokenFile: string;
  /** The filePattern of the syslog it tails, when it tails one. */
  readonly syslogPattern: string | undefined;
  readonly client: ApiClient;
  status(): Promise<AgentStatus>;
  stop(): Promise<void>;
}

const PRELOAD = new URL('../servers/loopback-preload.cjs', import.meta.url).pathname;
/** The `tributary` command, as `npx tributary` runs it. */
const TRIBUTARY_BIN = join(PROJECT_ROOT, 'bin', 'tributary.mjs');

/** Where the gateway's agent finds its syslog: the live file and its rotated predecessors. */
export function gatewayLogDir(dataDir: string, name: string): string {
  return resolve(dataDir, name, GATEWAY_LOG_DIR);
}

function syslogPattern(opts: DeviceAgentOptions): string {
  return join(gatewayLogDir(opts.dataDir, opts.name), `${GATEWAY_LOG_FILE}*`);
}

/**
 * The agent config a gateway of the simulated fleet runs with: every stream exported to the stack's
 * stream, and with `tailSyslog` its RFC 5424 syslog tailed into the logs stream, rotated files
 * included (the Kinesis Agent's way: the pattern matches them, so a file renamed away is read to
 * its end), each line with its file and offset.
 */
export function gatewayConfig(opts: DeviceAgentOptions, storeRoot: string, port: number): object {
  return {
    storeRoot,
    deviceId: opts.name,
    aws: {
      region: opts.region,
      endpoint: opts.kinesisEndpoint,
      ...(opts.s3Endpoint === undefined ? {} : { s3Endpoint: opts.s3Endpoint }),
      ...(opts.siteWiseEndpoint === undefined ? {} : { siteWiseEndpoint: opts.siteWiseEndpoint }),
    },
    api: { port },
    streams: [
      {
        name: FLEET_STREAMS.telemetry,
        export: { kinesisStreamName: opts.kinesisStreamName, priority: 5, batchIntervalMillis: 50 },
      },
      {
        name: FLEET_STREAMS.transaction,
        export: { kinesisStreamName: opts.kinesisStreamName, priority: 8, batchIntervalMillis: 50 },
      },
      {
        name: FLEET_STREAMS.log,
        export: { kinesisStreamName: opts.kinesisStreamName, priority: 3, batchIntervalMillis: 50 },
      },
    ],
    ...(opts.tailSyslog === true
      ? {
          sources: [
            {
              filePattern: syslogPattern(opts),
              stream: FLEET_STREAMS.log,
              initialPosition: 'START_OF_FILE',
              dataProcessingOptions: [
                { optionName: 'LOGTOJSON', logFormat: 'RFC5424SYSLOG' },
                { optionName: 'ADDMETADATA', fields: ['file', 'offset'] },
              ],
            },
          ],
        }
      : {}),
  };
}

/**
 * Runs the real device agent (`tributary agent run`) as a child process with a generated config, the
 * way a gateway on the edge runs it; the simulator appends over its HTTP API. Its output goes to
 * `<dataDir>/<name>/agent.log`. Like the local servers, it dies with this process (process group,
 * parent-death watchdog) and SIGTERM stops it cleanly (final checkpoint; the backlog stays in its log).
 */
export async function startDeviceAgent(opts: DeviceAgentOptions): Promise<RunningDeviceAgent> {
  const home = resolve(opts.dataDir, opts.name);
  await mkdir(home, { recursive: true });
  const port = await choosePort(`device agent ${opts.name}`, opts.port);
  const configFile = join(home, 'agent.json');
  await writeFile(configFile, `${JSON.stringify(gatewayConfig(opts, join(home, 'store'), port), null, 2)}\n`);
  const url = `http://${LOOPBACK}:${port}`;
  // The agent's API token, written before its first start (as the agent itself would: mode 0600), so
  // the simulator can authenticate from the first probe on.
  const tokenFile = join(home, 'store', DEFAULT_TOKEN_FILE_NAME);
  const token = await ensureAuthToken(tokenFile);
  const client = new ApiClient({ url, token, timeoutMillis: 30_000 });
  const server: RunningServer = await startChildServer({
    name: `agent-${opts.name}`,
    command: process.execPath,
    args: ['--require', PRELOAD, TRIBUTARY_BIN, 'agent', 'run', '--config', configFile],
    cwd: PROJECT_ROOT,
    env: nodeChildEnv({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }),
    logFile: join(home, 'agent.log'),
    port,
    endpoint: url,
    probe: async () => (await client.status()).state === 'running',
  });
  return {
    name: opts.name,
    url,
    pid: server.pid,
    configFile,
    tokenFile,
    syslogPattern: opts.tailSyslog === true ? syslogPattern(opts) : undefined,
    client,
    status: () => client.status(),
    stop: () => server.stop(),
  };
}
