import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { describeIssue } from '../../shared/errors.ts';
import {
  ESM_MAX_BATCH_SIZE,
  ESM_MAX_BATCHING_WINDOW_SECONDS,
  ESM_MAX_PARALLELIZATION_FACTOR,
  ESM_MAX_RECORD_AGE_SECONDS,
  ESM_MAX_RETRY_ATTEMPTS,
  ESM_MIN_RECORD_AGE_SECONDS,
  LAMBDA_MAX_TIMEOUT_SECONDS,
} from '../../shared/kinesis/limits.ts';
import { parseOptions } from '../../shared/options.ts';
import { StackDefinitionError } from '../resources/errors.ts';
import { LOCAL_ACCOUNT_ID, type StackDefinition } from '../resources/stack.ts';
import { VariableResolver } from '../resources/variables.ts';
import { parseStackYaml } from '../resources/yaml.ts';

/** Lambda event source mapping settings for a Kinesis stream, as the local runner applies them. */
export interface StreamMappingSettings {
  batchSize: number;
  batchWindowSeconds: number;
  parallelizationFactor: number;
  startingPosition: 'LATEST' | 'TRIM_HORIZON';
  /** -1 = until the record expires (Lambda's default). */
  maximumRetryAttempts: number;
  /** -1 = no limit (Lambda's default). */
  maximumRecordAgeInSeconds: number;
  bisectBatchOnFunctionError: boolean;
  reportBatchItemFailures: boolean;
  /** Function timeout; an invocation running longer counts as a function error. */
  timeoutSeconds: number;
}

/** One `stream` event of one function in serverless.yml. */
export interface StreamMappingDefinition {
  functionName: string;
  /** serverless handler string, e.g. `functions/alerts/handler.handler`. */
  handler: string;
  streamName: string;
  /** EFO consumer name; the local runner requires one (it only reads through SubscribeToShard). */
  consumerName: string;
  /** Logical id of the on-failure destination (AlertsDlq), if any. */
  onFailure: string | undefined;
  /** The function's environment, `!Ref`s to stack resources replaced by their names. */
  environment: Record<string, string>;
  settings: StreamMappingSettings;
}

/** Lambda's defaults for Kinesis mappings (CreateEventSourceMapping API reference). */
const DEFAULTS = {
  batchSize: 100,
  batchWindowSeconds: 0,
  parallelizationFactor: 1,
  maximumRetryAttempts: -1,
  maximumRecordAgeInSeconds: -1,
  timeoutSeconds: 6,
} as const;

type Path = (string | number)[];

const integer = (min: number, max: number) => {
  const reason = `must be an integer in [${min}, ${max}]`;
  return z.number().int(reason).min(min, reason).max(max, reason);
};

/**
 * A Kinesis `stream` event as the local runner applies it: osls's own keys and bounds (Lambda's
 * limits, shared/kinesis/limits.ts), strict, so a misspelt setting is refused rather than ignored.
 * What the runner cannot emulate (filters, tumbling windows, AT_TIMESTAMP) is refused too: running
 * without it would make local behaviour differ silently from AWS.
 */
const kinesisStreamEventSchema = z.strictObject({
  type: z.literal('kinesis'),
  /** `!GetAtt`/`!Ref` of a stream; resolved against the stack's resources below. */
  arn: z.unknown(),
  consumer: z.unknown(),
  enabled: z.boolean().optional(),
  batchSize: integer(1, ESM_MAX_BATCH_SIZE).default(DEFAULTS.batchSize),
  batchWindow: integer(0, ESM_MAX_BATCHING_WINDOW_SECONDS).default(DEFAULTS.batchWindowSeconds),
  parallelizationFactor: integer(1, ESM_MAX_PARALLELIZATION_FACTOR).default(DEFAULTS.parallelizationFactor),
  startingPosition: z
    .enum(['LATEST', 'TRIM_HORIZON'], 'must be LATEST or TRIM_HORIZON locally')
    .default('LATEST'),
  maximumRetryAttempts: integer(-1, ESM_MAX_RETRY_ATTEMPTS).default(DEFAULTS.maximumRetryAttempts),
  maximumRecordAgeInSeconds: integer(-1, ESM_MAX_RECORD_AGE_SECONDS)
    .refine(
      (age) => age === -1 || age >= ESM_MIN_RECORD_AGE_SECONDS,
      `must be -1 or >= ${ESM_MIN_RECORD_AGE_SECONDS}`,
    )
    .default(DEFAULTS.maximumRecordAgeInSeconds),
  bisectBatchOnFunctionError: z.boolean().default(false),
  functionResponseType: z.literal('ReportBatchItemFailures').optional(),
  destinations: z.strictObject({ onFailure: z.unknown() }).optional(),
});

/** The parts of a function the runner uses; the rest of its keys are osls's to validate. */
const functionSchema = z.looseObject({
  handler: z.string('must be a string'),
  timeout: integer(1, LAMBDA_MAX_TIMEOUT_SECONDS).default(DEFAULTS.timeoutSeconds),
  environment: z.record(z.string(), z.unknown()).default({}),
  events: z.array(z.unknown()).default([]),
});

/**
 * Reads the Kinesis `stream` events of every function in serverless.yml, with variables resolved and
 * `!GetAtt X.Arn` / `!Ref X` mapped to the stack's stream and consumer names.
 */
export async function loadStreamMappings(stack: StackDefinition): Promise<StreamMappingDefinition[]> {
  const source = await readFile(stack.file, 'utf8');
  const parsed = parseStackYaml(source, stack.file);
  const resolver = new VariableResolver(parsed.value, {
    file: stack.file,
    options: { stage: stack.stage, region: stack.region },
    env: process.env,
    accountId: LOCAL_ACCOUNT_ID,
    lineOf: (path) => parsed.lineOf(path),
  });
  const locate = (path: Path) => {
    const line = parsed.lineOf(path);
    return line === undefined ? { file: stack.file } : { file: stack.file, line };
  };
  const fail = (path: Path, value: unknown, reason: string): never => {
    throw new StackDefinitionError(path.join('.'), value, reason, locate(path));
  };
  /** parseOptions at `at` in the file; every issue is reported, the first one located by line. */
  const parseAt = <S extends z.ZodType>(schema: S, input: unknown, at: Path): z.output<S> => {
    const rendered = new Map<string, Path>();
    return parseOptions(schema, input, {
      at,
      formatPath: (segments) => {
        const path = segments.map((s) => (typeof s === 'number' ? s : String(s)));
        const text = path.join('.');
        rendered.set(text, path);
        return text;
      },
      unknownKey: 'is not a stream event setting the local runner applies',
      error: ([first, ...rest]) => {
        const also = rest.length === 0 ? '' : `; also ${rest.map(describeIssue).join('; ')}`;
        return new StackDefinitionError(
          first.path,
          first.value,
          `${first.reason}${also}`,
          locate(rendered.get(first.path) ?? at),
        );
      },
    });
  };
  const functions = resolver.resolve(['functions']) ?? {};
  if (!isRecord(functions)) return fail(['functions'], functions, 'must be a map');

  /** Name of the resource a `!Ref`/`!GetAtt` points at; `kind` undefined accepts any named resource. */
  const nameOf = (path: Path, value: unknown, kind: string | undefined): string => {
    const logicalId = logicalIdOf(value);
    const resource = stack.resources.find((r) => r.logicalId === logicalId);
    if (resource === undefined || (kind !== undefined && resource.type !== kind) || !('name' in resource))
      return fail(
        path,
        value,
        `must be !Ref/!GetAtt of a ${kind ?? 'named resource'} declared under resources`,
      );
    return resource.name;
  };

  const mappings: StreamMappingDefinition[] = [];
  for (const [functionName, raw] of Object.entries(functions)) {
    const fnAt: Path = ['functions', functionName];
    const events = isRecord(raw) && Array.isArray(raw.events) ? raw.events : [];
    events.forEach((event, index) => {
      if (!isRecord(event) || event.stream === undefined) return;
      const at: Path = [...fnAt, 'events', index, 'stream'];
      if (typeof event.stream === 'string') {
        if (/^arn:[^:]+:kinesis:/.test(event.stream))
          fail(
            at,
            event.stream,
            'must be an object with type kinesis and a consumer locally (a bare ARN names no resource of this stack)',
          );
        return;
      }
      if (!isRecord(event.stream) || event.stream.type !== 'kinesis') return;
      const stream = parseAt(kinesisStreamEventSchema, event.stream, at);
      if (stream.enabled === false) return;
      const fn = parseAt(functionSchema, raw, fnAt);
      if (stream.consumer === undefined || stream.consumer === true)
        fail([...at, 'consumer'], stream.consumer, 'must reference an AWS::Kinesis::StreamConsumer resource');
      const onFailure = isRecord(stream.destinations?.onFailure)
        ? stream.destinations.onFailure.arn
        : stream.destinations?.onFailure;
      const environment: Record<string, string> = {};
      for (const [key, value] of Object.entries(fn.environment)) {
        if (typeof value === 'string' || typeof value === 'number') environment[key] = String(value);
        else environment[key] = nameOf([...fnAt, 'environment', key], value, undefined);
      }
      mappings.push({
        functionName,
        handler: fn.handler,
        streamName: nameOf([...at, 'arn'], stream.arn, 'AWS::Kinesis::Stream'),
        consumerName: nameOf([...at, 'consumer'], stream.consumer, 'AWS::Kinesis::StreamConsumer'),
        onFailure: onFailure === undefined ? undefined : logicalIdOf(onFailure),
        environment,
        settings: {
          batchSize: stream.batchSize,
          batchWindowSeconds: stream.batchWindow,
          parallelizationFactor: stream.parallelizationFactor,
          startingPosition: stream.startingPosition,
          maximumRetryAttempts: stream.maximumRetryAttempts,
          maximumRecordAgeInSeconds: stream.maximumRecordAgeInSeconds,
          bisectBatchOnFunctionError: stream.bisectBatchOnFunctionError,
          reportBatchItemFailures: stream.functionResponseType === 'ReportBatchItemFailures',
          timeoutSeconds: fn.timeout,
        },
      });
    });
  }
  return mappings;
}

/** `{ Ref: X }` / `{ 'Fn::GetAtt': [X, 'Arn'] }` → X; anything else → undefined. */
function logicalIdOf(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  if (typeof value.Ref === 'string') return value.Ref;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
