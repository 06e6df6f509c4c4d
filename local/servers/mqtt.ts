import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { Aedes } from 'aedes';
import { PortInUseError } from '../errors.ts';
import { loopbackShim } from './loopback-shim.ts';
import { mqttReady } from './probes.ts';
import { choosePort, LOOPBACK, type RunningServer, startChildServer } from './runtime.ts';

export interface MqttOptions {
  /** mosquitto's config, persistence and log go here; aedes writes nothing. */
  dataDir: string;
  port?: number;
  /** Where the one-line notice about the aedes fallback goes; console.warn by default. */
  notice?: (message: string) => void;
}

export type RunningMqtt = RunningServer & { readonly kind: 'mosquitto' | 'aedes' };

/** mosquitto on PATH, or in /usr/sbin where Debian installs it (often not on a user's PATH). */
export function findMosquitto(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, 'mosquitto');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Starts an MQTT broker on 127.0.0.1: Debian's mosquitto (MQTT 3.1.1 and 5) when installed, else
 * aedes inside this process (MQTT 3.1.1 only, in-memory sessions).
 */
export async function startMqtt(opts: MqttOptions): Promise<RunningMqtt> {
  const port = await choosePort('mqtt', opts.port);
  mkdirSync(opts.dataDir, { recursive: true });
  const mosquitto = findMosquitto();
  // mosquitto runs in dataDir, so its paths must not be relative to ours.
  if (mosquitto !== undefined) return startMosquitto(mosquitto, resolve(opts.dataDir), port);
  (opts.notice ?? console.warn)(
    `tributary: mosquitto not installed, using the in-process aedes broker (MQTT 3.1.1 only) on ${LOOPBACK}:${port}`,
  );
  return startAedes(port);
}

async function startMosquitto(binary: string, dataDir: string, port: number): Promise<RunningMqtt> {
  const configFile = join(dataDir, 'mosquitto.conf');
  const persistence = join(dataDir, 'mosquitto-data');
  mkdirSync(persistence, { recursive: true });
  writeFileSync(
    configFile,
    [
      '# Written by Tributary (local/servers/mqtt.ts); rewritten on every start.',
      `listener ${port} ${LOOPBACK}`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${persistence}/`,
      'log_dest stdout',
      '',
    ].join('\n'),
  );
  // mosquitto already binds only where told; the shim adds the parent-death watchdog when available.
  const shim = await loopbackShim('mosquitto').catch(() => undefined);
  const server = await startChildServer({
    name: 'mqtt',
    command: binary,
    args: ['-c', configFile],
    cwd: dataDir,
    env: shim === undefined ? {} : { LD_PRELOAD: shim },
    logFile: join(dataDir, 'mosquitto.log'),
    port,
    endpoint: `mqtt://${LOOPBACK}:${port}`,
    probe: () => mqttReady(port),
  });
  return { ...server, stop: server.stop, kind: 'mosquitto' };
}

async function startAedes(port: number): Promise<RunningMqtt> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: LOOPBACK, exclusive: true }, resolve);
    });
  } catch (error) {
    broker.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new PortInUseError('mqtt', port, { cause: error });
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    name: 'mqtt',
    kind: 'aedes',
    endpoint: `mqtt://${LOOPBACK}:${port}`,
    port,
    pid: undefined,
    stop: () => {
      stopping ??= (async () => {
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        // server.close() waits for open connections, so end them first.
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return stopping;
    },
  };
}
