/**
 * The agent's local HTTP API, so apps in any language can append. Listens on 127.0.0.1 only.
 *
 *   POST /v1/streams/:name/records   one JSON record, or NDJSON (content-type application/x-ndjson)
 *   GET  /v1/streams                 every stream's status
 *   GET  /v1/streams/:name           one stream's status
 *   GET  /v1/status                  the agent's status
 *
 * A 202 is sent only once the append is durable per the stream's settings. Errors are
 * `{code, message, path?, index?}` with 400 (invalid record), 401, 404, 413 (record or body too
 * large), 503 + Retry-After (stream full, agent stopping, write failed), 500.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RecordDecodeError } from '../../shared/contract/index.ts';
import { TributaryError } from '../../shared/errors.ts';
import type { Agent } from '../agent.ts';
import { API_HOST } from '../config.ts';
import { BatchRecordError, BodyTooLargeError, ConfigFileError, UnauthorizedError } from '../errors.ts';

export interface ApiServerOptions {
  readonly agent: Agent;
  /** 0 picks a free port. */
  readonly port: number;
  /** Bearer token every request must carry; no auth when absent. */
  readonly authToken?: string;
  readonly maxBodyBytes: number;
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

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly path?: string;
  readonly index?: number;
}

/** Seconds a client should wait before retrying a 503. */
const RETRY_AFTER_SECONDS = 1;

const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  RECORD_INVALID: 400,
  RECORD_MALFORMED: 400,
  UNAUTHORIZED: 401,
  STREAM_NOT_FOUND: 404,
  RECORD_TOO_LARGE: 413,
  BODY_TOO_LARGE: 413,
  STREAM_FULL: 503,
  AGENT_STOPPED: 503,
  LOG_CLOSED: 503,
  LOG_WRITE_FAILED: 503,
  STORAGE_FULL: 507,
};

/** Reads the token file (surrounding whitespace trimmed); an empty file is a config error. */
export async function loadAuthToken(file: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new ConfigFileError(file, 'api.authTokenFile', file, `cannot be read: ${(error as Error).message}`);
  }
  if (token === '') throw new ConfigFileError(file, 'api.authTokenFile', file, 'is empty');
  return token;
}

class HttpError extends TributaryError {
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(code, message);
    this.status = status;
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
    send(res, 500, { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  const status = error instanceof HttpError ? error.status : (STATUS_BY_CODE[error.code] ?? 500);
  const body: ErrorBody = {
    code: error.code,
    message: error.message,
    ...('path' in error && typeof error.path === 'string' ? { path: error.path } : {}),
    ...(error instanceof BatchRecordError ? { index: error.index } : {}),
  };
  const headers: Record<string, string> = {};
  if (status === 503) headers['retry-after'] = String(RETRY_AFTER_SECONDS);
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  send(res, status, body, headers);
}

/** Collects the body up to `limit` bytes; past it the rest is read and dropped, then 413. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () =>
      size > limit ? reject(new BodyTooLargeError(limit)) : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}

function parseJson(text: string, index: number | undefined): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const decode = new RecordDecodeError((error as Error).message, { cause: error });
    throw index === undefined ? decode : new BatchRecordError(index, decode);
  }
}

/** The records of an NDJSON body, parsed one at a time as they are consumed. */
function* ndjsonRecords(body: string): Generator<unknown> {
  let index = 0;
  for (let start = 0; start < body.length; ) {
    let end = body.indexOf('\n', start);
    if (end < 0) end = body.length;
    const line = body.slice(start, end);
    start = end + 1;
    if (line.trim() !== '') yield parseJson(line, index++);
  }
  if (index === 0) throw new HttpError(400, 'RECORD_MALFORMED', 'the NDJSON body holds no record');
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
  body: string,
): Promise<{ firstSequence: number; count: number }> {
  if (ndjson) return agent.appendMany(name, ndjsonRecords(body));
  const record = parseJson(body, undefined);
  if (Array.isArray(record)) {
    throw new HttpError(
      400,
      'RECORD_MALFORMED',
      'expected one JSON object; send batches as application/x-ndjson',
    );
  }
  return agent.append(name, record).then(({ sequence }) => ({ firstSequence: sequence, count: 1 }));
}

function isNdjson(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/x-ndjson' || type === 'application/ndjson' || type === 'application/jsonl';
}

function authorized(req: IncomingMessage, token: Buffer): boolean {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7).trim(), 'utf8');
  return given.length === token.length && timingSafeEqual(given, token);
}

async function handle(req: IncomingMessage, res: ServerResponse, options: ApiServerOptions): Promise<void> {
  const { agent } = options;
  if (options.authToken !== undefined && !authorized(req, Buffer.from(options.authToken, 'utf8'))) {
    req.resume();
    throw new UnauthorizedError();
  }
  const url = new URL(req.url ?? '/', 'http://agent');
  const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
  const method = req.method ?? 'GET';
  const only = (allowed: string) => {
    if (method !== allowed) {
      req.resume();
      res.setHeader('allow', allowed);
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allowed}`);
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
    const result = await appendBody(
      agent,
      name,
      isNdjson(req),
      (await readBody(req, options.maxBodyBytes)).toString('utf8'),
    );
    const response: AppendResponse = { stream: name, ...result };
    return send(res, 202, response);
  }
  req.resume();
  throw new HttpError(404, 'NOT_FOUND', `no route for ${method} ${url.pathname}`);
}

/** Starts the API on 127.0.0.1. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const server = createServer((req, res) => {
    handle(req, res, options).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, error);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, API_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${API_HOST}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeIdleConnections();
      }),
  };
}
