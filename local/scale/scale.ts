import {
  DescribeLimitsCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  type Shard,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import {
  UPDATE_SHARD_COUNT_MAX_FACTOR,
  UPDATE_SHARD_COUNT_MAX_PER_DAY,
  UPDATE_SHARD_COUNT_MAX_SHARDS,
} from '../../shared/kinesis/limits.ts';
import { ScaleRefusedError } from './errors.ts';

/**
 * `tributary scale`: UpdateShardCount (UNIFORM_SCALING) with the checks AWS applies made first, so a
 * refused reshard says which limit and what to do, then a wait for ACTIVE and the new shard map.
 * The checks are pure (checkScaling); the calls are thin.
 */

export interface ScalingState {
  stream: string;
  status: string;
  mode: string;
  openShards: number;
  /** Account-wide open shards and quota (DescribeLimits), when known. */
  account?: { openShards: number; shardLimit: number };
}

/** Doublings or halvings from `current` to `target`, each within UpdateShardCount's factor of two. */
export function scaleSteps(current: number, target: number): number[] {
  const steps: number[] = [];
  let at = current;
  while (at !== target) {
    at =
      target > at
        ? Math.min(target, at * UPDATE_SHARD_COUNT_MAX_FACTOR)
        : Math.max(target, Math.ceil(at / UPDATE_SHARD_COUNT_MAX_FACTOR));
    steps.push(at);
  }
  return steps;
}

/** Throws ScaleRefusedError when AWS would refuse UpdateShardCount(target) now. */
export function checkScaling(state: ScalingState, target: number, stepwise = false): number[] {
  const { stream, openShards: current } = state;
  if (state.mode !== 'PROVISIONED')
    throw new ScaleRefusedError(
      'SCALE_ON_DEMAND',
      stream,
      `the stream is in ${state.mode} mode; UpdateShardCount applies to provisioned streams only`,
    );
  if (state.status !== 'ACTIVE')
    throw new ScaleRefusedError(
      'SCALE_BUSY',
      stream,
      `the stream is ${state.status}; one scaling operation at a time: retry once it is ACTIVE`,
      { retryable: true },
    );
  if (
    target > UPDATE_SHARD_COUNT_MAX_SHARDS ||
    (current > UPDATE_SHARD_COUNT_MAX_SHARDS && target >= UPDATE_SHARD_COUNT_MAX_SHARDS)
  )
    throw new ScaleRefusedError(
      'SCALE_STREAM_LIMIT',
      stream,
      `${target} shards: UpdateShardCount scales a stream to at most ${UPDATE_SHARD_COUNT_MAX_SHARDS} shards (request a quota increase or split the fleet over streams)`,
    );
  if (state.account !== undefined && target > current) {
    const after = state.account.openShards - current + target;
    if (after > state.account.shardLimit)
      throw new ScaleRefusedError(
        'SCALE_ACCOUNT_QUOTA',
        stream,
        `${target} shards would bring the account to ${after} open shards, over its quota of ${state.account.shardLimit} (Service Quotas can raise it)`,
      );
  }
  const steps = scaleSteps(current, target);
  if (steps.length > 1 && !stepwise)
    throw new ScaleRefusedError(
      'SCALE_TOO_FAR',
      stream,
      `${current} → ${target} shards: one UpdateShardCount may at most double or halve the count; run ${steps.join(' → ')} one at a time (--stepwise does), each counting against the ${UPDATE_SHARD_COUNT_MAX_PER_DAY} scalings per stream per rolling 24 hours`,
    );
  if (steps.length > UPDATE_SHARD_COUNT_MAX_PER_DAY)
    throw new ScaleRefusedError(
      'SCALE_TOO_FAR',
      stream,
      `${current} → ${target} shards takes ${steps.length} scalings, over the ${UPDATE_SHARD_COUNT_MAX_PER_DAY} per stream per rolling 24 hours`,
    );
  return steps;
}

/** What a failed Kinesis call means for the operator. */
export function scaleFailure(stream: string, operation: string, error: unknown): ScaleRefusedError {
  const name = error instanceof Error ? error.name : '';
  const detail = error instanceof Error ? error.message : String(error);
  switch (name) {
    case 'ResourceNotFoundException':
      return new ScaleRefusedError(
        'SCALE_NOT_FOUND',
        stream,
        `no such stream (${operation}): deploy the stage or pass --stream`,
        { cause: error },
      );
    case 'ResourceInUseException':
      return new ScaleRefusedError(
        'SCALE_BUSY',
        stream,
        `another operation is under way (${detail}); retry once the stream is ACTIVE`,
        { retryable: true, cause: error },
      );
    case 'LimitExceededException':
      return new ScaleRefusedError(
        'SCALE_LIMIT',
        stream,
        `Kinesis refused ${operation}: ${detail} (at most ${UPDATE_SHARD_COUNT_MAX_PER_DAY} scalings per stream per rolling 24 hours, and the account's shard quota)`,
        { retryable: true, cause: error },
      );
    case 'InvalidArgumentException':
    case 'ValidationException':
      return new ScaleRefusedError('SCALE_REJECTED', stream, `${operation}: ${detail}`, { cause: error });
    default:
      return new ScaleRefusedError('SCALE_FAILED', stream, `${operation}: ${name || 'error'}: ${detail}`, {
        retryable: true,
        cause: error,
      });
  }
}

type Kinesis = Pick<KinesisClient, 'send'>;

export async function describeScaling(kinesis: Kinesis, stream: string): Promise<ScalingState> {
  let summary: Awaited<ReturnType<typeof describeSummary>>;
  try {
    summary = await describeSummary(kinesis, stream);
  } catch (error) {
    throw scaleFailure(stream, 'DescribeStreamSummary', error);
  }
  const state: ScalingState = {
    stream,
    status: summary?.StreamStatus ?? 'UNKNOWN',
    mode: summary?.StreamModeDetails?.StreamMode ?? 'PROVISIONED',
    openShards: summary?.OpenShardCount ?? 0,
  };
  try {
    const limits = await kinesis.send(new DescribeLimitsCommand({}));
    if (limits.ShardLimit !== undefined && limits.OpenShardCount !== undefined)
      state.account = { openShards: limits.OpenShardCount, shardLimit: limits.ShardLimit };
  } catch {
    // DescribeLimits is advisory: without kinesis:DescribeLimits, UpdateShardCount still reports the quota.
  }
  return state;
}

async function describeSummary(kinesis: Kinesis, stream: string) {
  return (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream })))
    .StreamDescriptionSummary;
}

export interface ScaleOptions {
  stream: string;
  target: number;
  stepwise: boolean;
  /** Gives up waiting for ACTIVE after this long per step. */
  timeoutMs: number;
  pollMs: number;
  log: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface ScaleResult {
  before: number;
  after: number;
  steps: number[];
  /** Open shards once ACTIVE, with their hash ranges and parents. */
  shards: Shard[];
  millis: number;
}

/** Runs the reshard: checks, UpdateShardCount per step, waits for ACTIVE after each, lists the new shards. */
export async function scaleStream(kinesis: Kinesis, options: ScaleOptions): Promise<ScaleResult> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const started = now();
  const { stream } = options;
  const initial = await describeScaling(kinesis, stream);
  if (initial.openShards === options.target && initial.status === 'ACTIVE')
    return {
      before: initial.openShards,
      after: initial.openShards,
      steps: [],
      shards: await openShards(kinesis, stream),
      millis: 0,
    };
  const steps = checkScaling(initial, options.target, options.stepwise);
  for (const step of steps) {
    const state = step === steps[0] ? initial : await describeScaling(kinesis, stream);
    if (step !== steps[0]) checkScaling(state, step);
    options.log(`UpdateShardCount ${stream}: ${state.openShards} → ${step} (UNIFORM_SCALING)`);
    try {
      await kinesis.send(
        new UpdateShardCountCommand({
          StreamName: stream,
          TargetShardCount: step,
          ScalingType: 'UNIFORM_SCALING',
        }),
      );
    } catch (error) {
      throw scaleFailure(stream, 'UpdateShardCount', error);
    }
    const deadline = now() + options.timeoutMs;
    for (;;) {
      const summary = await describeSummary(kinesis, stream).catch((error: unknown) => {
        throw scaleFailure(stream, 'DescribeStreamSummary', error);
      });
      if (summary?.StreamStatus === 'ACTIVE' && summary.OpenShardCount === step) break;
      if (now() > deadline)
        throw new ScaleRefusedError(
          'SCALE_TIMEOUT',
          stream,
          `still ${summary?.StreamStatus} with ${summary?.OpenShardCount} open shards after ${options.timeoutMs} ms; the operation continues on the AWS side (check with DescribeStreamSummary)`,
          { retryable: true },
        );
      await sleep(options.pollMs);
    }
  }
  return {
    before: initial.openShards,
    after: options.target,
    steps,
    shards: await openShards(kinesis, stream),
    millis: now() - started,
  };
}

/** Every shard of the stream, closed ones included: all ListShards pages. */
export async function listShards(kinesis: Kinesis, stream: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const page = await kinesis.send(
      token === undefined
        ? new ListShardsCommand({ StreamName: stream })
        : new ListShardsCommand({ NextToken: token }),
    );
    shards.push(...(page.Shards ?? []));
    token = page.NextToken;
  } while (token !== undefined);
  return shards;
}

/** Open shards (no ending sequence number), all ListShards pages. */
export async function openShards(kinesis: Kinesis, stream: string): Promise<Shard[]> {
  let shards: Shard[];
  try {
    shards = await listShards(kinesis, stream);
  } catch (error) {
    throw scaleFailure(stream, 'ListShards', error);
  }
  return shards.filter((s) => s.SequenceNumberRange?.EndingSequenceNumber == null);
}

/** One line per open shard: id, share of the hash space, parents. */
export function formatShards(shards: readonly Shard[]): string[] {
  const space = 2n ** 128n;
  return shards.map((shard) => {
    const start = BigInt(shard.HashKeyRange?.StartingHashKey ?? '0');
    const end = BigInt(shard.HashKeyRange?.EndingHashKey ?? '0');
    // Rounded: uniform scaling splits 2^128 into halves that differ by one hash key.
    const share = Math.round(Number(((end - start + 1n) * 1_000_000n) / space) / 100) / 100;
    const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter((p) => p != null);
    return `  ${shard.ShardId}  ${share.toFixed(2).padStart(6)}% of the hash keys${parents.length > 0 ? `  from ${parents.join(' + ')}` : ''}`;
  });
}
