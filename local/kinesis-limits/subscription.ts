/**
 * SubscribeToShard as the proxy serves it, the pure part: the request, the consumer ARN, the rule of
 * one subscription per consumer and shard, and a subscription's cursor (which GetRecords pages become
 * which SubscribeToShardEvents, when to read again, when the subscription ends). No I/O: the edge
 * (efo.ts) reads the emulator and writes the event stream.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_SubscribeToShard.html
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_SubscribeToShardEvent.html
 */
import {
  EFO_SUBSCRIBE_TAKEOVER_MS,
  EFO_SUBSCRIPTION_LIFETIME_MS,
  SHARD_READ_BYTES_PER_SECOND,
} from '../../shared/kinesis/limits.ts';

type JsonObject = Record<string, unknown>;

export const STARTING_POSITION_TYPES = [
  'AT_SEQUENCE_NUMBER',
  'AFTER_SEQUENCE_NUMBER',
  'TRIM_HORIZON',
  'LATEST',
  'AT_TIMESTAMP',
] as const;
export type StartingPositionType = (typeof STARTING_POSITION_TYPES)[number];

export interface StartingPosition {
  type: StartingPositionType;
  sequenceNumber?: string;
  /** Epoch seconds, as awsJson1_1 sends timestamps. */
  timestamp?: number;
}

export interface SubscribeRequest {
  consumerArn: string;
  shardId: string;
  startingPosition: StartingPosition;
}

/** An AWS error the proxy answers itself: the SDK reads `type` as the exception's name. */
export interface ServiceFault {
  type: 'InvalidArgumentException' | 'ResourceInUseException' | 'ResourceNotFoundException';
  message: string;
}

/** The request body as awsJson1_1 carries it; a fault names the field the way Kinesis would. */
export function parseSubscribeRequest(body: unknown): SubscribeRequest | ServiceFault {
  const invalid = (message: string): ServiceFault => ({ type: 'InvalidArgumentException', message });
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return invalid('expected a JSON object');
  const { ConsumerARN, ShardId, StartingPosition } = body as JsonObject;
  if (typeof ConsumerARN !== 'string' || ConsumerARN === '') return invalid('ConsumerARN is required');
  if (typeof ShardId !== 'string' || ShardId === '') return invalid('ShardId is required');
  if (typeof StartingPosition !== 'object' || StartingPosition === null)
    return invalid('StartingPosition is required');
  const { Type, SequenceNumber, Timestamp } = StartingPosition as JsonObject;
  if (!STARTING_POSITION_TYPES.includes(Type as StartingPositionType))
    return invalid(`StartingPosition.Type must be one of ${STARTING_POSITION_TYPES.join(', ')}`);
  const type = Type as StartingPositionType;
  const startingPosition: StartingPosition = { type };
  if (type === 'AT_SEQUENCE_NUMBER' || type === 'AFTER_SEQUENCE_NUMBER') {
    if (typeof SequenceNumber !== 'string' || !/^\d{1,128}$/.test(SequenceNumber))
      return invalid(`StartingPosition.SequenceNumber is required for ${type}`);
    startingPosition.sequenceNumber = SequenceNumber;
  }
  if (type === 'AT_TIMESTAMP') {
    if (typeof Timestamp !== 'number' || !Number.isFinite(Timestamp))
      return invalid('StartingPosition.Timestamp is required for AT_TIMESTAMP');
    startingPosition.timestamp = Timestamp;
  }
  return { consumerArn: ConsumerARN, shardId: ShardId, startingPosition };
}

export function isFault(value: SubscribeRequest | ServiceFault): value is ServiceFault {
  return 'type' in value && 'message' in value;
}

export interface ConsumerArnParts {
  region: string;
  accountId: string;
  streamName: string;
  consumerName: string;
  /** The stream's ARN, the consumer's prefix. */
  streamArn: string;
}

/** `arn:aws:kinesis:<region>:<account>:stream/<stream>/consumer/<name>:<creation epoch>`; undefined if not one. */
export function consumerArnParts(arn: string): ConsumerArnParts | undefined {
  const match = /^(arn:[^:]+:kinesis:([^:]+):(\d{12}):stream\/([^/]+))\/consumer\/([^:/]+):\d+$/.exec(arn);
  if (match === null) return undefined;
  const [, streamArn, region, accountId, streamName, consumerName] = match;
  if (!streamArn || !region || !accountId || !streamName || !consumerName) return undefined;
  return { region, accountId, streamName, consumerName, streamArn };
}

/**
 * AWS's rule for SubscribeToShard per consumer and shard: a call within `takeoverMs` of the last
 * successful one is refused (ResourceInUseException); a later one takes over, and the subscription it
 * replaces ends with ResourceInUseException. Handles are whatever the edge uses to end a subscription.
 */
export class SubscriptionRegistry<Handle> {
  readonly #active = new Map<string, { handle: Handle | undefined; since: number }>();

  constructor(
    private readonly clock: () => number,
    private readonly takeoverMs = EFO_SUBSCRIBE_TAKEOVER_MS,
  ) {}

  /** Registers a successful call; `replaced` is the live subscription it takes over, if any. */
  acquire(
    consumerArn: string,
    shardId: string,
    handle: Handle,
  ): { ok: true; replaced: Handle | undefined } | { ok: false; fault: ServiceFault } {
    const key = `${consumerArn} ${shardId}`;
    const now = this.clock();
    const last = this.#active.get(key);
    if (last !== undefined && now - last.since < this.takeoverMs) {
      return {
        ok: false,
        fault: {
          type: 'ResourceInUseException',
          message: `Another active subscription exists for consumer ${consumerArn} on shard ${shardId}; a new one may take it over ${this.takeoverMs} ms after it began`,
        },
      };
    }
    this.#active.set(key, { handle, since: now });
    return { ok: true, replaced: last?.handle };
  }

  /** The subscription ended; its start still counts against the next call's takeover window. */
  release(consumerArn: string, shardId: string, handle: Handle): void {
    const key = `${consumerArn} ${shardId}`;
    const entry = this.#active.get(key);
    if (entry?.handle !== handle) return;
    if (this.clock() - entry.since >= this.takeoverMs) this.#active.delete(key);
    else entry.handle = undefined;
  }

  get size(): number {
    let live = 0;
    for (const entry of this.#active.values()) if (entry.handle !== undefined) live++;
    return live;
  }
}

/** A record as GetRecords returns it (JSON); passed to the subscriber unchanged. */
export type WireRecord = JsonObject & { SequenceNumber: string; Data: string };

/** The GetRecords output fields a subscription reads. */
export interface RecordsPage {
  records: readonly WireRecord[];
  /** Absent (null on the wire) once a closed shard has been read to its end. */
  nextShardIterator: string | undefined;
  millisBehindLatest: number;
  childShards: readonly unknown[] | undefined;
}

/** The JSON payload of a SubscribeToShardEvent. */
export interface ShardEvent {
  Records: readonly WireRecord[];
  /** Absent only in the last event of a closed shard. */
  ContinuationSequenceNumber?: string;
  MillisBehindLatest: number;
  ChildShards?: readonly unknown[];
}

export interface CursorSettings {
  /** Read again this soon when caught up (a write through the proxy wakes the reader sooner). */
  pollIntervalMs: number;
  /** An empty event at least this often while nothing new arrives (the emulator sends one a second). */
  heartbeatMs: number;
  lifetimeMs: number;
  /** Per consumer and shard, as AWS's EFO pipes. */
  readBytesPerSecond: number;
}

export const DEFAULT_CURSOR_SETTINGS: Readonly<CursorSettings> = Object.freeze({
  pollIntervalMs: 50,
  heartbeatMs: 1000,
  lifetimeMs: EFO_SUBSCRIPTION_LIFETIME_MS,
  readBytesPerSecond: SHARD_READ_BYTES_PER_SECOND,
});

export type CursorStep = {
  events: ShardEvent[];
  /** 'shard-end': the last event carried ChildShards; the subscription is over. */
  end: 'shard-end' | undefined;
};

/**
 * One subscription's progress. `continuation` is the sequence number the next SubscribeToShard could
 * start AFTER: the last record sent, else the position the subscription started from (for a shard's
 * beginning, its starting sequence number, which the emulator reads as "from the first record").
 */
export class SubscriptionCursor {
  #continuation: string;
  #lastEventAt: number;
  #readyAt: number;
  readonly #startedAt: number;

  constructor(
    continuation: string,
    startedAt: number,
    private readonly settings: CursorSettings = DEFAULT_CURSOR_SETTINGS,
  ) {
    this.#continuation = continuation;
    this.#startedAt = startedAt;
    // The first read's event goes out at once, whatever it holds.
    this.#lastEventAt = Number.NEGATIVE_INFINITY;
    this.#readyAt = Number.NEGATIVE_INFINITY;
  }

  get continuation(): string {
    return this.#continuation;
  }

  /** Past the subscription's lifetime: the edge ends the stream (the consumer subscribes again). */
  expired(now: number): boolean {
    return now - this.#startedAt >= this.settings.lifetimeMs;
  }

  /** The events one GetRecords page becomes. */
  step(page: RecordsPage, now: number): CursorStep {
    const events: ShardEvent[] = [];
    const last = page.records[page.records.length - 1];
    if (last !== undefined) this.#continuation = last.SequenceNumber;
    const shardEnd = page.nextShardIterator === undefined;
    if (page.records.length > 0 || (!shardEnd && now - this.#lastEventAt >= this.settings.heartbeatMs)) {
      events.push({
        Records: page.records,
        ContinuationSequenceNumber: this.#continuation,
        MillisBehindLatest: page.millisBehindLatest,
      });
    }
    // The end comes in an event of its own, after the shard's last records.
    if (shardEnd) events.push({ Records: [], MillisBehindLatest: 0, ChildShards: page.childShards ?? [] });
    if (events.length > 0) this.#lastEventAt = now;
    this.#pace(page.records, now);
    return { events, end: shardEnd ? 'shard-end' : undefined };
  }

  /**
   * How long to wait before the next read: `paced` while the read rate is spent (nothing cuts it
   * short), then `idle` until the next poll, heartbeat or the end of the lifetime, whichever comes
   * first (a write to the stream may cut it short); no idling while behind the tip.
   */
  delayMs(page: RecordsPage, now: number): { paced: number; idle: number } {
    const paced = Math.max(0, this.#readyAt - now);
    if (page.records.length > 0 && page.millisBehindLatest > 0) return { paced, idle: 0 };
    const after = now + paced;
    const untilHeartbeat = this.#lastEventAt + this.settings.heartbeatMs - after;
    const untilExpiry = this.#startedAt + this.settings.lifetimeMs - after;
    return { paced, idle: Math.max(0, Math.min(this.settings.pollIntervalMs, untilHeartbeat, untilExpiry)) };
  }

  /** A bucket of one second's read throughput: a burst of up to a second's worth, then the rate. */
  #pace(records: readonly WireRecord[], now: number): void {
    let bytes = 0;
    for (const record of records) bytes += Buffer.byteLength(record.Data, 'base64');
    if (bytes === 0) return;
    this.#readyAt = Math.max(this.#readyAt, now - 1000) + (bytes * 1000) / this.settings.readBytesPerSecond;
  }
}

/** GetRecords output (parsed JSON) as the cursor reads it; undefined if it is not one. */
export function recordsPage(output: JsonObject | undefined): RecordsPage | undefined {
  if (output === undefined || !Array.isArray(output.Records)) return undefined;
  const records = output.Records.filter(
    (r): r is WireRecord =>
      typeof r === 'object' &&
      r !== null &&
      typeof (r as JsonObject).SequenceNumber === 'string' &&
      typeof (r as JsonObject).Data === 'string',
  );
  const next = output.NextShardIterator;
  const behind = output.MillisBehindLatest;
  return {
    records,
    nextShardIterator: typeof next === 'string' ? next : undefined,
    millisBehindLatest: typeof behind === 'number' ? behind : 0,
    childShards: Array.isArray(output.ChildShards) ? output.ChildShards : undefined,
  };
}
