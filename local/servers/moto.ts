import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MotoMissingError } from '../errors.ts';
import { motoReady } from './probes.ts';
import {
  choosePort,
  LOOPBACK,
  PROJECT_ROOT,
  type RunningServer,
  serverLog,
  startChildServer,
  TRIBUTARY_DIR,
} from './runtime.ts';

export interface MotoOptions {
  port?: number;
  /** The venv that has moto[server]; default the project's `.venv` (what .ci/run installs). */
  venv?: string;
}

const MAIN = new URL('./moto-main.py', import.meta.url).pathname;

/** The project venv's python when it has moto's server, else undefined. */
export function findMoto(venv = join(PROJECT_ROOT, '.venv')): string | undefined {
  const python = join(venv, 'bin', 'python');
  return existsSync(join(venv, 'bin', 'moto_server')) && existsSync(python) ? python : undefined;
}

/**
 * Starts moto's server mode (one process serves every AWS API moto emulates: IoT, CloudFormation, ...)
 * on 127.0.0.1 through moto-main.py, which binds loopback, dies with this process and carries one
 * fidelity fix (see there). State is in memory and goes with the process. Any region and any
 * credentials are accepted.
 */
export async function startMoto(opts: MotoOptions = {}): Promise<RunningServer> {
  const name = 'moto';
  const python = findMoto(opts.venv);
  if (python === undefined) throw new MotoMissingError(opts.venv ?? join(PROJECT_ROOT, '.venv'));
  const port = await choosePort(name, opts.port);
  return startChildServer({
    name,
    command: python,
    args: [MAIN, String(port)],
    cwd: TRIBUTARY_DIR,
    env: { PYTHONDONTWRITEBYTECODE: '1' },
    ...serverLog(name, port, undefined),
    port,
    endpoint: `http://${LOOPBACK}:${port}`,
    probe: () => motoReady(port),
  });
}
