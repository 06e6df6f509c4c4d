/**
 * The awsJson1_1 side of Kinesis PutRecords/PutRecord as the proxy needs it: parse requests, build
 * the admitted subset, merge results back, render AWS-shaped errors. Pure; no I/O.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
 */
import { PUT_RECORDS_MAX_BYTES, PUT_RECORDS_MAX_RECORDS } from '../../shared/kinesis/limits.ts';

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
export const TARGET_PREFIX = 'Kinesis_20131202.';
export const THROTTLED = 'ProvisionedThroughputExceededException';
export const INTERNAL_FAILURE = 'InternalFailure';
/** ErrorMessage AWS gives InternalFailure records (PutRecordsResultEntry reference). */
export const INTERNAL_FAILURE_MESSAGE = 'Internal Service Failure';

/** kinesis-mock's default account; a 12-digit access key id selects another one, as in the emulator. */
export const DEFAULT_ACCOUNT_ID = '000000000000';
const DEFAULT_REGION = 'us-east-1';

/** Where a request writes: enough to list its shards upstream and to word AWS's messages. */
export interface StreamRef {
  /** Cache key: account, region and name. */
  key: string;
  name: string;
  accountId: string;
  region: string;
  /** The identifying fields exactly as the client sent them, reused for ListShards. */
  selector: { StreamName: string } | { StreamARN: string };
}

export interface PutEntry {
  data: string;
  partitionKey: string;
  explicitHashKey?: string;
}

/** The part of a record's admission the wire format needs. */
export type Decision =
  | { outcome: 'admit' }
  | { outcome: 'throttle'; shardId: string }
  | { outcome: 'internal' };

type JsonObject = Record<string, unknown>;

export function parseJsonObject(
  body: Buffer,
  reviver?: (key: string, value: unknown) => unknown,
): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'), reviver);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as JsonObject)
      : undefined;
  } catch {
    return undefined;
  }
}

function entryOf(value: unknown): PutEntry | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { Data, PartitionKey, ExplicitHashKey } = value as JsonObject;
  if (typeof Data !== 'string' || typeof PartitionKey !== 'string') return undefined;
  if (ExplicitHashKey === undefined || ExplicitHashKey === null)
    return { data: Data, partitionKey: PartitionKey };
  // A malformed hash key is the emulator's to reject; the proxy only routes valid ones.
  if (typeof ExplicitHashKey !== 'string' || !/^\d{1,39}$/.test(ExplicitHashKey)) return undefined;
  return { data: Data, partitionKey: PartitionKey, explicitHashKey: ExplicitHashKey };
}

/** Parses a PutRecords body; undefined when malformed (the proxy then forwards it untouched). */
export function parsePutRecords(body: Buffer): { request: JsonObject; entries: PutEntry[] } | undefined {
  const request = parseJsonObject(body);
  if (request === undefined || !Array.isArray(request.Records) || request.Records.length === 0)
    return undefined;
  // Kinesis rejects an oversized request whole, before any throttling; the emulator answers that.
  if (request.Records.length > PUT_RECORDS_MAX_RECORDS) return undefined;
  const entries: PutEntry[] = [];
  let bytes = 0;
  for (const record of request.Records) {
    const entry = entryOf(record);
    if (entry === undefined) return undefined;
    bytes += recordBytes(entry);
    entries.push(entry);
  }
  return bytes > PUT_RECORDS_MAX_BYTES ? undefined : { request, entries };
}

/** Parses a PutRecord body; undefined when malformed. */
export function parsePutRecord(body: Buffer): { request: JsonObject; entry: PutEntry } | undefined {
  const request = parseJsonObject(body);
  if (request === undefined) return undefined;
  const entry = entryOf(request);
  return entry === undefined ? undefined : { request, entry };
}

/** Bytes a record counts against the shard's write limit: data plus UTF-8 partition key. */
export function recordBytes(entry: PutEntry): number {
  return Buffer.byteLength(entry.data, 'base64') + Buffer.byteLength(entry.partitionKey, 'utf8');
}

/**
 * The stream a put request addresses. Account and region come from a StreamARN, else from the
 * SigV4 credential scope (kinesis-mock reads a 12-digit access key id as the account).
 */
export function streamRefOf(
  request: JsonObject,
  authorization: string | undefined,
  defaultAccountId: string,
): StreamRef | undefined {
  const scope = /Credential=([^/,\s]+)\/[^/]+\/([^/]+)\//.exec(authorization ?? '');
  const accessKey = scope?.[1];
  const scopedAccount = accessKey !== undefined && /^\d{12}$/.test(accessKey) ? accessKey : defaultAccountId;
  const scopedRegion = scope?.[2] ?? DEFAULT_REGION;
  const { StreamName, StreamARN } = request;
  if (typeof StreamARN === 'string') {
    const arn = /^arn:[^:]+:kinesis:([^:]+):(\d{12}):stream\/(.+)$/.exec(StreamARN);
    const [, region, accountId, name] = arn ?? [];
    if (region === undefined || accountId === undefined || name === undefined) return undefined;
    return { key: `${accountId}/${region}/${name}`, name, accountId, region, selector: { StreamARN } };
  }
  if (typeof StreamName !== 'string' || StreamName === '') return undefined;
  return {
    key: `${scopedAccount}/${scopedRegion}/${StreamName}`,
    name: StreamName,
    accountId: scopedAccount,
    region: scopedRegion,
    selector: { StreamName },
  };
}

/** AWS's wording, e.g. "Rate exceeded for shard shardId-000000000001 in stream s under account 1111…". */
export function throttleMessage(shardId: string, stream: StreamRef): string {
  return `Rate exceeded for shard ${shardId} in stream ${stream.name} under account ${stream.accountId}.`;
}

/** The request forwarded upstream for the admitted records, other fields untouched. */
export function subsetRequest(request: JsonObject, decisions: readonly Decision[]): Buffer {
  const records = request.Records as unknown[];
  const admitted = records.filter((_, i) => decisions[i]?.outcome === 'admit');
  return Buffer.from(JSON.stringify({ ...request, Records: admitted }), 'utf8');
}

function refusedEntry(decision: Decision, stream: StreamRef): JsonObject {
  return decision.outcome === 'throttle'
    ? { ErrorCode: THROTTLED, ErrorMessage: throttleMessage(decision.shardId, stream) }
    : { ErrorCode: INTERNAL_FAILURE, ErrorMessage: INTERNAL_FAILURE_MESSAGE };
}

/**
 * Puts refused and upstream results back into the client's record order. `upstream` is the parsed
 * upstream PutRecords result for the admitted records (absent when none were admitted). Returns
 * undefined if the upstream result does not line up with the admitted records.
 */
export function mergePutRecordsResult(
  decisions: readonly Decision[],
  upstream: JsonObject | undefined,
  stream: StreamRef,
  encryptionType: string,
): JsonObject | undefined {
  const upstreamRecords = upstream === undefined ? [] : upstream.Records;
  if (!Array.isArray(upstreamRecords)) return undefined;
  const admitted = decisions.filter((d) => d.outcome === 'admit').length;
  if (upstreamRecords.length !== admitted) return undefined;
  let next = 0;
  let failed = 0;
  const records = decisions.map((decision) => {
    const entry: unknown =
      decision.outcome === 'admit' ? upstreamRecords[next++] : refusedEntry(decision, stream);
    if (typeof entry === 'object' && entry !== null && (entry as JsonObject).ErrorCode) failed += 1;
    return entry;
  });
  return {
    ...upstream,
    EncryptionType: upstream?.EncryptionType ?? encryptionType,
    FailedRecordCount: failed,
    Records: records,
  };
}

/** Shard ids the upstream actually wrote the admitted records to, in request order. */
export function upstreamShardIds(upstream: JsonObject): (string | undefined)[] {
  const records = Array.isArray(upstream.Records) ? upstream.Records : [];
  return records.map((r: unknown) =>
    typeof r === 'object' && r !== null && typeof (r as JsonObject).ShardId === 'string'
      ? ((r as JsonObject).ShardId as string)
      : undefined,
  );
}

/** A JSON error body as Kinesis sends it; the SDK reads the error name from `__type`. */
export function errorBody(type: string, message: string): Buffer {
  return Buffer.from(JSON.stringify({ __type: type, message }), 'utf8');
}
