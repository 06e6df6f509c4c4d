/**
 * SubscribeToShard served by the proxy at AWS's pace. The emulator pushes events on a fixed one-second
 * tick (and never ends a closed shard); here each subscription reads its shard from the emulator with
 * GetShardIterator/GetRecords, again as soon as a write passes the proxy and otherwise every
 * pollIntervalMs, and writes SubscribeToShardEvents as the records come: AWS documents ~70 ms
 * propagation for EFO (EFO_PROPAGATION_DELAY_MS). Consumers stay the emulator's: DescribeStreamConsumer
 * upstream decides whether a consumer exists. The pure parts are subscription.ts and event-stream.ts.
 */
import { randomUUID } from 'node:crypto';
import { eventMessage, exceptionMessage } from './event-stream.ts';
import {
  type ConsumerArnParts,
  type CursorSettings,
  consumerArnParts,
  isFault,
  parseSubscribeRequest,
  recordsPage,
  type ServiceFault,
  type StartingPosition,
  type SubscribeRequest,
  SubscriptionCursor,
  SubscriptionRegistry,
} from './subscription.ts';

const EVENT_STREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';
/** GetRecords' maximum; one event carries what one read returns. */
const GET_RECORDS_LIMIT = 10_000;

type JsonObject = Record<string, unknown>;

export interface UpstreamAnswer {
  status: number;
  body: Buffer;
}

/** One awsJson1_1 call to the emulator as the given account and region. */
export type KinesisCall = (
  operation: string,
  scope: { accountId: string; region: string },
  request: JsonObject,
) => Promise<UpstreamAnswer>;

/** What both the HTTP/1.1 and the HTTP/2 compatibility response offer. */
export interface EventResponse {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  write(chunk: Uint8Array): boolean;
  end(chunk?: Uint8Array): unknown;
  once(event: 'close' | 'drain', listener: () => void): unknown;
  readonly writableEnded: boolean;
}

export interface EfoStats {
  /** Subscriptions started (successful SubscribeToShard calls). */
  subscriptions: number;
  active: number;
  /** Calls refused: unknown consumer or shard, bad request, or the takeover rule. */
  refused: number;
  /** Subscriptions ended because a later call for the same consumer and shard took over. */
  takenOver: number;
  events: number;
  records: number;
  /** GetRecords calls made upstream. */
  reads: number;
}

export interface EfoSettings extends CursorSettings {
  /** A new call within this long of the last successful one is refused (AWS: 5 s). */
  takeoverMs: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class Subscription {
  closed = false;
  #wake: (() => void) | undefined;

  constructor(
    readonly res: EventResponse,
    readonly streamKey: string,
  ) {
    res.once('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits `ms`, or less if a write to the stream (or the end) wakes it. */
  idle(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async send(message: Buffer): Promise<void> {
    if (this.closed) return;
    if (!this.res.write(message)) {
      await new Promise<void>((resolve) => {
        this.res.once('drain', resolve);
        this.res.once('close', resolve);
      });
    }
  }

  /** Ends the stream with a modeled exception (the SDK throws it to the consumer). */
  fail(type: string, message: string): void {
    if (this.closed || this.res.writableEnded) return;
    this.res.end(exceptionMessage(type, message));
    this.closed = true;
    this.wake();
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
    this.closed = true;
    this.wake();
  }
}

export class EfoServer {
  readonly #registry: SubscriptionRegistry<Subscription>;
  readonly #byStream = new Map<string, Set<Subscription>>();
  readonly #stats: Omit<EfoStats, 'active'> = {
    subscriptions: 0,
    refused: 0,
    takenOver: 0,
    events: 0,
    records: 0,
    reads: 0,
  };

  constructor(
    private readonly call: KinesisCall,
    private readonly clock: () => number,
    private readonly settings: EfoSettings,
  ) {
    this.#registry = new SubscriptionRegistry(clock, settings.takeoverMs);
  }

  stats(): EfoStats {
    let active = 0;
    for (const subscriptions of this.#byStream.values()) active += subscriptions.size;
    return { ...this.#stats, active };
  }

  /** A write reached the stream (`account/region/name`; undefined: some stream): its readers read now. */
  wake(streamKey: string | undefined): void {
    const groups = streamKey === undefined ? [...this.#byStream.values()] : [this.#byStream.get(streamKey)];
    for (const group of groups) for (const subscription of group ?? []) subscription.wake();
  }

  /** Ends every subscription (the proxy is stopping). */
  closeAll(): void {
    for (const group of this.#byStream.values()) for (const subscription of group) subscription.end();
  }

  /** Answers one SubscribeToShard call (awsJson1_1 body already read). */
  async serve(res: EventResponse, body: Buffer): Promise<void> {
    const request = parseSubscribeRequest(parseJson(body));
    if (isFault(request)) return this.refuse(res, request);
    const consumer = consumerArnParts(request.consumerArn);
    if (consumer === undefined) {
      return this.refuse(res, {
        type: 'InvalidArgumentException',
        message: `ConsumerARN ${request.consumerArn} is not a stream consumer ARN`,
      });
    }
    const scope = { accountId: consumer.accountId, region: consumer.region };
    const described = await this.call('DescribeStreamConsumer', scope, { ConsumerARN: request.consumerArn });
    if (described.status !== 200) return this.relay(res, described);
    const description = objectAt(parseJson(described.body), 'ConsumerDescription');
    if (description?.ConsumerStatus !== 'ACTIVE') {
      return this.refuse(res, {
        type: 'ResourceInUseException',
        message: `Consumer ${request.consumerArn} is ${String(description?.ConsumerStatus)}, not ACTIVE`,
      });
    }
    const streamArn = typeof description.StreamARN === 'string' ? description.StreamARN : consumer.streamArn;
    const start = await this.shardStart(scope, streamArn, request.shardId);
    if ('status' in start) return this.relay(res, start);
    if (start.startingSequenceNumber === undefined) {
      return this.refuse(res, {
        type: 'ResourceNotFoundException',
        message: `Shard ${request.shardId} in stream ${consumer.streamName} under account ${consumer.accountId} does not exist`,
      });
    }
    const iterator = await this.call('GetShardIterator', scope, {
      StreamARN: streamArn,
      ShardId: request.shardId,
      ...iteratorPosition(request.startingPosition),
    });
    if (iterator.status !== 200) return this.relay(res, iterator);
    const shardIterator = parseJson(iterator.body)?.ShardIterator;
    if (typeof shardIterator !== 'string') return this.relay(res, { ...iterator, status: 500 });
    const continuation = await this.initialContinuation(
      scope,
      streamArn,
      request,
      start.startingSequenceNumber,
    );

    const streamKey = `${consumer.accountId}/${consumer.region}/${consumer.streamName}`;
    const subscription = new Subscription(res, streamKey);
    const lease = this.#registry.acquire(request.consumerArn, request.shardId, subscription);
    if (!lease.ok) return this.refuse(res, lease.fault);
    if (lease.replaced !== undefined) {
      this.#stats.takenOver += 1;
      lease.replaced.fail(
        'ResourceInUseException',
        `A newer subscription for consumer ${request.consumerArn} on shard ${request.shardId} took over`,
      );
    }
    this.#stats.subscriptions += 1;
    const group = this.#byStream.get(streamKey) ?? new Set();
    this.#byStream.set(streamKey, group);
    group.add(subscription);
    try {
      res.writeHead(200, {
        'content-type': EVENT_STREAM_CONTENT_TYPE,
        'x-amzn-requestid': randomUUID(),
      });
      // AWS opens the stream with an initial-response; the SDKs read it as the operation's output.
      await subscription.send(eventMessage('initial-response', 'application/json', Buffer.from('{}')));
      await this.pump(subscription, consumer, shardIterator, continuation);
    } finally {
      group.delete(subscription);
      if (group.size === 0) this.#byStream.delete(streamKey);
      this.#registry.release(request.consumerArn, request.shardId, subscription);
    }
  }

  private async pump(
    subscription: Subscription,
    consumer: ConsumerArnParts,
    firstIterator: string,
    continuation: string,
  ): Promise<void> {
    const scope = { accountId: consumer.accountId, region: consumer.region };
    const cursor = new SubscriptionCursor(continuation, this.clock(), this.settings);
    let iterator = firstIterator;
    while (!subscription.closed) {
      if (cursor.expired(this.clock())) return subscription.end();
      this.#stats.reads += 1;
      const read = await this.call('GetRecords', scope, {
        ShardIterator: iterator,
        Limit: GET_RECORDS_LIMIT,
      });
      const page = read.status === 200 ? recordsPage(parseJson(read.body)) : undefined;
      if (page === undefined) {
        const fault = parseJson(read.body);
        return subscription.fail(
          'InternalFailureException',
          `reading the shard failed: HTTP ${read.status} ${String(fault?.__type ?? '')} ${String(fault?.message ?? '')}`.trim(),
        );
      }
      const now = this.clock();
      const step = cursor.step(page, now);
      for (const event of step.events) {
        this.#stats.events += 1;
        this.#stats.records += event.Records.length;
        const payload = Buffer.from(JSON.stringify(event), 'utf8');
        await subscription.send(eventMessage('SubscribeToShardEvent', 'application/json', payload));
      }
      if (step.end !== undefined || page.nextShardIterator === undefined) return subscription.end();
      iterator = page.nextShardIterator;
      const { paced, idle } = cursor.delayMs(page, now);
      if (paced > 0) await sleep(paced);
      await subscription.idle(idle);
    }
  }

  /**
   * The sequence number the first events carry until a record arrives: what a consumer resubscribing
   * AFTER it would read from without a gap. For LATEST and AT_TIMESTAMP that is the shard's last record
   * when the iterator was taken (read after it, so records written in between are not skipped: the
   * subscription's own first read returns them and moves the continuation past them).
   */
  private async initialContinuation(
    scope: { accountId: string; region: string },
    streamArn: string,
    request: SubscribeRequest,
    shardStart: string,
  ): Promise<string> {
    const { type, sequenceNumber } = request.startingPosition;
    if (type === 'AFTER_SEQUENCE_NUMBER' && sequenceNumber !== undefined) return sequenceNumber;
    if (type === 'TRIM_HORIZON' || type === 'AT_SEQUENCE_NUMBER') return shardStart;
    const first = await this.call('GetShardIterator', scope, {
      StreamARN: streamArn,
      ShardId: request.shardId,
      ShardIteratorType: 'TRIM_HORIZON',
    });
    let iterator = parseJson(first.body)?.ShardIterator;
    let last = shardStart;
    while (typeof iterator === 'string') {
      const read = await this.call('GetRecords', scope, {
        ShardIterator: iterator,
        Limit: GET_RECORDS_LIMIT,
      });
      const page = read.status === 200 ? recordsPage(parseJson(read.body)) : undefined;
      const tail = page?.records[page.records.length - 1];
      if (page === undefined || tail === undefined) break;
      last = tail.SequenceNumber;
      iterator = page.nextShardIterator;
    }
    return last;
  }

  /** The shard's starting sequence number from ListShards, or the upstream's error. */
  private async shardStart(
    scope: { accountId: string; region: string },
    streamArn: string,
    shardId: string,
  ): Promise<{ startingSequenceNumber: string | undefined } | UpstreamAnswer> {
    let request: JsonObject = { StreamARN: streamArn };
    for (;;) {
      const listed = await this.call('ListShards', scope, request);
      if (listed.status !== 200) return listed;
      const page = parseJson(listed.body);
      const shards = Array.isArray(page?.Shards) ? (page.Shards as JsonObject[]) : [];
      const shard = shards.find((s) => s.ShardId === shardId);
      if (shard !== undefined) {
        const range = objectAt(shard, 'SequenceNumberRange');
        const startingSequenceNumber = range?.StartingSequenceNumber;
        return {
          startingSequenceNumber:
            typeof startingSequenceNumber === 'string' ? startingSequenceNumber : undefined,
        };
      }
      if (typeof page?.NextToken !== 'string') return { startingSequenceNumber: undefined };
      request = { NextToken: page.NextToken };
    }
  }

  private refuse(res: EventResponse, fault: ServiceFault): void {
    this.#stats.refused += 1;
    const body = Buffer.from(JSON.stringify({ __type: fault.type, message: fault.message }), 'utf8');
    res.writeHead(400, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': body.length,
      'x-amzn-requestid': randomUUID(),
      'x-amzn-errortype': fault.type,
    });
    res.end(body);
  }

  /** An error answer from the emulator, passed on as Kinesis's own. */
  private relay(res: EventResponse, answer: UpstreamAnswer): void {
    this.#stats.refused += 1;
    const type = parseJson(answer.body)?.__type;
    const headers: Record<string, string | number> = {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': answer.body.length,
      'x-amzn-requestid': randomUUID(),
    };
    if (typeof type === 'string') headers['x-amzn-errortype'] = type;
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  }
}

function iteratorPosition(position: StartingPosition): JsonObject {
  const out: JsonObject = { ShardIteratorType: position.type };
  if (position.sequenceNumber !== undefined) out.StartingSequenceNumber = position.sequenceNumber;
  if (position.timestamp !== undefined) out.Timestamp = position.timestamp;
  return out;
}

function parseJson(body: Buffer): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as JsonObject)
      : undefined;
  } catch {
    return undefined;
  }
}

function objectAt(value: JsonObject | undefined, key: string): JsonObject | undefined {
  const field = value?.[key];
  return typeof field === 'object' && field !== null && !Array.isArray(field)
    ? (field as JsonObject)
    : undefined;
}
