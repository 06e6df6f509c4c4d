/**
 * The requests of stream manager's protocol as the SDKs send them (CBOR maps with camelCase keys,
 * enums as integers), validated strictly: a key this file does not know is refused with its path,
 * so a field the SDK sends and the agent would silently ignore cannot exist. The bounds are the
 * SDKs' own `_validations_map` (stream_manager/data/__init__.py), narrowed where the log is narrower.
 * device/PROTOCOL.md's field table lists every field here; test/unit/device/sm/model-sdk.test.ts keeps
 * the two equal to the Node SDK's own type model (every request class's typesMap) and checks that each
 * field is accepted or refused (refuseUnsupportedExports) as the table says.
 */
import { describeIssue, describeValue } from '../../shared/errors.ts';
import { parseOptions } from '../../shared/options.ts';
import * as z from '../../shared/zod.ts';
import { ExportUnsupportedError, InvalidRequestError } from './errors.ts';

/** The SDKs' name rule (`^[\w ,.\-_]*$`, 1-255), with the log's ASCII letters and "."/".." refused. */
const STREAM_NAME = /^[A-Za-z0-9 ,._-]{1,255}$/;
/** Identifiers of export configs: the SDKs' rule. */
const IDENTIFIER = /^[\p{L}\p{N}_ ,.-]{1,255}$/u;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Largest batch interval the exporter runs (a day); the SDKs allow up to 2^63 ms. */
export const MAX_BATCH_INTERVAL_MILLIS = 86_400_000;

const absent = <T extends z.ZodMiniType>(schema: T) => z.optional(z.nullable(schema));
const int = (min: number, max: number) => z.int().check(z.gte(min), z.lte(max));
const streamName = z.string().check(
  z.regex(STREAM_NAME, 'must be 1-255 of letters, digits, spaces, commas, periods, hyphens, underscores'),
  z.refine((s) => s !== '.' && s !== '..', 'must not be "." or ".."'),
);
const requestId = z.string().check(z.minLength(1), z.maxLength(255));
const identifier = z.string().check(z.regex(IDENTIFIER, 'must be 1-255 of letters, digits, space , . _ -'));

/** Fields every export config shares (stream manager's ExportDefinition entries). */
const exportCommon = {
  identifier,
  priority: absent(int(1, 10)),
  startSequenceNumber: absent(int(0, MAX_SAFE)),
  disabled: absent(z.boolean()),
};

const kinesisConfig = z.strictObject({
  ...exportCommon,
  kinesisStreamName: z.string().check(z.minLength(1)),
  batchSize: absent(int(1, 500)),
  batchIntervalMillis: absent(int(60_000, MAX_BATCH_INTERVAL_MILLIS)),
});

const iotAnalyticsConfig = z.strictObject({
  ...exportCommon,
  iotChannel: z.string().check(z.minLength(1)),
  iotMsgIdPrefix: absent(z.string().check(z.maxLength(32))),
  batchSize: absent(int(1, 100)),
  batchIntervalMillis: absent(int(60_000, MAX_BATCH_INTERVAL_MILLIS)),
});

const httpConfig = z.strictObject({
  ...exportCommon,
  uri: z.string().check(z.minLength(1)),
  batchSize: absent(int(1, 500)),
  batchIntervalMillis: absent(int(60_000, MAX_BATCH_INTERVAL_MILLIS)),
  exportFormat: absent(int(0, 1)),
});

const siteWiseConfig = z.strictObject({
  ...exportCommon,
  batchSize: absent(int(1, 10)),
  batchIntervalMillis: absent(int(60_000, MAX_BATCH_INTERVAL_MILLIS)),
});

const s3TaskExecutorConfig = z.strictObject({
  identifier,
  sizeThresholdForMultipartUploadBytes: absent(int(5_242_880, MAX_SAFE)),
  priority: absent(int(1, 10)),
  disabled: absent(z.boolean()),
  statusConfig: absent(
    z.strictObject({
      statusLevel: absent(int(0, 4)),
      statusStreamName: absent(streamName),
    }),
  ),
});

const exportDefinition = z.strictObject({
  http: absent(z.array(httpConfig)),
  iotAnalytics: absent(z.array(iotAnalyticsConfig)),
  kinesis: absent(z.array(kinesisConfig)),
  // Stream manager's own spelling of the key.
  IotSitewise: absent(z.array(siteWiseConfig)),
  s3TaskExecutor: absent(z.array(s3TaskExecutorConfig)),
});

/**
 * Refuses, after validation, the exports stream manager defines but the agent does not run (IoT
 * Analytics, HTTP), saying what to use instead; device/PROTOCOL.md lists their fields as refused.
 */
export function refuseUnsupportedExports(e: ExportDefinitionWire | null | undefined): void {
  if (e == null) return;
  if ((e.iotAnalytics?.length ?? 0) > 0) {
    throw new ExportUnsupportedError(
      'definition.exportDefinition.iotAnalytics',
      'is refused: AWS IoT Analytics has reached end of support; export to Kinesis (exportDefinition.kinesis) and use the project analytics (analytics/, the Flink aggregates) instead',
    );
  }
  if ((e.http?.length ?? 0) > 0) {
    throw new ExportUnsupportedError(
      'definition.exportDefinition.http',
      'is refused: the HTTP export is not part of stream manager on AWS and this agent does not run it; export to Kinesis instead',
    );
  }
}

export const messageStreamDefinition = z.strictObject({
  name: streamName,
  maxSize: absent(int(1024, MAX_SAFE)),
  streamSegmentSize: absent(int(1024, 2_147_483_647)),
  timeToLiveMillis: absent(int(60_000, MAX_SAFE)),
  /** 0 RejectNewData, 1 OverwriteOldestData. */
  strategyOnFull: int(0, 1),
  /** 0 File, 1 Memory. */
  persistence: absent(int(0, 1)),
  flushOnWrite: absent(z.boolean()),
  exportDefinition: absent(exportDefinition),
});
export type MessageStreamDefinition = z.output<typeof messageStreamDefinition>;
export type KinesisConfig = z.output<typeof kinesisConfig>;
export type ExportDefinitionWire = z.output<typeof exportDefinition>;

export const connectRequest = z.strictObject({
  requestId,
  protocolVersion: z.string().check(z.minLength(1), z.maxLength(64)),
  otherSupportedProtocolVersions: absent(z.array(z.string().check(z.maxLength(64))).check(z.maxLength(16))),
  sdkVersion: absent(z.string().check(z.maxLength(64))),
  authToken: absent(z.string().check(z.maxLength(4096))),
});

export const createRequest = z.strictObject({ requestId, definition: messageStreamDefinition });
export const updateRequest = createRequest;
export const deleteRequest = z.strictObject({ requestId, name: streamName });
export const describeRequest = deleteRequest;
export const listRequest = z.strictObject({ requestId });
export const appendRequest = z.strictObject({
  requestId,
  name: streamName,
  payload: z.instanceof(Uint8Array).check(z.refine((p) => p.length > 0, 'must not be empty')),
});
export const readRequest = z.strictObject({
  requestId,
  streamName,
  readMessagesOptions: absent(
    z.strictObject({
      desiredStartSequenceNumber: absent(int(0, MAX_SAFE)),
      minMessageCount: absent(int(1, 2_147_483_647)),
      maxMessageCount: absent(int(1, 2_147_483_647)),
      readTimeoutMillis: absent(int(0, MAX_SAFE)),
    }),
  ),
});

/**
 * Validates a decoded request (shared/options.ts's parseOptions): every problem becomes part of one
 * InvalidRequestError, at the first one's path, naming each path and the value sent.
 */
export function parseRequest<T extends z.ZodMiniType>(schema: T, body: unknown): z.output<T> {
  return parseOptions(schema, body, {
    unknownKey: 'is not a field this agent knows (see device/PROTOCOL.md)',
    error: (issues) => {
      const [first, ...rest] = issues;
      const others = rest.length === 0 ? '' : `; ${rest.map(describeIssue).join('; ')}`;
      return new InvalidRequestError(
        first.path,
        `${first.reason} (got ${describeValue(first.value)})${others}`,
      );
    },
  }) as z.output<T>;
}

/** The request id of a body, when it has a usable one: refusals are answered to it. */
export function requestIdOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const id = (body as { requestId?: unknown }).requestId;
  return typeof id === 'string' && id.length > 0 && id.length <= 255 ? id : undefined;
}
