/**
 * Stream manager's IoT SiteWise export: each message is a PutAssetPropertyValueEntry as the SDKs
 * serialise it (`Util.validate_and_serialize_to_json_bytes`: JSON with camelCase keys, the same shape
 * as BatchPutAssetPropertyValue's `entries[]`). Messages go out in order, up to `batchSize` entries
 * per request (SiteWise takes at most 10, each entry with a unique id), through the AWS SDK's own
 * client. Throttling, 5xx and network failures are retried with backoff; entry errors
 * (`errorEntries`) and messages that are not entries are reported in the export status and passed,
 * as stream manager does. The checkpoint moves after each answered request.
 */
import { createHash } from 'node:crypto';
import type { IoTSiteWiseClient } from '@aws-sdk/client-iotsitewise';
import { describeIssue } from '../../shared/errors.ts';
import { parseOptions } from '../../shared/options.ts';
import * as z from '../../shared/zod.ts';
import { acquireBandwidth, type BandwidthShare } from '../export/index.ts';
import type { LogStore } from '../log/index.ts';

/** BatchPutAssetPropertyValue's limits (AWS IoT SiteWise API reference). */
export const SITEWISE_MAX_ENTRIES_PER_REQUEST = 10;
export const SITEWISE_MAX_VALUES_PER_ENTRY = 10;
const RETRY_BASE_MILLIS = 200;
const RETRY_CAP_MILLIS = 30_000;
const RETRYABLE = new Set([
  'ThrottlingException',
  'InternalFailureException',
  'ServiceUnavailableException',
  'LimitExceededException',
]);

const variant = z.strictObject({
  stringValue: z.optional(z.nullable(z.string().check(z.minLength(1), z.maxLength(1024)))),
  integerValue: z.optional(z.nullable(z.int().check(z.gte(-2_147_483_648), z.lte(2_147_483_647)))),
  doubleValue: z.optional(z.nullable(z.number())),
  booleanValue: z.optional(z.nullable(z.boolean())),
});
const entrySchema = z.strictObject({
  entryId: z.string().check(z.regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 of a-z A-Z 0-9 _ -')),
  assetId: z.optional(z.nullable(z.string())),
  propertyId: z.optional(z.nullable(z.string())),
  propertyAlias: z.optional(z.nullable(z.string().check(z.minLength(1), z.maxLength(2048)))),
  propertyValues: z
    .array(
      z.strictObject({
        value: variant,
        timestamp: z.strictObject({
          timeInSeconds: z.int().check(z.gte(1)),
          offsetInNanos: z.optional(z.nullable(z.int().check(z.gte(0), z.lte(999_999_999)))),
        }),
        quality: z.optional(z.nullable(z.enum(['GOOD', 'BAD', 'UNCERTAIN']))),
      }),
    )
    .check(z.minLength(1), z.maxLength(SITEWISE_MAX_VALUES_PER_ENTRY)),
});
type Entry = z.output<typeof entrySchema>;

export interface SiteWiseConfig {
  readonly identifier: string;
  readonly batchSize?: number | null | undefined;
  readonly batchIntervalMillis?: number | null | undefined;
  readonly startSequenceNumber?: number | null | undefined;
}

export interface SiteWiseStatus {
  readonly identifier: string;
  readonly committed: number | undefined;
  readonly entriesAccepted: number;
  /** Payload bytes of the messages whose entries SiteWise accepted. */
  readonly bytesAccepted: number;
  readonly entriesFailed: number;
  /** When the latest BatchPutAssetPropertyValue was sent, ms since the epoch. */
  readonly lastAttemptAt: number | undefined;
  readonly lastError: string | undefined;
}

export function checkpointNameOfSiteWise(identifier: string): string {
  return `sm-sitewise-${createHash('sha256').update(identifier).digest('hex').slice(0, 32)}`;
}

/** Drops nulls: the SDK serialises a null member as null, which the service refuses. */
function clean<T>(value: T): T {
  if (Array.isArray(value)) return value.map(clean) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v != null) out[k] = clean(v);
  return out as T;
}

export class SiteWiseExporter {
  readonly #abort = new AbortController();
  readonly #checkpoint: string;
  #loop: Promise<void> | undefined;
  #accepted = 0;
  #bytesAccepted = 0;
  #failed = 0;
  #lastAttemptAt: number | undefined;
  #lastError: string | undefined;

  constructor(
    readonly stream: string,
    readonly config: SiteWiseConfig,
    private readonly store: LogStore,
    private readonly client: () => Promise<IoTSiteWiseClient>,
    private readonly log: (line: string) => void,
    /** The agent's bandwidth cap, when it has one: every request waits for its messages' bytes. */
    private readonly share?: BandwidthShare,
  ) {
    this.#checkpoint = checkpointNameOfSiteWise(config.identifier);
  }

  async start(): Promise<void> {
    await this.store.prepareCheckpoint(this.stream, this.#checkpoint);
    this.#loop = this.#run().catch((error: unknown) => {
      if (!this.#abort.signal.aborted)
        this.log(`SiteWise export ${this.config.identifier} stopped: ${String(error)}`);
    });
  }

  status(): SiteWiseStatus {
    return {
      identifier: this.config.identifier,
      committed: this.store.committed(this.stream, this.#checkpoint),
      entriesAccepted: this.#accepted,
      bytesAccepted: this.#bytesAccepted,
      entriesFailed: this.#failed,
      lastAttemptAt: this.#lastAttemptAt,
      lastError: this.#lastError,
    };
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const batchSize = Math.min(
      SITEWISE_MAX_ENTRIES_PER_REQUEST,
      this.config.batchSize ?? SITEWISE_MAX_ENTRIES_PER_REQUEST,
    );
    const interval = this.config.batchIntervalMillis ?? 0;
    while (!signal.aborted) {
      const committed = this.store.committed(this.stream, this.#checkpoint);
      const first = this.store.describeStream(this.stream).firstSequence;
      const next = Math.max(
        committed === undefined ? (this.config.startSequenceNumber ?? 0) : committed + 1,
        first,
      );
      const records = await this.store.read(this.stream, { fromSequence: next, maxRecords: batchSize });
      const oldest = records[0];
      if (oldest === undefined) {
        await this.store.waitFor(this.stream, next, signal).catch(() => {});
        continue;
      }
      // Fewer than a batch: wait for more until the oldest is batchIntervalMillis old.
      const wait = oldest.timestamp + interval - Date.now();
      if (records.length < batchSize && wait > 0) {
        const more = new AbortController();
        const timer = setTimeout(() => more.abort(), wait);
        const onAbort = () => more.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        await this.store.waitFor(this.stream, next + batchSize - 1, more.signal).catch(() => {});
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        continue;
      }
      const entries: Entry[] = [];
      const sizes: number[] = [];
      for (const record of records) {
        try {
          entries.push(
            parseOptions(entrySchema, JSON.parse(Buffer.from(record.payload).toString('utf8')), {
              unknownKey: 'is not a PutAssetPropertyValueEntry field',
              error: (issues) => new Error(issues.map(describeIssue).join('; ')),
            }),
          );
          sizes.push(record.payload.byteLength);
        } catch (error) {
          this.#failed++;
          this.#lastError = `message ${record.sequence} is not a PutAssetPropertyValueEntry: ${(error as Error).message}`;
        }
      }
      // One request per run of unique entry ids (the service refuses a request repeating one).
      let start = 0;
      while (start < entries.length && !signal.aborted) {
        const ids = new Set<string>();
        let end = start;
        while (end < entries.length && !ids.has((entries[end] as Entry).entryId))
          ids.add((entries[end++] as Entry).entryId);
        await this.#send(entries.slice(start, end), sizes.slice(start, end), signal);
        start = end;
      }
      if (signal.aborted) return;
      await this.store.commit(
        this.stream,
        this.#checkpoint,
        (records.at(-1) as { sequence: number }).sequence,
      );
    }
  }

  /** Sends entries (their messages of `sizes` bytes) until answered, or refused as a whole. */
  async #send(entries: Entry[], sizes: number[], signal: AbortSignal): Promise<void> {
    const client = await this.client();
    // Loaded with the first request: agents without a SiteWise export never load the SDK.
    const { BatchPutAssetPropertyValueCommand } = await import('./sitewise-sdk.ts');
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        if (this.share !== undefined) {
          const bytes = sizes.reduce((sum, n) => sum + n, 0);
          await acquireBandwidth(this.share.bandwidth, this, this.share.priority, bytes, signal);
          if (signal.aborted) return;
        }
        this.#lastAttemptAt = Date.now();
        const answer = await client.send(
          new BatchPutAssetPropertyValueCommand({ entries: clean(entries) as never }),
          {
            abortSignal: signal,
          },
        );
        const errors = answer.errorEntries ?? [];
        this.#failed += errors.length;
        this.#accepted += entries.length - errors.length;
        const refused = new Set(errors.map((e) => e.entryId));
        entries.forEach((entry, i) => {
          if (!refused.has(entry.entryId)) this.#bytesAccepted += sizes[i] ?? 0;
        });
        const firstError = errors[0];
        if (firstError !== undefined) {
          const e = firstError.errors?.[0];
          this.#lastError = `entry ${firstError.entryId}: ${e?.errorCode}: ${e?.errorMessage}${errors.length > 1 ? ` (and ${errors.length - 1} more entries)` : ''}`;
        }
        return;
      } catch (error) {
        if (signal.aborted) return;
        const name = (error as { name?: string }).name ?? 'Error';
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        this.#lastError = `${name}: ${(error as Error).message}`;
        const retryable = RETRYABLE.has(name) || status === undefined || status >= 500 || status === 429;
        if (!retryable) {
          // The whole request refused (InvalidRequest, AccessDenied…): its entries are reported and passed.
          this.#failed += entries.length;
          return;
        }
        const delay = Math.min(RETRY_CAP_MILLIS, RETRY_BASE_MILLIS * 2 ** attempt) * Math.random();
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
