/**
 * AWS-like per-shard write limits in front of the Kinesis emulator, which never throttles.
 * PutRecords/PutRecord (awsJson1_1, what @aws-sdk/client-kinesis sends) are metered per shard over a
 * sliding second; admitted records go upstream as one request and refused ones come back as AWS
 * would answer them. SubscribeToShard is served by the proxy itself at AWS's pace (efo.ts) unless
 * `efo.enabled` is false; everything else, and then SubscribeToShard too, is piped unbuffered.
 */
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { ShardMap } from '../../shared/kinesis/hash.ts';
import { EFO_SUBSCRIBE_TAKEOVER_MS } from '../../shared/kinesis/limits.ts';
import { parseOptions } from '../../shared/options.ts';
import { type Admission, admitRecords, shardKey } from './admission.ts';
import { EfoServer, type EfoSettings, type EfoStats, type KinesisCall } from './efo.ts';
import { LimitsOptionError, limitsOptionError, UpstreamError } from './errors.ts';
import { FaultInjector, type FaultPlan, faultPlanSchema } from './faults.ts';
import { type ShardLister, ShardRoutes } from './shard-routes.ts';
import { DEFAULT_CURSOR_SETTINGS } from './subscription.ts';
import { type RateLimits, type RateLimitsChange, rateLimitsChangeSchema, ShardLimiter } from './window.ts';
import {
  DEFAULT_ACCOUNT_ID,
  errorBody,
  INTERNAL_FAILURE,
  INTERNAL_FAILURE_MESSAGE,
  JSON_CONTENT_TYPE,
  mergePutRecordsResult,
  type PutEntry,
  parseJsonObject,
  parsePutRecord,
  parsePutRecords,
  type StreamRef,
  streamRefOf,
  subsetRequest,
  TARGET_PREFIX,
  THROTTLED,
  throttleMessage,
  upstreamShardIds,
} from './wire.ts';

/** Control endpoint on the proxy's own port: GET for stats, POST `{enabled?, efo?, limits?, faults?}` to change. */
export const CONTROL_PATH = '/__tributary/kinesis-limits';

/** Operations after which a stream's shards change (the emulator applies them after a delay). */
const SHARD_CHANGING = new Set([
  'CreateStream',
  'DeleteStream',
  'UpdateShardCount',
  'MergeShards',
  'SplitShard',
]);

export interface KinesisLimitsOptions {
  /** Plain-HTTP endpoint of the emulator, e.g. `http://127.0.0.1:4568`. */
  upstream: string;
  /** Per-shard write limits; AWS's 1000 records/s and 1 MiB/s by default. */
  limits?: RateLimitsChange;
  /** Rate limits on (default) or off; injected faults apply either way. */
  enabled?: boolean;
  faults?: FaultPlan;
  /** Port on 127.0.0.1; a free one by default. */
  port?: number;
  /** Monotonic milliseconds; tests inject a controlled clock. */
  clock?: () => number;
  /** Account named in throttle messages when the access key id is not a 12-digit account. */
  defaultAccountId?: string;
  /**
   * SubscribeToShard served by the proxy (default on; env TRIBUTARY_PROXY_EFO=0 turns the default
   * off): off pipes it to the emulator, whose events come on a one-second tick.
   */
  efo?: EfoOptions;
}

const efoMillis = z.number().min(0);
const efoRate = z.number().positive();

/** SubscribeToShard served by the proxy: on or off, and the pace it serves at (defaults: AWS's). */
const efoOptionsSchema = z.strictObject({
  enabled: z.boolean().optional(),
  ...({
    pollIntervalMs: efoMillis.optional(),
    heartbeatMs: efoRate.optional(),
    lifetimeMs: efoRate.optional(),
    readBytesPerSecond: efoRate.optional(),
    takeoverMs: efoMillis.optional(),
  } satisfies Record<keyof EfoSettings, z.ZodOptional<z.ZodNumber>>),
});

export type EfoOptions = z.input<typeof efoOptionsSchema>;

/** The body of a POST to CONTROL_PATH: every field optional, none unknown. */
export const controlSchema = z.strictObject({
  enabled: z.boolean().optional(),
  /** SubscribeToShard served by the proxy (true) or piped to the emulator; new calls only. */
  efo: z.boolean().optional(),
  limits: rateLimitsChangeSchema.optional(),
  faults: faultPlanSchema.optional(),
});

/**
 * The default of `efo.enabled`: on unless TRIBUTARY_PROXY_EFO is 0/false/off (1/true/on or unset: on).
 * Any other value is refused, so a typo never silently picks one of the two.
 */
export function proxyEfoDefault(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.TRIBUTARY_PROXY_EFO?.trim().toLowerCase();
  if (value === undefined || value === '' || value === '1' || value === 'true' || value === 'on') return true;
  if (value === '0' || value === 'false' || value === 'off') return false;
  throw new LimitsOptionError('TRIBUTARY_PROXY_EFO', value, 'must be 1/true/on or 0/false/off');
}

export interface ShardStats {
  admitted: number;
  throttled: number;
  bytesAdmitted: number;
}

export interface KinesisLimitsStats {
  enabled: boolean;
  limits: RateLimits;
  faults: FaultPlan;
  requests: {
    putRecords: number;
    putRecord: number;
    passthrough: number;
    /** Put requests answered HTTP 500 by fault injection. */
    injectedFailures: number;
    /** Put requests forwarded unmetered: malformed, unknown stream or no shard map. */
    unmetered: number;
  };
  records: {
    received: number;
    admitted: number;
    /** Refused by the rate limits. */
    throttled: number;
    injectedThrottles: number;
    injectedInternalFailures: number;
    bytesAdmitted: number;
  };
  /** Per `account/region/stream/shardId`, metered records only. */
  shards: Record<string, ShardStats>;
  /** Shard maps dropped because the emulator wrote a record to another shard than predicted. */
  routeRefreshes: number;
  /** SubscribeToShard served by the proxy (counters stay while it is switched off). */
  efo: EfoStats & { enabled: boolean };
}

export interface KinesisLimits {
  endpoint: string;
  port: number;
  setEnabled(enabled: boolean): void;
  setLimits(limits: RateLimitsChange): void;
  /** SubscribeToShard served by the proxy (true) or piped to the emulator; new calls only. */
  setEfo(enabled: boolean): void;
  /** Replaces the fault plan; `{}` clears it. */
  injectFaults(plan: FaultPlan): void;
  stats(): KinesisLimitsStats;
  stop(): Promise<void>;
}

interface UpstreamReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'content-length'];

/** Starts the limiting proxy on 127.0.0.1 in front of `options.upstream`. */
export async function startKinesisLimits(options: KinesisLimitsOptions): Promise<KinesisLimits> {
  const proxy = new LimitsProxy(options);
  return proxy.start();
}

class LimitsProxy {
  private readonly upstream: URL;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly limiter: ShardLimiter;
  private readonly faults: FaultInjector;
  private readonly routes: ShardRoutes;
  private readonly clock: () => number;
  private readonly accountId: string;
  private readonly encryption = new Map<string, string>();
  private enabled: boolean;
  private efoEnabled: boolean;
  private readonly efo: EfoServer;
  private readonly counters: Omit<KinesisLimitsStats, 'enabled' | 'limits' | 'faults' | 'efo'> = {
    requests: { putRecords: 0, putRecord: 0, passthrough: 0, injectedFailures: 0, unmetered: 0 },
    records: {
      received: 0,
      admitted: 0,
      throttled: 0,
      injectedThrottles: 0,
      injectedInternalFailures: 0,
      bytesAdmitted: 0,
    },
    shards: {},
    routeRefreshes: 0,
  };

  constructor(private readonly options: KinesisLimitsOptions) {
    this.upstream = parseUpstream(options.upstream);
    this.limiter = new ShardLimiter(options.limits);
    this.faults = new FaultInjector(options.faults);
    this.routes = new ShardRoutes(this.listShards);
    this.clock = options.clock ?? (() => performance.now());
    this.accountId = options.defaultAccountId ?? DEFAULT_ACCOUNT_ID;
    this.enabled = options.enabled ?? true;
    const efo = resolveEfoOptions(options.efo);
    this.efoEnabled = efo.enabled ?? proxyEfoDefault();
    // Real time always: tests freeze `clock` for the write windows, and subscriptions must still age.
    this.efo = new EfoServer(this.callKinesis, () => performance.now(), efo.settings);
  }

  async start(): Promise<KinesisLimits> {
    const server = http.createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        if (!res.headersSent)
          reply(res, 502, errorBody(INTERNAL_FAILURE, `kinesis-limits proxy: ${message}`));
        else res.destroy();
      });
    });
    server.listen(this.options.port ?? 0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string')
      throw new LimitsOptionError('port', this.options.port, 'server has no TCP port');
    return {
      endpoint: `http://127.0.0.1:${address.port}`,
      port: address.port,
      setEnabled: (enabled) => {
        this.enabled = enabled;
      },
      setLimits: (limits) => this.limiter.setLimits(limits),
      setEfo: (enabled) => {
        this.efoEnabled = enabled;
      },
      injectFaults: (plan) => this.faults.set(plan),
      stats: () => this.stats(),
      stop: async () => {
        const closed = once(server, 'close');
        this.efo.closeAll();
        server.close();
        server.closeAllConnections();
        this.agent.destroy();
        await closed;
      },
    };
  }

  private stats(): KinesisLimitsStats {
    return structuredClone({
      enabled: this.enabled,
      limits: this.limiter.limits,
      faults: this.faults.current(),
      ...this.counters,
      efo: { enabled: this.efoEnabled, ...this.efo.stats() },
    });
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.url?.split('?')[0] === CONTROL_PATH) return this.control(req, res);
    const target = headerOf(req, 'x-amz-target') ?? '';
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
    // @aws-sdk/client-kinesis speaks awsJson1_1; CBOR (Java SDK, KPL) passes through unmetered.
    const json = headerOf(req, 'content-type')?.startsWith(JSON_CONTENT_TYPE) === true;
    if (json && operation === 'PutRecords') return this.putRecords(req, res, await readBody(req));
    if (json && operation === 'PutRecord') return this.putRecord(req, res, await readBody(req));
    if (json && operation === 'SubscribeToShard' && this.efoEnabled)
      return this.efo.serve(res, await readBody(req));
    const put = operation === 'PutRecords' || operation === 'PutRecord';
    if (put) this.counters.requests.unmetered += 1;
    this.passthrough(req, res, SHARD_CHANGING.has(operation), put);
  }

  /** Pipes request and response unbuffered; SubscribeToShard event streams flow as they come. */
  private passthrough(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    changesShards: boolean,
    writes: boolean,
  ): void {
    this.counters.requests.passthrough += 1;
    const upstreamRequest = http.request({
      host: this.upstream.hostname,
      port: this.upstream.port,
      method: req.method,
      path: req.url,
      headers: req.rawHeaders,
      agent: this.agent,
    });
    upstreamRequest.on('response', (upstreamResponse) => {
      if (changesShards) this.routes.invalidateAll();
      res.writeHead(
        upstreamResponse.statusCode ?? 502,
        upstreamResponse.statusMessage,
        upstreamResponse.rawHeaders,
      );
      upstreamResponse.pipe(res);
      upstreamResponse.on('error', () => res.destroy());
      // A write the proxy could not parse: its stream is unknown, so every subscription reads.
      if (writes) upstreamResponse.on('end', () => this.efo.wake(undefined));
    });
    upstreamRequest.on('error', (error) => {
      if (!res.headersSent)
        reply(res, 502, errorBody(INTERNAL_FAILURE, `kinesis-limits upstream: ${error.message}`));
      else res.destroy();
    });
    // A client that hangs up (e.g. cancels a subscription) must not leave the upstream call open.
    res.on('close', () => {
      if (!res.writableFinished) upstreamRequest.destroy();
    });
    req.pipe(upstreamRequest);
  }

  private async putRecords(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    this.counters.requests.putRecords += 1;
    if (this.injectRequestFailure(res)) return;
    const parsed = parsePutRecords(body);
    const stream = parsed && streamRefOf(parsed.request, headerOf(req, 'authorization'), this.accountId);
    if (parsed === undefined || stream === undefined || !this.metering) {
      return this.forwardUnmetered(req, res, body, parsed?.entries);
    }
    const admissions = await this.admit(stream, parsed.entries);
    if (admissions === undefined) return this.forwardUnmetered(req, res, body, parsed.entries);
    const admitted = admissions.filter((a) => a.outcome === 'admit').length;
    if (admitted === 0) {
      const merged = mergePutRecordsResult(admissions, undefined, stream, this.encryptionOf(stream));
      return reply(res, 200, Buffer.from(JSON.stringify(merged), 'utf8'));
    }
    const whole = admitted === admissions.length;
    const upstream = await this.send(req, whole ? body : subsetRequest(parsed.request, admissions));
    this.efo.wake(stream.key);
    const result = upstream.status === 200 ? parseJsonObject(upstream.body) : undefined;
    if (result === undefined) return relay(res, upstream);
    this.checkRoutes(stream, admissions, upstreamShardIds(result));
    if (typeof result.EncryptionType === 'string') this.encryption.set(stream.key, result.EncryptionType);
    if (whole) return relay(res, upstream);
    const merged = mergePutRecordsResult(admissions, result, stream, this.encryptionOf(stream));
    if (merged === undefined) return relay(res, upstream);
    relay(res, { ...upstream, body: Buffer.from(JSON.stringify(merged), 'utf8') });
  }

  private async putRecord(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    this.counters.requests.putRecord += 1;
    if (this.injectRequestFailure(res)) return;
    const parsed = parsePutRecord(body);
    const stream = parsed && streamRefOf(parsed.request, headerOf(req, 'authorization'), this.accountId);
    if (parsed === undefined || stream === undefined || !this.metering) {
      return this.forwardUnmetered(req, res, body, parsed === undefined ? [] : [parsed.entry]);
    }
    const admissions = await this.admit(stream, [parsed.entry]);
    const admission = admissions?.[0];
    if (admission === undefined) return this.forwardUnmetered(req, res, body, [parsed.entry]);
    if (admission.outcome === 'throttle') {
      return reply(res, 400, errorBody(THROTTLED, throttleMessage(admission.shardId, stream)), THROTTLED);
    }
    if (admission.outcome === 'internal') {
      return reply(res, 500, errorBody(INTERNAL_FAILURE, INTERNAL_FAILURE_MESSAGE), INTERNAL_FAILURE);
    }
    const upstream = await this.send(req, body);
    this.efo.wake(stream.key);
    const result = upstream.status === 200 ? parseJsonObject(upstream.body) : undefined;
    if (result !== undefined) {
      const shardId = typeof result.ShardId === 'string' ? result.ShardId : undefined;
      this.checkRoutes(stream, admissions ?? [], [shardId]);
    }
    relay(res, upstream);
  }

  /** Records need routing when limits are on or faults may hit single records. */
  private get metering(): boolean {
    return this.enabled || this.faults.affectsRecords;
  }

  private injectRequestFailure(res: http.ServerResponse): boolean {
    if (!this.faults.failRequest()) return false;
    this.counters.requests.injectedFailures += 1;
    reply(res, 500, errorBody(INTERNAL_FAILURE, INTERNAL_FAILURE_MESSAGE), INTERNAL_FAILURE);
    return true;
  }

  /** Admissions for a request, listing shards again once if the cached map cannot route it. */
  private async admit(stream: StreamRef, entries: readonly PutEntry[]): Promise<Admission[] | undefined> {
    for (const fresh of [false, true]) {
      if (fresh) this.routes.invalidate(stream.key);
      let map: ShardMap;
      try {
        map = await this.routes.mapFor(stream);
      } catch {
        return undefined;
      }
      const admissions = admitRecords(entries, map, stream, {
        limiter: this.limiter,
        faults: this.faults,
        enabled: this.enabled,
        now: this.clock(),
      });
      if (admissions !== undefined) {
        this.count(stream, admissions);
        return admissions;
      }
    }
    return undefined;
  }

  private count(stream: StreamRef, admissions: readonly Admission[]): void {
    const { records, shards } = this.counters;
    for (const admission of admissions) {
      records.received += 1;
      if (admission.outcome === 'internal') {
        records.injectedInternalFailures += 1;
        continue;
      }
      const key = shardKey(stream, admission.shardId);
      const shard = shards[key] ?? { admitted: 0, throttled: 0, bytesAdmitted: 0 };
      shards[key] = shard;
      if (admission.outcome === 'admit') {
        records.admitted += 1;
        records.bytesAdmitted += admission.bytes;
        shard.admitted += 1;
        shard.bytesAdmitted += admission.bytes;
      } else {
        shard.throttled += 1;
        if (admission.injected) records.injectedThrottles += 1;
        else records.throttled += 1;
      }
    }
  }

  /** Drops the stream's map when the emulator put a record on another shard than predicted. */
  private checkRoutes(
    stream: StreamRef,
    admissions: readonly Admission[],
    actual: readonly (string | undefined)[],
  ): void {
    const predicted = admissions.flatMap((a) => (a.outcome === 'admit' ? [a.shardId] : []));
    if (predicted.some((shardId, i) => actual[i] !== undefined && actual[i] !== shardId)) {
      this.routes.invalidate(stream.key);
      this.counters.routeRefreshes += 1;
    }
  }

  private encryptionOf(stream: StreamRef): string {
    return this.encryption.get(stream.key) ?? 'NONE';
  }

  private async forwardUnmetered(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
    entries: readonly PutEntry[] = [],
  ): Promise<void> {
    if (this.metering) this.counters.requests.unmetered += 1;
    this.counters.records.received += entries.length;
    const upstream = await this.send(req, body);
    this.efo.wake(undefined);
    relay(res, upstream);
  }

  /** Sends a buffered request upstream with the client's headers, fixed up for the body sent. */
  private send(req: http.IncomingMessage, body: Buffer): Promise<UpstreamReply> {
    const headers: http.OutgoingHttpHeaders = { ...req.headers };
    headers['content-length'] = body.length;
    if (headers['x-amz-content-sha256'] !== undefined) {
      headers['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex');
    }
    return this.call(req.method ?? 'POST', req.url ?? '/', headers, body);
  }

  private call(
    method: string,
    path: string,
    headers: http.OutgoingHttpHeaders,
    body: Buffer,
  ): Promise<UpstreamReply> {
    return new Promise((resolve, reject) => {
      const request = http.request(
        { host: this.upstream.hostname, port: this.upstream.port, method, path, headers, agent: this.agent },
        (response) => {
          readBody(response).then(
            (responseBody) =>
              resolve({ status: response.statusCode ?? 502, headers: response.headers, body: responseBody }),
            reject,
          );
        },
      );
      request.on('error', (cause) =>
        reject(new UpstreamError(`upstream ${this.upstream.host}: ${cause.message}`, { cause })),
      );
      request.end(body);
    });
  }

  /** ListShards upstream, all pages, as the stream's own account and region. */
  private readonly listShards: ShardLister = async (stream) => {
    const shards: Awaited<ReturnType<ShardLister>>[number][] = [];
    let nextToken: string | undefined;
    do {
      const request = nextToken === undefined ? stream.selector : { NextToken: nextToken };
      const upstream = await this.callKinesis('ListShards', stream, request);
      const result = parseJsonObject(upstream.body, dropNulls);
      if (upstream.status !== 200 || result === undefined || !Array.isArray(result.Shards)) {
        throw new UpstreamError(
          `ListShards ${stream.name}: HTTP ${upstream.status} ${upstream.body.toString('utf8')}`,
        );
      }
      shards.push(...(result.Shards as Awaited<ReturnType<ShardLister>>));
      nextToken = typeof result.NextToken === 'string' ? result.NextToken : undefined;
    } while (nextToken !== undefined);
    return shards;
  };

  /** An awsJson1_1 call of the proxy's own, signed only as far as the emulator reads it (the SigV4 scope). */
  private readonly callKinesis: KinesisCall = (operation, scope, request) => {
    const date = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    const headers = {
      'content-type': JSON_CONTENT_TYPE,
      'x-amz-target': `${TARGET_PREFIX}${operation}`,
      'x-amz-date': date,
      authorization: `AWS4-HMAC-SHA256 Credential=${scope.accountId}/${date.slice(0, 8)}/${scope.region}/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0`,
    };
    return this.call('POST', '/', headers, Buffer.from(JSON.stringify(request), 'utf8'));
  };

  private async control(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method === 'POST') {
      const change = parseJsonObject(await readBody(req));
      if (change === undefined)
        return reply(res, 400, errorBody('ValidationException', 'expected a JSON object'));
      try {
        this.applyControl(change);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return reply(res, 400, errorBody('ValidationException', message));
      }
    } else if (req.method !== 'GET') {
      return reply(res, 405, errorBody('ValidationException', 'use GET or POST'));
    }
    reply(res, 200, Buffer.from(JSON.stringify(this.stats()), 'utf8'), undefined, 'application/json');
  }

  /** Applies a control change whole, or refuses it whole with every bad path named. */
  private applyControl(change: Record<string, unknown>): void {
    const { enabled, limits, faults, efo } = parseControl(change);
    if (limits !== undefined) this.limiter.setLimits(limits);
    if (faults !== undefined) this.faults.set(faults);
    if (enabled !== undefined) this.enabled = enabled;
    if (efo !== undefined) this.efoEnabled = efo;
  }
}

export type ControlChange = z.output<typeof controlSchema>;

/** A POST body of CONTROL_PATH, validated; a LimitsOptionError names every bad path. */
export function parseControl(change: unknown): ControlChange {
  return parseOptions(controlSchema, change, {
    unknownKey: 'is not a control field',
    error: limitsOptionError,
  });
}

/** The proxy's EFO pace: AWS's unless `options` says otherwise; a LimitsOptionError names every bad path. */
function resolveEfoOptions(options: EfoOptions = {}): {
  enabled: boolean | undefined;
  settings: EfoSettings;
} {
  const { enabled, ...given } = parseOptions(efoOptionsSchema, options, {
    at: ['efo'],
    unknownKey: 'is not an efo setting',
    error: limitsOptionError,
  });
  const settings: EfoSettings = { ...DEFAULT_CURSOR_SETTINGS, takeoverMs: EFO_SUBSCRIBE_TAKEOVER_MS };
  for (const [name, value] of Object.entries(given)) {
    if (value !== undefined) settings[name as keyof EfoSettings] = value;
  }
  return { enabled, settings };
}

function parseUpstream(upstream: string): URL {
  let url: URL;
  try {
    url = new URL(upstream);
  } catch (cause) {
    throw new LimitsOptionError('upstream', upstream, `is not a URL (${String(cause)})`, { cause });
  }
  if (url.protocol !== 'http:')
    throw new LimitsOptionError('upstream', upstream, 'must be a plain http:// endpoint');
  return url;
}

/** The emulator writes absent fields as null; ShardMap reads a null EndingSequenceNumber as closed. */
function dropNulls(_key: string, value: unknown): unknown {
  return value === null ? undefined : value;
}

function headerOf(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** An answer the proxy makes up itself, shaped like Kinesis's. */
function reply(
  res: http.ServerResponse,
  status: number,
  body: Buffer,
  errorType?: string,
  contentType = JSON_CONTENT_TYPE,
): void {
  const headers: http.OutgoingHttpHeaders = {
    'content-type': contentType,
    'content-length': body.length,
    'x-amzn-requestid': randomUUID(),
  };
  if (errorType !== undefined) headers['x-amzn-errortype'] = errorType;
  res.writeHead(status, headers);
  res.end(body);
}

function relay(res: http.ServerResponse, upstream: UpstreamReply): void {
  const headers: http.OutgoingHttpHeaders = { ...upstream.headers };
  for (const name of HOP_BY_HOP) delete headers[name];
  headers['content-length'] = upstream.body.length;
  res.writeHead(upstream.status, headers);
  res.end(upstream.body);
}
