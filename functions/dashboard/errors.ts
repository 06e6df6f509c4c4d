import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

/** The read API's codes; `http` is the status the router answers each with. */
export const DashboardErrorCodes = errorCodes('functions/dashboard', {
  DASHBOARD_INVALID_REQUEST: {
    class: 'InvalidRequestError',
    retryable: false,
    http: 400,
    meaning: 'a query parameter or path segment failed validation; `field` names it',
  },
  DASHBOARD_INVALID_CURSOR: {
    class: 'InvalidCursorError',
    retryable: false,
    http: 400,
    meaning: 'a pagination cursor this API did not issue for the same query',
  },
  DASHBOARD_ROUTE_NOT_FOUND: {
    class: 'RouteNotFoundError',
    retryable: false,
    http: 404,
    meaning: 'no route for this path',
  },
  DASHBOARD_METHOD_NOT_ALLOWED: {
    class: 'MethodNotAllowedError',
    retryable: false,
    http: 405,
    meaning: 'a method other than GET or HEAD (read-only API)',
  },
  DASHBOARD_NOT_FOUND: {
    class: 'NotFoundError',
    retryable: false,
    http: 404,
    meaning: 'the addressed item does not exist',
  },
  DASHBOARD_STORE_UNAVAILABLE: {
    class: 'StoreUnavailableError',
    retryable: true,
    http: 503,
    meaning: 'DynamoDB throttled the read or is unreachable; retry shortly',
  },
  DASHBOARD_HEALTH_UNAVAILABLE: {
    class: 'HealthUnavailableError',
    retryable: false,
    http: 500,
    meaning: 'the health provider failed or returned a document that is not a PipelineHealth',
  },
  DASHBOARD_ITEM_MALFORMED: {
    class: 'MalformedItemError',
    retryable: false,
    http: 500,
    meaning: 'a stored item does not have the documented shape (a writer and the reader disagree)',
  },
  DASHBOARD_INTERNAL: {
    class: '',
    retryable: false,
    http: 500,
    meaning: 'any other failure; the details stay in the function log',
  },
});
export type DashboardErrorCode = CodeOf<typeof DashboardErrorCodes>;

/**
 * Every error the dashboard read API raises on purpose. Each carries the HTTP status it maps to, so
 * the router (functions/dashboard/router.ts) turns it into `{ error: { code, message, field? } }`
 * the same way for the Lambda function URL and the local server.
 */
export class DashboardError extends TributaryError<DashboardErrorCode> {
  readonly status: number;
  /** Query parameter or path segment at fault, when there is one (`limit`, `cursor`, `alertId`). */
  readonly field: string | undefined;

  constructor(
    code: DashboardErrorCode,
    message: string,
    options: { field?: string; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.status = DashboardErrorCodes.codes[code].http;
    this.field = options.field;
  }
}

/** A query parameter or path segment failed validation (400). */
export class InvalidRequestError extends DashboardError {
  constructor(field: string, reason: string) {
    super('DASHBOARD_INVALID_REQUEST', `${field || '<query>'}: ${reason}`, { field });
  }
}

/** A pagination cursor that is not one this API issued for the same query (400). */
export class InvalidCursorError extends DashboardError {
  constructor(reason: string) {
    super('DASHBOARD_INVALID_CURSOR', `cursor: ${reason}`, { field: 'cursor' });
  }
}

/** No route for this path (404). */
export class RouteNotFoundError extends DashboardError {
  constructor(path: string) {
    super('DASHBOARD_ROUTE_NOT_FOUND', `no route for ${path}`);
  }
}

/** The route exists but not for this method (405; the API is read-only). */
export class MethodNotAllowedError extends DashboardError {
  constructor(method: string, path: string) {
    super('DASHBOARD_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (read-only API: GET, HEAD)`);
  }
}

/** The addressed item does not exist (404). */
export class NotFoundError extends DashboardError {
  constructor(what: string, id: string, field: string) {
    super('DASHBOARD_NOT_FOUND', `${what} ${id} not found`, { field });
  }
}

/** DynamoDB throttled the read or is unreachable; the same request may succeed later (503). */
export class StoreUnavailableError extends DashboardError {
  constructor(cause: unknown) {
    super('DASHBOARD_STORE_UNAVAILABLE', 'the data store is busy or unreachable; retry shortly', {
      retryable: true,
      cause,
    });
  }
}

/** The health provider failed or returned a document that does not match PipelineHealth (500). */
export class HealthUnavailableError extends DashboardError {
  constructor(reason: string, cause?: unknown) {
    super('DASHBOARD_HEALTH_UNAVAILABLE', `pipeline health: ${reason}`, {
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** A stored item does not have the documented shape (500: a writer and this reader disagree). */
export class MalformedItemError extends DashboardError {
  constructor(table: string, key: string, reason: string) {
    super('DASHBOARD_ITEM_MALFORMED', `item ${key} of ${table}: ${reason}`);
  }
}
