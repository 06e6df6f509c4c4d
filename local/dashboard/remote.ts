/**
 * `tributary dashboard --stage <stage>`: the dashboard page on 127.0.0.1 over the deployed stack.
 * The read API is the dashboard function's URL (AuthType AWS_IAM), read from the stack's outputs
 * (`DashboardLambdaFunctionUrl`, which osls adds for a function with `url:`); the page's `/api/...`
 * requests are forwarded to it signed with SigV4 (service `lambda`) with the default credential
 * chain, so the caller needs lambda:InvokeFunctionUrl on the function and nothing is exposed beyond
 * loopback.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseArgs } from 'node:util';
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider, SourceData } from '@smithy/types';
import { z } from 'zod';
import type { DashboardErrorCode } from '../../functions/dashboard/errors.ts';
import { createControlPlaneClients } from '../../shared/aws/control-clients.ts';
import { exitCodes } from '../../shared/error-codes.ts';
import { exitCodeFor, SharedErrorCodes, UsageError } from '../../shared/errors.ts';
import { parseOptions, spelledAs, usageError } from '../../shared/options.ts';
import {
  type DashboardCommandErrorCode,
  DashboardCommandErrorCodes,
  RemoteDashboardError,
} from './errors.ts';
import { type DashboardApi, type DashboardServer, servePage } from './server.ts';

export const DASHBOARD_USAGE = `usage: tributary dashboard --stage <stage> [options]

Serves the dashboard page on 127.0.0.1 over the deployed stack: the read API's function URL comes
from the stack's outputs, and the page's requests are signed with your AWS credentials (default
credential chain: AWS_PROFILE, environment, SSO, instance role...). They need
cloudformation:DescribeStacks on the stack and lambda:InvokeFunctionUrl on the dashboard function.

options:
  --stage <name>      serverless stage (required; the stack is tributary-<stage>)
  --stack <name>      stack name, if not tributary-<stage>
  --region <region>   region of the stack (default AWS_REGION, else us-east-1)
  --port <port>       port on 127.0.0.1 (default: a free one)
  -h, --help          show this help`;

/** The output osls adds for a function with `url:` (`<FunctionName>LambdaFunctionUrl`). */
export const FUNCTION_URL_OUTPUT = 'DashboardLambdaFunctionUrl';

export interface RemoteDashboardCommand {
  stackName: string;
  region: string;
  port: number;
}

/** Parses the arguments after `dashboard`. Returns undefined for --help. */
const PORT_RULE = 'must be an integer from 0 to 65535';

/** The flags whose values are checked (parseArgs has checked the rest); numbers as typed. */
const dashboardFlagsSchema = z.strictObject({
  stage: z.string().regex(/^[a-zA-Z0-9-]+$/, 'must be letters, digits and -'),
  port: z.coerce.number(PORT_RULE).int(PORT_RULE).min(0, PORT_RULE).max(65_535, PORT_RULE).optional(),
});

export function parseDashboardArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): RemoteDashboardCommand | undefined {
  let values: { stage?: string; stack?: string; region?: string; port?: string; help: boolean };
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: {
        stage: { type: 'string' },
        stack: { type: 'string' },
        region: { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    values = parsed.values;
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${DASHBOARD_USAGE}`);
  }
  if (values.help) return undefined;
  if (values.stage === undefined) throw new UsageError(`--stage is required\n\n${DASHBOARD_USAGE}`);
  const { port = 0 } = parseOptions(
    dashboardFlagsSchema,
    { stage: values.stage, port: values.port },
    { formatPath: spelledAs({ stage: '--stage', port: '--port' }), error: usageError },
  );
  return {
    stackName: values.stack ?? `tributary-${values.stage}`,
    region: values.region ?? (env.AWS_REGION || 'us-east-1'),
    port,
  };
}

/** `https://<id>.lambda-url.<region>.on.aws/` → `<region>`. */
export function regionOfFunctionUrl(url: URL): string | undefined {
  return /^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(url.hostname)?.[1];
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function awsError(stackName: string, error: unknown): RemoteDashboardError {
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'CredentialsProviderError') {
    return new RemoteDashboardError(
      'DASHBOARD_NO_CREDENTIALS',
      stackName,
      `no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): ${message}`,
      { cause: error },
    );
  }
  if (name === 'ValidationError' && /does not exist/.test(message)) {
    return new RemoteDashboardError(
      'DASHBOARD_STACK_NOT_FOUND',
      stackName,
      'no such stack in this account and region; deploy it first, or pass --stage/--stack/--region',
      { cause: error },
    );
  }
  return new RemoteDashboardError('DASHBOARD_AWS_FAILED', stackName, `${name || 'error'}: ${message}`, {
    retryable: true,
    cause: error,
  });
}

/** The read API's function URL from the stack's outputs. */
export async function findFunctionUrl(
  cloudformation: Pick<CloudFormationClient, 'send'>,
  stackName: string,
): Promise<URL> {
  let outputs: { OutputKey?: string | undefined; OutputValue?: string | undefined }[];
  try {
    const described = await cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = described.Stacks?.[0]?.Outputs ?? [];
  } catch (error) {
    throw awsError(stackName, error);
  }
  const value = outputs.find((o) => o.OutputKey === FUNCTION_URL_OUTPUT)?.OutputValue;
  if (value === undefined) {
    const keys = outputs.map((o) => o.OutputKey).join(', ') || 'none';
    throw new RemoteDashboardError(
      'DASHBOARD_URL_OUTPUT_MISSING',
      stackName,
      `no ${FUNCTION_URL_OUTPUT} output (outputs: ${keys}); is the stack still being created, or not a Tributary stack?`,
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new RemoteDashboardError(
      'DASHBOARD_URL_OUTPUT_MISSING',
      stackName,
      `${FUNCTION_URL_OUTPUT} is not a URL: ${JSON.stringify(value)}`,
      { cause },
    );
  }
  // Signed requests carry credentials-derived headers: only over TLS, or to this machine.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    throw new RemoteDashboardError(
      'DASHBOARD_URL_OUTPUT_MISSING',
      stackName,
      `${FUNCTION_URL_OUTPUT} must be an https URL (got ${value})`,
    );
  }
  return url;
}

/** SHA-256 and HMAC-SHA256 from node:crypto in the shape SignatureV4 asks for. */
class NodeSha256 {
  #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }

  update(data: SourceData): void {
    this.#hash.update(bytes(data));
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }

  reset(): void {
    throw new Error('not used by SignatureV4');
  }
}

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

export interface SigningProxyOptions {
  /** The function URL (its path is the API's base). */
  target: URL;
  region: string;
  credentials: AwsCredentialIdentityProvider;
}

const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'retry-after'] as const;

/** A DashboardApi that forwards the page's GETs to the function URL, signed with SigV4 for `lambda`. */
export function createSigningProxy(options: SigningProxyOptions): DashboardApi {
  const signer = new SignatureV4({
    service: 'lambda',
    region: options.region,
    credentials: options.credentials,
    sha256: NodeSha256,
  });
  const base = options.target.pathname.replace(/\/$/, '');
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return json(405, 'DASHBOARD_METHOD_NOT_ALLOWED', 'the dashboard API only reads');
    }
    const query: Record<string, string | string[]> = {};
    for (const [name, value] of new URLSearchParams(request.rawQuery)) {
      const seen = query[name];
      query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    const signed = await signer.sign({
      method: request.method,
      protocol: options.target.protocol,
      hostname: options.target.hostname,
      ...(options.target.port === '' ? {} : { port: Number(options.target.port) }),
      path: `${base}${request.path}`,
      query,
      headers: { host: options.target.host, accept: 'application/json' },
    });
    const search = request.rawQuery === '' ? '' : `?${request.rawQuery}`;
    try {
      const response = await send(
        new URL(`${base}${request.path}${search}`, options.target),
        request.method,
        signed.headers,
      );
      const headers: Record<string, string> = {};
      for (const name of FORWARDED_RESPONSE_HEADERS) {
        const value = response.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      return { status: response.status, headers, body: response.body };
    } catch (error) {
      return json(
        502,
        'UPSTREAM_UNREACHABLE',
        `the read API at ${options.target.origin} did not answer: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  };
}

/** An answer of the proxy itself, in the read API's error shape and, where it means the same, with its code. */
function json(status: number, code: DashboardCommandErrorCode | DashboardErrorCode, message: string) {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ error: { code, message, retryable: status >= 500 } }),
  };
}

/** node:http(s) rather than fetch: fetch will not send the `host` header the signature covers. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
    req.on('error', reject);
    req.end();
  });
}

export interface RemoteDashboard {
  readonly server: DashboardServer;
  readonly functionUrl: URL;
  readonly region: string;
}

/** Finds the function URL, checks the credentials, serves the page. */
export async function startRemoteDashboard(
  cmd: RemoteDashboardCommand,
  deps: { cloudformation: Pick<CloudFormationClient, 'send'>; credentials: AwsCredentialIdentityProvider },
): Promise<RemoteDashboard> {
  const functionUrl = await findFunctionUrl(deps.cloudformation, cmd.stackName);
  const region = regionOfFunctionUrl(functionUrl) ?? cmd.region;
  try {
    await deps.credentials();
  } catch (error) {
    throw awsError(cmd.stackName, error);
  }
  const server = await servePage({
    port: cmd.port,
    api: createSigningProxy({ target: functionUrl, region, credentials: deps.credentials }),
    onError: (error, request) => console.error(`dashboard: ${request.method} ${request.path} failed:`, error),
  });
  return { server, functionUrl, region };
}

const EXIT_BY_CODE = exitCodes([SharedErrorCodes, DashboardCommandErrorCodes]);

/** Entry point for `tributary dashboard ...`: serves until SIGINT/SIGTERM; returns the exit code. */
export async function dashboardMain(argv: readonly string[]): Promise<number> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let cmd: RemoteDashboardCommand | undefined;
  try {
    cmd = parseDashboardArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      return exitCodeFor(error, EXIT_BY_CODE);
    }
    throw error;
  }
  if (cmd === undefined) {
    console.log(DASHBOARD_USAGE);
    return 0;
  }
  const credentials = defaultProvider();
  const clients = createControlPlaneClients({ kind: 'aws', region: cmd.region, credentials });
  let dashboard: RemoteDashboard;
  try {
    dashboard = await startRemoteDashboard(cmd, { cloudformation: clients.cloudformation(), credentials });
  } catch (error) {
    if (error instanceof RemoteDashboardError) {
      console.error(`error [${error.code}]: ${error.message}`);
      return exitCodeFor(error, EXIT_BY_CODE);
    }
    throw error;
  } finally {
    clients.destroy();
  }
  console.log(
    `dashboard of ${cmd.stackName}: ${dashboard.server.url} (read API ${dashboard.functionUrl.origin}, signed for ${dashboard.region})`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dashboard.server.stop();
  return 0;
}
