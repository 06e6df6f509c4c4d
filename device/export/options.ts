/**
 * The exporter's options: one schema for the limits the agent config also exposes (its `exporter`
 * section reuses `exporterLimitFields`), the backoffs and pacing, validated once at start so a bad
 * value is a ConfigError naming its path rather than a misbehaving loop. The schema is strict (a
 * misspelt option is refused, not ignored) and the options type is derived from it.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { SHARD_WRITE_BYTES_PER_SECOND, SHARD_WRITE_RECORDS_PER_SECOND } from '../../shared/kinesis/limits.ts';
import { parseOptions } from '../../shared/options.ts';
import * as z from '../../shared/zod.ts';
import type { LogStore } from '../log/index.ts';
import type { SharedBandwidth } from './bandwidth.ts';
import type { KinesisApi } from './kinesis.ts';
import type { RouteFunction } from './routing.ts';

export const MiB = 1024 * 1024;
/**
 * Read-but-unaccepted bytes held per export (the agent config's exporter.maxBufferedBytesPerStream).
 * 512 KiB keeps 10k records/s flowing through four shards in the agent bench with a peak RSS about
 * 2 MB below 1 MiB's; at a 100 ms round trip it still carries 5 MiB/s, five shards' worth.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 512 * 1024;
export const DEFAULT_MAX_IN_FLIGHT_REQUESTS = 4;

const backoff = (baseMillis: number, capMillis: number) =>
  z._default(
    z.strictObject({ baseMillis: z.number().check(z.gte(1)), capMillis: z.number().check(z.gte(1)) }),
    { baseMillis, capMillis },
  );

/** The exporter's limits; the agent config's `exporter` section uses the same fields. */
export const exporterLimitFields = {
  /** Cap for all exports together (stream manager's STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH, there in kbit/s); priorities decide who goes first. */
  maxBandwidthBytesPerSecond: z.optional(z.int().check(z.gte(1024))),
  /** Read-but-unaccepted bytes per export; the backlog stays in the log. Default 512 KiB. */
  maxBufferedBytes: z._default(z.int().check(z.gte(64 * 1024), z.lte(256 * MiB)), DEFAULT_MAX_BUFFERED_BYTES),
  maxInFlightRequests: z._default(z.int().check(z.gte(1), z.lte(64)), DEFAULT_MAX_IN_FLIGHT_REQUESTS),
};

const optionsSchema = z.strictObject({
  /** Key for payloads without a `partition_key` (the device id, usually). */
  defaultPartitionKey: z.optional(z.string().check(z.minLength(1))),
  ...exporterLimitFields,
  /** Backoff of failed entries (throttles, InternalFailure). */
  retry: backoff(100, 5_000),
  /** Backoff while Kinesis is unreachable or refusing whole requests. */
  offline: backoff(250, 30_000),
  requestTimeoutMillis: z._default(z.int().check(z.gte(100)), 30_000),
  /** Per-shard write limits to pace against; Kinesis' 1 MiB/s and 1000 records/s by default. */
  shardWriteLimits: z._default(
    z.strictObject({
      bytesPerSecond: z.number().check(z.positive()),
      recordsPerSecond: z.number().check(z.positive()),
    }),
    { bytesPerSecond: SHARD_WRITE_BYTES_PER_SECOND, recordsPerSecond: SHARD_WRITE_RECORDS_PER_SECOND },
  ),
  /** Extra pacing window beyond Kinesis' one second, for the gap between our send and the server's admission. */
  pacingSlackMillis: z._default(z.int().check(z.gte(0), z.lte(1000)), 25),
  /** Shortest time between two shard-map refreshes. */
  refreshIntervalMillis: z._default(z.int().check(z.gte(0)), 1_000),
});

/** The collaborators the exporter is given; the plain options beside them are `optionsSchema`'s. */
interface KinesisExporterParts {
  readonly store: LogStore;
  /** The agent's slim `httpKinesisApi(...)`, or an SDK v3 client (from `createAwsClients(...).kinesis()`). */
  readonly kinesis: KinesisApi | KinesisClient;
  /** Export definitions (validated here; see definition.ts). */
  readonly exports: unknown;
  /** Routing for payloads that are not contract records; may return an explicit hash key. */
  readonly route?: RouteFunction;
  /** ms since the epoch; comparable with the log's append timestamps. */
  readonly clock?: () => number;
  readonly random?: () => number;
  /**
   * The agent's cap shared with its other exporters (bandwidth.ts); without it,
   * `maxBandwidthBytesPerSecond` caps this exporter alone.
   */
  readonly bandwidth?: SharedBandwidth;
}

export type KinesisExporterOptions = KinesisExporterParts & Readonly<z.input<typeof optionsSchema>>;

export type ResolvedOptions = z.output<typeof optionsSchema>;

/** Validates the plain options (not the store, client, definitions or functions); one ConfigError names every bad path. */
export function resolveOptions(options: KinesisExporterOptions): ResolvedOptions {
  const {
    store: _store,
    kinesis: _kinesis,
    exports: _exports,
    route: _route,
    clock: _clock,
    random: _random,
    bandwidth: _bandwidth,
    ...rest
  } = options;
  return parseOptions(optionsSchema, rest, { unknownKey: 'is not an exporter option' });
}
