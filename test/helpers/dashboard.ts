import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LambdaFunctionUrlSchema } from '@aws-lambda-powertools/parser/schemas/lambda';
import { NumberValue } from '@aws-sdk/lib-dynamodb';
import { type BrowserContext, chromium } from 'playwright-core';
import type { z } from 'zod';

/**
 * Factories for the dashboard tests: aggregate items exactly as the Flink sink writes them
 * (analytics/src/main/java/dev/tributary/analytics/sink/AggregateItems.java), Lambda function URL
 * events (checked against Powertools' schema), and a headless Debian Chromium.
 */

export interface AggregateWindow {
  entity: string;
  windowSize: string;
  windowStart: number;
  windowMs: number;
  values: readonly number[];
  revision?: number;
  ttlSeconds?: number;
  /** The telemetry unit or the amounts' currency, as the sink writes it. */
  unit?: string;
}

/** Numbers past 2^53 go through NumberValue: the document client refuses to marshal them as doubles. */
const num = (n: number): number | NumberValue =>
  Number.isSafeInteger(n) || Math.abs(n) < Number.MAX_SAFE_INTEGER ? n : NumberValue.from(String(n));

/** One window item of AggregatesTable (pk `<entity>#<windowSize>`, sk window start), from raw values. */
export function aggregateItem(w: AggregateWindow): Record<string, unknown> {
  const sorted = [...w.values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  const rank = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  const windowEnd = w.windowStart + w.windowMs;
  return {
    pk: `${w.entity}#${w.windowSize}`,
    sk: w.windowStart,
    entity: w.entity,
    windowSize: w.windowSize,
    windowStart: w.windowStart,
    windowEnd,
    count: sorted.length,
    sum: num(sum),
    min: num(sorted[0] ?? 0),
    max: num(sorted.at(-1) ?? 0),
    mean: num(sorted.length === 0 ? 0 : sum / sorted.length),
    p95: num(rank(0.95)),
    p99: num(rank(0.99)),
    revision: w.revision ?? 0,
    expiresAt: Math.floor(windowEnd / 1000) + (w.ttlSeconds ?? 7 * 86_400),
    ...(w.unit === undefined ? {} : { unit: w.unit }),
  };
}

/** A late-record item (`late#<entity>#<windowSize>`): the entity list must skip these. */
export function lateItem(entity: string, windowSize: string, eventTime: number, value: number) {
  return {
    pk: `late#${entity}#${windowSize}`,
    // `<event ms>.<13 digits from the record id>`: more digits than a double holds.
    sk: NumberValue.from(`${eventTime}.${String(Math.floor(Math.random() * 1e13)).padStart(13, '0')}`),
    entity,
    windowSize,
    recordId: randomUUID(),
    eventTime,
    value,
    expiresAt: Math.floor(eventTime / 1000) + 86_400,
  };
}

export type FunctionUrlEvent = z.output<typeof LambdaFunctionUrlSchema>;

/** A payload-format-2.0 function URL event as Lambda delivers it (IAM-authorized caller). */
export function functionUrlEvent(
  method: 'GET' | 'HEAD' | 'POST',
  path: string,
  query: Record<string, string> = {},
): FunctionUrlEvent {
  const rawQueryString = new URLSearchParams(query).toString();
  const event = {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString,
    headers: { host: 'abc123.lambda-url.us-east-1.on.aws', accept: 'application/json' },
    ...(Object.keys(query).length === 0 ? {} : { queryStringParameters: query }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'abc123',
      authorizer: {
        iam: {
          accessKey: 'AKIA000',
          accountId: '000000000000',
          callerId: 'AIDA000',
          userArn: 'arn:aws:iam::000000000000:user/ops',
          userId: 'AIDA000',
        },
      },
      domainName: 'abc123.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: '23/Nov/2026:12:00:00 +0000',
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
  return LambdaFunctionUrlSchema.parse(event);
}

/** Debian's chromium package; `.ci/run` installs it. */
export const CHROMIUM_PATH = process.env.TRIBUTARY_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

export interface HeadlessChromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile in a temp dir. Throws (so the test fails, never skips) when
 * the browser is missing.
 */
export async function launchChromium(viewport = { width: 1400, height: 1000 }): Promise<HeadlessChromium> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install chromium (.ci/run installs it)`);
  }
  const profile = await mkdtemp(join(tmpdir(), 'tributary-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport,
      timeout: 60_000,
    });
    return {
      context,
      close: async () => {
        await context.close().catch(() => undefined);
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}
