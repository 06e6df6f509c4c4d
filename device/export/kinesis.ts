/**
 * The thin edge towards Kinesis: the three calls the exporter makes and the reduction of SDK errors
 * to a FailureKind. Everything else stays in the pure core.
 */
import {
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type PutRecordsCommandOutput,
  type PutRecordsRequestEntry,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { ShardMap } from '../../shared/kinesis/hash.ts';
import { type FailureKind, KinesisCallError } from './errors.ts';
import type { PlannedEntry } from './planner.ts';
import type { EntryOutcome } from './state.ts';

const INVALID = new Set(['ValidationException', 'InvalidArgumentException', 'SerializationException']);
const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'LimitExceededException',
  'KMSThrottlingException',
]);
const DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'ExpiredTokenException',
  'InvalidSignatureException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
]);

/**
 * What a failed call means for the exporter. Anything unknown, network errors and 5xx included,
 * counts as `unavailable`: retried with backoff, the backlog stays in the log.
 */
export function classifyFailure(operation: string, error: unknown): KinesisCallError {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
  const errno = (error as { code?: unknown } | undefined)?.code;
  let kind: FailureKind = 'unavailable';
  let code = name;
  if (name === 'ResourceNotFoundException') kind = 'stream-missing';
  else if (INVALID.has(name)) kind = 'invalid';
  else if (THROTTLED.has(name)) kind = 'throttled';
  else if (DENIED.has(name)) kind = 'denied';
  if (kind === 'unavailable' && typeof errno === 'string') code = errno;
  else if (kind === 'unavailable' && status !== undefined && status >= 500) code = `${name} (HTTP ${status})`;
  return new KinesisCallError(operation, kind, code, message, error);
}

/** Sends one PutRecords request; per-entry outcomes in request order, or throws KinesisCallError. */
export async function putRecords(
  client: KinesisClient,
  streamName: string,
  entries: readonly PlannedEntry[],
  timeoutMillis: number,
): Promise<EntryOutcome[]> {
  const records: PutRecordsRequestEntry[] = entries.map((entry) => ({
    Data: entry.data,
    PartitionKey: entry.partitionKey,
    ...(entry.explicitHashKey === undefined ? {} : { ExplicitHashKey: entry.explicitHashKey }),
  }));
  let output: PutRecordsCommandOutput;
  try {
    output = await client.send(new PutRecordsCommand({ StreamName: streamName, Records: records }), {
      abortSignal: AbortSignal.timeout(timeoutMillis),
    });
  } catch (error) {
    throw classifyFailure('PutRecords', error);
  }
  const results = output.Records ?? [];
  return entries.map((_, i): EntryOutcome => {
    const result = results[i];
    if (result?.ErrorCode == null && result?.ShardId != null && result.SequenceNumber != null) {
      return { ok: true, shardId: result.ShardId, sequenceNumber: result.SequenceNumber };
    }
    return {
      ok: false,
      code: result?.ErrorCode ?? 'MissingResult',
      message: result?.ErrorMessage ?? 'PutRecords returned no result for this entry',
    };
  });
}

/** Open shards of the stream (all ListShards pages). */
export async function listShards(client: KinesisClient, streamName: string): Promise<ShardMap> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  try {
    do {
      const page = await client.send(
        new ListShardsCommand(
          nextToken === undefined ? { StreamName: streamName } : { NextToken: nextToken },
        ),
      );
      shards.push(...(page.Shards ?? []));
      nextToken = page.NextToken ?? undefined;
    } while (nextToken !== undefined);
  } catch (error) {
    throw classifyFailure('ListShards', error);
  }
  return ShardMap.fromShards(shards);
}

/** The stream's MaxRecordSize in bytes, when DescribeStreamSummary reports one. */
export async function maxRecordBytes(client: KinesisClient, streamName: string): Promise<number | undefined> {
  try {
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    const kib = StreamDescriptionSummary?.MaxRecordSizeInKiB;
    return typeof kib === 'number' && kib > 0 ? kib * 1024 : undefined;
  } catch (error) {
    throw classifyFailure('DescribeStreamSummary', error);
  }
}

/** Same open shards with the same hash ranges. */
export function sameShards(a: ShardMap, b: ShardMap): boolean {
  return (
    a.shards.length === b.shards.length &&
    a.shards.every((shard, i) => {
      const other = b.shards[i];
      return (
        other !== undefined &&
        other.shardId === shard.shardId &&
        other.startingHashKey === shard.startingHashKey &&
        other.endingHashKey === shard.endingHashKey
      );
    })
  );
}
