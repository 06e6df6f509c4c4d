/**
 * A minimal client for AWS JSON-protocol services (Kinesis speaks `application/x-amz-json-1.1`):
 * one POST per call, signed with SigV4, over node:http(s) with keep-alive. The device agent uses it
 * instead of an SDK v3 client, whose middleware stack, serializers and per-request copies of the
 * body (base64 string, JSON string, buffer) cost it tens of MB of resident memory. No retries here:
 * callers own backoff.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AwsCredentialsProvider } from './clients.ts';
import { AwsServiceError } from './errors.ts';
import { signRequest } from './sigv4.ts';

export interface AwsJsonClientOptions {
  /** Signing name and endpoint prefix, e.g. `kinesis`. */
  readonly service: string;
  /** `X-Amz-Target` prefix, e.g. `Kinesis_20131202`. */
  readonly targetPrefix: string;
  readonly region: string;
  /** http(s) URL; `https://<service>.<region>.amazonaws.com` when unset. */
  readonly endpoint?: string;
  readonly credentials: AwsCredentialsProvider;
  /** Concurrent connections (one per request in flight). */
  readonly maxSockets?: number;
  /** ms since the epoch. */
  readonly clock?: () => number;
}

export interface AwsJsonClient {
  /**
   * POSTs `body` (the JSON request) to `operation`; resolves with the parsed JSON answer. An answer
   * longer than `maxResponseBytes` is dropped while it arrives: AwsServiceError `ResponseTooLarge`.
   */
  call(
    operation: string,
    body: Uint8Array | string,
    options?: { signal?: AbortSignal; maxResponseBytes?: number },
  ): Promise<unknown>;
  destroy(): void;
}

/** Errors meaning the device clock is off; the server's Date header then corrects it. */
const CLOCK_SKEW = new Set([
  'InvalidSignatureException',
  'RequestExpired',
  'RequestInTheFuture',
  'RequestTimeTooSkewed',
  'SignatureDoesNotMatch',
]);

/** `aws.protocoltests#ThrottlingException:http://...` → `ThrottlingException` */
function errorType(raw: string): string {
  const colon = raw.indexOf(':');
  const name = colon >= 0 ? raw.slice(0, colon) : raw;
  return name.slice(name.lastIndexOf('#') + 1);
}

export function defaultEndpoint(service: string, region: string): string {
  return `https://${service}.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/**
 * Sends one request. Kept apart from `call` so no closure that outlives the write captures the
 * body: a multi-MB PutRecords body can be collected while the answer is awaited.
 */
function post(
  send: typeof httpRequest,
  url: URL,
  path: string,
  headers: Record<string, string>,
  agent: HttpAgent,
  body: Uint8Array,
  signal: AbortSignal | undefined,
  maxResponseBytes: number,
  operation: string,
): Promise<{ res: IncomingMessage; text: string }> {
  const req = send({
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port,
    path,
    method: 'POST',
    headers,
    agent,
    ...(signal === undefined ? {} : { signal }),
  });
  const answered = new Promise<{ res: IncomingMessage; text: string }>((resolve, reject) => {
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        if (received > maxResponseBytes) return;
        received += chunk.length;
        if (received <= maxResponseBytes) chunks.push(chunk);
        else {
          chunks.length = 0;
          req.destroy();
          reject(
            new AwsServiceError(
              operation,
              'ResponseTooLarge',
              res.statusCode ?? 0,
              `answer over ${maxResponseBytes} bytes, dropped`,
            ),
          );
        }
      });
      res.on('error', reject);
      res.on('end', () => resolve({ res, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
  });
  req.end(body);
  return answered;
}

export function createAwsJsonClient(options: AwsJsonClientOptions): AwsJsonClient {
  const url = new URL(options.endpoint ?? defaultEndpoint(options.service, options.region));
  const secure = url.protocol === 'https:';
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
  const agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  const send = secure ? httpsRequest : httpRequest;
  const clock = options.clock ?? Date.now;
  const path = url.pathname === '' ? '/' : url.pathname;
  /** Server time minus ours, learnt from clock-skew errors (as the SDK does). */
  let offsetMillis = 0;

  /**
   * Signs and starts one request, and returns without awaiting the answer. The body is a parameter
   * here and in `call`: a suspended async function keeps every parameter alive, so only this one,
   * which is done as soon as the request is written, may take it. A PutRecords body (up to 6.7 MB)
   * is then collectable while its answer is awaited.
   */
  const start = async (
    operation: string,
    payload: Uint8Array,
    signal: AbortSignal | undefined,
    maxResponseBytes: number,
  ) => {
    const credentials = await options.credentials();
    const headers = signRequest({
      method: 'POST',
      host: url.host,
      path,
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `${options.targetPrefix}.${operation}`,
        'content-length': String(payload.byteLength),
      },
      body: payload,
      region: options.region,
      service: options.service,
      credentials,
      date: new Date(clock() + offsetMillis),
    });
    return post(send, url, path, headers, agent, payload, signal, maxResponseBytes, operation);
  };

  const answer = (operation: string, response: { res: IncomingMessage; text: string }): unknown => {
    const status = response.res.statusCode ?? 0;
    let parsed: unknown;
    try {
      parsed = response.text === '' ? {} : JSON.parse(response.text);
    } catch {
      parsed = undefined;
    }
    if (status >= 200 && status < 300 && parsed !== undefined) return parsed;
    const fields = (parsed ?? {}) as { __type?: unknown; message?: unknown; Message?: unknown };
    const header = response.res.headers['x-amzn-errortype'];
    const rawType =
      typeof fields.__type === 'string'
        ? fields.__type
        : typeof header === 'string'
          ? header
          : status >= 500
            ? 'InternalFailure'
            : 'UnknownError';
    const type = errorType(rawType);
    const message = fields.message ?? fields.Message;
    if (CLOCK_SKEW.has(type)) {
      const serverDate = Date.parse(String(response.res.headers.date));
      if (!Number.isNaN(serverDate)) offsetMillis = serverDate - clock();
    }
    throw new AwsServiceError(
      operation,
      type,
      status,
      typeof message === 'string' ? message : `HTTP ${status} ${response.text.slice(0, 200)}`,
    );
  };

  // Not async, for the reason given at `start`.
  const call = (
    operation: string,
    body: Uint8Array | string,
    {
      signal,
      maxResponseBytes = Number.POSITIVE_INFINITY,
    }: { signal?: AbortSignal; maxResponseBytes?: number } = {},
  ): Promise<unknown> =>
    start(
      operation,
      typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
      signal,
      maxResponseBytes,
    ).then((response) => answer(operation, response));

  return { call, destroy: () => agent.destroy() };
}
