/**
 * A local stand-in for AWS IoT SiteWise's data plane, BatchPutAssetPropertyValue only (no emulator
 * exists), answered as the service documents it. The route (`POST /properties`) and the request's
 * shape come from the AWS SDK's own model of the operation (`BatchPutAssetPropertyValue$` and the
 * structures it references, walked with @smithy/core's NormalizedSchema): a member the model does not
 * define, a missing required member or a value of the wrong type is refused. The SDK's model carries
 * no length or range traits, so the limits are checked by hand, from the API reference of
 * BatchPutAssetPropertyValue: 1 to 10 entries per request, unique entry ids of 1-64 of
 * a-z A-Z 0-9 _ -, 1 to 10 values per entry, exactly one variant member, timestamps within 7 days
 * in the past and 10 minutes in the future. The stand-in is stricter than the service about members
 * the model does not define (the service ignores them), so a request the SDK could not have
 * modelled fails a test instead of passing.
 *
 * Whole-request problems get the service's HTTP errors (400 InvalidRequestException, 429
 * ThrottlingException when told to throttle); entry problems come back in `errorEntries`
 * (ResourceNotFoundException for an asset, property or alias it does not know,
 * TimestampOutOfRangeException, InvalidRequestException), with the other entries accepted. Its own
 * answers are checked against the response's model too (a mismatch is a 500 InternalFailureException).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BatchPutAssetPropertyValue$,
  BatchPutAssetPropertyValueRequest$,
  BatchPutAssetPropertyValueResponse$,
} from '@aws-sdk/client-iotsitewise';
import { NormalizedSchema } from '@smithy/core/schema';
import { LOOPBACK, type RunningServer } from './runtime.ts';

export const SITEWISE_MAX_ENTRIES = 10;
export const SITEWISE_MAX_VALUES_PER_ENTRY = 10;
const PAST_LIMIT_SECONDS = 7 * 24 * 3600;
const FUTURE_LIMIT_SECONDS = 10 * 60;
const MAX_NANOS = 999_999_999;
const ENTRY_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const QUALITIES = new Set(['GOOD', 'BAD', 'UNCERTAIN']);

/** The operation's HTTP binding, as the SDK's model declares it: `['POST', '/properties', 200]`. */
const [METHOD, PATH] = (BatchPutAssetPropertyValue$[3] as { http: [string, string, number] }).http;

export interface SiteWiseValue {
  readonly value: Record<string, unknown>;
  readonly timestamp: { timeInSeconds: number; offsetInNanos?: number };
  readonly quality?: string;
}

/** A value the stand-in accepted, where it went. */
export interface StoredValue {
  readonly property: string;
  readonly value: Record<string, unknown>;
  readonly timeInSeconds: number;
}

export interface SiteWiseStandIn extends RunningServer {
  /** Accepted values, in arrival order. */
  readonly stored: StoredValue[];
  /** Requests answered (throttled ones included). */
  readonly requests: number;
  /** The next `n` requests are answered 429 ThrottlingException. */
  throttleNext(n: number): void;
}

export interface SiteWiseOptions {
  /**
   * Property aliases (and `assetId/propertyId` pairs) that exist; anything else is ResourceNotFound.
   * Without it every property exists (the local cloud's stand-in, for whatever a user exports).
   */
  readonly properties?: readonly string[];
  /** Seconds since the epoch; `Date.now()/1000` by default. */
  readonly now?: () => number;
  /** Default: a free port. */
  readonly port?: number;
}

/**
 * Why `value` does not fit the SDK's model `schema` (a member the model does not define, a required
 * member missing, a value of another type), or undefined. Required members are the first `n` of a
 * structure's members, `n` being the static structure schema's last element.
 */
export function modelProblem(schema: NormalizedSchema, value: unknown, at: string): string | undefined {
  if (schema.isStructSchema()) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return `${at} must be an object`;
    const record = value as Record<string, unknown>;
    const members = [...schema.structIterator()];
    const names = new Set(members.map(([name]) => name));
    const shape = schema.getName() ?? 'the structure';
    for (const key of Object.keys(record)) {
      if (!names.has(key)) return `${at === '' ? '' : `${at}.`}${key} is not a member of ${shape}`;
    }
    const required = ((schema.getSchema() as readonly unknown[])[6] as number | undefined) ?? 0;
    for (const [i, [name, member]] of members.entries()) {
      const path = at === '' ? name : `${at}.${name}`;
      if (record[name] == null) {
        if (i < required) return `${path} is required (${shape})`;
        continue;
      }
      const problem = modelProblem(member, record[name], path);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (schema.isListSchema()) {
    if (!Array.isArray(value)) return `${at} must be a list`;
    const member = schema.getValueSchema();
    for (const [i, item] of value.entries()) {
      const problem = modelProblem(member, item, `${at}[${i}]`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (schema.isStringSchema()) return typeof value === 'string' ? undefined : `${at} must be a string`;
  if (schema.isBooleanSchema()) return typeof value === 'boolean' ? undefined : `${at} must be a boolean`;
  if (schema.isNumericSchema()) {
    return typeof value === 'number' && Number.isFinite(value) ? undefined : `${at} must be a number`;
  }
  return undefined;
}

const REQUEST = NormalizedSchema.of(BatchPutAssetPropertyValueRequest$);
const RESPONSE = NormalizedSchema.of(BatchPutAssetPropertyValueResponse$);

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
  });
  res.end(JSON.stringify(body));
}

interface EntryError {
  errorCode: string;
  errorMessage: string;
  timestamps: { timeInSeconds: number; offsetInNanos: number }[];
}

const VARIANTS = ['stringValue', 'integerValue', 'doubleValue', 'booleanValue', 'nullValue'];

/** Why the request as a whole is invalid (the service refuses it with 400), or undefined. */
function requestProblem(body: unknown): string | undefined {
  const shape = modelProblem(REQUEST, body, '');
  if (shape !== undefined) return shape;
  const { entries } = body as { entries: Record<string, unknown>[] };
  if (entries.length === 0) return `entries must hold 1 to ${SITEWISE_MAX_ENTRIES} entries`;
  if (entries.length > SITEWISE_MAX_ENTRIES)
    return `entries holds ${entries.length}, more than ${SITEWISE_MAX_ENTRIES}`;
  const ids = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    const id = entry.entryId as string;
    if (!ENTRY_ID.test(id)) return `entries[${i}].entryId must be 1-64 of a-z A-Z 0-9 _ -`;
    if (ids.has(id)) return `entries[${i}].entryId ${id} is not unique in the request`;
    ids.add(id);
    const values = entry.propertyValues as SiteWiseValue[];
    if (values.length === 0 || values.length > SITEWISE_MAX_VALUES_PER_ENTRY) {
      return `entries[${i}].propertyValues must hold 1 to ${SITEWISE_MAX_VALUES_PER_ENTRY} values`;
    }
    for (const [j, value] of values.entries()) {
      const set = VARIANTS.filter((k) => value.value[k] != null);
      if (set.length !== 1) {
        return `entries[${i}].propertyValues[${j}].value must set exactly one of ${VARIANTS.join(', ')}`;
      }
      const { timeInSeconds, offsetInNanos = 0 } = value.timestamp;
      if (!Number.isInteger(timeInSeconds) || timeInSeconds < 1) {
        return `entries[${i}].propertyValues[${j}].timestamp.timeInSeconds must be a positive whole number`;
      }
      if (!Number.isInteger(offsetInNanos) || offsetInNanos < 0 || offsetInNanos > MAX_NANOS) {
        return `entries[${i}].propertyValues[${j}].timestamp.offsetInNanos must be 0 to ${MAX_NANOS}`;
      }
      if (value.quality !== undefined && !QUALITIES.has(value.quality)) {
        return `entries[${i}].propertyValues[${j}].quality must be GOOD, BAD or UNCERTAIN`;
      }
    }
  }
  return undefined;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function entryError(entryId: string, errorCode: string, errorMessage: string, values: SiteWiseValue[]) {
  return {
    entryId,
    errors: [
      {
        errorCode,
        errorMessage,
        timestamps: values.map((v) => ({
          timeInSeconds: v.timestamp.timeInSeconds,
          offsetInNanos: v.timestamp.offsetInNanos ?? 0,
        })),
      } satisfies EntryError,
    ],
  };
}

/** Starts the stand-in on 127.0.0.1 (in this process). */
export async function startSiteWise(options: SiteWiseOptions = {}): Promise<SiteWiseStandIn> {
  const known = options.properties === undefined ? undefined : new Set(options.properties);
  const now = options.now ?? (() => Date.now() / 1000);
  const stored: StoredValue[] = [];
  let throttle = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    void (async () => {
      requests++;
      if (req.method !== METHOD || req.url !== PATH) {
        send(
          res,
          404,
          { message: `${req.method} ${req.url} is not BatchPutAssetPropertyValue (${METHOD} ${PATH})` },
          'ResourceNotFoundException',
        );
        return;
      }
      let body: unknown;
      try {
        body = await readJson(req);
      } catch {
        send(res, 400, { message: 'body is not JSON' }, 'InvalidRequestException');
        return;
      }
      if (throttle > 0) {
        throttle--;
        send(res, 429, { message: 'Rate exceeded' }, 'ThrottlingException');
        return;
      }
      const problem = requestProblem(body);
      if (problem !== undefined) {
        send(res, 400, { message: problem }, 'InvalidRequestException');
        return;
      }
      const errorEntries: ReturnType<typeof entryError>[] = [];
      const accepted: StoredValue[] = [];
      for (const entry of (body as { entries: Record<string, unknown>[] }).entries) {
        const entryId = entry.entryId as string;
        const values = entry.propertyValues as SiteWiseValue[];
        const byAlias = typeof entry.propertyAlias === 'string';
        const byIds = typeof entry.assetId === 'string' && typeof entry.propertyId === 'string';
        if (byAlias === byIds) {
          errorEntries.push(
            entryError(
              entryId,
              'InvalidRequestException',
              'an entry names its property by propertyAlias, or by assetId and propertyId',
              values,
            ),
          );
          continue;
        }
        const property = byAlias
          ? (entry.propertyAlias as string)
          : `${entry.assetId as string}/${entry.propertyId as string}`;
        if (known !== undefined && !known.has(property)) {
          errorEntries.push(
            entryError(entryId, 'ResourceNotFoundException', `property ${property} does not exist`, values),
          );
          continue;
        }
        const late = values.filter((v) => {
          const t = v.timestamp.timeInSeconds;
          return t < now() - PAST_LIMIT_SECONDS || t > now() + FUTURE_LIMIT_SECONDS;
        });
        if (late.length > 0) {
          errorEntries.push(
            entryError(
              entryId,
              'TimestampOutOfRangeException',
              'timestamps must be within 7 days in the past and 10 minutes in the future',
              late,
            ),
          );
          continue;
        }
        for (const v of values)
          accepted.push({ property, value: v.value, timeInSeconds: v.timestamp.timeInSeconds });
      }
      const answer = { errorEntries };
      const wrong = modelProblem(RESPONSE, answer, '');
      if (wrong !== undefined) {
        send(
          res,
          500,
          { message: `the stand-in's answer does not fit the model: ${wrong}` },
          'InternalFailureException',
        );
        return;
      }
      stored.push(...accepted);
      send(res, 200, answer);
    })().catch(() => res.destroy());
  });
  server.listen(options.port ?? 0, LOOPBACK);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    name: 'sitewise',
    endpoint: `http://${LOOPBACK}:${port}`,
    port,
    pid: undefined,
    stored,
    get requests() {
      return requests;
    },
    throttleNext: (n) => {
      throttle = n;
    },
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
