import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { describeIssues, parseOptions } from '../../shared/options.ts';
import {
  ALERT_KIND,
  ALERT_PK_PREFIX,
  ALERT_SK,
  ALERT_STATUSES,
  type AlertStatus,
  alertKey,
  ENTITY_TIME_INDEX,
  OPEN_ALERTS_INDEX,
  OPEN_STATE,
  RECENT_ALERTS_INDEX,
} from '../alerts/store/layout.ts';
import { cursorScope, decodeCursor, encodeCursor } from './cursor.ts';
import { MalformedItemError, NotFoundError, StoreUnavailableError } from './errors.ts';
import type { StoreHealth } from './health.ts';
import {
  ENTITY_SCAN_MAX_ITEMS,
  type EntitiesQuery,
  type EntityAlertsQuery,
  type OpenAlertsQuery,
  type RecentAlertsQuery,
  type SeriesQuery,
} from './requests.ts';

/**
 * The documented queries of the read API over the two tables (serverless.yml AggregatesTable and
 * AlertsTable; item shapes in analytics/README.md and functions/alerts/store/dynamodb.ts). Every
 * method is one bounded DynamoDB read (or a short loop of them) and returns plain JSON.
 */

export interface DashboardTables {
  alertsTable: string;
  aggregatesTable: string;
}

/** The AlertsTable's indexes, as the alert store lays the table out. */
export { ENTITY_TIME_INDEX, OPEN_ALERTS_INDEX, RECENT_ALERTS_INDEX };

// ---------------------------------------------------------------------------------------------
// Response shapes

/** One window of a series: analytics' AggregateItems attributes. */
export interface SeriesPoint {
  /** Window start and end, epoch ms. */
  windowStart: number;
  windowEnd: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  p95: number;
  p99: number;
  /** 0 for the first firing; +1 for every late re-firing of the window. */
  revision: number;
  /**
   * What the values measure: the telemetry unit (`Cel`, `%`) or, for card and merchant amounts, the
   * ISO 4217 currency of the minor units; `mixed` when a window saw more than one. Absent on items
   * written before the job recorded it.
   */
  unit?: string;
}

export interface SeriesPage {
  entity: string;
  window: string;
  order: 'asc' | 'desc';
  /** The newest point's unit (see SeriesPoint.unit), when known. */
  unit?: string;
  points: SeriesPoint[];
  /** Pass as `cursor` to continue; null on the last page. */
  nextCursor: string | null;
}

/** The newest window of a series seen by an entities scan (its smallest window size). */
export interface LatestWindow {
  window: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  mean: number;
  min: number;
  max: number;
}

export interface SeriesSummary {
  entity: string;
  /** First segment of the entity: `device`, `card`, `merchant`. */
  kind: string;
  /** Window sizes seen for it in this page, sorted. */
  windows: string[];
  /**
   * Records counted per window size over the items of this page. Every window size covers each
   * record (once for tumbling, several times for sliding), so the tumbling count is the series'
   * activity; pages hold disjoint items, so clients add counts across pages.
   */
  records: Record<string, number>;
  /** Windows per window size over the items of this page (one window draws a dot, not a line). */
  points: Record<string, number>;
  latest?: LatestWindow;
  unit?: string;
}

export interface EntitiesPage {
  entities: SeriesSummary[];
  /** Items DynamoDB evaluated for this page (the Scan's cost driver). */
  scanned: number;
  nextCursor: string | null;
}

export interface AlertView {
  alertId: string;
  ruleId: string;
  ruleType: string;
  severity: string;
  /** `device:<id>` or `card:<token>`. */
  entityId: string;
  /** ISO 8601 event time of the record that raised it. */
  raisedAt: string;
  status: AlertStatus;
  /** Why it was raised, in words (the rule's message). */
  reason: string;
  /** The rule's figures behind the reason (threshold, observed value, distance, speed, ...). */
  details: Record<string, unknown>;
  /** Ids of the records the alert id derives from, oldest first. */
  triggerRecordIds: string[];
  clearedAt?: string;
  clearedByRecordId?: string;
  clearValue?: number;
}

export interface AlertsPage {
  alerts: AlertView[];
  nextCursor: string | null;
}

// ---------------------------------------------------------------------------------------------
// Item schemas (what the writers store) and their mapping

const finite = z.number().refine(Number.isFinite, 'must be finite');

export const aggregateItemSchema = z.object({
  pk: z.string(),
  sk: finite,
  windowStart: finite.optional(),
  windowEnd: finite,
  count: finite,
  sum: finite,
  min: finite,
  max: finite,
  mean: finite,
  p95: finite,
  p99: finite,
  revision: finite.optional(),
  unit: z.string().optional(),
});

export const alertItemSchema = z.object({
  pk: z.string(),
  kind: z.literal(ALERT_KIND),
  alertId: z.string(),
  ruleId: z.string(),
  ruleType: z.string(),
  severity: z.string(),
  entityId: z.string(),
  raisedAt: z.string(),
  status: z.enum(ALERT_STATUSES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
  triggerRecordIds: z.array(z.string()).optional(),
  clearedAt: z.string().optional(),
  clearedByRecordId: z.string().optional(),
  clearValue: finite.optional(),
});

function itemKey(item: Record<string, unknown>): string {
  return `${String(item.pk)}/${String(item.sk)}`;
}

/** Items are not strict: a writer may add attributes this reader does not show yet. */
function parseItem<S extends z.ZodType>(
  schema: S,
  table: string,
  item: Record<string, unknown>,
): z.output<S> {
  return parseOptions(schema, item, {
    error: (issues) => new MalformedItemError(table, itemKey(item), describeIssues(issues)),
  });
}

export function toSeriesPoint(item: Record<string, unknown>, table = 'aggregates'): SeriesPoint {
  const a = parseItem(aggregateItemSchema, table, item);
  return {
    windowStart: a.windowStart ?? a.sk,
    windowEnd: a.windowEnd,
    count: a.count,
    sum: a.sum,
    min: a.min,
    max: a.max,
    mean: a.mean,
    p95: a.p95,
    p99: a.p99,
    revision: a.revision ?? 0,
    ...(a.unit === undefined ? {} : { unit: a.unit }),
  };
}

export function toAlertView(item: Record<string, unknown>, table = 'alerts'): AlertView {
  const a = parseItem(alertItemSchema, table, item);
  return {
    alertId: a.alertId,
    ruleId: a.ruleId,
    ruleType: a.ruleType,
    severity: a.severity,
    entityId: a.entityId,
    raisedAt: a.raisedAt,
    status: a.status,
    reason: a.message,
    details: a.details ?? {},
    triggerRecordIds: a.triggerRecordIds ?? [],
    ...(a.clearedAt === undefined ? {} : { clearedAt: a.clearedAt }),
    ...(a.clearedByRecordId === undefined ? {} : { clearedByRecordId: a.clearedByRecordId }),
    ...(a.clearValue === undefined ? {} : { clearValue: a.clearValue }),
  };
}

/** `device#sensor-1#temperature#1m` → entity `device#sensor-1#temperature`, window `1m`. */
export function splitSeriesKey(pk: string): { entity: string; window: string } | undefined {
  const hash = pk.lastIndexOf('#');
  if (hash <= 0 || hash === pk.length - 1 || pk.startsWith('late#')) return undefined;
  return { entity: pk.slice(0, hash), window: pk.slice(hash + 1) };
}

// ---------------------------------------------------------------------------------------------
// Cursor key shapes per query (a cursor can only continue the query it came from). Cursors carry
// LastEvaluatedKey in DynamoDB's own attribute-value form, so number keys keep every digit (late
// items' sort keys have more than a double holds) and go back to DynamoDB unchanged.

type RawKey = Record<string, AttributeValue>;
type AlertIndexHash = 'openState' | 'entityId' | 'kind';

const NUMBER_TEXT = /^-?[0-9]{1,38}(\.[0-9]{1,38})?([eE][-+]?[0-9]{1,3})?$/;
const stringAttr = <T extends z.ZodType<string>>(value: T) => z.strictObject({ S: value });
const numberAttr = () => z.strictObject({ N: z.string().regex(NUMBER_TEXT) });
const alertPk = stringAttr(z.string().regex(new RegExp(`^${ALERT_PK_PREFIX}[A-Za-z0-9_-]{1,128}$`)));

const seriesCursorKey = (pk: string) => z.strictObject({ pk: stringAttr(z.literal(pk)), sk: numberAttr() });
const scanCursorKey = z.strictObject({ pk: stringAttr(z.string().min(1).max(2048)), sk: numberAttr() });
const alertsIndexCursorKey = (hashName: AlertIndexHash, hashValue: string) =>
  z.strictObject({
    pk: alertPk,
    sk: stringAttr(z.literal(ALERT_SK)),
    [hashName]: stringAttr(z.literal(hashValue)),
    raisedAt: stringAttr(z.string().min(1).max(64)),
  });

function nextCursor(scope: string, key: RawKey | undefined): string | null {
  return key === undefined ? null : encodeCursor(scope, key);
}

/** Items as plain JSON; numbers as doubles (a chart does not need digits past 2^53; the default unmarshaller refuses them). */
function plain(item: RawKey): Record<string, unknown> {
  return unmarshall(item, { wrapNumbers: (text: string) => Number(text) });
}

// ---------------------------------------------------------------------------------------------

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TimeoutError',
  'RequestTimeout',
  'ServiceUnavailable',
  'InternalServerError',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);

function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return THROTTLING.has(error.name) || (typeof code === 'string' && NETWORK.has(code));
}

/** Folds one scanned aggregate item (pk, sk, windowEnd, count, mean, min, max, unit) into its series. */
export function addWindowItem(summary: SeriesSummary, window: string, item: Record<string, unknown>): void {
  if (!summary.windows.includes(window)) summary.windows.push(window);
  const count = typeof item.count === 'number' ? item.count : 0;
  summary.records[window] = (summary.records[window] ?? 0) + count;
  summary.points[window] = (summary.points[window] ?? 0) + 1;
  if (typeof item.unit === 'string') summary.unit = item.unit;
  const windowStart = item.sk;
  const { windowEnd, mean, min, max } = item;
  if (
    typeof windowStart !== 'number' ||
    typeof windowEnd !== 'number' ||
    typeof mean !== 'number' ||
    typeof min !== 'number' ||
    typeof max !== 'number'
  )
    return;
  const latest = summary.latest;
  // The smallest window size wins (its newest window is the freshest value), then the newest window.
  const better =
    latest === undefined ||
    windowMs(window) < windowMs(latest.window) ||
    (window === latest.window && windowEnd > latest.windowEnd);
  if (better) summary.latest = { window, windowStart, windowEnd, count, mean, min, max };
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `5m` → 300000; unknown labels sort last. */
export function windowMs(label: string): number {
  const match = /^([0-9]+)([smhd])$/.exec(label);
  return match === null ? Number.POSITIVE_INFINITY : Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0);
}

export class DashboardReader {
  readonly #dynamodb: DynamoDBClient;
  readonly #tables: DashboardTables;

  /**
   * `dynamodb` comes from the project's client factory (shared/aws/clients.ts). The reader uses the
   * low-level client and (un)marshals itself: a document client made with `from()` would change the
   * translate settings of the shared client for every other user of it.
   */
  constructor(dynamodb: DynamoDBClient, tables: DashboardTables) {
    this.#dynamodb = dynamodb;
    this.#tables = tables;
  }

  get tables(): DashboardTables {
    return this.#tables;
  }

  /**
   * Windows of one series. Query AggregatesTable: `pk = <entity>#<window>` and, with from/to,
   * `sk BETWEEN :from AND :to` (or `>=` / `<=`); ScanIndexForward = (order = asc); Limit = limit.
   * Without from/to and with order=desc it is the documented "latest N windows" read.
   */
  async series(query: SeriesQuery): Promise<SeriesPage> {
    const pk = `${query.entity}#${query.window}`;
    const scope = cursorScope('series', { pk, from: query.from, to: query.to, order: query.order });
    const start =
      query.cursor === undefined ? undefined : decodeCursor(query.cursor, scope, seriesCursorKey(pk));
    let condition = 'pk = :pk';
    const values: Record<string, unknown> = { ':pk': pk };
    if (query.from !== undefined && query.to !== undefined) {
      condition += ' AND sk BETWEEN :from AND :to';
      values[':from'] = query.from;
      values[':to'] = query.to;
    } else if (query.from !== undefined) {
      condition += ' AND sk >= :from';
      values[':from'] = query.from;
    } else if (query.to !== undefined) {
      condition += ' AND sk <= :to';
      values[':to'] = query.to;
    }
    const result = await this.#read((dynamodb) =>
      dynamodb.send(
        new QueryCommand({
          TableName: this.#tables.aggregatesTable,
          KeyConditionExpression: condition,
          ExpressionAttributeValues: marshall(values),
          ScanIndexForward: query.order === 'asc',
          Limit: query.limit,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      ),
    );
    const points = (result.Items ?? []).map((item) =>
      toSeriesPoint(plain(item), this.#tables.aggregatesTable),
    );
    const newest = query.order === 'asc' ? points.at(-1) : points[0];
    return {
      entity: query.entity,
      window: query.window,
      order: query.order,
      ...(newest?.unit === undefined ? {} : { unit: newest.unit }),
      points,
      nextCursor: nextCursor(scope, result.LastEvaluatedKey),
    };
  }

  /**
   * Series present in the aggregates table. The key design (pk = <entity>#<window>, no GSI) has no
   * query for "all entities", so this is a paginated Scan of AggregatesTable projecting the key, the
   * count and the newest window's figures, skipping `late#` items, that stops after `limit` distinct
   * series or ENTITY_SCAN_MAX_ITEMS items evaluated and resumes from the last item it used. Its cost
   * grows with the table (one item per window): fine locally and for a picker loaded now and then;
   * in AWS, prefer a series registry (see the dashboard README). A series may appear on more than
   * one page; clients merge by entity (windows as a set, records added, latest by windowEnd).
   */
  async entities(query: EntitiesQuery): Promise<EntitiesPage> {
    const scope = cursorScope('entities', { kind: query.kind });
    let start: RawKey | undefined =
      query.cursor === undefined ? undefined : decodeCursor(query.cursor, scope, scanCursorKey);
    const found = new Map<string, SeriesSummary>();
    let scanned = 0;
    const prefix = query.kind === undefined ? undefined : `${query.kind}#`;
    const page = (resumeAfter: RawKey | undefined): EntitiesPage => ({
      entities: [...found.values()]
        .map((summary) => ({ ...summary, windows: [...summary.windows].sort() }))
        .sort((a, b) => (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : 0)),
      scanned,
      nextCursor: nextCursor(scope, resumeAfter),
    });
    while (scanned < ENTITY_SCAN_MAX_ITEMS) {
      const result = await this.#read((dynamodb) =>
        dynamodb.send(
          new ScanCommand({
            TableName: this.#tables.aggregatesTable,
            ProjectionExpression: 'pk, sk, windowEnd, #count, mean, #min, #max, #unit',
            ExpressionAttributeNames: { '#count': 'count', '#min': 'min', '#max': 'max', '#unit': 'unit' },
            Limit: Math.min(1000, ENTITY_SCAN_MAX_ITEMS - scanned),
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        ),
      );
      const items = result.Items ?? [];
      scanned += result.ScannedCount ?? items.length;
      for (const item of items) {
        const pk = item.pk?.S;
        const series = pk === undefined ? undefined : splitSeriesKey(pk);
        if (series === undefined || (prefix !== undefined && !series.entity.startsWith(prefix))) continue;
        let summary = found.get(series.entity);
        if (summary === undefined) {
          // Page full: resume after the last item already accounted for.
          if (found.size >= query.limit) return page(start);
          summary = {
            entity: series.entity,
            kind: series.entity.slice(0, series.entity.indexOf('#')),
            windows: [],
            records: {},
            points: {},
          };
          found.set(series.entity, summary);
        }
        addWindowItem(summary, series.window, plain(item));
        if (item.pk !== undefined && item.sk !== undefined) start = { pk: item.pk, sk: item.sk };
      }
      start = result.LastEvaluatedKey;
      if (start === undefined) return page(undefined);
    }
    return page(start);
  }

  /**
   * Recent alerts, open and cleared, newest first. Query AlertsTable index `recent-alerts`:
   * `kind = alert` (and `raisedAt >= :since`), ScanIndexForward = false, Limit = limit. Cleared
   * alerts keep their item (status CLEARED, clearedAt), so this is the history beside the open list.
   */
  async recentAlerts(query: RecentAlertsQuery): Promise<AlertsPage> {
    return this.#alertsByIndex(RECENT_ALERTS_INDEX, 'kind', ALERT_KIND, query);
  }

  /**
   * Open alerts, newest first. Query AlertsTable index `open-alerts`: `openState = OPEN` (and
   * `raisedAt >= :since`), ScanIndexForward = false, Limit = limit. The index is sparse: clearing an
   * alert removes openState, so closed alerts are never read.
   */
  async openAlerts(query: OpenAlertsQuery): Promise<AlertsPage> {
    return this.#alertsByIndex(OPEN_ALERTS_INDEX, 'openState', OPEN_STATE, query);
  }

  /**
   * One entity's alerts (open and cleared), newest first. Query AlertsTable index `by-entity-time`:
   * `entityId = :entity` (and `raisedAt >= :since`), ScanIndexForward = false, Limit = limit.
   */
  async entityAlerts(query: EntityAlertsQuery): Promise<AlertsPage> {
    return this.#alertsByIndex(ENTITY_TIME_INDEX, 'entityId', query.entity, query);
  }

  async #alertsByIndex(
    index: string,
    hashName: AlertIndexHash,
    hashValue: string,
    query: { since?: number | undefined; limit: number; cursor?: string | undefined },
  ): Promise<AlertsPage> {
    const since = query.since === undefined ? undefined : new Date(query.since).toISOString();
    const scope = cursorScope(index, { [hashName]: hashValue, since });
    const start =
      query.cursor === undefined
        ? undefined
        : decodeCursor(query.cursor, scope, alertsIndexCursorKey(hashName, hashValue));
    const result = await this.#read((dynamodb) =>
      dynamodb.send(
        new QueryCommand({
          TableName: this.#tables.alertsTable,
          IndexName: index,
          KeyConditionExpression: `#h = :h${since === undefined ? '' : ' AND raisedAt >= :since'}`,
          ExpressionAttributeNames: { '#h': hashName },
          ExpressionAttributeValues: marshall({
            ':h': hashValue,
            ...(since === undefined ? {} : { ':since': since }),
          }),
          ScanIndexForward: false,
          Limit: query.limit,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      ),
    );
    return {
      // by-entity-time also lists quarantine items (entityId `quarantine`); alert routes show alerts only.
      alerts: (result.Items ?? [])
        .map(plain)
        .filter((item) => item.kind === ALERT_KIND)
        .map((item) => toAlertView(item, this.#tables.alertsTable)),
      nextCursor: nextCursor(scope, result.LastEvaluatedKey),
    };
  }

  /** One alert with its reason and details. GetItem AlertsTable `pk = ALERT#<alertId>, sk = ALERT`. */
  async alert(alertId: string): Promise<AlertView> {
    const result = await this.#read((dynamodb) =>
      dynamodb.send(
        new GetItemCommand({
          TableName: this.#tables.alertsTable,
          Key: marshall(alertKey(alertId)),
        }),
      ),
    );
    const item = result.Item === undefined ? undefined : plain(result.Item);
    if (item === undefined || item.kind !== ALERT_KIND) throw new NotFoundError('alert', alertId, 'alertId');
    return toAlertView(item, this.#tables.alertsTable);
  }

  /**
   * One cheap read per table (GetItem of a key that never exists), timed: the deployed function's
   * health document, and a reachability line for the local one.
   */
  async probeStores(): Promise<StoreHealth[]> {
    const probe = async (name: string, key: Record<string, unknown>): Promise<StoreHealth> => {
      const began = performance.now();
      try {
        await this.#dynamodb.send(new GetItemCommand({ TableName: name, Key: marshall(key) }));
        return { name, ok: true, latencyMs: Math.round(performance.now() - began) };
      } catch (error) {
        return {
          name,
          ok: false,
          latencyMs: Math.round(performance.now() - began),
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        };
      }
    };
    return Promise.all([
      probe(this.#tables.alertsTable, { pk: 'PROBE#dashboard', sk: 'PROBE' }),
      probe(this.#tables.aggregatesTable, { pk: 'probe#dashboard', sk: 0 }),
    ]);
  }

  /** Runs one read; throttling and connection failures become StoreUnavailableError (503). */
  async #read<T>(send: (dynamodb: DynamoDBClient) => Promise<T>): Promise<T> {
    try {
      return await send(this.#dynamodb);
    } catch (error) {
      if (isUnavailable(error)) throw new StoreUnavailableError(error);
      throw error;
    }
  }
}
