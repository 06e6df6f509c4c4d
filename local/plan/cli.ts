import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { exitCodes } from '../../shared/error-codes.ts';
import { exitCodeFor, SharedErrorCodes, UsageError } from '../../shared/errors.ts';
import { PlanInputError } from './errors.ts';
import { formatPlan } from './format.ts';
import { type PlanInput, parsePlanInput } from './input.ts';
import { planCapacity } from './plan.ts';

export const PLAN_USAGE = `usage: tributary plan [--file plan.yaml] [options] [--json]

Sizes a deployment for a fleet: shards (with and without KPL aggregation), hot keys, EFO consumers,
Lambda concurrency and batches, Firehose objects, Flink parallelism and KPUs, DynamoDB writes and a
monthly cost estimate, each with its reason. Flags override the file; the file may set every field
(see README "Sizing").

  --devices <n>              devices in the fleet
  --rate <records/s>         records per second per device
  --record-bytes <n>         bytes of one record
  --keys <n>                 distinct partition keys (key cardinality)
  --hot-key-share <0..1>     share of all records on the busiest key (default: even spread)
  --region <region>          AWS Region for the shard quota (default us-east-1)
  --utilisation <0..1]       plan shards to run at this share of their limits (default 0.8)
  --file <plan.yaml>         the same fields as YAML (devices, recordsPerSecondPerDevice, ...)
  --json                     the whole plan as JSON
  -h, --help                 this help`;

const FLAGS = {
  devices: { field: 'devices', flag: '--devices' },
  rate: { field: 'recordsPerSecondPerDevice', flag: '--rate' },
  'record-bytes': { field: 'recordBytes', flag: '--record-bytes' },
  keys: { field: 'partitionKeys', flag: '--keys' },
  'hot-key-share': { field: 'hottestKeyShare', flag: '--hot-key-share' },
  utilisation: { field: 'targetUtilisation', flag: '--utilisation' },
} as const satisfies Record<string, { field: keyof PlanInput; flag: string }>;

export interface PlanCommand {
  input: PlanInput;
  json: boolean;
}

/** Reads flags and the optional file into validated input; undefined for --help. */
export async function parsePlanArgs(argv: readonly string[]): Promise<PlanCommand | undefined> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: 'string' as const }])),
        region: { type: 'string' },
        file: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${PLAN_USAGE}`);
  }
  if (values.help === true) return undefined;
  let fields: Record<string, unknown> = {};
  const names: Partial<Record<keyof PlanInput, string>> = {};
  if (typeof values.file === 'string') {
    let text: string;
    try {
      text = await readFile(values.file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${values.file}: ${(error as Error).message}`, { cause: error });
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      throw new UsageError(`${values.file} is not YAML: ${(error as Error).message}`, { cause: error });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new PlanInputError('', parsed, `${values.file} must hold a mapping of plan fields`);
    fields = { ...(parsed as Record<string, unknown>) };
  }
  for (const [name, { field, flag }] of Object.entries(FLAGS)) {
    const raw = values[name];
    if (typeof raw !== 'string') continue;
    // Kept as the string when it is not a number, so the error quotes what was typed.
    fields[field] = raw.trim() === '' || Number.isNaN(Number(raw)) ? raw : Number(raw);
    names[field] = flag;
  }
  if (typeof values.region === 'string') {
    fields.region = values.region;
    names.region = '--region';
  }
  for (const { field, flag } of Object.values(FLAGS)) names[field] ??= flag;
  return { input: parsePlanInput(fields, names), json: values.json === true };
}

const EXIT_BY_CODE = exitCodes([SharedErrorCodes]);

/** Entry point for `tributary plan ...`; returns the process exit code. */
export async function planMain(argv: readonly string[]): Promise<number> {
  let command: PlanCommand | undefined;
  try {
    command = await parsePlanArgs(argv);
  } catch (error) {
    if (error instanceof UsageError || error instanceof PlanInputError) {
      console.error(`error [${error.code}]: ${error.message}`);
      return exitCodeFor(error, EXIT_BY_CODE);
    }
    throw error;
  }
  if (command === undefined) {
    console.log(PLAN_USAGE);
    return 0;
  }
  const plan = planCapacity(command.input);
  console.log(command.json ? JSON.stringify({ input: command.input, ...plan }, null, 2) : formatPlan(plan));
  return 0;
}
