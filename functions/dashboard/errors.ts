import { TributaryError } from '../../shared/errors.ts';

/**
 * Every error the dashboard read API raises on purpose. Each carries the HTTP status it maps to, so
 * the router (functions/dashboard/router.ts) turns it into `{ error: { code, message, field? } }`
 * the same way for the Lambda function URL and the local server.
 */
export class DashboardError extends TributaryError {
  readonly status: number;
  /** Query parameter or path segment at fault, when there is one (`limit`, `cursor`, `alertId`). */
  readonly field: string | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { field?: string; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.status = status;
    this.field = options.field;
  }
}

/** A query parameter or path segment failed validation (400). */
export class InvalidRequestError extends DashboardError {
  constructor(field: string, reason: string) {
    super(400, 'DASHBOARD_INVALID_REQUEST', `${field || '<query>'}: ${reason}`, { field });
  }
}

/** A pagination cursor that is not one this API issued for the same query (400). */
export class InvalidCursorError extends DashboardError {
  constructor(reason: string) {
    super(400, 'DASHBOARD_INVALID_CURSOR', `cursor: ${reason}`, { field: 'cursor' });
  }
}

/** No route for this path (404). */
export class RouteNotFoundError extends DashboardError {
  constructor(path: string) {
    super(404, 'DASHBOARD_ROUTE_NOT_FOUND', `no route for ${path}`);
  }
}

/** The route exists but not for this method (405; the API is read-only). */
export class MethodNotAllowedError extends DashboardError {
  constructor(method: string, path: string) {
    super(
      405,
      'DASHBOARD_METHOD_NOT_ALLOWED',
      `${method} is not allowed on ${path} (read-only API: GET, HEAD)`,
    );
  }
}

/** The addressed item does not exist (404). */
export class NotFoundError extends DashboardError {
  constructor(what: string, id: string, field: string) {
    super(404, 'DASHBOARD_NOT_FOUND', `${what} ${id} not found`, { field });
  }
}

/** DynamoDB throttled the read or is unreachable; the same request may succeed later (503). */
export class StoreUnavailableError extends DashboardError {
  constructor(cause: unknown) {
    super(503, 'DASHBOARD_STORE_UNAVAILABLE', 'the data store is busy or unreachable; retry shortly', {
      retryable: true,
      cause,
    });
  }
}

/** The health provider failed or returned a document that does not match PipelineHealth (500). */
export class HealthUnavailableError extends DashboardError {
  constructor(reason: string, cause?: unknown) {
    super(500, 'DASHBOARD_HEALTH_UNAVAILABLE', `pipeline health: ${reason}`, {
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** A required environment variable of the deployed function is missing (500 at cold start). */
export class MissingEnvironmentError extends DashboardError {
  constructor(name: string) {
    super(
      500,
      'DASHBOARD_ENV_MISSING',
      `environment variable ${name} is not set (serverless.yml functions.dashboard.environment)`,
    );
  }
}

/** A stored item does not have the documented shape (500: a writer and this reader disagree). */
export class MalformedItemError extends DashboardError {
  constructor(table: string, key: string, reason: string) {
    super(500, 'DASHBOARD_ITEM_MALFORMED', `item ${key} of ${table}: ${reason}`);
  }
}
