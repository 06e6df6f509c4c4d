/**
 * The thin edge towards Kinesis: the three calls the exporter makes (KinesisApi) and the reduction
 * of failures to a FailureKind. Everything else stays in the pure core.
 *
 * The agent's own implementation is `httpKinesisApi`: it writes the PutRecords JSON straight into one
 * Buffer (each entry's base64 once, no request object, no JSON string of the whole body) and sends it
 * with the slim signed client from shared/aws/json-client.ts. An SDK v3 KinesisClient still works
 * through kinesis-sdk.ts.
 */
import type { AwsJsonClient } from '../../shared/aws/json-client.ts';
import { ShardMap } from '../../shared/kinesis/hash.ts';
import { ExportStatusCode, type FailureKind, KinesisCallError } from './errors.ts';
import type { PlannedEntry } from './planner.ts';
import type { EntryOutcome } from './state.ts';

/** What the exporter needs from Kinesis. Every method throws KinesisCallError on failure. */
export interface KinesisApi {
  /** One PutRecords request; per-entry outcomes in request order. */
  putRecords(
    streamName: string,
    entries: readonly PlannedEntry[],
    timeoutMillis: number,
  ): Promise<EntryOutcome[]>;
  /** Open shards of the stream (all ListShards pages). */
  listShards(streamName: string): Promise<ShardMap>;
  /** The stream's MaxRecordSize in bytes, when DescribeStreamSummary reports one. */
  maxRecordBytes(streamName: string): Promise<number | undefined>;
  /** GetShardIterator of type AFTER_SEQUENCE_NUMBER. */
  shardIteratorAfter(streamName: string, shardId: string, sequenceNumber: string): Promise<string>;
  /**
   * One GetRecords call. An answer over `maxResponseBytes` (as JSON on the wire) is dropped while it
   * arrives and fails with the code RESPONSE_TOO_LARGE_CODE; ask again for fewer records.
   */
  getRecords(
    shardIterator: string,
    limit: number,
    timeoutMillis: number,
    maxResponseBytes: number,
  ): Promise<RecordsPage>;
}

/** The error type of a GetRecords answer dropped for its size (shared/aws/json-client.ts). */
export const RESPONSE_TOO_LARGE_CODE = 'ResponseTooLarge';

/** A Kinesis record as GetRecords returns it (the fields the exporter reads). */
export interface ReadRecord {
  readonly partitionKey: string;
  readonly data: Uint8Array;
}

export interface RecordsPage {
  readonly records: readonly ReadRecord[];
  /** Absent once a closed shard has been read to its end. */
  readonly nextShardIterator: string | undefined;
  readonly millisBehindLatest: number | undefined;
}

interface GetRecordsOutput {
  Records?:
    | readonly { PartitionKey?: string | null | undefined; Data?: string | Uint8Array | null | undefined }[]
    | null
    | undefined;
  NextShardIterator?: string | null | undefined;
  MillisBehindLatest?: number | null | undefined;
}

/** GetRecords' answer, from the SDK (Data as bytes) or raw JSON (Data in base64). */
export function recordsPageOf(output: GetRecordsOutput): RecordsPage {
  return {
    records: (output.Records ?? []).map((record) => ({
      partitionKey: record.PartitionKey ?? '',
      data:
        typeof record.Data === 'string'
          ? Buffer.from(record.Data, 'base64')
          : (record.Data ?? new Uint8Array()),
    })),
    nextShardIterator: output.NextShardIterator ?? undefined,
    millisBehindLatest: output.MillisBehindLatest ?? undefined,
  };
}

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
 * counts as `unavailable`: retried with backoff, the backlog stays in the log. Reads SDK v3 errors
 * and shared/aws AwsServiceErrors alike (exception name, `$metadata.httpStatusCode`, errno `code`).
 */
export function classifyFailure(operation: string, error: unknown): KinesisCallError {
  const type = (error as { type?: unknown } | undefined)?.type;
  const name = typeof type === 'string' ? type : error instanceof Error ? error.name : 'Error';
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
  if (kind === 'unavailable' && typeof errno === 'string' && typeof type !== 'string') code = errno;
  else if (kind === 'unavailable' && status !== undefined && status >= 500) code = `${name} (HTTP ${status})`;
  return new KinesisCallError(operation, kind, code, message, error);
}

interface ResultEntry {
  readonly SequenceNumber?: string | null | undefined;
  readonly ShardId?: string | null | undefined;
  readonly ErrorCode?: string | null | undefined;
  readonly ErrorMessage?: string | null | undefined;
}

/** Per-entry outcomes from PutRecords' `Records` (same order as the request). */
export function outcomesOf(count: number, results: readonly ResultEntry[]): EntryOutcome[] {
  const outcomes: EntryOutcome[] = [];
  for (let i = 0; i < count; i++) {
    const result = results[i];
    if (result?.ErrorCode == null && result?.ShardId != null && result.SequenceNumber != null) {
      outcomes.push({ ok: true, shardId: result.ShardId, sequenceNumber: result.SequenceNumber });
    } else {
      outcomes.push({
        ok: false,
        code: result?.ErrorCode ?? ExportStatusCode.MISSING_RESULT,
        message: result?.ErrorMessage ?? 'PutRecords returned no result for this entry',
      });
    }
  }
  return outcomes;
}

/** Bytes base64-encoded at a time; a multiple of 3, so the slices join without padding. */
const BASE64_SLICE = 48 * 1024;

/**
 * The PutRecords request body, written once into a Buffer of its exact size:
 * `{"StreamName":…,"Records":[{"Data":"<base64>","PartitionKey":…,"ExplicitHashKey":…},…]}`.
 */
export function putRecordsBody(streamName: string, entries: readonly PlannedEntry[]): Buffer {
  const head = `{"StreamName":${JSON.stringify(streamName)},"Records":[`;
  const tails = entries.map(
    (entry) =>
      `","PartitionKey":${JSON.stringify(entry.partitionKey)}${
        entry.explicitHashKey === undefined
          ? ''
          : `,"ExplicitHashKey":${JSON.stringify(entry.explicitHashKey)}`
      }}`,
  );
  const DATA = '{"Data":"';
  let size = Buffer.byteLength(head) + 2 + Math.max(0, entries.length - 1);
  entries.forEach((entry, i) => {
    size += DATA.length + 4 * Math.ceil(entry.data.byteLength / 3) + Buffer.byteLength(tails[i] as string);
  });
  const body = Buffer.allocUnsafe(size);
  let at = body.write(head, 0);
  entries.forEach((entry, i) => {
    if (i > 0) at = body.writeUInt8(0x2c, at); // ,
    at += body.write(DATA, at, 'latin1');
    const { data } = entry;
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    // In slices: one base64 string of a whole 1 MiB aggregate would be a 1.4 MB heap object per entry.
    for (let from = 0; from < bytes.length; from += BASE64_SLICE) {
      at += body.write(bytes.toString('base64', from, from + BASE64_SLICE), at, 'latin1');
    }
    at += body.write(tails[i] as string, at);
  });
  at += body.write(']}', at, 'latin1');
  return at === size ? body : body.subarray(0, at);
}

/** Not async: a suspended async function would keep `body` (a PutRecords body) alive until the answer. */
function callJson(
  client: AwsJsonClient,
  operation: string,
  body: Uint8Array | string,
  timeoutMillis?: number,
  maxResponseBytes?: number,
): Promise<unknown> {
  return client
    .call(operation, body, {
      ...(timeoutMillis === undefined ? {} : { signal: AbortSignal.timeout(timeoutMillis) }),
      ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }),
    })
    .catch((error: unknown) => {
      throw classifyFailure(operation, error);
    });
}

/** The agent's KinesisApi: `client` is `createAwsJsonClient({ service: 'kinesis', targetPrefix: KINESIS_TARGET, … })`. */
export function httpKinesisApi(client: AwsJsonClient): KinesisApi {
  return {
    async putRecords(streamName, entries, timeoutMillis) {
      const output = (await callJson(
        client,
        'PutRecords',
        putRecordsBody(streamName, entries),
        timeoutMillis,
      )) as {
        Records?: ResultEntry[] | null;
      };
      return outcomesOf(entries.length, output.Records ?? []);
    },

    async listShards(streamName) {
      const shards: Parameters<typeof ShardMap.fromShards>[0][number][] = [];
      let nextToken: string | undefined;
      do {
        const page = (await callJson(
          client,
          'ListShards',
          JSON.stringify(nextToken === undefined ? { StreamName: streamName } : { NextToken: nextToken }),
        )) as { Shards?: Parameters<typeof ShardMap.fromShards>[0] | null; NextToken?: string | null };
        shards.push(...(page.Shards ?? []));
        nextToken = page.NextToken ?? undefined;
      } while (nextToken !== undefined);
      return ShardMap.fromShards(shards);
    },

    async maxRecordBytes(streamName) {
      const output = (await callJson(
        client,
        'DescribeStreamSummary',
        JSON.stringify({ StreamName: streamName }),
      )) as {
        StreamDescriptionSummary?: { MaxRecordSizeInKiB?: number | null } | null;
      };
      const kib = output.StreamDescriptionSummary?.MaxRecordSizeInKiB;
      return typeof kib === 'number' && kib > 0 ? kib * 1024 : undefined;
    },

    async shardIteratorAfter(streamName, shardId, sequenceNumber) {
      const output = (await callJson(
        client,
        'GetShardIterator',
        JSON.stringify({
          StreamName: streamName,
          ShardId: shardId,
          ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
          StartingSequenceNumber: sequenceNumber,
        }),
      )) as { ShardIterator?: string | null };
      if (output.ShardIterator == null) {
        throw classifyFailure('GetShardIterator', new Error('GetShardIterator returned no iterator'));
      }
      return output.ShardIterator;
    },

    async getRecords(shardIterator, limit, timeoutMillis, maxResponseBytes) {
      const output = await callJson(
        client,
        'GetRecords',
        JSON.stringify({ ShardIterator: shardIterator, Limit: limit }),
        timeoutMillis,
        maxResponseBytes,
      );
      return recordsPageOf(output as GetRecordsOutput);
    },
  };
}

/** Kinesis' X-Amz-Target prefix (API version 2013-12-02). */
export const KINESIS_TARGET = 'Kinesis_20131202';

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
