import { z } from 'zod';
import { describeIssues, parseOptions } from '../../shared/options.ts';
import {
  DashboardError,
  HealthUnavailableError,
  InvalidRequestError,
  MethodNotAllowedError,
  RouteNotFoundError,
} from './errors.ts';
import {
  deriveStatus,
  type HealthProvider,
  type PipelineHealthDocument,
  pipelineHealthSchema,
} from './health.ts';
import type { DashboardReader } from './reader.ts';
import {
  alertIdParam,
  entitiesQuerySchema,
  entityAlertsQuerySchema,
  openAlertsQuerySchema,
  parseRequest,
  recentAlertsQuerySchema,
  seriesQuerySchema,
} from './requests.ts';

/**
 * The read API's one router. Two thin adapters call it: the Lambda function URL handler
 * (functions/dashboard/handler.ts) and the local HTTP server (local/dashboard/server.ts). It knows
 * nothing about either: a request is method + path + query parameters (strings; repeated
 * parameters joined with commas, as function URLs do), a response is status + headers + JSON body.
 *
 *   GET /api                     this route list
 *   GET /api/series              one series' windows        (Query AggregatesTable)
 *   GET /api/entities            series in the table        (Scan AggregatesTable, paginated)
 *   GET /api/alerts/open         open alerts, newest first  (Query GSI open-alerts)
 *   GET /api/alerts/recent       open and cleared alerts    (Query GSI recent-alerts)
 *   GET /api/alerts?entity=      an entity's alerts         (Query GSI by-entity-time)
 *   GET /api/alerts/{alertId}    one alert with reasons     (GetItem AlertsTable)
 *   GET /api/health              pipeline health            (the health provider)
 *
 * Errors: `{ "error": { "code", "message", "field"?, "retryable" } }` with 400 (validation, cursor),
 * 404 (route, alert), 405 (method), 503 (DynamoDB throttled/unreachable), 500 (anything else; the
 * message is generic and the error goes to `onError`).
 */

export interface DashboardRequest {
  method: string;
  /** Path without query string, e.g. `/api/alerts/open`. */
  path: string;
  query: Readonly<Record<string, string | undefined>>;
}

export interface DashboardResponse {
  status: number;
  headers: Record<string, string>;
  /** JSON text; empty for HEAD. */
  body: string;
}

export interface DashboardRouterOptions {
  reader: DashboardReader;
  health: HealthProvider;
  /** Wall clock for the health document, epoch ms. */
  now?: () => number;
  /** Called with every error answered with a 5xx (the Lambda handler logs it with Powertools). */
  onError?: (error: unknown, request: DashboardRequest) => void;
}

export type DashboardRouter = (request: DashboardRequest) => Promise<DashboardResponse>;

export interface ErrorBody {
  error: { code: string; message: string; field?: string; retryable: boolean };
}

/** The documented routes, served by `GET /api`. */
export const ROUTES = [
  {
    path: '/api/series',
    params: 'entity, window, from?, to?, order? (asc|desc), limit? (≤1000), cursor?',
    query: 'Query AggregatesTable pk = <entity>#<window> [AND sk BETWEEN from AND to]',
  },
  {
    path: '/api/entities',
    params: 'kind?, limit? (≤1000), cursor?',
    query: 'Scan AggregatesTable (pk, sk), distinct series, paginated',
  },
  {
    path: '/api/alerts/open',
    params: 'since?, limit? (≤200), cursor?',
    query: 'Query AlertsTable GSI open-alerts openState = OPEN [AND raisedAt >= since], newest first',
  },
  {
    path: '/api/alerts/recent',
    params: 'since?, limit? (≤200), cursor?',
    query: 'Query AlertsTable GSI recent-alerts kind = alert [AND raisedAt >= since], newest first',
  },
  {
    path: '/api/alerts',
    params: 'entity, since?, limit? (≤200), cursor?',
    query: 'Query AlertsTable GSI by-entity-time entityId = <entity> [AND raisedAt >= since], newest first',
  },
  {
    path: '/api/alerts/{alertId}',
    params: '',
    query: 'GetItem AlertsTable pk = ALERT#<alertId>, sk = ALERT',
  },
  { path: '/api/health', params: '', query: 'the pipeline health provider' },
] as const;

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

const noParams = z.strictObject({});

function json(status: number, body: unknown, extra: Record<string, string> = {}): DashboardResponse {
  return { status, headers: { ...JSON_HEADERS, ...extra }, body: JSON.stringify(body) };
}

/** Maps any error to its HTTP response: DashboardErrors by their status, everything else to 500. */
export function errorResponse(error: unknown): DashboardResponse {
  if (error instanceof DashboardError && error.status < 500) {
    const body: ErrorBody = {
      error: {
        code: error.code,
        message: error.message,
        ...(error.field === undefined ? {} : { field: error.field }),
        retryable: error.retryable,
      },
    };
    return json(error.status, body, error.status === 405 ? { allow: 'GET, HEAD' } : {});
  }
  if (error instanceof DashboardError && error.retryable) {
    return json(
      error.status,
      { error: { code: error.code, message: error.message, retryable: true } } satisfies ErrorBody,
      { 'retry-after': '1' },
    );
  }
  // Do not leak internals (table names, stack traces) to the caller; onError has the details.
  const code = error instanceof DashboardError ? error.code : 'DASHBOARD_INTERNAL';
  const message = error instanceof DashboardError ? error.message : 'internal error';
  return json(500, { error: { code, message, retryable: false } } satisfies ErrorBody);
}

function decodeSegment(segment: string, field: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InvalidRequestError(field, 'is not valid percent-encoding');
  }
}

export function createDashboardRouter(options: DashboardRouterOptions): DashboardRouter {
  const { reader } = options;
  const now = options.now ?? Date.now;

  const health = async (): Promise<PipelineHealthDocument> => {
    let raw: unknown;
    try {
      raw = await options.health();
    } catch (error) {
      throw new HealthUnavailableError(
        `provider failed: ${error instanceof Error ? error.message : String(error)}`,
        error,
      );
    }
    const document = parseOptions(pipelineHealthSchema, raw, {
      error: (issues) =>
        new HealthUnavailableError(`provider returned an invalid document: ${describeIssues(issues)}`),
    });
    const at = now();
    return {
      ...document,
      generatedAt: document.generatedAt ?? at,
      status: document.status ?? deriveStatus(document, at),
    };
  };

  const route = async (request: DashboardRequest): Promise<unknown> => {
    const path = request.path.length > 1 ? request.path.replace(/\/+$/, '') : request.path;
    const segments = path.split('/').slice(1);
    if (segments[0] !== 'api') throw new RouteNotFoundError(request.path);
    const [, resource, id, ...rest] = segments;
    let handler: (() => Promise<unknown>) | undefined;
    if (resource === undefined && id === undefined) {
      handler = async () => {
        parseRequest(noParams, request.query);
        return { routes: ROUTES };
      };
    } else if (resource === 'series' && id === undefined) {
      handler = () => reader.series(parseRequest(seriesQuerySchema, request.query));
    } else if (resource === 'entities' && id === undefined) {
      handler = () => reader.entities(parseRequest(entitiesQuerySchema, request.query));
    } else if (resource === 'health' && id === undefined) {
      handler = async () => {
        parseRequest(noParams, request.query);
        return health();
      };
    } else if (resource === 'alerts' && id === undefined) {
      handler = () => reader.entityAlerts(parseRequest(entityAlertsQuerySchema, request.query));
    } else if (resource === 'alerts' && id === 'open' && rest.length === 0) {
      handler = () => reader.openAlerts(parseRequest(openAlertsQuerySchema, request.query));
    } else if (resource === 'alerts' && id === 'recent' && rest.length === 0) {
      handler = () => reader.recentAlerts(parseRequest(recentAlertsQuerySchema, request.query));
    } else if (resource === 'alerts' && id !== undefined && rest.length === 0) {
      handler = async () => {
        parseRequest(noParams, request.query);
        return reader.alert(parseRequest(alertIdParam, decodeSegment(id, 'alertId'), 'alertId'));
      };
    }
    if (handler === undefined) throw new RouteNotFoundError(request.path);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      throw new MethodNotAllowedError(request.method, request.path);
    }
    return handler();
  };

  return async (request) => {
    let response: DashboardResponse;
    try {
      response = json(200, await route(request));
    } catch (error) {
      response = errorResponse(error);
      if (response.status >= 500) options.onError?.(error, request);
    }
    return request.method === 'HEAD' ? { ...response, body: '' } : response;
  };
}
