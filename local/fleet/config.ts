import { z } from 'zod';
import { parseOptions, spelledAs } from '../../shared/options.ts';
import { FleetConfigError } from './errors.ts';
import { type AnomalyKind, DEFAULT_SCENARIO } from './scenario.ts';

/** What `npm start` and the tests may set about the simulated fleet; the rest is the scenario's default. */
const fleetOptionsSchema = z.strictObject({
  sensors: z.number().int().min(0).max(100_000).default(DEFAULT_SCENARIO.sensors),
  terminals: z.number().int().min(0).max(10_000).default(DEFAULT_SCENARIO.terminals),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .default(DEFAULT_SCENARIO.seed),
  /** Simulated ms per wall-clock ms: 10 plays ten minutes of fleet time in one minute. */
  timeScale: z.number().positive().max(1_000).default(1),
  /** Device agents (gateways) the devices are spread over. */
  agents: z.number().int().min(1).max(16).default(1),
  sensorIntervalMs: z.number().int().min(100).max(3_600_000).default(DEFAULT_SCENARIO.sensorIntervalMs),
  transactionsPerTerminalPerMinute: z
    .number()
    .positive()
    .max(600)
    .default(DEFAULT_SCENARIO.transactionsPerTerminalPerMinute),
  /** Simulated ms between injected anomalies; 0 injects none. */
  anomalyIntervalMs: z.number().int().min(0).default(DEFAULT_SCENARIO.anomalyIntervalMs),
  firstAnomalyAfterMs: z.number().int().min(0).default(DEFAULT_SCENARIO.firstAnomalyAfterMs),
  anomalyKinds: z
    .array(z.enum(['overheating', 'velocity', 'impossible_travel'] satisfies AnomalyKind[]))
    .default([...DEFAULT_SCENARIO.anomalyKinds]),
  /** Simulated epoch ms where the fleet starts; default: now. */
  startTime: z
    .number()
    .int()
    .min(Date.UTC(2000, 0, 1))
    .optional(),
  /** A bounded run: simulated ms after startTime when the fleet stops generating. */
  durationMs: z.number().int().positive().optional(),
  /** Each gateway writes a syslog its agent tails into the logs stream. */
  syslog: z.boolean().default(true),
});

export type FleetOptionsInput = z.input<typeof fleetOptionsSchema>;
export type FleetOptions = z.output<typeof fleetOptionsSchema>;

/**
 * Validates fleet options once. `names` maps option keys to how the user spelled them (CLI flags),
 * so an error names `--sensors` rather than `sensors`.
 */
export function parseFleetOptions(
  input: unknown,
  names: Readonly<Partial<Record<keyof FleetOptions, string>>> = {},
): FleetOptions {
  return parseOptions(fleetOptionsSchema, input, {
    formatPath: spelledAs(names),
    unknownKey: 'is not a fleet option',
    error: ([first, ...rest]) => new FleetConfigError(first.path, first.value, first.reason, { also: rest }),
  });
}
