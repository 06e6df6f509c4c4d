import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import type { DashboardHandler } from '../../functions/dashboard/handler.ts';
import { functionUrlEvent } from './dashboard.ts';
import { testContext } from './lambda.ts';

/**
 * A local stand-in of a Lambda function URL with AuthType AWS_IAM: every request must carry a SigV4
 * signature for service `lambda` in `region` by the one known access key, made within 5 minutes;
 * the stand-in re-signs the request it received with @smithy/signature-v4 and the known secret and
 * compares. Refused requests get 403 (as Lambda answers them); accepted ones run the real handler.
 */

export interface StandInCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface FunctionUrlStandIn {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  /** Every request seen: its path and why it was refused ('' when it was accepted). */
  readonly seen: { path: string; refused: string }[];
  stop(): Promise<void>;
}

export class Sha256 {
  #hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: SourceData): void {
    this.#hash.update(toBytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }
  reset(): void {}
}

function toBytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/** Why the request's signature is not acceptable, or '' when it is. */
async function refusal(
  req: IncomingMessage,
  region: string,
  credentials: StandInCredentials,
): Promise<string> {
  const authorization = req.headers.authorization;
  if (authorization === undefined) return 'unsigned';
  const match = AUTHORIZATION.exec(authorization);
  if (match === null) return 'malformed authorization';
  const [, accessKeyId, , scopeRegion, service, signedHeaders = ''] = match;
  if (accessKeyId !== credentials.accessKeyId) return 'unknown access key';
  if (service !== 'lambda' || scopeRegion !== region) return `wrong scope ${scopeRegion}/${service}`;
  const stamp = String(req.headers['x-amz-date'] ?? '');
  const date = new Date(stamp.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (Number.isNaN(date.getTime()) || Math.abs(Date.now() - date.getTime()) > 5 * 60_000)
    return 'stale or missing x-amz-date';
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return 'host not signed';
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = req.headers[name];
    if (typeof value !== 'string') return `signed header ${name} missing`;
    headers[name] = value;
  }
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const seen = query[name];
    query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  const expected = await new SignatureV4({ service: 'lambda', region, credentials, sha256: Sha256 }).sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers,
    },
    { signingDate: date },
  );
  return expected.headers.authorization === authorization ? '' : 'signature mismatch';
}

export async function startFunctionUrlStandIn(options: {
  region: string;
  credentials: StandInCredentials;
  handler: DashboardHandler;
}): Promise<FunctionUrlStandIn> {
  const seen: { path: string; refused: string }[] = [];
  const server = createServer((req, res) => {
    (async () => {
      const refused = await refusal(req, options.region, options.credentials);
      const url = new URL(req.url ?? '/', 'http://stand-in');
      seen.push({ path: url.pathname, refused });
      if (refused !== '') {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ Message: 'Forbidden' }));
        return;
      }
      const query: Record<string, string> = {};
      for (const [name, value] of url.searchParams)
        query[name] = name in query ? `${query[name]},${value}` : value;
      const result = await options.handler(
        functionUrlEvent(req.method as 'GET' | 'HEAD', url.pathname, query),
        testContext('dashboard', { region: options.region, timeoutMs: 10_000, requestId: 'stand-in' }),
      );
      const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
      res.writeHead(result.statusCode ?? 200, {
        ...(result.headers as Record<string, string>),
        'content-length': body.length,
      });
      res.end(body);
    })().catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
