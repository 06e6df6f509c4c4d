import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CURSOR_MAX_LENGTH,
  cursorScope,
  decodeCursor,
  encodeCursor,
} from '../../../functions/dashboard/cursor.ts';
import {
  type DashboardError,
  HealthUnavailableError,
  InvalidCursorError,
  InvalidRequestError,
  MalformedItemError,
  MethodNotAllowedError,
  NotFoundError,
  RouteNotFoundError,
  StoreUnavailableError,
} from '../../../functions/dashboard/errors.ts';
import { deriveStatus, pipelineHealthSchema } from '../../../functions/dashboard/health.ts';
import {
  DashboardReader,
  splitSeriesKey,
  toAlertView,
  toSeriesPoint,
} from '../../../functions/dashboard/reader.ts';
import {
  entitiesQuerySchema,
  LIMITS,
  openAlertsQuerySchema,
  parseRequest,
  seriesQuerySchema,
} from '../../../functions/dashboard/requests.ts';
import { createDashboardRouter, errorResponse } from '../../../functions/dashboard/router.ts';
import { aggregateItem } from '../../helpers/dashboard.ts';
import { thrown } from '../../helpers/thrown.ts';

const anyKey = z.record(z.string(), z.unknown());
// "__proto__" is refused rather than round-tripped; see the test of its own below.
const attrKey = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 20 }).filter((name) => name !== '__proto__'),
  fc.oneof(
    fc.record({ S: fc.string({ maxLength: 60 }) }),
    fc.record({ N: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String) }),
  ),
  { minKeys: 1, maxKeys: 4 },
);

describe('cursors', () => {
  it('round-trip any key for the same query', () => {
    fc.assert(
      fc.property(attrKey, fc.string(), (key, scope) => {
        const cursor = encodeCursor(scope, key);
        expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(decodeCursor(cursor, scope, anyKey)).toEqual(key);
      }),
    );
  });

  it('refuse a key named "__proto__", which a JavaScript decoder would silently drop', () => {
    const key = JSON.parse('{"__proto__":{"N":"0"},"pk":{"S":"a"}}') as Record<string, unknown>;
    expect(Object.hasOwn(key, '__proto__')).toBe(true);
    const cursor = encodeCursor('series', key);
    expect(thrown(() => decodeCursor(cursor, 'series', anyKey))).toBeInstanceOf(InvalidCursorError);
  });

  it('are refused by any other query', () => {
    fc.assert(
      fc.property(attrKey, fc.string(), fc.string(), (key, a, b) => {
        fc.pre(a !== b);
        const error = thrown(() => decodeCursor(encodeCursor(a, key), b, anyKey));
        expect(error).toBeInstanceOf(InvalidCursorError);
      }),
    );
  });

  it('fail only with InvalidCursorError on arbitrary or tampered input', () => {
    const key = { pk: { S: 'device#a#t#1m' }, sk: { N: '1' } };
    const valid = encodeCursor('q', key);
    const schema = z.strictObject({
      pk: z.strictObject({ S: z.literal('device#a#t#1m') }),
      sk: z.strictObject({ N: z.string() }),
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: CURSOR_MAX_LENGTH + 10 }),
          fc.base64String().map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '')),
          fc
            .tuple(fc.nat(valid.length - 1), fc.constantFrom(...'ABCxyz019-_'))
            .map(([at, c]) => valid.slice(0, at) + c + valid.slice(at + 1)),
        ),
        (input) => {
          try {
            const decoded = decodeCursor(input, 'q', schema);
            expect(schema.safeParse(decoded).success).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidCursorError);
            expect((error as InvalidCursorError).status).toBe(400);
            expect((error as InvalidCursorError).field).toBe('cursor');
          }
        },
      ),
    );
  });

  it('reject keys of the wrong shape and other versions', () => {
    const cursor = encodeCursor('q', { pk: { S: 'other#1m' }, sk: { N: '1' } });
    expect(
      thrown(() =>
        decodeCursor(
          cursor,
          'q',
          z.strictObject({ pk: z.strictObject({ S: z.literal('mine#1m') }), sk: anyKey }),
        ),
      ),
    ).toBeInstanceOf(InvalidCursorError);
    const v2 = Buffer.from(JSON.stringify({ v: 2, q: 'x', k: {} })).toString('base64url');
    expect((thrown(() => decodeCursor(v2, 'q', anyKey)) as Error).message).toMatch(/version 2/);
  });

  it('scopes are unambiguous', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.constant(undefined))),
        fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.constant(undefined))),
        (a, b) => {
          const same = JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
          expect(cursorScope('r', a) === cursorScope('r', b)).toBe(same);
        },
      ),
    );
  });
});

describe('request validation', () => {
  const series = (query: Record<string, string>) => parseRequest(seriesQuerySchema, query);
  const fieldOf = (run: () => unknown) => {
    const error = thrown(run);
    expect(error).toBeInstanceOf(InvalidRequestError);
    return (error as InvalidRequestError).field;
  };

  it('caps any limit at the maximum and defaults it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999_999_999 }), (n) => {
        expect(parseRequest(openAlertsQuerySchema, { limit: String(n) }).limit).toBe(
          Math.min(n, LIMITS.alerts.max),
        );
      }),
    );
    expect(parseRequest(openAlertsQuerySchema, {}).limit).toBe(LIMITS.alerts.default);
    expect(parseRequest(entitiesQuerySchema, {}).limit).toBe(LIMITS.entities.default);
    for (const bad of ['0', '-1', '1.5', 'ten', '', '5,6']) {
      expect(fieldOf(() => parseRequest(openAlertsQuerySchema, { limit: bad }))).toBe('limit');
    }
  });

  it('takes times as epoch ms or ISO 8601, the same instant either way', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date(0), max: new Date('2200-01-01'), noInvalidDate: true }), (date) => {
        const ms = date.getTime();
        const a = series({ entity: 'device#d#t', window: '1m', from: String(ms) });
        const b = series({ entity: 'device#d#t', window: '1m', from: date.toISOString() });
        expect(a.from).toBe(ms);
        expect(b.from).toBe(ms);
      }),
    );
    expect(fieldOf(() => series({ entity: 'device#d#t', window: '1m', from: 'yesterday' }))).toBe('from');
    expect(fieldOf(() => series({ entity: 'device#d#t', window: '1m', to: '2026-13-45T00:00Z' }))).toBe('to');
    expect(fieldOf(() => series({ entity: 'device#d#t', window: '1m', from: '10', to: '9' }))).toBe('to');
  });

  it('names the field at fault', () => {
    expect(fieldOf(() => series({ window: '1m' }))).toBe('entity');
    expect(fieldOf(() => series({ entity: 'late#device#d#t', window: '1m' }))).toBe('entity');
    expect(fieldOf(() => series({ entity: 'device#d #t', window: '1m' }))).toBe('entity');
    expect(fieldOf(() => series({ entity: 'device#d#t', window: '1 minute' }))).toBe('window');
    // A well-formed size the job does not write is a 400 naming the sizes it does, not an empty 200.
    expect(() => series({ entity: 'device#d#t', window: '10m' })).toThrow(
      /window: must be one of 1m, 5m \(got 10m\)/,
    );
    expect(fieldOf(() => series({ entity: 'device#d#t', window: '1m', order: 'up' }))).toBe('order');
    expect(fieldOf(() => series({ entity: 'device#d#t', window: '1m', colour: 'red' }))).toBe('colour');
    expect(fieldOf(() => parseRequest(entitiesQuerySchema, { kind: 'Device!' }))).toBe('kind');
    expect(series({ entity: 'device#d#t', window: '5m' })).toEqual({
      entity: 'device#d#t',
      window: '5m',
      order: 'asc',
      limit: LIMITS.series.default,
    });
  });
});

describe('item mapping', () => {
  it('maps an aggregate item of the Flink sink to a point', () => {
    const item = aggregateItem({
      entity: 'device#s#t',
      windowSize: '1m',
      windowMs: 60_000,
      windowStart: 1_800_000_000_000,
      values: [1, 2, 3, 10],
    });
    expect(toSeriesPoint(item)).toEqual({
      windowStart: 1_800_000_000_000,
      windowEnd: 1_800_000_060_000,
      count: 4,
      sum: 16,
      min: 1,
      max: 10,
      mean: 4,
      p95: 10,
      p99: 10,
      revision: 0,
    });
    const { windowStart: _omitted, ...withoutStart } = item;
    expect(toSeriesPoint(withoutStart).windowStart).toBe(1_800_000_000_000);
    const error = thrown(() => toSeriesPoint({ ...item, mean: 'high' }));
    expect(error).toBeInstanceOf(MalformedItemError);
    expect((error as MalformedItemError).message).toMatch(/mean/);
  });

  it("maps an alert item to its view with the rule's message as reason", () => {
    const item = {
      pk: 'ALERT#abc',
      sk: 'ALERT',
      kind: 'alert',
      alertId: 'abc',
      ruleId: 'velocity',
      ruleType: 'velocity',
      severity: 'critical',
      entityId: 'card:tok_1',
      raisedAt: '2026-11-23T12:00:00.000Z',
      status: 'CLEARED',
      triggerRecordIds: ['r1'],
      message: 'card used 7 times in 60 s',
      details: { count: 7 },
      clearedAt: '2026-11-23T12:05:00.000Z',
      clearedByRecordId: 'r2',
      clearValue: 3,
      expiresAt: 1,
    };
    expect(toAlertView(item)).toEqual({
      alertId: 'abc',
      ruleId: 'velocity',
      ruleType: 'velocity',
      severity: 'critical',
      entityId: 'card:tok_1',
      raisedAt: '2026-11-23T12:00:00.000Z',
      status: 'CLEARED',
      reason: 'card used 7 times in 60 s',
      details: { count: 7 },
      triggerRecordIds: ['r1'],
      clearedAt: '2026-11-23T12:05:00.000Z',
      clearedByRecordId: 'r2',
      clearValue: 3,
    });
    expect(thrown(() => toAlertView({ ...item, status: 'MAYBE' }))).toBeInstanceOf(MalformedItemError);
  });

  it('splits a series key at its last #', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,12}$/);
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 3 }),
        fc.stringMatching(/^[1-9][0-9]?[smhd]$/),
        (parts, window) => {
          const entity = ['device', ...parts].join('#');
          expect(splitSeriesKey(`${entity}#${window}`)).toEqual({ entity, window });
        },
      ),
    );
    expect(splitSeriesKey('late#device#a#t#1m')).toBeUndefined();
    expect(splitSeriesKey('nohash')).toBeUndefined();
  });
});

describe('HTTP mapping', () => {
  it('maps every named error to its status and a JSON body', () => {
    const cases: [DashboardError, number][] = [
      [new InvalidRequestError('limit', 'must be a positive integer'), 400],
      [new InvalidCursorError('bad'), 400],
      [new NotFoundError('alert', 'x', 'alertId'), 404],
      [new RouteNotFoundError('/x'), 404],
      [new MethodNotAllowedError('POST', '/api'), 405],
      [new StoreUnavailableError(new Error('throttled')), 503],
      [new HealthUnavailableError('provider failed'), 500],
      [new MalformedItemError('t', 'k', 'bad'), 500],
    ];
    for (const [error, status] of cases) {
      const response = errorResponse(error);
      expect(response.status).toBe(status);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(response.body);
      expect(body.error.code).toBe(error.code);
      expect(body.error.retryable).toBe(error.retryable);
      if (error.field !== undefined) expect(body.error.field).toBe(error.field);
    }
    expect(errorResponse(new StoreUnavailableError(undefined)).headers['retry-after']).toBe('1');
    expect(errorResponse(new MethodNotAllowedError('POST', '/api')).headers.allow).toBe('GET, HEAD');
  });

  it('never leaks the message of an unexpected error', () => {
    const response = errorResponse(
      new Error('table tributary-prod-alerts: AccessDenied for arn:aws:iam::123:role/x'),
    );
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body)).toEqual({
      error: { code: 'DASHBOARD_INTERNAL', message: 'internal error', retryable: false },
    });
  });

  // A real client to nowhere: every request below is answered before any DynamoDB call.
  const dynamodb = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
  afterAll(() => dynamodb.destroy());
  const reader = new DashboardReader(dynamodb, { alertsTable: 'alerts', aggregatesTable: 'aggregates' });
  const errors: unknown[] = [];
  const router = createDashboardRouter({
    reader,
    health: () => ({ consumers: [{ name: 'alerts', iteratorAgeMs: 10 }] }),
    now: () => 1_000,
    onError: (error) => errors.push(error),
  });
  const body = async (method: string, path: string, query: Record<string, string> = {}) => {
    const response = await router({ method, path, query });
    return { status: response.status, json: response.body === '' ? undefined : JSON.parse(response.body) };
  };

  it('routes, validates before reading, and answers 404/405', async () => {
    expect(await body('GET', '/api/series', { window: '1m' })).toMatchObject({
      status: 400,
      json: { error: { field: 'entity' } },
    });
    expect(await body('GET', '/api/alerts/open/', { limit: '0' })).toMatchObject({
      status: 400,
      json: { error: { field: 'limit' } },
    });
    expect(await body('GET', '/api/alerts/%E0%A4%A', {})).toMatchObject({
      status: 400,
      json: { error: { field: 'alertId' } },
    });
    expect(await body('GET', '/api/alerts/a%20b', {})).toMatchObject({
      status: 400,
      json: { error: { field: 'alertId' } },
    });
    expect(await body('GET', '/api/alerts', {})).toMatchObject({
      status: 400,
      json: { error: { field: 'entity' } },
    });
    expect(await body('GET', '/api/unknown')).toMatchObject({
      status: 404,
      json: { error: { code: 'DASHBOARD_ROUTE_NOT_FOUND' } },
    });
    expect(await body('GET', '/')).toMatchObject({ status: 404 });
    expect(await body('DELETE', '/api/alerts/abc')).toMatchObject({ status: 405 });
    expect(await body('GET', '/api')).toMatchObject({ status: 200, json: { routes: expect.any(Array) } });
    expect(await body('HEAD', '/api')).toEqual({ status: 200, json: undefined });
    expect(errors).toEqual([]);
  });

  it('completes the health document and validates the provider', async () => {
    expect(await body('GET', '/api/health')).toEqual({
      status: 200,
      json: { consumers: [{ name: 'alerts', iteratorAgeMs: 10 }], generatedAt: 1_000, status: 'ok' },
    });
    expect(await body('GET', '/api/health', { verbose: '1' })).toMatchObject({
      status: 400,
      json: { error: { field: 'verbose' } },
    });
  });

  it('answers 503 when DynamoDB is unreachable, without details', async () => {
    const response = await body('GET', '/api/alerts/open');
    expect(response).toMatchObject({
      status: 503,
      json: { error: { code: 'DASHBOARD_STORE_UNAVAILABLE', retryable: true } },
    });
    expect(errors).toHaveLength(1);
  });
});

describe('derived health status', () => {
  const derive = (doc: unknown, now = 10_000_000) => deriveStatus(pipelineHealthSchema.parse(doc), now);

  it('is ok, degraded or down by lag, recent errors and store probes', () => {
    expect(derive({})).toBe('ok');
    expect(derive({ exports: [{ lagMs: 59_000 }], consumers: [{ name: 'a', errors: 5 }] })).toBe('ok');
    expect(derive({ exports: [{ lagMs: 61_000 }] })).toBe('degraded');
    expect(derive({ consumers: [{ name: 'a', millisBehindLatest: 16 * 60_000 }] })).toBe('down');
    expect(derive({ lake: { lastError: { message: 'x', at: 10_000_000 - 60_000 } } })).toBe('degraded');
    expect(derive({ lake: { lastError: { message: 'x', at: 10_000_000 - 10 * 60_000 } } })).toBe('ok');
    expect(derive({ analytics: { lastError: { message: 'no time' } } })).toBe('degraded');
    expect(derive({ stores: [{ name: 't', ok: false }] })).toBe('down');
  });

  it('rejects documents that do not match the type', () => {
    expect(pipelineHealthSchema.safeParse({ exports: [{ lagMs: -1 }] }).success).toBe(false);
    expect(pipelineHealthSchema.safeParse({ consumers: [{ iteratorAgeMs: 1 }] }).success).toBe(false);
    expect(pipelineHealthSchema.safeParse({ status: 'fine' }).success).toBe(false);
  });
});
