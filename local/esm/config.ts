import { readFile } from 'node:fs/promises';
import {
  ESM_MAX_BATCH_SIZE,
  ESM_MAX_BATCHING_WINDOW_SECONDS,
  ESM_MAX_PARALLELIZATION_FACTOR,
  ESM_MAX_RECORD_AGE_SECONDS,
  ESM_MAX_RETRY_ATTEMPTS,
  ESM_MIN_RECORD_AGE_SECONDS,
} from '../../shared/kinesis/limits.ts';
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
  const fail = (path: Path, value: unknown, reason: string): never => {
    const line = parsed.lineOf(path);
    throw new StackDefinitionError(
      path.join('.'),
      value,
      reason,
      line === undefined ? { file: stack.file } : { file: stack.file, line },
    );
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
  for (const [functionName, fn] of Object.entries(functions)) {
    if (!isRecord(fn)) continue;
    const events = Array.isArray(fn.events) ? fn.events : [];
    events.forEach((event, index) => {
      if (!isRecord(event) || !isRecord(event.stream)) return;
      const at = (...rest: Path): Path => ['functions', functionName, 'events', index, 'stream', ...rest];
      const stream = event.stream;
      if (stream.type !== 'kinesis') return;
      if (stream.enabled === false) return;
      const number = (key: string, fallback: number, min: number, max: number): number => {
        const value = stream[key] ?? fallback;
        if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
          return fail(at(key), value, `must be an integer in [${min}, ${max}]`);
        return value;
      };
      const startingPosition = stream.startingPosition ?? 'LATEST';
      if (startingPosition !== 'LATEST' && startingPosition !== 'TRIM_HORIZON')
        fail(at('startingPosition'), startingPosition, 'must be LATEST or TRIM_HORIZON locally');
      if (stream.consumer === undefined || stream.consumer === true)
        fail(at('consumer'), stream.consumer, 'must reference an AWS::Kinesis::StreamConsumer resource');
      const destinations = isRecord(stream.destinations) ? stream.destinations : {};
      const onFailure = isRecord(destinations.onFailure)
        ? destinations.onFailure.arn
        : destinations.onFailure;
      const retry = number('maximumRetryAttempts', DEFAULTS.maximumRetryAttempts, -1, ESM_MAX_RETRY_ATTEMPTS);
      const maxAge = number(
        'maximumRecordAgeInSeconds',
        DEFAULTS.maximumRecordAgeInSeconds,
        -1,
        ESM_MAX_RECORD_AGE_SECONDS,
      );
      if (maxAge !== -1 && maxAge < ESM_MIN_RECORD_AGE_SECONDS)
        fail(at('maximumRecordAgeInSeconds'), maxAge, `must be -1 or >= ${ESM_MIN_RECORD_AGE_SECONDS}`);
      if (typeof fn.handler !== 'string')
        fail(['functions', functionName, 'handler'], fn.handler, 'must be a string');
      const environment: Record<string, string> = {};
      for (const [key, value] of Object.entries(isRecord(fn.environment) ? fn.environment : {})) {
        const path = ['functions', functionName, 'environment', key];
        if (typeof value === 'string' || typeof value === 'number') environment[key] = String(value);
        else environment[key] = nameOf(path, value, undefined);
      }
      mappings.push({
        functionName,
        handler: fn.handler as string,
        streamName: nameOf(at('arn'), stream.arn, 'AWS::Kinesis::Stream'),
        consumerName: nameOf(at('consumer'), stream.consumer, 'AWS::Kinesis::StreamConsumer'),
        onFailure: onFailure === undefined ? undefined : logicalIdOf(onFailure),
        environment,
        settings: {
          batchSize: number('batchSize', DEFAULTS.batchSize, 1, ESM_MAX_BATCH_SIZE),
          batchWindowSeconds: number(
            'batchWindow',
            DEFAULTS.batchWindowSeconds,
            0,
            ESM_MAX_BATCHING_WINDOW_SECONDS,
          ),
          parallelizationFactor: number(
            'parallelizationFactor',
            DEFAULTS.parallelizationFactor,
            1,
            ESM_MAX_PARALLELIZATION_FACTOR,
          ),
          startingPosition: startingPosition as 'LATEST' | 'TRIM_HORIZON',
          maximumRetryAttempts: retry,
          maximumRecordAgeInSeconds: maxAge,
          bisectBatchOnFunctionError: stream.bisectBatchOnFunctionError === true,
          reportBatchItemFailures: stream.functionResponseType === 'ReportBatchItemFailures',
          timeoutSeconds: typeof fn.timeout === 'number' ? fn.timeout : DEFAULTS.timeoutSeconds,
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
