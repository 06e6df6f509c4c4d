import { join } from 'node:path';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { transformRecords } from '../../functions/lake-processor/processor.ts';
import type { AwsClients } from '../../shared/aws/clients.ts';
import {
  BatchPlanner,
  type DeliveryTarget,
  type RecordProcessor,
  type SourceRecord,
} from '../../shared/lake/batch.ts';
import { type BufferingHints, DeliveryBuffer, type FlushReason } from '../../shared/lake/buffer.ts';
import { assertPrefix } from '../../shared/lake/layout.ts';
import type { ParquetCompression } from '../../shared/lake/parquet.ts';
import type { DeliveryStreamResource, FunctionDefinition, StackDefinition } from '../resources/stack.ts';
import { CheckpointStore, type ShardCheckpoint } from './checkpoint.ts';
import { DeliveryConfigError } from './errors.ts';

/**
 * The local Firehose: a KinesisStreamAsSource delivery stream from serverless.yml, run against the
 * local Kinesis and S3. Like Firehose it reads every shard with its own GetRecords poller (shared
 * throughput, no EFO consumer), deaggregates KPL records, buffers by size and time, runs the lake
 * processor's core on them (the code the stack deploys as the stream's Lambda processor), converts
 * what it passes to Parquet with the Glue schema derived from the contract, and writes objects with
 * Firehose's key layout; records the processor refuses go to the processing-failed error prefix as
 * Firehose writes them. Checkpoints make restarts exactly-once at the object level (see checkpoint.ts).
 */

/** The processor the local delivery runs: the stream's Lambda processor must be this function. */
export const LAKE_PROCESSOR_HANDLER = 'functions/lake-processor/handler.handler';

export interface LakeDeliveryOptions {
  readonly stack: StackDefinition;
  readonly clients: Pick<AwsClients, 'kinesis' | 's3'>;
  /** Checkpoints live here, one file per delivery stream. */
  readonly dataDir: string;
  /** Logical id of the delivery stream; default: the stack's only one. */
  readonly logicalId?: string;
  /**
   * Buffering hints; default: the template's (AWS minimums for this stream are 64 MiB / 60 s). Smaller
   * values make data visible sooner locally; key layout and semantics are unchanged.
   */
  readonly buffering?: Partial<BufferingHints>;
  /** Pause between empty GetRecords calls per shard; Firehose reads each shard about once a second. */
  readonly pollIntervalMs?: number;
  /** Where a shard without a checkpoint starts. Default TRIM_HORIZON: a fresh local stream from its start. */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Awaited: a hook that throws stops the delivery as a crash would (no flush, no commit). */
  readonly onEvent?: (event: DeliveryEvent) => void | Promise<void>;
}

export type DeliveryEvent =
  | { type: 'started'; deliveryStream: string; shards: readonly string[]; checkpointReset: boolean }
  | {
      type: 'objects-written';
      shardId: string;
      reason: FlushReason | 'replay';
      keys: readonly string[];
      delivered: number;
      failed: number;
    }
  | { type: 'committed'; shardId: string; sequenceNumber: string }
  | { type: 'shard-closed'; shardId: string }
  | { type: 'retry'; shardId: string; action: string; error: unknown };

export interface DeliveryStats {
  readonly deliveryStream: string;
  readonly shards: number;
  readonly recordsRead: number;
  readonly delivered: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly objects: number;
  readonly bytesWritten: number;
  readonly millisBehindLatest: Readonly<Record<string, number>>;
}

export interface LakeDelivery {
  readonly deliveryStream: DeliveryStreamResource;
  readonly bucket: string;
  stats(): DeliveryStats;
  /** A shard's checkpoint: what of it is in the lake (empty until its first delivery). */
  checkpoint(shardId: string): Readonly<ShardCheckpoint>;
  /** Delivers what is buffered, then stops polling. */
  stop(): Promise<void>;
  /** Settles when the delivery stops; rejects with the error that stopped it. */
  readonly done: Promise<void>;
}

const GET_RECORDS_LIMIT = 10_000;
const SHARD_DISCOVERY_MS = 10_000;
const MAX_BACKOFF_MS = 5_000;

/** Finds the delivery stream in the stack and checks that the local cloud can run it. */
export function resolveDeliveryStream(stack: StackDefinition, logicalId?: string): DeliveryStreamResource {
  const streams = stack.resources.filter(
    (r): r is DeliveryStreamResource =>
      r.kind === 'firehose-delivery-stream' && (logicalId === undefined || r.logicalId === logicalId),
  );
  const [stream] = streams;
  if (stream === undefined || streams.length > 1) {
    throw new DeliveryConfigError(
      logicalId === undefined
        ? `${stack.file} declares ${streams.length} Firehose delivery streams; name one by logical id`
        : `${stack.file} has no Firehose delivery stream ${logicalId}`,
    );
  }
  if (!stack.resources.some((r) => r.kind === 'kinesis-stream' && r.name === stream.sourceStreamName)) {
    throw new DeliveryConfigError(
      `${stream.logicalId} reads ${stream.sourceStreamName}, which the stack does not declare`,
    );
  }
  if (!stack.resources.some((r) => r.kind === 's3-bucket' && r.name === stream.bucketName)) {
    throw new DeliveryConfigError(
      `${stream.logicalId} writes to ${stream.bucketName}, which the stack does not declare`,
    );
  }
  if (stream.parquetCompression === undefined || stream.catalogTable === undefined) {
    throw new DeliveryConfigError(
      `${stream.logicalId}: only Parquet record format conversion is delivered locally`,
    );
  }
  assertPrefix(stream.prefix, 'data');
  assertPrefix(stream.errorOutputPrefix, 'error');
  lakeProcessorOf(stack, stream);
  return stream;
}

/** The function the delivery stream's Lambda processor points at; it must run functions/lake-processor. */
export function lakeProcessorOf(stack: StackDefinition, stream: DeliveryStreamResource): FunctionDefinition {
  const logicalId = stream.processor?.functionLogicalId;
  if (logicalId === undefined) {
    throw new DeliveryConfigError(
      `${stream.logicalId}: no Lambda processor; the lake's contract check and partition keys come from ${LAKE_PROCESSOR_HANDLER}`,
    );
  }
  const fn = stack.functions.find((f) => f.logicalId === logicalId);
  if (fn === undefined) {
    throw new DeliveryConfigError(
      `${stream.logicalId}: its processor ${logicalId} is not a function of ${stack.file}`,
    );
  }
  if (fn.handler !== LAKE_PROCESSOR_HANDLER) {
    throw new DeliveryConfigError(
      `${stream.logicalId}: its processor runs ${fn.handler}; the local delivery runs ${LAKE_PROCESSOR_HANDLER}`,
    );
  }
  return fn;
}

export async function startLakeDelivery(options: LakeDeliveryOptions): Promise<LakeDelivery> {
  const stream = resolveDeliveryStream(options.stack, options.logicalId);
  const kinesis = options.clients.kinesis();
  const s3 = options.clients.s3();
  const summary = await kinesis.send(
    new DescribeStreamSummaryCommand({ StreamName: stream.sourceStreamName }),
  );
  const description = summary.StreamDescriptionSummary;
  const checkpoints = await CheckpointStore.open(
    join(options.dataDir, `${stream.name}.checkpoint.json`),
    stream.name,
    { arn: description?.StreamARN ?? '', createdMs: description?.StreamCreationTimestamp?.getTime() ?? 0 },
  );
  const target: DeliveryTarget = {
    deliveryStreamName: stream.name,
    deliveryStreamVersion: 1,
    prefix: stream.prefix,
    errorOutputPrefix: stream.errorOutputPrefix,
    fileExtension: stream.fileExtension,
    compression: stream.parquetCompression as ParquetCompression,
    catalog: {
      catalogId: options.stack.accountId,
      databaseName: stream.catalogTable?.databaseName ?? '',
      tableName: stream.catalogTable?.tableName ?? '',
      region: options.stack.region,
    },
  };
  const processor: RecordProcessor = {
    lambdaArn: lakeProcessorOf(options.stack, stream).arn,
    transform: transformRecords,
  };
  const runner = new DeliveryRunner(stream, kinesis, s3, checkpoints, new BatchPlanner(target, processor), {
    sizeBytes: options.buffering?.sizeBytes ?? stream.bufferSizeBytes,
    intervalMs: options.buffering?.intervalMs ?? stream.bufferIntervalSeconds * 1000,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    startingPosition: options.startingPosition ?? 'TRIM_HORIZON',
    onEvent: options.onEvent ?? (() => undefined),
  });
  await runner.start();
  return {
    deliveryStream: stream,
    bucket: stream.bucketName,
    stats: () => runner.stats(),
    checkpoint: (shardId) => runner.checkpoint(shardId),
    stop: () => runner.stop(),
    done: runner.done,
  };
}

interface RunnerSettings extends BufferingHints {
  readonly pollIntervalMs: number;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  readonly onEvent: (event: DeliveryEvent) => void | Promise<void>;
}

class DeliveryRunner {
  readonly done: Promise<void>;
  #resolveDone!: () => void;
  #rejectDone!: (error: unknown) => void;
  #stopping = false;
  #failed = false;
  readonly #wakers = new Set<() => void>();
  readonly #shards = new Map<string, Promise<void>>();
  #discovery: Promise<void> = Promise.resolve();
  /** Delivered, failed, objects and bytes continue from the checkpoint's totals (kept with --persist). */
  readonly #counters: {
    recordsRead: number;
    delivered: number;
    failed: number;
    objects: number;
    bytesWritten: number;
    failures: Record<string, number>;
    millisBehindLatest: Record<string, number>;
  };

  constructor(
    private readonly stream: DeliveryStreamResource,
    private readonly kinesis: KinesisClient,
    private readonly s3: S3Client,
    private readonly checkpoints: CheckpointStore,
    private readonly planner: BatchPlanner,
    private readonly settings: RunnerSettings,
  ) {
    const totals = checkpoints.totals();
    this.#counters = {
      recordsRead: 0,
      delivered: totals.delivered,
      failed: totals.failed,
      objects: totals.objects,
      bytesWritten: totals.bytesWritten,
      failures: { ...totals.failures },
      millisBehindLatest: {},
    };
    this.done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    // A caller that only awaits stop() must not see an unhandled rejection.
    this.done.catch(() => undefined);
  }

  async start(): Promise<void> {
    const shards = await this.#listShards();
    await this.settings.onEvent({
      type: 'started',
      deliveryStream: this.stream.name,
      shards: shards.map((s) => s.ShardId ?? ''),
      checkpointReset: this.checkpoints.reset,
    });
    this.#launch(shards);
    this.#discovery = this.#discover();
  }

  stats(): DeliveryStats {
    const c = this.#counters;
    return {
      deliveryStream: this.stream.name,
      shards: this.#shards.size,
      recordsRead: c.recordsRead,
      delivered: c.delivered,
      failed: c.failed,
      failures: { ...c.failures },
      objects: c.objects,
      bytesWritten: c.bytesWritten,
      millisBehindLatest: { ...c.millisBehindLatest },
    };
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeAll();
    await this.#discovery;
    await Promise.allSettled(this.#shards.values());
    if (!this.#failed) this.#resolveDone();
    await this.done;
  }

  #fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#stopping = true;
    this.#wakeAll();
    this.#rejectDone(error);
  }

  #launch(shards: readonly Shard[]): void {
    const known = new Set(shards.map((s) => s.ShardId));
    for (const shard of shards) {
      const id = shard.ShardId;
      if (id === undefined || this.#shards.has(id) || this.checkpoints.shard(id).closed) continue;
      // A child shard waits until its open parent is read to the end, as Firehose keeps per-key order.
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
        (p): p is string => p !== undefined && known.has(p) && this.checkpoints.shard(p).closed !== true,
      );
      if (parents.length > 0) continue;
      this.#shards.set(
        id,
        new ShardReader(id, this).run().catch((error: unknown) => this.#fail(error)),
      );
    }
  }

  async #discover(): Promise<void> {
    while (!this.#stopping) {
      await this.sleep(SHARD_DISCOVERY_MS);
      if (this.#stopping) return;
      try {
        this.#launch(await this.#listShards());
      } catch (error) {
        await this.emit({ type: 'retry', shardId: '', action: 'ListShards', error }).catch((e) =>
          this.#fail(e),
        );
      }
    }
  }

  async #listShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let token: string | undefined;
    do {
      const page = await this.kinesis.send(
        new ListShardsCommand(
          token === undefined ? { StreamName: this.stream.sourceStreamName } : { NextToken: token },
        ),
      );
      shards.push(...(page.Shards ?? []));
      token = page.NextToken;
    } while (token !== undefined);
    return shards;
  }

  // --- used by ShardReader ---------------------------------------------------------------------

  get stopping(): boolean {
    return this.#stopping;
  }

  get failedHard(): boolean {
    return this.#failed;
  }

  get hints(): BufferingHints {
    return this.settings;
  }

  get pollIntervalMs(): number {
    return this.settings.pollIntervalMs;
  }

  checkpoint(shardId: string) {
    return this.checkpoints.shard(shardId);
  }

  emit(event: DeliveryEvent): Promise<void> {
    return Promise.resolve(this.settings.onEvent(event));
  }

  read(shardId: string, records: number, behindMs: number | undefined): void {
    this.#counters.recordsRead += records;
    if (behindMs !== undefined) this.#counters.millisBehindLatest[shardId] = behindMs;
  }

  async iterator(shardId: string, after: string | undefined): Promise<string> {
    const type: ShardIteratorType =
      after === undefined ? this.settings.startingPosition : 'AFTER_SEQUENCE_NUMBER';
    const out = await this.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: this.stream.sourceStreamName,
        ShardId: shardId,
        ShardIteratorType: type,
        ...(after === undefined ? {} : { StartingSequenceNumber: after }),
      }),
    );
    if (out.ShardIterator === undefined) throw new Error(`no shard iterator for ${shardId}`);
    return out.ShardIterator;
  }

  getRecords(iterator: string): Promise<GetRecordsCommandOutput> {
    return this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: GET_RECORDS_LIMIT }));
  }

  /** One flush: pending → objects → commit. Object writes retry until they succeed or the runner stops. */
  async deliver(shardId: string, records: SourceRecord[], reason: FlushReason | 'replay'): Promise<void> {
    const last = records.at(-1);
    if (last === undefined) return;
    await this.checkpoints.begin(shardId, last.sequenceNumber);
    const batch = this.planner.plan(shardId, records, Date.now());
    let bytesWritten = 0;
    for (const object of batch.objects) {
      await this.retry(shardId, `PutObject ${object.key}`, () =>
        this.s3.send(
          new PutObjectCommand({
            Bucket: this.stream.bucketName,
            Key: object.key,
            Body: object.body,
            ContentType: object.contentType,
          }),
        ),
      );
      this.#counters.objects += 1;
      this.#counters.bytesWritten += object.body.byteLength;
      bytesWritten += object.body.byteLength;
    }
    this.#counters.delivered += batch.delivered;
    this.#counters.failed += batch.failed;
    for (const [code, count] of Object.entries(batch.failures)) {
      this.#counters.failures[code] = (this.#counters.failures[code] ?? 0) + count;
    }
    await this.emit({
      type: 'objects-written',
      shardId,
      reason,
      keys: batch.objects.map((o) => o.key),
      delivered: batch.delivered,
      failed: batch.failed,
    });
    await this.checkpoints.commit(shardId, last.sequenceNumber, {
      delivered: batch.delivered,
      failed: batch.failed,
      objects: batch.objects.length,
      bytesWritten,
      failures: batch.failures,
    });
    await this.emit({ type: 'committed', shardId, sequenceNumber: last.sequenceNumber });
  }

  async closeShard(shardId: string): Promise<void> {
    await this.checkpoints.close(shardId);
    await this.emit({ type: 'shard-closed', shardId });
    // Its children may start now.
    if (!this.#stopping) this.#launch(await this.#listShards());
  }

  async retry<T>(shardId: string, action: string, call: () => Promise<T>): Promise<T> {
    let delayMs = 100;
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (this.#failed) throw error;
        await this.emit({ type: 'retry', shardId, action, error });
        await this.sleep(delayMs, true);
        delayMs = Math.min(delayMs * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /** Sleeps until `ms` pass or stop() is called; `evenWhenStopping` keeps retries of a flush going. */
  sleep(ms: number, evenWhenStopping = false): Promise<void> {
    if (this.#failed || (this.#stopping && !evenWhenStopping)) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      if (!evenWhenStopping) this.#wakers.add(wake);
    });
  }

  #wakeAll(): void {
    for (const wake of [...this.#wakers]) wake();
  }
}

/** One shard's poll → buffer → flush loop. */
class ShardReader {
  readonly #buffer: DeliveryBuffer<SourceRecord>;

  constructor(
    private readonly shardId: string,
    private readonly runner: DeliveryRunner,
  ) {
    this.#buffer = new DeliveryBuffer(runner.hints);
  }

  async run(): Promise<void> {
    const { shardId, runner } = this;
    const start = runner.checkpoint(shardId);
    let lastRead = start.sequenceNumber;
    let iterator: string | undefined = await runner.retry(shardId, 'GetShardIterator', () =>
      runner.iterator(shardId, lastRead),
    );
    // A batch cut short by a crash is rebuilt from exactly the same records, before anything else.
    let replayUntil = start.pendingLastSequenceNumber;
    const replay: SourceRecord[] = [];

    while (iterator !== undefined && !runner.stopping) {
      let page: GetRecordsCommandOutput;
      try {
        page = await runner.getRecords(iterator);
      } catch (error) {
        if (runner.failedHard) return;
        await runner.emit({ type: 'retry', shardId, action: 'GetRecords', error });
        await runner.sleep(runner.pollIntervalMs);
        // Iterators expire after 5 minutes; resume after the last record read.
        if ((error as Error).name === 'ExpiredIteratorException') {
          iterator = await runner.retry(shardId, 'GetShardIterator', () =>
            runner.iterator(shardId, lastRead),
          );
        }
        continue;
      }
      const records = page.Records ?? [];
      runner.read(shardId, records.length, page.MillisBehindLatest);
      for (const record of records) {
        const source: SourceRecord = {
          sequenceNumber: record.SequenceNumber ?? '',
          approximateArrivalMs: record.ApproximateArrivalTimestamp?.getTime() ?? 0,
          partitionKey: record.PartitionKey ?? '',
          data: record.Data ?? new Uint8Array(),
        };
        lastRead = source.sequenceNumber;
        if (replayUntil !== undefined) {
          replay.push(source);
          if (source.sequenceNumber === replayUntil) {
            await runner.deliver(shardId, replay.splice(0), 'replay');
            replayUntil = undefined;
          }
          continue;
        }
        this.#buffer.add(source, source.data.byteLength, Date.now());
        if (this.#buffer.due(Date.now()) === 'size')
          await runner.deliver(shardId, this.#buffer.drain(), 'size');
      }
      if (this.#buffer.due(Date.now()) === 'interval') {
        await runner.deliver(shardId, this.#buffer.drain(), 'interval');
      }
      iterator = page.NextShardIterator;
      if (records.length === 0 && iterator !== undefined) {
        const untilDue = this.#buffer.msUntilDue(Date.now());
        await runner.sleep(Math.min(runner.pollIntervalMs, untilDue ?? runner.pollIntervalMs));
      }
    }
    if (runner.failedHard) return;
    if (replayUntil !== undefined) {
      // Stopped mid-replay: leave the pending range for the next start. A partial replay would name
      // its objects after a different last sequence number and duplicate rows.
      if (iterator !== undefined) return;
      // The shard ended before the pending range did (records trimmed): deliver what is left.
      if (replay.length > 0) await runner.deliver(shardId, replay.splice(0), 'replay');
    }
    if (this.#buffer.length > 0) await runner.deliver(shardId, this.#buffer.drain(), 'shutdown');
    if (iterator === undefined) await runner.closeShard(shardId);
  }
}
