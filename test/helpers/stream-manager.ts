/**
 * The device agent as devices run it (`tributary.mjs agent run`) and the official Node Stream Manager
 * SDK (npm aws-greengrass-core-sdk 1.7.0, unchanged) connected to it: shared by the stream manager
 * integration tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const BIN = join(import.meta.dirname, '../../bin/tributary.mjs');

export interface RunningSmAgent {
  readonly child: ChildProcess;
  /** The API port (HTTP and stream manager's protocol). */
  readonly port: number;
  /** api.streamManagerPort's listener (stream manager's protocol alone). */
  readonly smPort: number;
}

/** Starts the agent with `configFile`, resolved once it announces its ports. */
export async function startSmAgent(configFile: string): Promise<RunningSmAgent> {
  const child = spawn(process.execPath, [BIN, 'agent', 'run', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    const match =
      /API http:\/\/127\.0\.0\.1:(\d+) \(and stream manager protocol\), stream manager protocol also on 127\.0\.0\.1:(\d+)/.exec(
        line,
      );
    if (match !== null) {
      // Keep draining its output so the pipe never fills.
      lines.on('line', (l) => process.env.SM_TEST_DEBUG && console.log('AGENT', l));
      return { child, port: Number(match[1]), smPort: Number(match[2]) };
    }
  }
  throw new Error('the agent exited before its API came up');
}

export async function stopSmAgent(agent: RunningSmAgent, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (agent.child.exitCode !== null || agent.child.signalCode !== null) return;
  const exited = once(agent.child, 'exit');
  agent.child.kill(signal);
  await exited;
}

/** The Node SDK's stream-manager module (plain JavaScript: its classes, enums, util, exceptions). */
// biome-ignore lint/suspicious/noExplicitAny: the SDK ships no types; tests use it as its README does
export type NodeSm = any;

export function nodeSm(): NodeSm {
  return createRequire(import.meta.url)('aws-greengrass-core-sdk/stream-manager');
}

/**
 * A connected StreamManagerClient, with the token the SDK reads from AWS_CONTAINER_AUTHORIZATION_TOKEN
 * when it is constructed (the variable is restored right after).
 */
export async function connectNodeClient(sm: NodeSm, port: number, token: string): Promise<NodeSm> {
  const quiet = { error() {}, debug() {}, info() {}, warn() {} };
  const before = process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
  process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = token;
  let client: NodeSm;
  try {
    client = new sm.StreamManagerClient({ port, logger: quiet });
  } finally {
    if (before === undefined) delete process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
    else process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = before;
  }
  await new Promise<void>((resolve, reject) => {
    client.onConnected(resolve);
    client.onError(reject);
  });
  return client;
}
