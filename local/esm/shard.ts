import { createHash, randomUUID } from 'node:crypto';
import {
  type ChildShard,
  type KinesisClient,
  type StartingPosition,
  SubscribeToShardCommand,
  type SubscribeToShardEventStream,
} from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { deaggregate, isAggregated } from '../../shared/kinesis/aggregation.ts';
import { ESM_MAX_EVENT_BYTES } from '../../shared/kinesis/limits.ts';
import type { FileCheckpointStore } from './checkpoints.ts';
import { SHARD_END } from './checkpoints.ts';
import type { StreamMappingSettings } from './config.ts';
import { InvalidBatchResponseError, InvocationTimeoutError } from './errors.ts';
import {
  type EventSource,
  eventRecordBytes,
  kinesisEvent,
  lambdaContext,
  type ShardRecord,
} from './event.ts';
import type { FileOnFailureDestination, OnFailureRecord } from './on-failure.ts';
import { closedShardChildren } from './shard-end.ts';

/**
 * Lambda's Kinesis event source mapping semantics for one shard, against a real EFO subscription:
 *
 * - SubscribeToShard on the mapping's consumer; when a subscription ends (EFO subscriptions last
 *   5 minutes) or breaks, subscribe again AFTER the last sequence number received.
 * - Records go to `parallelizationFactor` lanes by partition key (one key, one lane, in order). Each
 *   lane invokes with up to batchSize records once it has batchSize or the batching window passed.
 * - Function error: with bisect on, split the batch in two and retry the halves (no retry spent);
 *   otherwise retry the batch. Partial batch response: records before the first reported failure are
 *   done, the rest is retried. Retries beyond maximumRetryAttempts, or records older than
 *   maximumRecordAgeInSeconds, are given up: their metadata goes to the on-failure destination.
 * - The shard's checkpoint advances to the last record before which everything completed, across
 *   lanes, and is written durably; a restart resumes right after it.
 */

export type StreamHandler = (event: KinesisStreamEvent, context: Context) => Promise<unknown>;

export interface MappingStats {
  invocations: number;
  functionErrors: number;
  partialFailures: number;
  bisections: number;
  retries: number;
  recordsSucceeded: number;
  /** User records inside the succeeded Kinesis records (KPL aggregates counted by content). */
  userRecordsSucceeded: number;
  recordsGivenUp: number;
  subscriptions: number;
  /** Lambda's IteratorAge: age of the oldest record of the latest invocation, ms. */
  iteratorAgeMillis: number;
}

export interface MappingRuntime {
  functionName: string;
  handler: StreamHandler;
  settings: StreamMappingSettings;
  source: EventSource;
  accountId: string;
  consumerArn: string;
  kinesis: KinesisClient;
  checkpoints: FileCheckpointStore;
  onFailure: FileOnFailureDestination | undefined;
  stats: MappingStats;
  /** Pause before retrying a failed batch (Lambda backs off too). */
  retryDelayMs: number;
  /** Epoch ms: batching windows, record ages, iterator age and on-failure timestamps read it. */
  clock: () => number;
  log(message: string): void;
}

type Outcome = { kind: 'ok' } | { kind: 'partial'; index: number } | { kind: 'error'; error: unknown };

interface PendingBatch {
  records: ShardRecord[];
  /** Retries spent on these records (bisection spends none). */
  attempts: number;
  invokes: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Orders completions across lanes: the checkpoint only moves past records whose predecessors are all done. */
class Progress {
  readonly #order: { sequenceNumber: string; done: boolean }[] = [];
  readonly #bySequence = new Map<string, { sequenceNumber: string; done: boolean }>();
  #head = 0;

  receive(sequenceNumber: string): void {
    const entry = { sequenceNumber, done: false };
    this.#order.push(entry);
    this.#bySequence.set(sequenceNumber, entry);
  }

  /** Marks records done; returns the new checkpoint when it moved. */
  complete(records: readonly ShardRecord[]): string | undefined {
    for (const record of records) {
      const entry = this.#bySequence.get(record.sequenceNumber);
      if (entry !== undefined) entry.done = true;
    }
    let moved: string | undefined;
    while (this.#head < this.#order.length && this.#order[this.#head]?.done === true) {
      const entry = this.#order[this.#head] as { sequenceNumber: string };
      this.#bySequence.delete(entry.sequenceNumber);
      moved = entry.sequenceNumber;
      this.#head++;
    }
    if (this.#head > 4096) {
      this.#order.splice(0, this.#head);
      this.#head = 0;
    }
    return moved;
  }
}

/** How many user records the Kinesis records carry; a damaged aggregate counts as one. */
function userRecords(records: readonly ShardRecord[]): number {
  let count = 0;
  for (const { data, partitionKey } of records) {
    if (!isAggregated(data)) count++;
    else {
      try {
        count += deaggregate(data, { partitionKey }).length;
      } catch {
        count++;
      }
    }
  }
  return count;
}

class Lane {
  readonly #shard: ShardWorker;
  readonly #runtime: MappingRuntime;
  readonly #buffer: ShardRecord[] = [];
  readonly #work: PendingBatch[] = [];
  #firstBufferedAt = 0;
  #wake: (() => void) | undefined;
  #ending = false;
  readonly finished: Promise<void>;

  constructor(shard: ShardWorker, runtime: MappingRuntime) {
    this.#shard = shard;
    this.#runtime = runtime;
    this.finished = this.#run();
  }

  get buffered(): number {
    return this.#buffer.length;
  }

  push(record: ShardRecord): void {
    if (this.#buffer.length === 0) this.#firstBufferedAt = this.#runtime.clock();
    this.#buffer.push(record);
    this.#signal();
  }

  /** No more records will come (shard end or stop): flush what is buffered, then finish. */
  end(): void {
    this.#ending = true;
    this.#signal();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #waitForSignal(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      this.#wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
    });
  }

  async #run(): Promise<void> {
    for (;;) {
      if (this.#shard.stopped) return;
      const batch = this.#work.pop() ?? (await this.#nextBatch());
      if (batch === undefined) return;
      if (this.#shard.stopped) return;
      await this.#handle(batch);
    }
  }

  async #nextBatch(): Promise<PendingBatch | undefined> {
    const { batchSize, batchWindowSeconds } = this.#runtime.settings;
    for (;;) {
      if (this.#shard.stopped) return undefined;
      if (this.#buffer.length >= batchSize) return this.#take();
      if (this.#buffer.length > 0) {
        const waitMs = batchWindowSeconds * 1000 - (this.#runtime.clock() - this.#firstBufferedAt);
        if (waitMs <= 0 || this.#ending) return this.#take();
        await this.#waitForSignal(waitMs);
        continue;
      }
      if (this.#ending) return undefined;
      await this.#waitForSignal(undefined);
    }
  }

  #take(): PendingBatch {
    const { batchSize } = this.#runtime.settings;
    let bytes = 16;
    let count = 0;
    for (const record of this.#buffer) {
      const size = eventRecordBytes(record, this.#runtime.source);
      if (count >= batchSize || (count > 0 && bytes + size > ESM_MAX_EVENT_BYTES)) break;
      bytes += size;
      count++;
    }
    const records = this.#buffer.splice(0, count);
    if (this.#buffer.length > 0) this.#firstBufferedAt = this.#runtime.clock();
    this.#shard.drained();
    return { records, attempts: 0, invokes: 0 };
  }

  async #handle(batch: PendingBatch): Promise<void> {
    const { settings, stats, clock } = this.#runtime;
    // Records past the maximum age are given up before they are (re)sent; stream order means the
    // expired ones are a prefix.
    if (settings.maximumRecordAgeInSeconds >= 0) {
      const oldest = clock() - settings.maximumRecordAgeInSeconds * 1000;
      const expired = batch.records.findIndex((record) => record.arrivedAt >= oldest);
      const cut = expired < 0 ? batch.records.length : expired;
      if (cut > 0) {
        await this.#giveUp(batch.records.slice(0, cut), 'RecordAgeExceeded', batch.invokes);
        if (cut === batch.records.length) return;
        batch = { ...batch, records: batch.records.slice(cut) };
      }
    }

    const now = clock();
    stats.iteratorAgeMillis = now - (batch.records[0]?.arrivedAt ?? now);
    const outcome = await this.#invoke(batch.records);
    batch.invokes++;
    stats.invocations++;
    if (outcome.kind === 'ok') {
      stats.recordsSucceeded += batch.records.length;
      stats.userRecordsSucceeded += userRecords(batch.records);
      await this.#shard.complete(batch.records);
      return;
    }
    if (outcome.kind === 'partial') {
      stats.partialFailures++;
      const done = batch.records.slice(0, outcome.index);
      stats.recordsSucceeded += done.length;
      stats.userRecordsSucceeded += userRecords(done);
      await this.#shard.complete(done);
      await this.#retry({ ...batch, records: batch.records.slice(outcome.index) });
      return;
    }
    stats.functionErrors++;
    const message = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    this.#runtime.log(
      `${this.#runtime.functionName} ${this.#shard.shardId}: function error on ${batch.records.length} records: ${message}`,
    );
    if (settings.bisectBatchOnFunctionError && batch.records.length > 1) {
      stats.bisections++;
      const half = Math.ceil(batch.records.length / 2);
      // Stack: the first half runs first; splitting spends no retry.
      this.#work.push({ ...batch, records: batch.records.slice(half) });
      this.#work.push({ ...batch, records: batch.records.slice(0, half) });
      return;
    }
    await this.#retry(batch);
  }

  async #retry(batch: PendingBatch): Promise<void> {
    const { maximumRetryAttempts } = this.#runtime.settings;
    const attempts = batch.attempts + 1;
    if (maximumRetryAttempts >= 0 && attempts > maximumRetryAttempts) {
      await this.#giveUp(batch.records, 'RetryAttemptsExhausted', batch.invokes);
      return;
    }
    this.#runtime.stats.retries++;
    this.#work.push({ ...batch, attempts });
    await sleep(this.#runtime.retryDelayMs);
  }

  async #giveUp(
    records: ShardRecord[],
    condition: OnFailureRecord['requestContext']['condition'],
    invokes: number,
  ): Promise<void> {
    const first = records[0];
    const last = records[records.length - 1];
    if (first === undefined || last === undefined) return;
    const runtime = this.#runtime;
    runtime.stats.recordsGivenUp += records.length;
    runtime.log(
      `${runtime.functionName} ${first.shardId}: giving up ${records.length} records (${condition}), ` +
        `sequence ${first.sequenceNumber}..${last.sequenceNumber}`,
    );
    await runtime.onFailure?.send({
      requestContext: {
        requestId: randomUUID(),
        functionArn: `arn:aws:lambda:${runtime.source.region}:${runtime.accountId}:function:${runtime.functionName}`,
        condition,
        approximateInvokeCount: invokes,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: new Date(runtime.clock()).toISOString(),
      KinesisBatchInfo: {
        shardId: first.shardId,
        startSequenceNumber: first.sequenceNumber,
        endSequenceNumber: last.sequenceNumber,
        approximateArrivalOfFirstRecord: new Date(first.arrivedAt).toISOString(),
        approximateArrivalOfLastRecord: new Date(last.arrivedAt).toISOString(),
        batchSize: records.length,
        streamArn: runtime.source.streamArn,
      },
    });
    await this.#shard.complete(records);
  }

  async #invoke(records: ShardRecord[]): Promise<Outcome> {
    const { functionName, settings, source, handler } = this.#runtime;
    const timeoutMs = settings.timeoutSeconds * 1000;
    const context = lambdaContext({
      functionName,
      region: source.region,
      accountId: this.#runtime.accountId,
      memoryLimitInMB: 512,
      timeoutMs,
      requestId: randomUUID(),
      clock: this.#runtime.clock,
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const response = await Promise.race([
        handler(kinesisEvent(records, source), context),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new InvocationTimeoutError(functionName, settings.timeoutSeconds)),
            timeoutMs,
          );
        }),
      ]);
      if (!settings.reportBatchItemFailures) return { kind: 'ok' };
      return this.#partial(records, response);
    } catch (error) {
      return { kind: 'error', error };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lambda's reading of a partial batch response: empty/null means success, a bad identifier fails the batch. */
  #partial(records: ShardRecord[], response: unknown): Outcome {
    if (response === null || typeof response !== 'object') return { kind: 'ok' };
    const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
    if (failures === null || failures === undefined) return { kind: 'ok' };
    if (!Array.isArray(failures))
      return {
        kind: 'error',
        error: new InvalidBatchResponseError(this.#runtime.functionName, 'batchItemFailures is not a list'),
      };
    if (failures.length === 0) return { kind: 'ok' };
    let index = records.length;
    for (const failure of failures) {
      const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      const at = typeof id === 'string' && id !== '' ? records.findIndex((r) => r.sequenceNumber === id) : -1;
      if (at < 0) {
        return {
          kind: 'error',
          error: new InvalidBatchResponseError(
            this.#runtime.functionName,
            `itemIdentifier ${JSON.stringify(id)} is not a sequence number of the batch`,
          ),
        };
      }
      index = Math.min(index, at);
    }
    return { kind: 'partial', index };
  }
}

export class ShardWorker {
  readonly shardId: string;
  readonly #runtime: MappingRuntime;
  readonly #lanes: Lane[];
  readonly #progress = new Progress();
  readonly #abort = new AbortController();
  readonly #onChildren: (children: ChildShard[]) => void;
  #stopped = false;
  #lastReceived: string | undefined;
  #start: StartingPosition;
  #drained: (() => void) | undefined;
  readonly finished: Promise<void>;

  constructor(
    runtime: MappingRuntime,
    shardId: string,
    start: StartingPosition,
    onChildren: (children: ChildShard[]) => void,
  ) {
    this.#runtime = runtime;
    this.shardId = shardId;
    this.#start = start;
    this.#onChildren = onChildren;
    this.#lanes = Array.from(
      { length: runtime.settings.parallelizationFactor },
      () => new Lane(this, runtime),
    );
    this.finished = this.#read();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    for (const lane of this.#lanes) lane.end();
    this.drained();
    await this.finished;
  }

  /** A lane took records out of its buffer: reading may continue. */
  drained(): void {
    const resume = this.#drained;
    this.#drained = undefined;
    resume?.();
  }

  async complete(records: readonly ShardRecord[]): Promise<void> {
    const checkpoint = this.#progress.complete(records);
    if (checkpoint !== undefined) await this.#runtime.checkpoints.set(this.shardId, checkpoint);
  }

  #laneOf(partitionKey: string): Lane {
    if (this.#lanes.length === 1) return this.#lanes[0] as Lane;
    const digest = createHash('md5').update(partitionKey).digest();
    return this.#lanes[digest.readUInt32BE(0) % this.#lanes.length] as Lane;
  }

  async #read(): Promise<void> {
    const runtime = this.#runtime;
    const maxBuffered = Math.max(1000, runtime.settings.batchSize * this.#lanes.length * 4);
    let failures = 0;
    let children: ChildShard[] | undefined;
    let closedChildren: ChildShard[] | undefined;
    while (!this.#stopped && children === undefined) {
      try {
        runtime.stats.subscriptions++;
        const response = await runtime.kinesis.send(
          new SubscribeToShardCommand({
            ConsumerARN: runtime.consumerArn,
            ShardId: this.shardId,
            StartingPosition: this.#start,
          }),
          { abortSignal: this.#abort.signal },
        );
        const events = response.EventStream as AsyncIterable<SubscribeToShardEventStream> | undefined;
        for await (const event of events ?? []) {
          const shardEvent = event.SubscribeToShardEvent;
          if (shardEvent === undefined) continue;
          failures = 0;
          for (const record of shardEvent.Records ?? []) {
            const sequenceNumber = record.SequenceNumber;
            if (sequenceNumber === undefined || record.Data === undefined) continue;
            // A resubscription may overlap what was already received.
            if (this.#lastReceived !== undefined && BigInt(sequenceNumber) <= BigInt(this.#lastReceived))
              continue;
            this.#lastReceived = sequenceNumber;
            this.#progress.receive(sequenceNumber);
            this.#laneOf(record.PartitionKey ?? '').push({
              shardId: this.shardId,
              sequenceNumber,
              partitionKey: record.PartitionKey ?? '',
              data: record.Data,
              arrivedAt: record.ApproximateArrivalTimestamp?.getTime() ?? this.#runtime.clock(),
              encryptionType: record.EncryptionType,
            });
          }
          // The emulator never ends a closed shard itself (see shard-end.ts).
          if ((shardEvent.Records ?? []).length === 0 && shardEvent.MillisBehindLatest === 0) {
            if (closedChildren !== undefined) {
              children = closedChildren;
              break;
            }
            closedChildren = await closedShardChildren(
              runtime.kinesis,
              runtime.source.streamArn,
              this.shardId,
            );
          }
          const continuation = shardEvent.ContinuationSequenceNumber;
          if (continuation === undefined || continuation === null) {
            children = shardEvent.ChildShards ?? [];
            break;
          }
          this.#start = { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: continuation };
          while (!this.#stopped && this.#lanes.reduce((n, lane) => n + lane.buffered, 0) > maxBuffered) {
            await new Promise<void>((resolve) => {
              this.#drained = resolve;
            });
          }
        }
      } catch (error) {
        if (this.#stopped) break;
        failures++;
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        runtime.log(
          `${runtime.functionName} ${this.shardId}: subscription failed (${message}); resubscribing`,
        );
        // The subscribe rate limit is one call per consumer and shard every 5 s; back off up to that.
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      }
      if (this.#lastReceived !== undefined)
        this.#start = { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: this.#lastReceived };
    }

    for (const lane of this.#lanes) lane.end();
    await Promise.all(this.#lanes.map((lane) => lane.finished));
    if (children !== undefined && !this.#stopped) {
      await runtime.checkpoints.set(this.shardId, SHARD_END);
      this.#onChildren(children);
    }
  }
}
