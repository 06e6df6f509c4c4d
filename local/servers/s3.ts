import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { s3Ready } from './probes.ts';
import {
  choosePort,
  LOOPBACK,
  nodeChildEnv,
  type RunningServer,
  serverLog,
  startChildServer,
} from './runtime.ts';

export interface S3Options {
  /** Buckets and objects live here (objects under `buckets/`), next to the log. */
  dataDir: string;
  port?: number;
  /** Access key the server accepts; defaults to the local key pair of shared/aws/clients.ts. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

const PRELOAD = new URL('./loopback-preload.cjs', import.meta.url).pathname;
const MAIN = new URL('./s3rver-main.cjs', import.meta.url).pathname;

/**
 * Starts s3rver in a child `node --openssl-legacy-provider` process (see s3rver-main.cjs for why
 * not in-process), bound to 127.0.0.1. Clients need path-style addressing (forcePathStyle).
 */
export async function startS3(opts: S3Options): Promise<RunningServer> {
  const name = 's3';
  const port = await choosePort(name, opts.port);
  // The child runs in dataDir, so a relative path would resolve twice.
  const dataDir = resolve(opts.dataDir);
  const bucketsDir = join(dataDir, 'buckets');
  mkdirSync(bucketsDir, { recursive: true });
  const key = opts.credentials ?? { accessKeyId: 'local', secretAccessKey: 'local' };
  return startChildServer({
    name,
    command: process.execPath,
    args: ['--openssl-legacy-provider', '--require', PRELOAD, MAIN, bucketsDir, String(port)],
    cwd: dataDir,
    env: nodeChildEnv({ TRIBUTARY_S3_KEY: `${key.accessKeyId}:${key.secretAccessKey}` }),
    ...serverLog(name, port, dataDir),
    port,
    endpoint: `http://${LOOPBACK}:${port}`,
    probe: () => s3Ready(port),
  });
}
