import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createAwsClients } from '../../shared/aws/clients.ts';
import { exitCodes } from '../../shared/error-codes.ts';
import { exitCodeFor, SharedErrorCodes, UsageError } from '../../shared/errors.ts';
import { parseOptions, spelledAs, usageError } from '../../shared/options.ts';
import { ScaleError, ScaleErrorCodes } from './errors.ts';
import { formatShards, scaleStream } from './scale.ts';

export const SCALE_USAGE = `usage: tributary scale --stage <stage> --shards <n> [options]

Reshards the stage's records stream with UpdateShardCount (UNIFORM_SCALING), after the checks AWS
applies: at most double or half the open shards per call, at most 10 scalings per stream per rolling
24 hours, 10,000 shards per stream, the account's shard quota, one operation at a time (ACTIVE). Waits
for ACTIVE and prints the new shards. Producers and consumers keep running: the device agent repacks
for the new shards, readers finish each parent before its children.

  --stage <name>        serverless stage (stream tributary-<stage>-records)
  --shards <n>          target open shard count
  --stream <name>       another stream name
  --stepwise            reach a target beyond 2x (or 1/2) in successive doublings (halvings)
  --region <region>     AWS region (default AWS_REGION, else us-east-1)
  --endpoint <url>      a local Kinesis endpoint (npm start prints it): the local cloud
  --timeout <seconds>   wait at most this long for ACTIVE per step (default 600)
  -h, --help            this help`;

export interface ScaleCommand {
  stream: string;
  target: number;
  stepwise: boolean;
  region: string;
  endpoint: string | undefined;
  timeoutMs: number;
}

const SCALE_FLAGS = { stage: '--stage', shards: '--shards', timeout: '--timeout', endpoint: '--endpoint' };

const SHARDS_RULE = 'must be a whole number of at least 1';
const TIMEOUT_RULE = 'must be a positive number of seconds';

/** The flags whose values are checked (parseArgs has checked the rest); numbers as typed. */
const scaleFlagsSchema = z.strictObject({
  stage: z
    .string()
    .regex(/^[a-zA-Z0-9-]+$/, 'must be letters, digits and -')
    .optional(),
  shards: z.coerce.number(SHARDS_RULE).int(SHARDS_RULE).min(1, SHARDS_RULE),
  timeout: z.coerce.number(TIMEOUT_RULE).positive(TIMEOUT_RULE).optional(),
  endpoint: z
    .string()
    .regex(/^https?:\/\//, 'must be an http(s) URL')
    .optional(),
});

export function parseScaleArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ScaleCommand | undefined {
  let values: ReturnType<typeof parseScaleFlags>['values'];
  try {
    ({ values } = parseScaleFlags(argv));
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${SCALE_USAGE}`);
  }
  if (values.help) return undefined;
  if (values.stage === undefined && values.stream === undefined)
    throw new UsageError('--stage (or --stream) is required');
  const { shards: target, timeout = 600 } = parseOptions(
    scaleFlagsSchema,
    { stage: values.stage, shards: values.shards, timeout: values.timeout, endpoint: values.endpoint },
    { formatPath: spelledAs(SCALE_FLAGS), error: usageError },
  );
  return {
    stream: values.stream ?? `tributary-${values.stage}-records`,
    target,
    stepwise: values.stepwise,
    region: values.region ?? (env.AWS_REGION || 'us-east-1'),
    endpoint: values.endpoint,
    timeoutMs: timeout * 1000,
  };
}

function parseScaleFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      stage: { type: 'string' },
      shards: { type: 'string' },
      stream: { type: 'string' },
      stepwise: { type: 'boolean', default: false },
      region: { type: 'string' },
      endpoint: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

const EXIT_BY_CODE = exitCodes([SharedErrorCodes, ScaleErrorCodes]);

/** Entry point for `tributary scale ...`; returns the process exit code. */
export async function scaleMain(argv: readonly string[]): Promise<number> {
  let command: ScaleCommand | undefined;
  try {
    command = parseScaleArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      return exitCodeFor(error, EXIT_BY_CODE);
    }
    throw error;
  }
  if (command === undefined) {
    console.log(SCALE_USAGE);
    return 0;
  }
  const clients = createAwsClients(
    command.endpoint === undefined
      ? { kind: 'aws', region: command.region }
      : { kind: 'local', region: command.region, endpoints: { kinesis: command.endpoint } },
  );
  try {
    const result = await scaleStream(clients.kinesis(), {
      stream: command.stream,
      target: command.target,
      stepwise: command.stepwise,
      timeoutMs: command.timeoutMs,
      pollMs: command.endpoint === undefined ? 5_000 : 200,
      log: (line) => console.log(line),
    });
    console.log(
      result.steps.length === 0
        ? `${command.stream} already has ${result.after} open shards`
        : `${command.stream}: ${result.before} → ${result.after} open shards, ACTIVE after ${(result.millis / 1000).toFixed(1)} s`,
    );
    for (const line of formatShards(result.shards)) console.log(line);
    return 0;
  } catch (error) {
    if (error instanceof ScaleError) {
      console.error(`error [${error.code}]: ${error.message}`);
      return exitCodeFor(error, EXIT_BY_CODE);
    }
    throw error;
  } finally {
    clients.destroy();
  }
}
