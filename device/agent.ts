/**
 * The device agent: opens the durable log, makes its streams match the config, exports the streams
 * that have an `export` to Kinesis, and validates every record against the contract before it is
 * appended. Signal handling lives in the CLI; this class is also the API for code on the device.
 */
import { join } from 'node:path';
import type { IoTSiteWiseClient } from '@aws-sdk/client-iotsitewise';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AwsClients, AwsCredentialsProvider } from '../shared/aws/clients.ts';
import { createAwsJsonClient } from '../shared/aws/json-client.ts';
import { encodeRecord, type RecordType } from '../shared/contract/index.ts';
import { TributaryError } from '../shared/errors.ts';
import type { AgentConfig, IotCredentialsConfig } from './config.ts';
import {
  AgentStoppedError,
  BatchRecordError,
  ConfigFileError,
  MAX_REFUSED_RECORDS,
  RecordTypeNotAcceptedError,
  type RefusedRecord,
} from './errors.ts';
import {
  type ExportStatus,
  httpKinesisApi,
  KINESIS_TARGET,
  type KinesisApi,
  KinesisExporter,
  SharedBandwidth,
} from './export/index.ts';
import type { MqttStatus, StatusPublisher } from './iot/mqtt.ts';
import {
  type LogRecord,
  LogStore,
  type ReadOptions,
  StorageFullError,
  type StreamDefinition,
  StreamNotFoundError,
  type StreamStats,
} from './log/index.ts';
import { StreamManagerService } from './sm/service.ts';
import type { SourceTailer, TailSourceStatus } from './tail/tailer.ts';

export interface AgentOptions {
  /** AWS clients to use instead of building them from `config.aws` (embedding, tests). Not destroyed by stop(). */
  readonly clients?: AwsClients;
  /** Where the agent's own notices go (MQTT connection changes, publish failures); the CLI's log. */
  readonly log?: (line: string) => void;
}

export interface StreamStatus {
  readonly name: string;
  readonly definition: StreamDefinition;
  readonly log: StreamStats;
  /** Undefined for streams that are not exported. */
  readonly export: ExportStatus | undefined;
  /** What appends may carry (`streams[].recordTypes`); absent for streams the config does not list. */
  readonly recordTypes?: readonly RecordType[];
}

export interface AgentStatus {
  readonly deviceId: string;
  readonly state: 'running' | 'stopping' | 'stopped';
  /** ms since the epoch */
  readonly startedAt: number;
  readonly streams: readonly StreamStatus[];
  /** The MQTT status publisher's connection and counters; undefined without `iot.mqtt`. */
  readonly mqtt?: MqttStatus;
  /** One per configured source (device/README.md "Tailing files"); absent without sources. */
  readonly tail?: readonly TailSourceStatus[];
}

export interface StopOptions {
  /** Wait up to this long for every exported stream's backlog to reach Kinesis; default the config's. */
  readonly drainTimeoutMillis?: number;
}

export interface StopResult {
  /** True when every exported stream was fully exported (always true without a drain and backlog). */
  readonly drained: boolean;
  /** Records still waiting per exported stream; they stay in the log for the next start. */
  readonly backlog: Readonly<Record<string, number>>;
}

export interface FlushResult {
  /** True when every exported stream reached Kinesis up to the end its log had at the call. */
  readonly drained: boolean;
  /** Records still waiting per exported stream. */
  readonly backlog: Readonly<Record<string, number>>;
}

/** Static credentials the local emulators accept; never used against AWS. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

async function credentialsFor(config: AgentConfig): Promise<AwsCredentialsProvider> {
  const { endpoint, credentials } = config.aws;
  if (endpoint !== undefined) return async () => LOCAL_CREDENTIALS;
  if (credentials.source === 'default-chain') {
    // Env, profile, SSO, web identity, ECS/EC2 metadata; memoized and refreshed before expiry.
    const { defaultProvider } = await import('./credential-chain.ts');
    return defaultProvider();
  }
  // Loaded only here so devices using the default chain never pay for the module.
  const { createIotCredentialsProvider } = await import('./iot/credentials.ts');
  const iot: IotCredentialsConfig = credentials;
  return createIotCredentialsProvider({
    credentialsEndpoint: iot.credentialsEndpoint,
    thingName: iot.thingName,
    roleAlias: iot.roleAlias,
    certificateFile: iot.certificateFile,
    privateKeyFile: iot.privateKeyFile,
    ...(iot.caFile === undefined ? {} : { caFile: iot.caFile }),
    refreshBeforeExpirySeconds: iot.refreshBeforeExpirySeconds,
  });
}

/** The agent's own Kinesis connection: the slim signed HTTP client, not the SDK (see export/kinesis.ts). */
async function makeKinesis(config: AgentConfig): Promise<{ api: KinesisApi; destroy(): void }> {
  const client = createAwsJsonClient({
    service: 'kinesis',
    targetPrefix: KINESIS_TARGET,
    region: config.aws.region,
    ...(config.aws.endpoint === undefined ? {} : { endpoint: config.aws.endpoint }),
    credentials: await credentialsFor(config),
    maxSockets: config.exporter.maxInFlightRequests * config.streams.length,
  });
  return { api: httpKinesisApi(client), destroy: () => client.destroy() };
}

function sameDefinition(a: StreamDefinition, b: StreamDefinition): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof StreamDefinition>;
  return [...keys].every((key) => a[key] === b[key]);
}

export class Agent {
  readonly config: AgentConfig;
  readonly #store: LogStore;
  readonly #exporter: KinesisExporter | undefined;
  /** Frees the agent's own Kinesis connection; undefined when the caller brought the clients. */
  readonly #destroyKinesis: (() => void) | undefined;
  readonly #configured: Map<string, StreamDefinition>;
  readonly #recordTypes: Map<string, readonly RecordType[]>;
  readonly #startedAt = Date.now();
  #state: AgentStatus['state'] = 'running';
  #stopping: Promise<StopResult> | undefined;
  #mqtt: StatusPublisher | undefined;
  #streamManager: StreamManagerService | undefined;
  readonly #tailers: SourceTailer[] = [];
  /** The Kinesis connection of stream manager's exports, made when the first one starts. */
  #smKinesis: Promise<{ api: KinesisApi; destroy(): void }> | undefined;
  #smS3: Promise<S3Client> | undefined;
  #smSiteWise: Promise<IoTSiteWiseClient> | undefined;

  private constructor(
    config: AgentConfig,
    store: LogStore,
    exporter: KinesisExporter | undefined,
    destroyKinesis: (() => void) | undefined,
  ) {
    this.config = config;
    this.#store = store;
    this.#exporter = exporter;
    this.#destroyKinesis = destroyKinesis;
    this.#configured = new Map(config.streams.map((s) => [s.definition.name, s.definition]));
    this.#recordTypes = new Map(config.streams.map((s) => [s.definition.name, s.recordTypes]));
  }

  /**
   * Opens the store, creates or updates the configured streams and starts exporting. Kinesis need not
   * be reachable: the exporter backs off until it is. Streams in the store that the config no longer
   * names are kept (readable, not appendable, not exported).
   */
  static async start(config: AgentConfig, options: AgentOptions = {}): Promise<Agent> {
    const log = options.log ?? (() => {});
    const store = await LogStore.open(config.storeRoot, {
      onBackgroundError: (error) =>
        log(`log store: ${error instanceof Error ? error.message : String(error)}`),
    });
    let own: { api: KinesisApi; destroy(): void } | undefined;
    try {
      const existing = new Set(store.listStreams());
      for (const [index, { definition }] of config.streams.entries()) {
        if (!existing.has(definition.name)) await store.createStream(definition);
        else {
          const stored = store.describeStream(definition.name).definition;
          if (stored.persistence !== definition.persistence) {
            throw new ConfigFileError(
              config.file ?? '<config>',
              `streams[${index}].persistence`,
              definition.persistence,
              `cannot change from ${stored.persistence} for an existing stream`,
            );
          }
          if (!sameDefinition(stored, definition)) {
            try {
              await store.updateStream(definition);
            } catch (error) {
              // The new definition applies in this process; stream.json follows once there is room.
              if (!(error instanceof StorageFullError)) throw error;
              log(`stream ${definition.name}: new definition in effect, not yet saved: ${error.message}`);
            }
          }
        }
      }
      const { freeBytes, growthBytes } = await store.storageReport();
      if (growthBytes > freeBytes) {
        log(
          `warning: the streams' maxSize allow ${growthBytes} more bytes but ${config.storeRoot} has ${freeBytes} free; past that, exported segments are deleted first, then appends get STORAGE_FULL`,
        );
      }
      const exports = config.streams.flatMap((s) => (s.export === undefined ? [] : [s.export]));
      const { maxBandwidthBytesPerSecond, maxBufferedBytesPerStream, maxInFlightRequests } = config.exporter;
      // One cap for every exporter: this one and each of stream manager's exports.
      const bandwidth =
        maxBandwidthBytesPerSecond === undefined
          ? undefined
          : new SharedBandwidth(maxBandwidthBytesPerSecond, Date.now());
      let exporter: KinesisExporter | undefined;
      if (exports.length > 0) {
        if (options.clients === undefined) own = await makeKinesis(config);
        exporter = await KinesisExporter.start({
          store,
          kinesis: own?.api ?? (options.clients as AwsClients).kinesis(),
          exports,
          defaultPartitionKey: config.deviceId,
          ...(bandwidth === undefined ? {} : { bandwidth }),
          maxBufferedBytes: maxBufferedBytesPerStream,
          maxInFlightRequests,
        });
      }
      const agent = new Agent(config, store, exporter, own?.destroy);
      try {
        await agent.#startTailers(log);
      } catch (error) {
        await agent.stop({ drainTimeoutMillis: 0 });
        throw error;
      }
      if (config.api.streamManager) {
        try {
          agent.#streamManager = await StreamManagerService.start(
            agent.#streamManagerHost(options, log, bandwidth),
          );
        } catch (error) {
          await agent.stop({ drainTimeoutMillis: 0 });
          throw error;
        }
      }
      if (config.mqtt !== undefined) {
        try {
          // Loaded only when configured: the SDK's native aws-crt costs ~20 MB of resident memory.
          const { startStatusPublisher } = await import('./iot/mqtt.ts');
          agent.#mqtt = await startStatusPublisher({
            config: config.mqtt,
            agent,
            log,
          });
        } catch (error) {
          await agent.stop({ drainTimeoutMillis: 0 });
          throw error;
        }
      }
      return agent;
    } catch (error) {
      own?.destroy();
      await store.close();
      throw error;
    }
  }

  /** One tailer per source; the module is loaded only when the config has sources. */
  async #startTailers(log: (line: string) => void): Promise<void> {
    if (this.config.sources.length === 0) return;
    const [{ SourceTailer }, { logRecordEncoder }] = await Promise.all([
      import('./tail/tailer.ts'),
      import('./tail/encode.ts'),
    ]);
    const store = this.#store;
    for (const source of this.config.sources) {
      const stream = source.stream;
      const tailer = new SourceTailer({
        source,
        deviceId: this.config.deviceId,
        checkpointDir: join(this.config.storeRoot, 'tail', source.checkpointName),
        target: {
          nextSequence: () => store.describeStream(stream).nextSequence,
          appendMany: (payloads) => store.appendMany(stream, payloads),
          read: (fromSequence) => store.records(stream, { fromSequence }),
        },
        encode: logRecordEncoder(
          this.config.deviceId,
          store.describeStream(stream).definition.maxRecordSize,
          source.truncationMarker,
        ),
        log,
      });
      this.#tailers.push(tailer);
      await tailer.start();
    }
  }

  #streamManagerHost(
    options: AgentOptions,
    log: (line: string) => void,
    bandwidth: SharedBandwidth | undefined,
  ) {
    const config = this.config;
    return {
      store: this.#store,
      storeRoot: config.storeRoot,
      configured: (name: string) => this.#configured.get(name),
      appendRecord: (name: string, record: unknown) => this.append(name, record),
      configuredExport: (name: string) =>
        this.#configured.has(name) ? this.streamStatus(name).export : undefined,
      s3: async () => {
        if (options.clients !== undefined) return options.clients.s3();
        this.#smS3 ??= (async () => {
          // Loaded on the first S3 export task only: the S3 client is large.
          const { makeS3Client } = await import('./sm/s3-sdk.ts');
          return makeS3Client({
            region: config.aws.region,
            endpoint: config.aws.endpoint === undefined ? undefined : config.aws.s3Endpoint,
            credentials: await credentialsFor(config),
          });
        })();
        return this.#smS3;
      },
      sitewise: async () => {
        this.#smSiteWise ??= (async () => {
          const { makeSiteWiseClient } = await import('./sm/sitewise-sdk.ts');
          return makeSiteWiseClient({
            region: config.aws.region,
            endpoint: config.aws.endpoint === undefined ? undefined : config.aws.siteWiseEndpoint,
            credentials: await credentialsFor(config),
          });
        })();
        return this.#smSiteWise;
      },
      kinesis: async () => {
        if (options.clients !== undefined) return options.clients.kinesis();
        this.#smKinesis ??= makeKinesis(config);
        return (await this.#smKinesis).api;
      },
      deadLetterStreams: () =>
        config.streams.flatMap((s) => (s.export === undefined ? [] : [s.export.deadLetterStream])),
      bandwidth,
      exporterLimits: {
        maxBufferedBytes: config.exporter.maxBufferedBytesPerStream,
        maxInFlightRequests: config.exporter.maxInFlightRequests,
      },
      log,
    };
  }

  /** Stream manager's operations on this agent's streams; undefined with `api.streamManager: false`. */
  get streamManager(): StreamManagerService | undefined {
    return this.#streamManager;
  }

  #assertAppendable(stream: string): StreamDefinition {
    if (this.#state !== 'running') throw new AgentStoppedError();
    // Streams created through stream manager's door take contract records over the API too.
    const definition =
      this.#configured.get(stream) ??
      (this.#streamManager?.has(stream) === true ? this.#store.describeStream(stream).definition : undefined);
    if (definition === undefined) throw new StreamNotFoundError(stream);
    return definition;
  }

  /**
   * Refuses a valid record of a type the stream does not take (`streams[].recordTypes`): a
   * transaction in the telemetry stream would pass every check downstream and be counted as neither.
   * Streams made through stream manager's door take every type.
   */
  #assertAccepted(stream: string, record: unknown): void {
    const accepted = this.#recordTypes.get(stream);
    // encodeRecord has validated it: `type` is one of the contract's.
    const type = (record as { type: RecordType }).type;
    if (accepted !== undefined && !accepted.includes(type)) {
      throw new RecordTypeNotAcceptedError(stream, type, accepted);
    }
  }

  /**
   * Validates `record` strictly against the contract, encodes it and appends it. Resolves once the
   * record is durable per the stream's persistence and flush settings. The record's partition_key
   * travels inside the encoded JSON, where the exporter reads it.
   */
  async append(stream: string, record: unknown): Promise<{ sequence: number }> {
    const definition = this.#assertAppendable(stream);
    const payload = encodeRecord(record, definition.maxRecordSize);
    this.#assertAccepted(stream, record);
    const { sequence } = await this.#store.append(stream, payload);
    return { sequence };
  }

  /**
   * All or none: every record is validated and encoded first, then the batch is appended
   * atomically. `records` is consumed before this returns (one record at a time, so a lazily
   * parsed source keeps only one parsed record alive); nothing holds it while the append waits.
   * After a refused record the rest are still validated (not kept), so the BatchRecordError lists
   * every refused record (up to MAX_REFUSED_RECORDS) and counts them all. `line` names where the
   * record last taken from `records` starts in its source (the API's NDJSON body line, from 1).
   */
  appendMany(
    stream: string,
    records: Iterable<unknown>,
    options: { line?: () => number } = {},
  ): Promise<{ firstSequence: number; count: number }> {
    const payloads: Uint8Array[] = [];
    const refused: RefusedRecord[] = [];
    let refusedCount = 0;
    try {
      const definition = this.#assertAppendable(stream);
      let index = 0;
      for (const record of records) {
        try {
          const payload = encodeRecord(record, definition.maxRecordSize);
          this.#assertAccepted(stream, record);
          if (refusedCount === 0) payloads.push(payload);
        } catch (error) {
          if (!(error instanceof TributaryError)) throw error;
          refusedCount++;
          // Nothing of the batch will be appended: what was encoded is dropped at once.
          payloads.length = 0;
          if (refused.length < MAX_REFUSED_RECORDS) {
            const path = 'path' in error && typeof error.path === 'string' ? error.path : '';
            refused.push({ index, line: options.line?.(), error, path });
          }
        }
        index++;
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const [first] = refused;
    if (first !== undefined) {
      return Promise.reject(
        new BatchRecordError(first.index, first.error, { line: first.line, refused, refusedCount }),
      );
    }
    return this.#store
      .appendMany(stream, payloads)
      .then(({ firstSequence, count }) => ({ firstSequence, count }));
  }

  /** Reads acknowledged records (raw encoded contract records), any stream in the store. */
  read(stream: string, options: ReadOptions = {}): Promise<LogRecord[]> {
    return this.#store.read(stream, options);
  }

  /** Every stream in the store, the dead-letter streams included. */
  streams(): string[] {
    return this.#store.listStreams();
  }

  streamStatus(name: string): StreamStatus {
    const { definition, ...log } = this.#store.describeStream(name);
    let exportStatus: ExportStatus | undefined;
    if (this.#exporter !== undefined && this.config.streams.some((s) => s.export?.logStream === name)) {
      exportStatus = this.#exporter.statusOf(name);
    }
    const recordTypes = this.#recordTypes.get(name);
    return {
      name,
      definition,
      log,
      export: exportStatus,
      ...(recordTypes === undefined ? {} : { recordTypes }),
    };
  }

  status(): AgentStatus {
    return {
      deviceId: this.config.deviceId,
      state: this.#state,
      startedAt: this.#startedAt,
      streams: this.#state === 'stopped' ? [] : this.streams().map((name) => this.streamStatus(name)),
      ...(this.#mqtt === undefined ? {} : { mqtt: this.#mqtt.status() }),
      ...(this.#tailers.length === 0 ? {} : { tail: this.#tailers.map((t) => t.status()) }),
    };
  }

  /** Resolves once every record of `stream` up to `sequence` is in Kinesis and checkpointed. */
  whenExported(stream: string, sequence: number): Promise<void> {
    if (this.#exporter === undefined) return Promise.reject(new StreamNotFoundError(stream));
    return this.#exporter.whenExported(stream, sequence);
  }

  /**
   * Sends every exported stream's backlog now, ignoring batch thresholds, and waits up to
   * `timeoutMillis` for it to reach Kinesis (up to the end each log has now).
   */
  async flush(timeoutMillis: number): Promise<FlushResult> {
    const exporter = this.#exporter;
    if (this.#state !== 'running') throw new AgentStoppedError();
    if (exporter === undefined) return { drained: true, backlog: {} };
    exporter.flush();
    const drained = await this.#waitExported(exporter, timeoutMillis);
    const backlog: Record<string, number> = {};
    for (const s of exporter.status()) backlog[s.logStream] = s.backlog.records;
    return { drained, backlog };
  }

  /** Waits up to `timeoutMillis` for every export to reach the end its log has now. */
  async #waitExported(exporter: KinesisExporter, timeoutMillis: number): Promise<boolean> {
    const targets = exporter.status().map((s) => {
      const last = this.#store.describeStream(s.logStream).nextSequence - 1;
      return last < 0 ? Promise.resolve() : exporter.whenExported(s.logStream, last);
    });
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      Promise.all(targets).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMillis);
      }),
    ]);
    clearTimeout(timer);
    return drained;
  }

  /**
   * Stops accepting appends, optionally waits for the exported backlog to drain, then stops the
   * exporter (final checkpoint) and closes the log. Whatever was not exported stays in the log.
   */
  stop(options: StopOptions = {}): Promise<StopResult> {
    this.#stopping ??= this.#stop(options.drainTimeoutMillis ?? this.config.shutdown.drainTimeoutMillis);
    return this.#stopping;
  }

  async #stop(drainTimeoutMillis: number): Promise<StopResult> {
    this.#state = 'stopping';
    let drained = true;
    const exporter = this.#exporter;
    if (exporter !== undefined && drainTimeoutMillis > 0) {
      drained = await this.#waitExported(exporter, drainTimeoutMillis);
    }
    const backlog: Record<string, number> = {};
    try {
      // Tailers first: a batch in flight finishes its append before the log closes.
      for (const tailer of this.#tailers) await tailer.stop();
      await this.#streamManager?.stop();
      await exporter?.stop();
      for (const s of exporter?.status() ?? []) {
        backlog[s.logStream] = s.backlog.records;
        if (s.backlog.records > 0) drained = false;
      }
    } finally {
      // Last word on the status topic (retained) before the store closes; never blocks the stop for long.
      await this.#mqtt?.stop();
      // status() reads the store: a caller's timer (the CLI's progress line) may ask while it closes.
      this.#state = 'stopped';
      await this.#store.close();
      this.#destroyKinesis?.();
      (await this.#smKinesis?.catch(() => undefined))?.destroy();
      (await this.#smS3?.catch(() => undefined))?.destroy();
      (await this.#smSiteWise?.catch(() => undefined))?.destroy();
    }
    return { drained, backlog };
  }
}
