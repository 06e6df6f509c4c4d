import { z } from 'zod';
import { parseOptions } from '../../shared/options.ts';
import { InvalidRequestError } from './errors.ts';

/**
 * Query-string schemas of the read API, one per route. Every parameter arrives as a string (the
 * Lambda function URL joins repeated parameters with commas; the local server does the same), is
 * validated here and turned into the typed request the reader takes. Unknown parameters are
 * rejected, so a typo (`limt=5`) is a 400 instead of a silently ignored filter.
 */

/** Limits: a request may ask for fewer, never more; larger values are capped to the maximum. */
export const LIMITS = {
  series: { default: 500, max: 1000 },
  entities: { default: 200, max: 1000 },
  alerts: { default: 50, max: 200 },
} as const;

/** Items one `/api/entities` call evaluates at most (bounds its cost; a cursor continues the scan). */
export const ENTITY_SCAN_MAX_ITEMS = 5000;

/** Printable, no whitespace or control characters (keys end up in DynamoDB key conditions). */
const KEY_TEXT = /^[^\s\p{Cc}]+$/u;

function limitParam(limits: { default: number; max: number }) {
  return z
    .string()
    .regex(/^[0-9]{1,9}$/, 'must be a positive integer')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1'))
    .transform((n) => Math.min(n, limits.max))
    .optional()
    .transform((n) => n ?? limits.default);
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Epoch milliseconds (digits) or an ISO 8601 date-time with offset; parsed to epoch ms. */
const timeParam = z.string().transform((text, ctx) => {
  if (/^[0-9]{1,15}$/.test(text)) return Number(text);
  const ms = ISO_8601.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms) || ms < 0) {
    ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds or an ISO 8601 date-time' });
    return z.NEVER;
  }
  return ms;
});

const cursorParam = z.string().min(1, 'must not be empty').optional();

/** An aggregates series entity as the Flink job writes it: `device#<id>#<metric>`, `card#<token>`, ... */
export const seriesEntity = z
  .string()
  .min(3)
  .max(1024)
  .regex(KEY_TEXT, 'must not contain whitespace or control characters')
  .refine((s) => s.includes('#') && !s.startsWith('late#') && !s.startsWith('#') && !s.endsWith('#'), {
    message: 'must be an aggregate entity like device#<id>#<metric>, card#<token> or merchant#<id>',
  });

/**
 * The window sizes the Flink job writes (analytics AggregatesPipeline TUMBLING and SLIDING). Any
 * other size has no items, so asking for one is a mistake to name, not an empty 200.
 */
export const WINDOW_SIZES = ['1m', '5m'] as const;

export const windowSize = z.enum(WINDOW_SIZES, {
  error: (issue) =>
    issue.input === undefined
      ? undefined
      : `must be one of ${WINDOW_SIZES.join(', ')} (got ${String(issue.input)})`,
});

export const seriesQuerySchema = z
  .strictObject({
    entity: seriesEntity,
    window: windowSize,
    from: timeParam.optional(),
    to: timeParam.optional(),
    order: z.enum(['asc', 'desc']).optional().default('asc'),
    limit: limitParam(LIMITS.series),
    cursor: cursorParam,
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && q.from > q.to) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
    }
  });
export type SeriesQuery = z.output<typeof seriesQuerySchema>;

export const entitiesQuerySchema = z.strictObject({
  /** Only series of this kind (`device`, `card`, `merchant`, ...): the entity's first segment. */
  kind: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be an entity kind like device, card or merchant')
    .optional(),
  limit: limitParam(LIMITS.entities),
  cursor: cursorParam,
});
export type EntitiesQuery = z.output<typeof entitiesQuerySchema>;

export const openAlertsQuerySchema = z.strictObject({
  /** Only alerts raised at or after this time. */
  since: timeParam.optional(),
  limit: limitParam(LIMITS.alerts),
  cursor: cursorParam,
});
export type OpenAlertsQuery = z.output<typeof openAlertsQuerySchema>;

/** Recent alerts, open and cleared: the same parameters as the open list. */
export const recentAlertsQuerySchema = openAlertsQuerySchema;
export type RecentAlertsQuery = OpenAlertsQuery;

/** An alert entity id as the alert function writes it: `device:<id>` or `card:<token>`. */
export const alertEntity = z
  .string()
  .min(3)
  .max(512)
  .regex(KEY_TEXT, 'must not contain whitespace or control characters')
  .regex(/^[a-z][a-z0-9_-]*:.+$/, 'must be an alert entity like device:<id> or card:<token>');

export const entityAlertsQuerySchema = z.strictObject({
  entity: alertEntity,
  since: timeParam.optional(),
  limit: limitParam(LIMITS.alerts),
  cursor: cursorParam,
});
export type EntityAlertsQuery = z.output<typeof entityAlertsQuerySchema>;

/** Alert ids are derived hashes (32 hex characters today); anything key-safe up to 128 is accepted. */
export const alertIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be an alert id');

/**
 * Validates with `schema`; every problem goes into one InvalidRequestError whose `field` is the
 * first one's and whose message names each field.
 */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown, fieldPrefix = ''): z.output<S> {
  return parseOptions(schema, input, {
    at: fieldPrefix === '' ? [] : [fieldPrefix],
    unknownKey: 'is not a parameter of this route',
    // Without the values: a query parameter is what the caller just sent, and reasons may quote it.
    error: ([first, ...rest]) =>
      new InvalidRequestError(
        first.path,
        [first.reason, ...rest.map((issue) => `${issue.path}: ${issue.reason}`)].join('; '),
      ),
  });
}
