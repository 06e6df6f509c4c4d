/**
 * The dashboard on loopback: the read API (the same router the Lambda function URL runs) plus the
 * web page in ./public and the charting library straight from node_modules (no CDN).
 *
 *   const dashboard = await startDashboardServer({ clients: cloud.clients, stack: cloud.stack, health });
 *   console.log(dashboard.url);   // http://127.0.0.1:<free port>/
 *   await dashboard.stop();
 *
 * Routes and their DynamoDB queries: local/dashboard/README.md.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { HealthProvider } from '../../functions/dashboard/health.ts';
import { DashboardReader } from '../../functions/dashboard/reader.ts';
import { createDashboardRouter, type DashboardRequest } from '../../functions/dashboard/router.ts';
import type { AwsClients } from '../../shared/aws/clients.ts';
import { PortInUseError } from '../errors.ts';
import { type StackDefinition, stackResource } from '../resources/stack.ts';

export type { HealthProvider, PipelineHealth } from '../../functions/dashboard/health.ts';

export interface DashboardServerOptions {
  /** The local cloud's clients (shared/aws/clients.ts); only `dynamodb()` is used. */
  clients: Pick<AwsClients, 'dynamodb'>;
  /** The loaded serverless.yml: AlertsTable and AggregatesTable names come from it. */
  stack: StackDefinition;
  /** Pipeline health for `GET /api/health` and the page's health panel. */
  health: HealthProvider;
  /** Port on 127.0.0.1; a free one when absent or 0. */
  port?: number;
  /** Where 5xx errors are reported; stderr by default. */
  onError?: (error: unknown, request: DashboardRequest) => void;
}

export interface DashboardServer {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  readonly port: number;
  /** Stops listening and closes open (keep-alive) connections. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
const require = createRequire(import.meta.url);

interface StaticFile {
  type: string;
  body: Buffer;
}

async function loadStaticFiles(): Promise<Map<string, StaticFile>> {
  const files: [string, string, string][] = [
    ['/', `${PUBLIC_DIR}index.html`, 'text/html; charset=utf-8'],
    ['/app.js', `${PUBLIC_DIR}app.js`, 'text/javascript; charset=utf-8'],
    ['/view.js', `${PUBLIC_DIR}view.js`, 'text/javascript; charset=utf-8'],
    ['/style.css', `${PUBLIC_DIR}style.css`, 'text/css; charset=utf-8'],
    ['/vendor/uPlot.esm.js', require.resolve('uplot/dist/uPlot.esm.js'), 'text/javascript; charset=utf-8'],
    ['/vendor/uPlot.min.css', require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  const loaded = new Map<string, StaticFile>();
  for (const [path, file, type] of files) loaded.set(path, { type, body: await readFile(file) });
  loaded.set('/index.html', loaded.get('/') as StaticFile);
  return loaded;
}

/** Query parameters as the Lambda function URL passes them: repeated names joined with commas. */
function queryOf(url: URL): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = name in query ? `${query[name]},${value}` : value;
  }
  return query;
}

const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // uPlot positions its legend and cursor with inline style attributes.
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
} as const;

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const reader = new DashboardReader(options.clients.dynamodb(), {
    alertsTable: stackResource(options.stack, 'dynamodb-table', 'AlertsTable').name,
    aggregatesTable: stackResource(options.stack, 'dynamodb-table', 'AggregatesTable').name,
  });
  const onError =
    options.onError ??
    ((error: unknown, request: DashboardRequest) =>
      console.error(`dashboard: ${request.method} ${request.path} failed:`, error));
  const route = createDashboardRouter({ reader, health: options.health, onError });
  return servePage({
    ...(options.port === undefined ? {} : { port: options.port }),
    onError,
    api: async (request) => {
      const response = await route(request);
      return { status: response.status, headers: response.headers, body: response.body };
    },
  });
}

/** What answers the page's `/api/...` requests: the local router, or a proxy to the deployed API. */
export type DashboardApi = (
  request: DashboardRequest & { rawQuery: string },
) => Promise<{ status: number; headers: Readonly<Record<string, string>>; body: string | Uint8Array }>;

export interface PageServerOptions {
  api: DashboardApi;
  port?: number;
  onError: (error: unknown, request: DashboardRequest) => void;
}

/** The page and its static files on 127.0.0.1, `/api/...` answered by `api`. */
export async function servePage(options: PageServerOptions): Promise<DashboardServer> {
  const { api, onError } = options;
  const files = await loadStaticFiles();
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Loopback only, and no DNS rebinding: the Host must name this listener.
    const host = req.headers.host ?? '';
    if (host !== `${HOST}:${port}` && host !== `localhost:${port}`) {
      sendText(res, 403, 'forbidden host');
      return;
    }
    const url = new URL(req.url ?? '/', `http://${HOST}:${port}`);
    const method = req.method ?? 'GET';
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
      const response = await api({
        method,
        path: url.pathname,
        query: queryOf(url),
        rawQuery: url.search.slice(1),
      });
      res.writeHead(response.status, {
        ...response.headers,
        'content-length':
          typeof response.body === 'string' ? Buffer.byteLength(response.body) : response.body.byteLength,
      });
      res.end(response.body);
      return;
    }
    const file = files.get(url.pathname);
    if (file === undefined) {
      sendText(res, 404, `not found: ${url.pathname}`);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendText(res, 405, 'method not allowed');
      return;
    }
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': file.type, 'content-length': file.body.length });
    res.end(method === 'HEAD' ? undefined : file.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      onError(error, { method: req.method ?? 'GET', path: req.url ?? '/', query: {} });
      if (!res.headersSent) sendText(res, 500, 'internal error');
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new PortInUseError('dashboard', options.port ?? 0, { cause: error })
          : error,
      );
    server.once('error', fail);
    server.listen(options.port ?? 0, HOST, () => {
      server.off('error', fail);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;

  return {
    url: `http://${HOST}:${port}/`,
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}
