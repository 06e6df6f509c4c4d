/**
 * Stream manager's operations on the agent's log: the second door to the same streams as the HTTP
 * API. Streams created through it are plain log streams; their stream manager definition (exports
 * included) is kept beside the log in `<storeRoot>/stream-manager.json`, so they and their exports
 * come back after a restart like configured ones. Configured streams (the agent's config file) are
 * readable, describable and appendable here too, but changed only in the config.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type { IoTSiteWiseClient } from '@aws-sdk/client-iotsitewise';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { TributaryError } from '../../shared/errors.ts';
import {
  type BandwidthShare,
  type ExportDefinition,
  type ExportStatus,
  type KinesisApi,
  KinesisExporter,
  partitionKeyOf,
  type SharedBandwidth,
} from '../export/index.ts';
import {
  isValidStreamName,
  type LogStore,
  RecordTooLargeError,
  StorageFullError,
  type StreamDefinition,
  StreamFullError,
  StreamNotFoundError,
} from '../log/index.ts';
import { FsDir } from '../log/io.ts';
import {
  InvalidRequestError,
  MessageStoreReadError,
  NotEnoughMessagesError,
  PayloadTooLargeError,
  ResponseTooLargeError,
  SmFailureError,
  SmStreamExistsError,
  SmStreamFullError,
  SmStreamNotFoundError,
  StreamManagerError,
  UpdateFailedError,
  UpdateNotAllowedError,
} from './errors.ts';
import { type KinesisConfig, type MessageStreamDefinition, refuseUnsupportedExports } from './model.ts';
import { S3TaskExecutor, s3TaskStateDir } from './s3-task.ts';
import { SiteWiseExporter } from './sitewise.ts';

/** The registry of streams created through stream manager's door. */
export const REGISTRY_FILE = 'stream-manager.json';
const REGISTRY_VERSION = 1;
/** The exporter's dead-letter stream of a stream manager stream: `<name>.dead-letter` (the exporter's default). */
const DEAD_LETTER_SUFFIX = '.dead-letter';
/** Stream manager's defaults (MessageStreamDefinition in the SDKs). */
export const SM_DEFAULT_MAX_SIZE = 268_435_456;
export const SM_DEFAULT_SEGMENT_SIZE = 16_777_216;
/** Stream manager's Kinesis batch defaults: 500 messages, no interval. */
const KINESIS_DEFAULT_BATCH_SIZE = 500;
/**
 * Stream manager's export priority: 1 is the most urgent, and an export without one has "the lowest
 * priority" (the SDKs' KinesisConfig); the exporter's (and the shared bandwidth's) 10 is the most urgent.
 */
const exporterPriority = (p: number | null | undefined) => 11 - (p ?? 10);
/** Bytes of messages one ReadMessages answer carries at most (the SDK would take up to 1 GiB). */
export const MAX_READ_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface Message {
  readonly streamName: string;
  readonly sequenceNumber: number;
  readonly ingestTime: number;
  readonly payload: Uint8Array;
}

export interface ReadOptions {
  readonly desiredStartSequenceNumber?: number | null | undefined;
  readonly minMessageCount?: number | null | undefined;
  readonly maxMessageCount?: number | null | undefined;
  readonly readTimeoutMillis?: number | null | undefined;
}

/** MessageStreamInfo.exportStatuses[] of the SDKs' model, every field of it. */
export interface ExportStatusWire {
  exportConfigIdentifier: string;
  lastExportedSequenceNumber: number;
  /** The latest export attempt (a request sent), ms since the epoch; absent before the first. */
  lastExportTime?: number;
  errorMessage?: string;
  /** Bytes the export delivered since the agent started: accepted message payloads (S3: file bytes uploaded). */
  exportedBytesFromStream: number;
  /** Messages the export delivered since the agent started (resends counted once per acceptance). */
  exportedMessagesCount: number;
}

export interface MessageStreamInfo {
  definition: Record<string, unknown>;
  storageStatus: { oldestSequenceNumber: number; newestSequenceNumber: number; totalBytes: number };
  exportStatuses?: ExportStatusWire[];
}

/** What the service needs of the agent: its configured streams and their contract. */
export interface StreamManagerHost {
  readonly store: LogStore;
  readonly storeRoot: string;
  /** Streams of the agent's config; undefined for others. */
  configured(name: string): StreamDefinition | undefined;
  /** Validates a contract record (configured streams) and appends it. */
  appendRecord(name: string, record: unknown): Promise<{ sequence: number }>;
  /** The export status of a configured stream, when it is exported. */
  configuredExport(name: string): ExportStatus | undefined;
  /** The S3 client for S3 export tasks, made on first use. */
  s3(): Promise<S3Client>;
  /** The IoT SiteWise client for SiteWise exports, made on first use. */
  sitewise(): Promise<IoTSiteWiseClient>;
  /** The Kinesis client for stream manager's exports, made on first use. */
  kinesis(): Promise<KinesisApi | KinesisClient>;
  readonly exporterLimits: { maxBufferedBytes: number; maxInFlightRequests: number };
  /** The agent's bandwidth cap (exporter.maxBandwidthBytesPerSecond), shared with every other exporter. */
  readonly bandwidth: SharedBandwidth | undefined;
  /** Dead-letter streams of the config's exports (the agent's own streams, not the user's). */
  deadLetterStreams(): readonly string[];
  /** Where notices go (an export that could not start). */
  log(line: string): void;
  /** The Kinesis exports' clock (batch intervals, pacing); Date.now unless a test drives it. */
  readonly clock?: () => number;
}

interface RunningExport {
  readonly identifier: string;
  readonly exporter: KinesisExporter;
  readonly logStream: string;
}

interface ExportTotals {
  readonly messages: number;
  readonly bytes: number;
  readonly lastExportTime: number | undefined;
}

interface Registry {
  version: number;
  streams: Record<string, MessageStreamDefinition>;
}

/** The checkpoint of a Kinesis export config: its identifier may hold spaces and commas, a checkpoint name not. */
function checkpointNameOf(identifier: string): string {
  return `sm-kinesis-${createHash('sha256').update(identifier).digest('hex').slice(0, 32)}`;
}

/** The log definition a stream manager definition asks for. */
export function logDefinitionOf(d: MessageStreamDefinition) {
  const maxSize = d.maxSize ?? SM_DEFAULT_MAX_SIZE;
  return {
    name: d.name,
    maxSize,
    // Stream manager takes a segment larger than the stream as the whole stream; the log needs it within.
    segmentSize: Math.min(d.streamSegmentSize ?? SM_DEFAULT_SEGMENT_SIZE, maxSize),
    ...(d.timeToLiveMillis == null ? {} : { timeToLiveMillis: d.timeToLiveMillis }),
    strategyOnFull: d.strategyOnFull === 1 ? ('OverwriteOldestData' as const) : ('RejectNewData' as const),
    persistence: d.persistence === 1 ? ('Memory' as const) : ('File' as const),
    flushOnWrite: d.flushOnWrite ?? false,
  };
}

/** A configured stream's definition as stream manager would describe it. */
function wireDefinitionOf(d: StreamDefinition): Record<string, unknown> {
  return {
    name: d.name,
    maxSize: d.maxSize,
    streamSegmentSize: d.segmentSize,
    ...(d.timeToLiveMillis === undefined ? {} : { timeToLiveMillis: d.timeToLiveMillis }),
    strategyOnFull: d.strategyOnFull === 'OverwriteOldestData' ? 1 : 0,
    persistence: d.persistence === 'Memory' ? 1 : 0,
    flushOnWrite: d.flushOnWrite,
  };
}

/** Drops null/undefined members (the SDKs omit them too) so a stored definition reads back as sent. */
function compact<T>(value: T): T {
  if (Array.isArray(value)) return value.map(compact) as T;
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v != null) out[k] = compact(v);
  return out as T;
}

function exportStatusOf(identifier: string, s: ExportStatus): ExportStatusWire {
  return {
    exportConfigIdentifier: identifier,
    // A restarted export (update, agent restart) has exported nothing yet but its checkpoint says where it is.
    lastExportedSequenceNumber: s.lastExportedSequence ?? s.committedSequence ?? -1,
    ...(s.lastRequestAt === undefined ? {} : { lastExportTime: s.lastRequestAt }),
    ...(s.lastError === undefined ? {} : { errorMessage: `${s.lastError.code}: ${s.lastError.message}` }),
    exportedBytesFromStream: s.counters.bytesAccepted,
    exportedMessagesCount: s.counters.recordsAccepted,
  };
}

export class StreamManagerService {
  readonly #host: StreamManagerHost;
  readonly #registry: Registry;
  readonly #exports = new Map<string, RunningExport[]>();
  readonly #s3Tasks = new Map<string, S3TaskExecutor[]>();
  readonly #siteWise = new Map<string, SiteWiseExporter[]>();
  /** Per stream and export identifier: what earlier runs delivered (since the agent started). */
  readonly #carried = new Map<string, Map<string, ExportTotals>>();
  /** Creates, updates and deletes run one at a time (they touch the registry file). */
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;

  private constructor(host: StreamManagerHost, registry: Registry) {
    this.#host = host;
    this.#registry = registry;
  }

  /** Loads the registry and starts the exports of the streams it holds. */
  static async start(host: StreamManagerHost): Promise<StreamManagerService> {
    let registry: Registry = { version: REGISTRY_VERSION, streams: {} };
    try {
      const text = await readFile(`${host.storeRoot}/${REGISTRY_FILE}`, 'utf8');
      const parsed = JSON.parse(text) as Registry;
      if (parsed.version === REGISTRY_VERSION && typeof parsed.streams === 'object') registry = parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const service = new StreamManagerService(host, registry);
    const existing = new Set(host.store.listStreams());
    for (const [name, definition] of Object.entries(registry.streams)) {
      // A crash between the stream's deletion and the registry's write leaves a name to forget.
      if (!existing.has(name)) delete registry.streams[name];
      else await service.#startExports(definition);
    }
    return service;
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #saveRegistry(): Promise<void> {
    // Temp file, fsync, rename, directory fsync: a crash leaves the old or the new registry.
    try {
      await new FsDir(this.#host.storeRoot).replace(
        REGISTRY_FILE,
        Buffer.from(`${JSON.stringify(this.#registry, null, 2)}\n`),
      );
    } catch (error) {
      throw new SmFailureError(
        `${REGISTRY_FILE} could not be written: ${(error as Error).message}`,
        error,
        true,
      );
    }
  }

  /** Refuses exports the agent does not run, with what to use instead. */
  #checkExports(d: MessageStreamDefinition): void {
    const e = d.exportDefinition;
    if (e == null) return;
    refuseUnsupportedExports(e);
    const seen = new Set<string>();
    const unique = (key: string, list: readonly { identifier: string }[]) =>
      list.forEach((k, i) => {
        if (seen.has(k.identifier)) {
          throw new InvalidRequestError(
            `definition.exportDefinition.${key}[${i}].identifier`,
            `${JSON.stringify(k.identifier)} is used twice`,
          );
        }
        seen.add(k.identifier);
      });
    unique('kinesis', e.kinesis ?? []);
    unique('s3TaskExecutor', e.s3TaskExecutor ?? []);
    unique('IotSitewise', e.IotSitewise ?? []);
    const deadLetter = `${d.name}${DEAD_LETTER_SUFFIX}`;
    if ((e.kinesis?.length ?? 0) > 0 && !isValidStreamName(deadLetter)) {
      throw new InvalidRequestError(
        'definition.name',
        `is too long for a Kinesis export: its dead-letter stream ${JSON.stringify(deadLetter)} would pass 255 characters`,
      );
    }
  }

  async #startExports(d: MessageStreamDefinition): Promise<void> {
    const tasks: S3TaskExecutor[] = [];
    for (const config of d.exportDefinition?.s3TaskExecutor ?? []) {
      if (config.disabled === true) continue;
      const executor = new S3TaskExecutor(
        d.name,
        config,
        this.#host.store,
        () => this.#host.s3(),
        this.#host.storeRoot,
        (line) => this.#host.log(line),
        this.#shareOf(config.priority),
      );
      await executor.start();
      tasks.push(executor);
    }
    this.#s3Tasks.set(d.name, tasks);
    const siteWise: SiteWiseExporter[] = [];
    for (const config of d.exportDefinition?.IotSitewise ?? []) {
      if (config.disabled === true) continue;
      const exporter = new SiteWiseExporter(
        d.name,
        config,
        this.#host.store,
        () => this.#host.sitewise(),
        (line) => this.#host.log(line),
        this.#shareOf(config.priority),
      );
      await exporter.start();
      siteWise.push(exporter);
    }
    this.#siteWise.set(d.name, siteWise);
    const running: RunningExport[] = [];
    for (const k of d.exportDefinition?.kinesis ?? []) {
      if (k.disabled === true) continue;
      try {
        running.push(await this.#startKinesis(d.name, k));
      } catch (error) {
        this.#host.log(
          `stream manager: export ${k.identifier} of ${d.name} not started: ${(error as Error).message}`,
        );
      }
    }
    this.#exports.set(d.name, running);
  }

  /** An export's part of the agent's bandwidth cap, at its priority; undefined without a cap. */
  #shareOf(priority: number | null | undefined): BandwidthShare | undefined {
    const bandwidth = this.#host.bandwidth;
    return bandwidth === undefined ? undefined : { bandwidth, priority: exporterPriority(priority) };
  }

  async #startKinesis(logStream: string, k: KinesisConfig): Promise<RunningExport> {
    const definition: Partial<ExportDefinition> & { logStream: string; kinesisStreamName: string } = {
      logStream,
      kinesisStreamName: k.kinesisStreamName,
      batchSize: k.batchSize ?? KINESIS_DEFAULT_BATCH_SIZE,
      batchIntervalMillis: k.batchIntervalMillis ?? 0,
      priority: exporterPriority(k.priority),
      ...(k.startSequenceNumber == null ? {} : { startSequence: k.startSequenceNumber }),
      checkpointName: checkpointNameOf(k.identifier),
    };
    const exporter = await KinesisExporter.start({
      store: this.#host.store,
      kinesis: await this.#host.kinesis(),
      exports: [definition],
      // Stream manager's key is random per message; a JSON message naming its partition_key keeps it.
      route: (payload) =>
        partitionKeyOf(payload) === undefined ? { partitionKey: randomUUID() } : undefined,
      ...this.#host.exporterLimits,
      ...(this.#host.bandwidth === undefined ? {} : { bandwidth: this.#host.bandwidth }),
      ...(this.#host.clock === undefined ? {} : { clock: this.#host.clock }),
    });
    return { identifier: k.identifier, exporter, logStream };
  }

  /** Stops the exports of `name`; their totals are kept for the next run unless the stream goes (`forget`). */
  async #stopExports(name: string, forget = false): Promise<void> {
    const running = this.#exports.get(name) ?? [];
    const tasks = this.#s3Tasks.get(name) ?? [];
    const siteWise = this.#siteWise.get(name) ?? [];
    await Promise.all([
      ...running.map((r) => r.exporter.stop()),
      ...tasks.map((t) => t.stop()),
      ...siteWise.map((w) => w.stop()),
    ]);
    const totals = this.#withCarried(name, this.#liveStatuses(name));
    this.#exports.delete(name);
    this.#s3Tasks.delete(name);
    this.#siteWise.delete(name);
    if (forget) {
      this.#carried.delete(name);
      return;
    }
    const carried = this.#carried.get(name) ?? new Map<string, ExportTotals>();
    for (const s of totals) {
      carried.set(s.exportConfigIdentifier, {
        messages: s.exportedMessagesCount,
        bytes: s.exportedBytesFromStream,
        lastExportTime: s.lastExportTime,
      });
    }
    this.#carried.set(name, carried);
  }

  /** The statuses of the exports of `name` running now (or just stopped), counting since their start. */
  #liveStatuses(name: string): ExportStatusWire[] {
    const statuses: ExportStatusWire[] = [];
    for (const r of this.#exports.get(name) ?? []) {
      statuses.push(exportStatusOf(r.identifier, r.exporter.statusOf(r.logStream)));
    }
    for (const t of this.#s3Tasks.get(name) ?? []) {
      const s = t.status();
      statuses.push(progressStatusOf(s, s.bytesUploaded, s.tasksDone));
    }
    for (const w of this.#siteWise.get(name) ?? []) {
      const s = w.status();
      statuses.push(progressStatusOf(s, s.bytesAccepted, s.entriesAccepted));
    }
    return statuses;
  }

  /** Adds what earlier runs of the same export identifiers delivered (an update restarts the exports). */
  #withCarried(name: string, statuses: ExportStatusWire[]): ExportStatusWire[] {
    const carried = this.#carried.get(name);
    if (carried === undefined) return statuses;
    return statuses.map((s) => {
      const c = carried.get(s.exportConfigIdentifier);
      if (c === undefined) return s;
      const last = s.lastExportTime ?? c.lastExportTime;
      return {
        ...s,
        ...(last === undefined ? {} : { lastExportTime: last }),
        exportedBytesFromStream: s.exportedBytesFromStream + c.bytes,
        exportedMessagesCount: s.exportedMessagesCount + c.messages,
      };
    });
  }

  /** Whether `name` was created through this door (and still exists). */
  has(name: string): boolean {
    return Object.hasOwn(this.#registry.streams, name);
  }

  #assertRunning(): void {
    if (this.#stopped) throw new SmFailureError('the agent is stopping', undefined, true);
  }

  create(d: MessageStreamDefinition): Promise<void> {
    return this.#serial(async () => {
      this.#assertRunning();
      this.#checkExports(d);
      if (this.#host.store.listStreams().includes(d.name)) throw new SmStreamExistsError(d.name);
      await this.#mapLogErrors(() => this.#host.store.createStream(logDefinitionOf(d)));
      const stored = compact(d);
      this.#registry.streams[d.name] = stored;
      try {
        await this.#saveRegistry();
      } catch (error) {
        // Unrecorded, the stream would come back after a restart without its definition or exports.
        delete this.#registry.streams[d.name];
        await this.#host.store.deleteStream(d.name).catch((undo: unknown) => {
          this.#host.log(
            `stream manager: ${d.name} created in the log but not in ${REGISTRY_FILE}, and not deleted: ${String(undo)}`,
          );
        });
        throw error;
      }
      await this.#startExports(stored);
    });
  }

  update(d: MessageStreamDefinition): Promise<void> {
    return this.#serial(async () => {
      this.#assertRunning();
      if (!this.#host.store.listStreams().includes(d.name)) throw new SmStreamNotFoundError(d.name);
      if (this.#host.configured(d.name) !== undefined) {
        throw new UpdateNotAllowedError(
          'definition.name',
          `${JSON.stringify(d.name)} is defined in the agent's config file; change it there`,
        );
      }
      const current = this.#host.store.describeStream(d.name).definition;
      const next = logDefinitionOf(d);
      if (current.persistence !== next.persistence) {
        throw new UpdateNotAllowedError(
          'definition.persistence',
          `cannot change from ${current.persistence} to ${next.persistence}`,
        );
      }
      this.#checkExports(d);
      await this.#stopExports(d.name);
      try {
        await this.#host.store.updateStream({ ...current, ...next, maxRecordSize: undefined });
      } catch (error) {
        await this.#startExports(this.#registry.streams[d.name] ?? d);
        if (error instanceof TributaryError && error.code === 'CONFIG_INVALID') {
          throw new InvalidRequestError('definition', error.message);
        }
        throw new UpdateFailedError(
          `stream ${JSON.stringify(d.name)} was not updated: ${(error as Error).message}`,
          error,
        );
      }
      const previous = this.#registry.streams[d.name];
      const stored = compact(d);
      this.#registry.streams[d.name] = stored;
      try {
        await this.#saveRegistry();
      } catch (error) {
        // The stream stays as it was: the log's definition, the registry's entry and the old exports.
        if (previous === undefined) delete this.#registry.streams[d.name];
        else this.#registry.streams[d.name] = previous;
        await this.#host.store.updateStream(current).catch((undo: unknown) => {
          this.#host.log(
            `stream manager: ${d.name} updated in the log but not in ${REGISTRY_FILE}, and not reverted: ${String(undo)}`,
          );
        });
        if (previous !== undefined) await this.#startExports(previous);
        throw error;
      }
      await this.#startExports(stored);
    });
  }

  delete(name: string): Promise<void> {
    return this.#serial(async () => {
      this.#assertRunning();
      if (!this.#host.store.listStreams().includes(name)) throw new SmStreamNotFoundError(name);
      if (this.#host.configured(name) !== undefined) {
        throw new InvalidRequestError(
          'name',
          `${JSON.stringify(name)} is defined in the agent's config file; remove it there`,
        );
      }
      const uploads = this.#s3Tasks.get(name) ?? [];
      await this.#stopExports(name, true);
      // What the stream's exports kept goes with it: the exporter's dead-letter stream (before the
      // stream: a crash in between recreates it at the next start rather than leaving it orphaned and
      // listed as a user stream) and the S3 tasks' uploads in progress (aborted in S3 too).
      const deadLetter = this.#ownDeadLetter(name);
      if (deadLetter !== undefined) await this.#host.store.deleteStream(deadLetter);
      await Promise.all(uploads.map((task) => task.abandon()));
      await rm(s3TaskStateDir(this.#host.storeRoot, name), { recursive: true, force: true });
      await this.#host.store.deleteStream(name);
      delete this.#registry.streams[name];
      await this.#saveRegistry();
    });
  }

  /**
   * `<name>.dead-letter` when it is the exporter's for `name`: present, and neither created through
   * this door nor the config's (a stream or a config export's dead-letter stream).
   */
  #ownDeadLetter(name: string): string | undefined {
    const deadLetter = `${name}${DEAD_LETTER_SUFFIX}`;
    if (!this.#host.store.listStreams().includes(deadLetter)) return undefined;
    if (this.has(deadLetter) || this.#host.configured(deadLetter) !== undefined) return undefined;
    if (this.#host.deadLetterStreams().includes(deadLetter)) return undefined;
    return deadLetter;
  }

  /**
   * The user's streams, as stream manager lists them: the agent's dead-letter streams (of the
   * config's exports, and `<stream>.dead-letter` beside a stream) are left out unless the config or
   * this door created them under that name. They stay readable and describable by name.
   */
  list(): string[] {
    this.#assertRunning();
    const all = this.#host.store.listStreams();
    const present = new Set(all);
    const deadLetters = new Set(this.#host.deadLetterStreams());
    return all.filter((name) => {
      if (this.has(name) || this.#host.configured(name) !== undefined) return true;
      if (deadLetters.has(name)) return false;
      return !(name.endsWith(DEAD_LETTER_SUFFIX) && present.has(name.slice(0, -DEAD_LETTER_SUFFIX.length)));
    });
  }

  describe(name: string): MessageStreamInfo {
    this.#assertRunning();
    let description: ReturnType<LogStore['describeStream']>;
    try {
      description = this.#host.store.describeStream(name);
    } catch (error) {
      if (error instanceof StreamNotFoundError) throw new SmStreamNotFoundError(name);
      throw error;
    }
    const registered = this.#registry.streams[name];
    const definition = {
      ...wireDefinitionOf(description.definition),
      ...(registered?.exportDefinition == null ? {} : { exportDefinition: registered.exportDefinition }),
    };
    const statuses = this.#withCarried(name, this.#liveStatuses(name));
    const configured = this.#host.configuredExport(name);
    if (configured !== undefined) {
      statuses.push(exportStatusOf(`kinesis.${configured.kinesisStreamName}`, configured));
    }
    return {
      definition,
      storageStatus: {
        oldestSequenceNumber: description.firstSequence,
        newestSequenceNumber: description.nextSequence - 1,
        totalBytes: description.bytes,
      },
      ...(statuses.length === 0 ? {} : { exportStatuses: statuses }),
    };
  }

  async append(name: string, payload: Uint8Array): Promise<number> {
    this.#assertRunning();
    const configured = this.#host.configured(name);
    if (configured !== undefined) {
      // The config's streams carry the record contract: the message must be one contract record.
      let record: unknown;
      try {
        record = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
      } catch (error) {
        throw new InvalidRequestError(
          'payload',
          `is not a JSON record, which stream ${JSON.stringify(name)} (from the agent's config) requires: ${(error as Error).message}`,
        );
      }
      return this.#mapLogErrors(async () => (await this.#host.appendRecord(name, record)).sequence);
    }
    return this.#mapLogErrors(async () => (await this.#host.store.append(name, payload)).sequence);
  }

  /**
   * Stream manager's read: from the desired sequence (or the oldest kept, when that is gone), at
   * least `min` and at most `max` messages, waiting up to the timeout for `min` to be there.
   */
  async read(name: string, options: ReadOptions, signal: AbortSignal): Promise<Message[]> {
    this.#assertRunning();
    const min = options.minMessageCount ?? 1;
    const max = options.maxMessageCount ?? Math.max(min, 1);
    if (min > max) {
      throw new InvalidRequestError(
        'readMessagesOptions.minMessageCount',
        `must not exceed maxMessageCount (${min} > ${max})`,
      );
    }
    const desired = options.desiredStartSequenceNumber ?? 0;
    const timeout = options.readTimeoutMillis ?? 0;
    const store = this.#host.store;
    const deadline = Date.now() + timeout;
    for (;;) {
      let stats: ReturnType<LogStore['describeStream']>;
      try {
        stats = store.describeStream(name);
      } catch (error) {
        if (error instanceof StreamNotFoundError) throw new SmStreamNotFoundError(name);
        throw error;
      }
      const from = Math.max(desired, stats.firstSequence);
      const available = stats.nextSequence - from;
      if (available >= min) {
        const messages = await this.#readRange(name, from, Math.min(max, available));
        if (messages.length < min) {
          throw new ResponseTooLargeError(
            `${min} messages from sequence ${from} of ${JSON.stringify(name)} exceed the ${MAX_READ_RESPONSE_BYTES}-byte answer limit; ask for fewer`,
          );
        }
        return messages;
      }
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) {
        throw new NotEnoughMessagesError(
          `stream ${JSON.stringify(name)} has ${Math.max(0, available)} messages from sequence ${from} (newest ${stats.nextSequence - 1}), fewer than minMessageCount ${min}${timeout > 0 ? ` after waiting ${timeout} ms` : ''}`,
        );
      }
      await this.#waitForSequence(name, from + min - 1, left, signal);
    }
  }

  async #readRange(name: string, from: number, count: number): Promise<Message[]> {
    const out: Message[] = [];
    let next = from;
    let bytes = 0;
    try {
      // Messages while they fit the answer limit (the first always: a message is at most 1 MiB).
      reading: while (out.length < count) {
        const batch = await this.#host.store.read(name, {
          fromSequence: next,
          maxRecords: Math.min(1000, count - out.length),
          maxBytes: Math.max(1, MAX_READ_RESPONSE_BYTES - bytes),
        });
        const last = batch.at(-1);
        if (last === undefined) break;
        for (const r of batch) {
          if (out.length > 0 && bytes + r.payload.length > MAX_READ_RESPONSE_BYTES) break reading;
          bytes += r.payload.length;
          out.push({
            streamName: name,
            sequenceNumber: r.sequence,
            ingestTime: r.timestamp,
            payload: r.payload,
          });
        }
        next = last.sequence + 1;
      }
    } catch (error) {
      if (error instanceof StreamManagerError) throw error;
      if (error instanceof StreamNotFoundError) throw new SmStreamNotFoundError(name);
      throw new MessageStoreReadError(
        `reading ${JSON.stringify(name)} failed: ${(error as Error).message}`,
        error,
      );
    }
    return out;
  }

  async #waitForSequence(name: string, sequence: number, millis: number, signal: AbortSignal): Promise<void> {
    const wait = new AbortController();
    const timer = setTimeout(() => wait.abort(), millis);
    const onAbort = () => wait.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#host.store.waitFor(name, sequence, wait.signal);
    } catch (error) {
      if (error instanceof StreamNotFoundError) throw new SmStreamNotFoundError(name);
      // Aborted by the timer or the connection: the loop answers with what there is.
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  async #mapLogErrors<T>(task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (error) {
      if (error instanceof StreamManagerError) throw error;
      if (error instanceof StreamNotFoundError) throw new SmStreamNotFoundError(error.stream);
      if (error instanceof StreamFullError) throw new SmStreamFullError(error.message, error);
      if (error instanceof RecordTooLargeError) throw new PayloadTooLargeError(error.message);
      if (error instanceof StorageFullError) throw new SmFailureError(error.message, error, true);
      if (error instanceof TributaryError) {
        if (error.code === 'RECORD_TOO_LARGE') throw new PayloadTooLargeError(error.message);
        if (error.code.startsWith('RECORD_')) {
          const field = (error as TributaryError & { path?: unknown }).path;
          throw new InvalidRequestError(
            typeof field === 'string' && field !== '' ? `payload.${field}` : 'payload',
            `breaks the record contract: ${error.message}`,
          );
        }
        if (error.code === 'CONFIG_INVALID') throw new InvalidRequestError('definition', error.message);
        throw new SmFailureError(error.message, error, error.retryable);
      }
      throw error;
    }
  }

  /** Stops every export (final checkpoints); the streams stay in the log. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#queue;
    await Promise.all([...this.#exports.keys()].map((name) => this.#stopExports(name)));
  }
}

/** An S3 or SiteWise export's status as Describe reports it: what it delivered, counted its own way. */
function progressStatusOf(
  s: {
    readonly identifier: string;
    readonly committed: number | undefined;
    readonly lastAttemptAt: number | undefined;
    readonly lastError: string | undefined;
  },
  exportedBytesFromStream: number,
  exportedMessagesCount: number,
): ExportStatusWire {
  return {
    exportConfigIdentifier: s.identifier,
    lastExportedSequenceNumber: s.committed ?? -1,
    ...(s.lastAttemptAt === undefined ? {} : { lastExportTime: s.lastAttemptAt }),
    ...(s.lastError === undefined ? {} : { errorMessage: s.lastError }),
    exportedBytesFromStream,
    exportedMessagesCount,
  };
}
