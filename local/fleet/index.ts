import { bundledRules } from '../../functions/alerts/rules/bundled.ts';
import { gatewayLogDir, type RunningDeviceAgent, startDeviceAgent } from './agent.ts';
import type { FleetOptions } from './config.ts';
import { FleetLogFiles, type WrittenLogLines } from './log-files.ts';
import { DEFAULT_GATEWAY_LOG, GatewayLog } from './logs.ts';
import { agentIndex, FleetPublisher, type PublishedBatch } from './publisher.ts';
import { FleetScenario, sensorId, terminalId } from './scenario.ts';

export type { RunningDeviceAgent } from './agent.ts';
export { type FleetOptions, type FleetOptionsInput, parseFleetOptions } from './config.ts';
export { FleetConfigError, FleetRecordRefusedError } from './errors.ts';
export type { LogFileStats, WrittenLogLines } from './log-files.ts';
export type { LogLine } from './logs.ts';
export type { PublishedBatch, PublisherStats } from './publisher.ts';
export { type AnomalyKind, FleetScenario, type InjectedAnomaly } from './scenario.ts';

export interface StartFleetOptions {
  readonly fleet: FleetOptions;
  /** Agents keep their stores and logs under `<dataDir>/<gateway>`. */
  readonly dataDir: string;
  readonly region: string;
  readonly kinesisEndpoint: string;
  readonly kinesisStreamName: string;
  /** For the agents' stream manager S3 and SiteWise exports. */
  readonly s3Endpoint?: string;
  readonly siteWiseEndpoint?: string;
  readonly onPublished?: (batch: PublishedBatch) => void;
  /** Called after lines are appended to a gateway's log file (the agent tails them on its own). */
  readonly onLogWritten?: (written: WrittenLogLines) => void;
  readonly onError?: (error: Error) => void;
}

export interface RunningFleet {
  readonly agents: readonly RunningDeviceAgent[];
  readonly scenario: FleetScenario;
  readonly publisher: FleetPublisher;
  /**
   * The gateways' syslog files the simulator writes and their agents tail into the logs stream; those
   * lines become records in the agents, so they are not among the publisher's records. Undefined
   * without a simulator.
   */
  readonly logs: FleetLogFiles | undefined;
  /** Stops the simulator, then the agents (their unexported backlog stays in their logs). */
  stop(): Promise<void>;
}

/**
 * Starts the device agents (gateways) and the simulated fleet publishing through them. With zero
 * sensors and terminals only the agents run: a place for a user's own devices to append to.
 */
export async function startFleet(options: StartFleetOptions): Promise<RunningFleet> {
  const { fleet } = options;
  const agents: RunningDeviceAgent[] = [];
  const names = Array.from({ length: fleet.agents }, (_, i) => `gateway-${String(i + 1).padStart(2, '0')}`);
  // Gateways keep a syslog only when the simulator runs (without it the agents are the user's) and asks.
  const syslog = fleet.sensors + fleet.terminals > 0 && fleet.syslog;
  try {
    for (const name of names) {
      agents.push(
        await startDeviceAgent({
          name,
          dataDir: options.dataDir,
          region: options.region,
          kinesisEndpoint: options.kinesisEndpoint,
          kinesisStreamName: options.kinesisStreamName,
          ...(options.s3Endpoint === undefined ? {} : { s3Endpoint: options.s3Endpoint }),
          ...(options.siteWiseEndpoint === undefined ? {} : { siteWiseEndpoint: options.siteWiseEndpoint }),
          tailSyslog: syslog,
        }),
      );
    }
  } catch (error) {
    await Promise.allSettled(agents.map((agent) => agent.stop()));
    throw error;
  }
  // Whole seconds, so the scenario's ticks line up with wall-clock seconds.
  const startTime = fleet.startTime ?? Math.floor(Date.now() / 1000) * 1000;
  const scenario = new FleetScenario(
    {
      seed: fleet.seed,
      sensors: fleet.sensors,
      terminals: fleet.terminals,
      startTime,
      sensorIntervalMs: fleet.sensorIntervalMs,
      transactionsPerTerminalPerMinute: fleet.transactionsPerTerminalPerMinute,
      anomalyIntervalMs: fleet.anomalyIntervalMs,
      firstAnomalyAfterMs: fleet.firstAnomalyAfterMs,
      anomalyKinds: fleet.anomalyKinds,
      ...(fleet.durationMs === undefined ? {} : { endTime: startTime + fleet.durationMs }),
    },
    bundledRules,
  );
  const endTime = fleet.durationMs === undefined ? undefined : startTime + fleet.durationMs;
  const devices = [
    ...Array.from({ length: fleet.sensors }, (_, i) => sensorId(i + 1)),
    ...Array.from({ length: fleet.terminals }, (_, i) => terminalId(i + 1)),
  ];
  const logs = syslog
    ? new FleetLogFiles({
        gateways: names.map((gateway, index) => ({
          dir: gatewayLogDir(options.dataDir, gateway),
          model: new GatewayLog(
            {
              seed: fleet.seed,
              gateway,
              // The devices whose records go through this gateway.
              devices: devices.filter((id) => agentIndex(id, names.length) === index),
              startTime,
              ...(endTime === undefined ? {} : { endTime }),
              ...DEFAULT_GATEWAY_LOG,
            },
            bundledRules,
          ),
        })),
        ...(options.onLogWritten === undefined ? {} : { onWritten: options.onLogWritten }),
      })
    : undefined;
  const publisher = new FleetPublisher({
    scenario,
    agents,
    timeScale: fleet.timeScale,
    ...(logs === undefined ? {} : { logFiles: logs }),
    ...(options.onPublished === undefined ? {} : { onPublished: options.onPublished }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  });
  return {
    agents,
    scenario,
    publisher,
    logs,
    async stop() {
      await publisher.stop();
      await Promise.allSettled(agents.map((agent) => agent.stop()));
    },
  };
}
