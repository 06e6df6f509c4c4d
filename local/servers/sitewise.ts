/**
 * A local stand-in for AWS IoT SiteWise's data plane, BatchPutAssetPropertyValue only (no emulator
 * exists): `POST /properties` with the JSON body the AWS SDK writes, answered as the service
 * documents it. Whole-request problems get the service's HTTP errors (400 InvalidRequestException,
 * 429 ThrottlingException when told to throttle); entry problems come back in `errorEntries`
 * (ResourceNotFoundException for an asset, property or alias it does not know,
 * TimestampOutOfRangeException, InvalidRequestException), with the other entries accepted.
 * Limits from the API reference of BatchPutAssetPropertyValue: 10 entries per request, 10 values
 * per entry, timestamps from 7 days in the past to 10 minutes in the future.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LOOPBACK } from './runtime.ts';

export const SITEWISE_MAX_ENTRIES = 10;
export const SITEWISE_MAX_VALUES_PER_ENTRY = 10;
const PAST_LIMIT_SECONDS = 7 * 24 * 3600;
const FUTURE_LIMIT_SECONDS = 10 * 60;
const ENTRY_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const QUALITIES = new Set(['GOOD', 'BAD', 'UNCERTAIN']);

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

export interface SiteWiseStandIn {
  readonly endpoint: string;
  /** Accepted values, in arrival order. */
  readonly stored: StoredValue[];
  /** Requests answered (throttled ones included). */
  readonly requests: number;
  /** The next `n` requests are answered 429 ThrottlingException. */
  throttleNext(n: number): void;
  stop(): Promise<void>;
}

export interface SiteWiseOptions {
  /** Property aliases (and `assetId/propertyId` pairs) that exist; anything else is ResourceNotFound. */
  readonly properties: readonly string[];
  /** Seconds since the epoch; `Date.now()/1000` by default. */
  readonly now?: () => number;
}

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

/** Why the request as a whole is invalid (the service refuses it with 400), or undefined. */
function requestProblem(body: unknown): string | undefined {
  const entries = (body as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries) || entries.length === 0) return 'entries must hold 1 to 10 entries';
  if (entries.length > SITEWISE_MAX_ENTRIES)
    return `entries holds ${entries.length}, more than ${SITEWISE_MAX_ENTRIES}`;
  const ids = new Set<string>();
  for (const [i, e] of entries.entries()) {
    const entry = e as Record<string, unknown>;
    if (typeof entry.entryId !== 'string' || !ENTRY_ID.test(entry.entryId)) {
      return `entries[${i}].entryId must be 1-64 of a-z A-Z 0-9 _ -`;
    }
    if (ids.has(entry.entryId)) return `entries[${i}].entryId ${entry.entryId} is not unique in the request`;
    ids.add(entry.entryId);
    const values = entry.propertyValues;
    if (!Array.isArray(values) || values.length === 0 || values.length > SITEWISE_MAX_VALUES_PER_ENTRY) {
      return `entries[${i}].propertyValues must hold 1 to ${SITEWISE_MAX_VALUES_PER_ENTRY} values`;
    }
    for (const [j, v] of values.entries()) {
      const value = v as Partial<SiteWiseValue>;
      const set = Object.keys(value.value ?? {}).filter(
        (k) => (value.value as Record<string, unknown>)[k] != null,
      );
      if (
        set.length !== 1 ||
        !['stringValue', 'integerValue', 'doubleValue', 'booleanValue'].includes(set[0] ?? '')
      ) {
        return `entries[${i}].propertyValues[${j}].value must set exactly one of stringValue, integerValue, doubleValue, booleanValue`;
      }
      if (typeof value.timestamp?.timeInSeconds !== 'number') {
        return `entries[${i}].propertyValues[${j}].timestamp.timeInSeconds is required`;
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

export async function startSiteWise(options: SiteWiseOptions): Promise<SiteWiseStandIn> {
  const known = new Set(options.properties);
  const now = options.now ?? (() => Date.now() / 1000);
  const stored: StoredValue[] = [];
  let throttle = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    void (async () => {
      requests++;
      if (req.method !== 'POST' || req.url !== '/properties') {
        send(
          res,
          404,
          { message: `${req.method} ${req.url} is not BatchPutAssetPropertyValue` },
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
      const errorEntries: { entryId: string; errors: EntryError[] }[] = [];
      for (const entry of (body as { entries: Record<string, unknown>[] }).entries) {
        const property =
          typeof entry.propertyAlias === 'string'
            ? entry.propertyAlias
            : `${String(entry.assetId)}/${String(entry.propertyId)}`;
        const values = entry.propertyValues as SiteWiseValue[];
        const stamps = values.map((v) => ({
          timeInSeconds: v.timestamp.timeInSeconds,
          offsetInNanos: v.timestamp.offsetInNanos ?? 0,
        }));
        if (!known.has(property)) {
          errorEntries.push({
            entryId: entry.entryId as string,
            errors: [
              {
                errorCode: 'ResourceNotFoundException',
                errorMessage: `property ${property} does not exist`,
                timestamps: stamps,
              },
            ],
          });
          continue;
        }
        const late = values.filter((v) => {
          const t = v.timestamp.timeInSeconds;
          return t < now() - PAST_LIMIT_SECONDS || t > now() + FUTURE_LIMIT_SECONDS;
        });
        if (late.length > 0) {
          errorEntries.push({
            entryId: entry.entryId as string,
            errors: [
              {
                errorCode: 'TimestampOutOfRangeException',
                errorMessage: 'timestamps must be within 7 days in the past and 10 minutes in the future',
                timestamps: late.map((v) => ({
                  timeInSeconds: v.timestamp.timeInSeconds,
                  offsetInNanos: v.timestamp.offsetInNanos ?? 0,
                })),
              },
            ],
          });
          continue;
        }
        for (const v of values)
          stored.push({ property, value: v.value, timeInSeconds: v.timestamp.timeInSeconds });
      }
      send(res, 200, { errorEntries });
    })().catch(() => res.destroy());
  });
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    stored,
    get requests() {
      return requests;
    },
    throttleNext: (n) => {
      throttle = n;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
