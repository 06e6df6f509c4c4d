/**
 * The agent's local HTTP API, so apps in any language can append. Listens on 127.0.0.1 only.
 *
 *   POST /v1/streams/:name/records   one JSON record (application/json), or NDJSON (application/x-ndjson)
 *   GET  /v1/streams                 every stream's status
 *   GET  /v1/streams/:name           one stream's status
 *   GET  /v1/status                  the agent's status
 *
 * A 202 is sent only once the append is durable per the stream's settings. Errors are
 * `{code, message, path?, index?, line?, issues?, records?, recordsRefused?}` (ErrorBody); the
 * statuses and codes are listed in device/README.md.
 *
 * Hostile input is expected: any local process or web page can reach 127.0.0.1. So a bearer token
 * is required unless turned off, only JSON content types are read (a browser's "simple" POST is
 * text/plain or a form, and gets 415), the Host must name this agent (DNS rebinding), bodies go through
 * the bounded scanner (shared/contract/json-scan.ts) as they arrive, a byte budget bounds the bodies
 * held at once, and timeouts and a connection cap bound the rest.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { type ContractErrorCode, ContractErrorCodes } from '../../shared/contract/errors.ts';
import {
  isBlankLine,
  type JsonLimits,
  JsonScanner,
  RecordDecodeError,
  RecordTooComplexError,
  RecordValidationError,
} from '../../shared/contract/index.ts';
import { httpStatuses } from '../../shared/error-codes.ts';
import { describeValue, TributaryError } from '../../shared/errors.ts';
import { maskPans } from '../../shared/pan.ts';
import type { Agent } from '../agent.ts';
import { API_HOST } from '../config.ts';
import {
  type AgentErrorCode,
  AgentErrorCodes,
  BatchRecordError,
  BodyTooLargeError,
  type RefusedRecord,
  UnauthorizedError,
} from '../errors.ts';
import { LogErrorCodes } from '../log/errors.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** What one request body may hold (checked while it is read); contract records need far less. */
export const DEFAULT_JSON_LIMITS: JsonLimits = {
  // A record nests 3 levels (payload.location); tags add none.
  maxDepth: 32,
  // A record holds ~20 values (32 tags at most); a 1 MiB NDJSON body of small records is one document per line.
  maxValues: 4_096,
  // The longest contract string is a 256-unit key (1.5 KiB escaped at worst).
  maxStringBytes: 64 * KiB,
};

export interface ApiTimeouts {
  /** Whole request line and headers. */
  readonly headersMillis: number;
  /** Whole request, body included (a body dripped slowly is cut here). */
  readonly requestMillis: number;
  /** No byte in either direction for this long closes the connection (a stalled body). */
  readonly idleMillis: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMillis: number;
}

export const DEFAULT_TIMEOUTS: ApiTimeouts = {
  headersMillis: 10_000,
  requestMillis: 30_000,
  idleMillis: 10_000,
  keepAliveMillis: 5_000,
};

/** Connections open at once; more are refused by the kernel backlog, not served. */
export const DEFAULT_MAX_CONNECTIONS = 128;
/**
 * Body bytes held by requests in flight at once: a request reserves its Content-Length (the body
 * limit when chunked) before it is read and waits, unread, while the budget is spent. Bounds the heap
 * whatever the number of connections: 4 MiB of bodies, plus their parsed and encoded copies, fits the
 * 48 MB heap of the launch line next to the exporter's buffers.
 */
export const DEFAULT_BODY_BUDGET_BYTES = 4 * MiB;
/**
 * Body bytes read (kept or dropped) between two garbage collections, when the caller gives a collector.
 * Socket reads are buffers outside V8's heap that V8 frees only once it collects, which it schedules
 * for such memory only past 64 MiB: a client sending 64 MB to be dropped would otherwise add tens of MB
 * of resident memory (see device/memory.ts).
 */
const COLLECT_EVERY_BODY_BYTES = 4 * MiB;

export interface ApiServerOptions {
  readonly agent: Agent;
  /** 0 picks a free port. */
  readonly port: number;
  /** Bearer token every request must carry; null when the config turns auth off (`api.auth: none`). */
  readonly authToken: string | null;
  readonly maxBodyBytes: number;
  readonly jsonLimits?: JsonLimits;
  readonly timeouts?: Partial<ApiTimeouts>;
  readonly maxConnections?: number;
  readonly bodyBudgetBytes?: number;
  /** Runs a garbage collection (device/memory.ts's fullGc); called every 4 MiB of body bytes read. */
  readonly collectGarbage?: () => void;
  /**
   * Serves Greengrass stream manager's wire protocol on the same port: a connection whose first byte
   * is the protocol's connect version (1; no HTTP request starts with it) is handed here with that
   * byte and whatever came with it.
   */
  readonly streamManager?: (socket: Socket, head: Buffer) => void;
}

/** The stream manager SDKs' connect version byte: what tells their connections from HTTP ones. */
const SM_CONNECT_VERSION = 1;

/**
 * One listener for both doors. Each connection's first bytes decide: stream manager's, or handed
 * to the HTTP server, which then applies its own timeouts and limits as to a connection it accepted.
 */
function frontDoor(
  http: ReturnType<typeof createServer>,
  timeouts: ApiTimeouts,
  streamManager: (socket: Socket, head: Buffer) => void,
): { listener: Server; closeStreamManager(): void } {
  const smSockets = new Set<Socket>();
  // The HTTP server never listens itself; its header and request timeouts are checked only once
  // it has seen 'listening'.
  http.emit('listening');
  const listener = createNetServer((socket) => {
    // Nothing sent: closed like an HTTP connection that never sends its headers.
    socket.setTimeout(timeouts.headersMillis, () => socket.destroy());
    socket.on('error', () => {});
    socket.once('data', (head: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      if (head[0] === SM_CONNECT_VERSION) {
        smSockets.add(socket);
        socket.once('close', () => smSockets.delete(socket));
        streamManager(socket, head);
        socket.resume();
        return;
      }
      socket.unshift(head);
      http.emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
  // SDK clients hold their connection open for good: a stop closes them (they reconnect).
  return {
    listener,
    closeStreamManager: () => {
      for (const socket of smSockets) socket.destroy();
    },
  };
}

export interface ApiServer {
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and waits for open requests to finish. */
  close(): Promise<void>;
}

export interface AppendResponse {
  readonly stream: string;
  readonly firstSequence: number;
  readonly count: number;
}

export interface IssueBody {
  readonly path: string;
  readonly message: string;
  readonly got: string;
}

/** One refused record of an NDJSON batch. */
export interface RefusedRecordBody {
  /** From 0, blank lines not counted. */
  readonly index: number;
  /** Line of the body, from 1, blank lines counted. */
  readonly line?: number;
  readonly code: string;
  readonly message: string;
  readonly path: string;
  readonly issues?: readonly IssueBody[];
}

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly path?: string;
  /** NDJSON: the first refused record's index (from 0) and body line (from 1). */
  readonly index?: number;
  readonly line?: number;
  /** RECORD_INVALID: every field at fault, not only the first; `got` describes the value (bounded, PANs masked). */
  readonly issues?: readonly IssueBody[];
  /** NDJSON: every refused record of the batch, at most MAX_REFUSED_RECORDS (20), in order. */
  readonly records?: readonly RefusedRecordBody[];
  /** NDJSON: how many records of the batch were refused in all (more than `records` holds when capped). */
  readonly recordsRefused?: number;
}

/** Seconds a client should wait before retrying a 503. */
const RETRY_AFTER_SECONDS = 1;

/** The status each code is answered with (ERRORS.md); any other error is a 500. */
const STATUS_BY_CODE = httpStatuses([AgentErrorCodes, ContractErrorCodes, LogErrorCodes]);

const JSON_TYPE = 'application/json';
const NDJSON_TYPE = 'application/x-ndjson';

/** A refusal the server makes itself, before or around the agent; its status is the code's. */
class HttpError extends TributaryError<AgentErrorCode | ContractErrorCode> {
  readonly status: number;
  constructor(code: AgentErrorCode | ContractErrorCode, message: string) {
    super(code, message);
    this.status = STATUS_BY_CODE.get(code) ?? 500;
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: unknown): void {
  if (!(error instanceof TributaryError)) {
    const message = maskPans(error instanceof Error ? error.message : String(error));
    send(res, 500, { code: 'INTERNAL' satisfies AgentErrorCode, message });
    return;
  }
  const status = error instanceof HttpError ? error.status : (STATUS_BY_CODE.get(error.code) ?? 500);
  const body: ErrorBody = {
    code: error.code,
    message: error.message,
    ...('path' in error && typeof error.path === 'string' ? { path: error.path } : {}),
    ...(error instanceof BatchRecordError
      ? {
          index: error.index,
          ...(error.line === undefined ? {} : { line: error.line }),
          records: error.refused.map(refusedBody),
          recordsRefused: error.refusedCount,
        }
      : {}),
  };
  const invalid = error instanceof BatchRecordError ? error.cause : error;
  const issues = issuesOf(invalid);
  if (issues !== undefined) Object.assign(body, { issues });
  const headers: Record<string, string> = {};
  if (status === 503) headers['retry-after'] = String(RETRY_AFTER_SECONDS);
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  send(res, status, body, headers);
}

function issuesOf(error: unknown): IssueBody[] | undefined {
  if (!(error instanceof RecordValidationError)) return undefined;
  return error.issues.map(({ path, message, value }) => ({ path, message, got: describeValue(value) }));
}

function refusedBody(record: RefusedRecord): RefusedRecordBody {
  const issues = issuesOf(record.error);
  return {
    index: record.index,
    ...(record.line === undefined ? {} : { line: record.line }),
    code: record.error.code,
    message: record.error.message,
    path: record.path,
    ...(issues === undefined ? {} : { issues }),
  };
}

/** Hands out body bytes first come, first served; a request waits, unread, until its share is free. */
class ByteBudget {
  #free: number;
  readonly #waiting: { bytes: number; grant: () => void }[] = [];

  constructor(bytes: number) {
    this.#free = bytes;
  }

  acquire(bytes: number): Promise<void> {
    if (this.#waiting.length === 0 && bytes <= this.#free) {
      this.#free -= bytes;
      return Promise.resolve();
    }
    return new Promise((grant) => this.#waiting.push({ bytes, grant }));
  }

  release(bytes: number): void {
    this.#free += bytes;
    for (
      let next = this.#waiting[0];
      next !== undefined && next.bytes <= this.#free;
      next = this.#waiting[0]
    ) {
      this.#waiting.shift();
      this.#free -= next.bytes;
      next.grant();
    }
  }

  /** A request that gave up (connection closed) before its turn. */
  forget(grant: () => void): void {
    const index = this.#waiting.findIndex((w) => w.grant === grant);
    if (index >= 0) this.#waiting.splice(index, 1);
  }
}

interface Body {
  readonly bytes: Buffer;
  readonly ndjson: boolean;
}

/** Counts body bytes read (kept or dropped) and collects garbage every so many. */
class BodyMeter {
  #bytes = 0;
  readonly #collect: (() => void) | undefined;

  constructor(collect: (() => void) | undefined) {
    this.#collect = collect;
  }

  add(bytes: number): void {
    const before = this.#bytes;
    this.#bytes += bytes;
    if (
      Math.floor(before / COLLECT_EVERY_BODY_BYTES) !== Math.floor(this.#bytes / COLLECT_EVERY_BODY_BYTES)
    ) {
      this.#collect?.();
    }
  }
}

/**
 * Reads the body through the bounded scanner: the grammar, strict UTF-8 and the JSON limits are
 * checked chunk by chunk as it arrives, so a hostile body is refused after at most the limits' worth
 * of bytes, before anything is parsed. At the first fault nothing more is kept (the caller drops the
 * rest of the body, then answers).
 */
function readBody(
  req: IncomingMessage,
  limit: number,
  ndjson: boolean,
  limits: JsonLimits,
  meter: BodyMeter,
): Promise<Body> {
  return new Promise((resolve, reject) => {
    const scanner = new JsonScanner(limits, {
      framing: ndjson ? 'lines' : 'single',
      objectsOnly: ndjson ? {} : { hint: `send batches as ${NDJSON_TYPE}` },
    });
    // Document boundaries are not kept: in NDJSON they are the non-blank lines (found again when the
    // records are parsed), so a body of a million `{}` lines costs nothing beyond its bytes.
    const onDocument = () => {};
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    // `current`: the chunk being scanned when the fault was found (not yet in `chunks`).
    const fail = (error: unknown, current?: Buffer) => {
      failed = true;
      // In NDJSON the fault is named by the index of the record it is in, and its line.
      const inRecord = error instanceof RecordDecodeError || error instanceof RecordTooComplexError;
      let refusal = error;
      if (inRecord && ndjson) {
        const line =
          error.offset === undefined
            ? undefined
            : lineAt(current === undefined ? chunks : [...chunks, current], error.offset);
        refusal = new BatchRecordError(scanner.documents, error, { line });
      }
      chunks.length = 0;
      reject(refusal);
    };
    req.on('data', (chunk: Buffer) => {
      meter.add(chunk.length);
      if (failed) return;
      size += chunk.length;
      if (size > limit) return fail(new BodyTooLargeError(limit));
      try {
        scanner.write(chunk, onDocument);
        chunks.push(chunk);
      } catch (error) {
        fail(error, chunk);
      }
    });
    req.on('end', () => {
      if (failed) return;
      try {
        scanner.end(onDocument);
      } catch (error) {
        return fail(error);
      }
      if (ndjson && scanner.documents === 0) {
        return fail(new HttpError('RECORD_MALFORMED', 'the NDJSON body holds no record'));
      }
      resolve({ bytes: Buffer.concat(chunks, size), ndjson });
    });
    req.on('error', (error) => {
      if (!failed) fail(error);
    });
  });
}

/**
 * The records of a scanned body, parsed one at a time as they are consumed. `at.line` is the body
 * line (from 1, blank lines counted) of the record last yielded.
 */
function* records(body: Body, at: { line: number } = { line: 0 }): Generator<unknown> {
  const { bytes } = body;
  if (!body.ndjson) {
    at.line = 1;
    yield JSON.parse(bytes.toString('utf8'));
    return;
  }
  let line = 0;
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    line++;
    if (!isBlankLine(bytes, start, end)) {
      at.line = line;
      yield JSON.parse(bytes.toString('utf8', start, end));
    }
    start = end + 1;
  }
}

/** Line (from 1) of byte `offset` of a body received as `chunks`. */
function lineAt(chunks: readonly Buffer[], offset: number): number {
  let line = 1;
  let seen = 0;
  for (const chunk of chunks) {
    const end = Math.min(chunk.length, offset - seen);
    for (let i = chunk.indexOf(0x0a); i >= 0 && i < end; i = chunk.indexOf(0x0a, i + 1)) line++;
    seen += chunk.length;
    if (seen >= offset) break;
  }
  return line;
}

/**
 * Starts the append of a request body. Not async, and the body is not kept by the caller: each
 * record is parsed, validated and encoded before the next, so neither the body nor the parsed
 * records stay reachable while the append waits for its fsync (they would outlive the young
 * generation and pile up in the old one at 10k records/s).
 */
function appendBody(
  agent: Agent,
  name: string,
  ndjson: boolean,
  body: Body,
): Promise<{ firstSequence: number; count: number }> {
  if (ndjson) {
    const at = { line: 0 };
    return agent.appendMany(name, records(body, at), { line: () => at.line });
  }
  const [record] = records(body);
  return agent.append(name, record).then(({ sequence }) => ({ firstSequence: sequence, count: 1 }));
}

/** The body's media type, or a 415 for anything but JSON and NDJSON in UTF-8. */
function bodyType(req: IncomingMessage): 'json' | 'ndjson' {
  const [type = '', ...params] = (req.headers['content-type'] ?? '')
    .split(';')
    .map((p) => p.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/"/g, '');
  if ((type === JSON_TYPE || type === NDJSON_TYPE) && (charset === undefined || charset === 'utf-8')) {
    return type === JSON_TYPE ? 'json' : 'ndjson';
  }
  throw new HttpError(
    'UNSUPPORTED_MEDIA_TYPE',
    `content-type must be ${JSON_TYPE} or ${NDJSON_TYPE} (UTF-8), got ${JSON.stringify((req.headers['content-type'] ?? '').slice(0, 100))}`,
  );
}

/** SHA-256 of the token: equal-length inputs for timingSafeEqual whatever the caller sends. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function authorized(req: IncomingMessage, expected: Buffer): boolean {
  // RFC 9110: the scheme is case-insensitive.
  const match = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), expected);
}

/**
 * Refuses a request whose Host or Origin names another site: a page on a rebinding domain reaches
 * 127.0.0.1 with its own host name, and any page can POST here from a browser.
 */
function checkOrigin(req: IncomingMessage, allowedHosts: ReadonlySet<string>): void {
  const host = req.headers.host?.toLowerCase();
  // HTTP/1.1 requires Host (node answers 400 without it); only HTTP/1.0 clients, never browsers, omit it.
  if (host !== undefined && !allowedHosts.has(host)) {
    throw new HttpError('HOST_NOT_ALLOWED', `host ${JSON.stringify(host.slice(0, 100))} is not this agent`);
  }
  const origin = req.headers.origin?.toLowerCase();
  if (origin !== undefined && !allowedHosts.has(origin.replace(/^http:\/\//, ''))) {
    throw new HttpError(
      'ORIGIN_NOT_ALLOWED',
      `requests from ${JSON.stringify(origin.slice(0, 100))} are not allowed`,
    );
  }
}

function pathParts(pathname: string): string[] {
  try {
    return pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    throw new HttpError('PATH_MALFORMED', 'the path has a malformed percent-encoding');
  }
}

interface Context {
  readonly options: ApiServerOptions;
  readonly token: Buffer | undefined;
  readonly allowedHosts: ReadonlySet<string>;
  readonly budget: ByteBudget;
  readonly jsonLimits: JsonLimits;
  readonly meter: BodyMeter;
}

async function handle(req: IncomingMessage, res: ServerResponse, context: Context): Promise<void> {
  const { options } = context;
  const { agent } = options;
  checkOrigin(req, context.allowedHosts);
  if (context.token !== undefined && !authorized(req, context.token)) throw new UnauthorizedError();
  const url = new URL(req.url ?? '/', 'http://agent');
  const parts = pathParts(url.pathname);
  const method = req.method ?? 'GET';
  const only = (allowed: string) => {
    if (method !== allowed) {
      res.setHeader('allow', allowed);
      throw new HttpError('METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allowed}`);
    }
  };

  if (parts[0] === 'v1' && parts[1] === 'status' && parts.length === 2) {
    only('GET');
    return send(res, 200, agent.status());
  }
  if (parts[0] === 'v1' && parts[1] === 'streams' && parts.length === 2) {
    only('GET');
    return send(res, 200, { streams: agent.status().streams });
  }
  const name = parts[2];
  if (parts[0] === 'v1' && parts[1] === 'streams' && name !== undefined && parts.length === 3) {
    only('GET');
    return send(res, 200, agent.streamStatus(name));
  }
  if (
    parts[0] === 'v1' &&
    parts[1] === 'streams' &&
    name !== undefined &&
    parts[3] === 'records' &&
    parts.length === 4
  ) {
    only('POST');
    const ndjson = bodyType(req) === 'ndjson';
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (declared > options.maxBodyBytes) throw new BodyTooLargeError(options.maxBodyBytes);
    const reserve = Number.isInteger(declared) && declared >= 0 ? declared : options.maxBodyBytes;
    await waitForBudget(req, context.budget, reserve);
    try {
      const body = await readBody(req, options.maxBodyBytes, ndjson, context.jsonLimits, context.meter);
      const result = await appendBody(agent, name, ndjson, body);
      const response: AppendResponse = { stream: name, ...result };
      return send(res, 202, response);
    } finally {
      context.budget.release(reserve);
    }
  }
  throw new HttpError('NOT_FOUND', `no route for ${method} ${url.pathname}`);
}

/** Waits for `bytes` of the body budget; gives up (and never takes them) if the client goes away. */
function waitForBudget(req: IncomingMessage, budget: ByteBudget, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const grant = () => {
      if (done) return budget.release(bytes);
      done = true;
      req.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      if (done) return;
      done = true;
      budget.forget(grant);
      reject(new HttpError('CLIENT_CLOSED', 'the client closed the connection'));
    };
    req.on('close', onClose);
    budget.acquire(bytes).then(grant);
  });
}

/** Starts the API on 127.0.0.1. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const server = createServer({
    headersTimeout: timeouts.headersMillis,
    requestTimeout: timeouts.requestMillis,
    keepAliveTimeout: timeouts.keepAliveMillis,
    // How often the two timeouts above are checked (node's default, 30 s, would let them overrun).
    connectionsCheckingInterval: Math.min(1_000, timeouts.headersMillis),
    requireHostHeader: true,
  });
  server.timeout = timeouts.idleMillis;
  const front =
    options.streamManager === undefined ? undefined : frontDoor(server, timeouts, options.streamManager);
  const listener: Server = front?.listener ?? server;
  listener.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const allowedHosts = new Set<string>();
  const context: Context = {
    options,
    token: options.authToken === null ? undefined : digest(options.authToken),
    allowedHosts,
    budget: new ByteBudget(
      Math.max(options.bodyBudgetBytes ?? DEFAULT_BODY_BUDGET_BYTES, options.maxBodyBytes),
    ),
    jsonLimits: options.jsonLimits ?? DEFAULT_JSON_LIMITS,
    meter: new BodyMeter(options.collectGarbage),
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, context).catch((error: unknown) => {
      const respond = () => {
        if (!res.headersSent && !res.destroyed) sendError(res, error);
        else res.destroy();
      };
      // The rest of the body is read and dropped before the answer: a client still sending would
      // otherwise meet a closed connection (EPIPE) instead of its 4xx. The request timeout bounds it.
      if (req.complete) respond();
      else {
        req.once('end', respond);
        // readBody's listener (when it ran) already counts and drops; otherwise this one does.
        if (req.listenerCount('data') === 0)
          req.on('data', (chunk: Buffer) => context.meter.add(chunk.length));
        else req.resume();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port, API_HOST, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  const { port } = listener.address() as AddressInfo;
  // Without a port too (HTTP/1.0 tools): a rebinding page always sends its own name, never these.
  for (const name of [API_HOST, 'localhost']) allowedHosts.add(`${name}:${port}`).add(name);
  return {
    url: `http://${API_HOST}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (front !== undefined) {
          // Stops the HTTP server's timeout checks; it has no listening socket of its own to close.
          server.close(() => {});
          front.closeStreamManager();
        }
        listener.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeIdleConnections();
      }),
  };
}
