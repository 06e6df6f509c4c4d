import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { InvalidCursorError } from './errors.ts';

/**
 * Opaque pagination cursors. A cursor carries DynamoDB's LastEvaluatedKey plus a fingerprint of the
 * query that produced it, as base64url JSON:
 *
 *   base64url({"v":1,"q":"<16 hex of sha256(scope)>","k":{...LastEvaluatedKey}})
 *
 * `scope` names the route and every parameter that defines the result set (not `limit`), so a
 * cursor only continues the query it came from. Decoding checks the version, the fingerprint and the
 * key's exact shape (per route, e.g. the series cursor's pk must be the requested series), so a
 * client can never pass an arbitrary ExclusiveStartKey to DynamoDB. Cursors are not secret: they
 * hold key values the caller has already been shown.
 */

export const CURSOR_VERSION = 1;
/** Longer strings are rejected before decoding. Real cursors are a few hundred characters. */
export const CURSOR_MAX_LENGTH = 2048;

/** A DynamoDB key in attribute-value form (`{ pk: { S: '...' }, sk: { N: '...' } }`): plain JSON. */
export type CursorKey = Readonly<Record<string, unknown>>;

function fingerprint(scope: string): string {
  return createHash('sha256').update(scope).digest('hex').slice(0, 16);
}

export function encodeCursor(scope: string, key: CursorKey): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, q: fingerprint(scope), k: key }), 'utf8').toString(
    'base64url',
  );
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The ExclusiveStartKey inside `cursor`, validated by `keySchema`. Throws InvalidCursorError (never
 * anything else) for every string that is not a cursor this API issued for `scope`.
 */
export function decodeCursor<T extends CursorKey>(cursor: string, scope: string, keySchema: z.ZodType<T>): T {
  if (cursor.length === 0 || cursor.length > CURSOR_MAX_LENGTH || !BASE64URL.test(cursor)) {
    throw new InvalidCursorError('not a cursor issued by this API');
  }
  let envelope: unknown;
  try {
    envelope = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('not a cursor issued by this API');
  }
  if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope)) {
    throw new InvalidCursorError('not a cursor issued by this API');
  }
  const { v, q, k } = envelope as Record<string, unknown>;
  if (v !== CURSOR_VERSION) throw new InvalidCursorError(`unsupported cursor version ${String(v)}`);
  if (q !== fingerprint(scope)) {
    throw new InvalidCursorError(
      'belongs to another query; repeat the query that returned it, same parameters',
    );
  }
  // zod drops a "__proto__" key without a word; no key this API issues has one, so refuse it.
  if (k !== null && typeof k === 'object' && Object.hasOwn(k, '__proto__')) {
    throw new InvalidCursorError('key does not match this query');
  }
  const parsed = keySchema.safeParse(k);
  if (!parsed.success) throw new InvalidCursorError('key does not match this query');
  return parsed.data;
}

/** The fingerprinted description of a query: route plus its defining parameters, unambiguously. */
export function cursorScope(
  route: string,
  params: Readonly<Record<string, string | number | undefined>>,
): string {
  const entries = Object.keys(params)
    .sort()
    .map((name) => [name, params[name] ?? null]);
  return JSON.stringify([route, entries]);
}
