import { bundledRules } from '../../functions/alerts/rules/bundled.ts';
import { type RunningDeviceAgent, startDeviceAgent } from './agent.ts';
import type { FleetOptions } from './config.ts';
import { FleetPublisher, type PublishedBatch } from './publisher.ts';
import { FleetScenario } from './scenario.ts';

export type { RunningDeviceAgent } from './agent.ts';
export { type FleetOptions, type FleetOptionsInput, parseFleetOptions } from './config.ts';
export { FleetConfigError, FleetRecordRefusedError } from './errors.ts';
export type { PublishedBatch, PublisherStats } from './publisher.ts';
export { type AnomalyKind, FleetScenario, type InjectedAnomaly } from './scenario.ts';

export interface StartFleetOptions {
  readonly fleet: FleetOptions;
  /** Agents keep their stores and logs under `<dataDir>/<gateway>`. */
  readonly dataDir: string;
  readonly region: string;
  readonly kinesisEndpoint: string;
  readonly kinesisStreamName: string;
  readonly onPublished?: (batch: PublishedBatch) => void;
  readonly onError?: (error: Error) => void;
}

export interface RunningFleet {
  readonly agents: readonly RunningDeviceAgent[];
  readonly scenario: FleetScenario;
  readonly publisher: FleetPublisher;
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
  try {
    for (let i = 0; i < fleet.agents; i++) {
      agents.push(
        await startDeviceAgent({
          name: `gateway-${String(i + 1).padStart(2, '0')}`,
          dataDir: options.dataDir,
          region: options.region,
          kinesisEndpoint: options.kinesisEndpoint,
          kinesisStreamName: options.kinesisStreamName,
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
  const publisher = new FleetPublisher({
    scenario,
    agents,
    timeScale: fleet.timeScale,
    ...(options.onPublished === undefined ? {} : { onPublished: options.onPublished }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  });
  return {
    agents,
    scenario,
    publisher,
    async stop() {
      await publisher.stop();
      await Promise.allSettled(agents.map((agent) => agent.stop()));
    },
  };
}
