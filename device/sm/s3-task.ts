/**
 * Stream manager's S3 export tasks: each message of the stream is a JSON S3ExportTaskDefinition
 * (`{inputUrl: "file:///…", bucket, key, userMetadata?}`); the file is uploaded, in parts above the
 * multipart threshold, and StatusMessages go to the status stream as the task starts, succeeds or
 * fails. One task at a time, in sequence order; the stream's checkpoint moves past a task once it is
 * done (or failed for good). A multipart upload's id and finished parts are kept in
 * `<storeRoot>/stream-manager-s3/<stream hash>/<checkpoint>.json` after every part, so a restart goes
 * on with the next part instead of starting over; deleting the stream removes its directory.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { describeIssue } from '../../shared/errors.ts';
import { parseOptions } from '../../shared/options.ts';
import * as z from '../../shared/zod.ts';
import { acquireBandwidth, type BandwidthShare } from '../export/index.ts';
import type { LogStore } from '../log/index.ts';
import { FsDir } from '../log/io.ts';
import { S3KeyPatternError } from './errors.ts';
import { expandKey, S3_TASK_KEY } from './s3-key.ts';

/** S3's smallest part (all but the last); also stream manager's smallest multipart threshold. */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
/** Parts of this size: few enough requests, small enough to hold one in memory. */
const PART_BYTES = S3_MIN_PART_BYTES;
const RETRY_BASE_MILLIS = 500;
const RETRY_CAP_MILLIS = 30_000;

/** Stream manager's StatusMessage codes (data/__init__.py: Status, StatusLevel, EventType). */
export const TaskStatus = { Success: 0, Failure: 1, InProgress: 2, Warning: 3, Canceled: 4 } as const;
export const StatusLevel = { ERROR: 0, WARN: 1, INFO: 2, DEBUG: 3, TRACE: 4 } as const;
const EVENT_S3_TASK = 0;

const BUCKET = /^(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const taskSchema = z.strictObject({
  inputUrl: z.string().check(z.startsWith('file:', 'must be a file: URL of a local file')),
  bucket: z.string().check(z.regex(BUCKET, 'must be an S3 bucket name (3-63 of a-z 0-9 . -)')),
  // The SDKs' own rule; placeholders (!{timestamp:…}) are resolved when the upload starts (s3-key.ts).
  key: z
    .string()
    .check(
      z.minLength(1),
      z.maxLength(1024),
      z.regex(
        S3_TASK_KEY,
        'must be what the SDKs allow: no { } [ ] \' " # % ^ ? | ~ < > \\ ` or space, placeholders as !{timestamp:letters and /}',
      ),
    ),
  userMetadata: z.optional(z.nullable(z.record(z.string(), z.string()))),
});
export type S3Task = z.output<typeof taskSchema>;

export interface S3TaskConfig {
  readonly identifier: string;
  readonly sizeThresholdForMultipartUploadBytes?: number | null | undefined;
  readonly statusConfig?:
    | { statusLevel?: number | null | undefined; statusStreamName?: string | null | undefined }
    | null
    | undefined;
}

interface UploadState {
  sequence: number;
  /** The key as resolved when the upload began: a restart goes on under the same key. */
  key?: string;
  uploadId: string;
  parts: { PartNumber: number; ETag: string }[];
}

/** A task message: an S3ExportTaskDefinition as JSON; TaskFailed naming what is wrong otherwise. */
function parseTask(payload: Uint8Array): S3Task {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch (error) {
    throw new TaskFailed(`task is not JSON: ${(error as Error).message}`);
  }
  return parseOptions(taskSchema, json, {
    unknownKey: 'is not an S3ExportTaskDefinition field',
    error: (issues) => new TaskFailed(`task is invalid: ${issues.map(describeIssue).join('; ')}`),
  });
}

/** How long a stream's deletion waits for S3 to abort the stream's upload in progress. */
const ABANDON_TIMEOUT_MILLIS = 5_000;

/** Why a task failed for good (bad definition, missing file, refused by S3): not retried. */
class TaskFailed extends Error {}

const PERMANENT_S3_ERRORS = new Set([
  'NoSuchBucket',
  'AccessDenied',
  'InvalidBucketName',
  'InvalidArgument',
  'KeyTooLongError',
  'EntityTooLarge',
]);

export function checkpointNameOfS3(identifier: string): string {
  return `sm-s3-${createHash('sha256').update(identifier).digest('hex').slice(0, 32)}`;
}

/**
 * Where the S3 tasks of `stream` keep their uploads in progress: a directory per stream, since two
 * streams may name their executors alike (a shared file would resume one's upload for the other).
 */
export function s3TaskStateDir(storeRoot: string, stream: string): string {
  return join(storeRoot, 'stream-manager-s3', createHash('sha256').update(stream).digest('hex').slice(0, 32));
}

export interface S3TaskStatus {
  readonly identifier: string;
  readonly committed: number | undefined;
  /** Tasks finished (uploaded or failed for good) since the agent started. */
  readonly tasksDone: number;
  /** File bytes of the tasks uploaded since the agent started. */
  readonly bytesUploaded: number;
  /** When the latest S3 request of a task was sent, ms since the epoch. */
  readonly lastAttemptAt: number | undefined;
  readonly lastError: string | undefined;
}

export class S3TaskExecutor {
  readonly #abort = new AbortController();
  readonly #checkpoint: string;
  readonly #stateDir: string;
  #loop: Promise<void> | undefined;
  #done = 0;
  #bytesUploaded = 0;
  #lastAttemptAt: number | undefined;
  #lastError: string | undefined;

  constructor(
    readonly stream: string,
    readonly config: S3TaskConfig,
    private readonly store: LogStore,
    private readonly s3: () => Promise<S3Client>,
    storeRoot: string,
    private readonly log: (line: string) => void,
    /** The agent's bandwidth cap, when it has one: every PutObject and part waits for its bytes. */
    private readonly share?: BandwidthShare,
  ) {
    this.#checkpoint = checkpointNameOfS3(config.identifier);
    this.#stateDir = s3TaskStateDir(storeRoot, stream);
  }

  async start(): Promise<void> {
    await this.store.prepareCheckpoint(this.stream, this.#checkpoint);
    this.#loop = this.#run().catch((error: unknown) => {
      if (!this.#abort.signal.aborted)
        this.log(`S3 export ${this.config.identifier} stopped: ${String(error)}`);
    });
  }

  status(): S3TaskStatus {
    return {
      identifier: this.config.identifier,
      committed: this.store.committed(this.stream, this.#checkpoint),
      tasksDone: this.#done,
      bytesUploaded: this.#bytesUploaded,
      lastAttemptAt: this.#lastAttemptAt,
      lastError: this.#lastError,
    };
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  /**
   * After stop(), when the stream is being deleted: aborts the multipart upload in progress, if any,
   * so that S3 does not keep (and bill) its parts. Best effort: a failure is logged, and the bucket's
   * lifecycle rule for incomplete multipart uploads remains the backstop.
   */
  async abandon(): Promise<void> {
    const state = await this.#saved();
    if (state === undefined) return;
    try {
      const [record] = await this.store.read(this.stream, { fromSequence: state.sequence, maxRecords: 1 });
      const task = record?.sequence === state.sequence ? parseTask(record.payload) : undefined;
      if (task === undefined || state.key === undefined)
        throw new Error('its bucket or key is no longer known');
      const s3 = await this.s3();
      const { AbortMultipartUploadCommand } = await import('./s3-sdk.ts');
      await s3.send(
        new AbortMultipartUploadCommand({ Bucket: task.bucket, Key: state.key, UploadId: state.uploadId }),
        { abortSignal: AbortSignal.timeout(ABANDON_TIMEOUT_MILLIS) },
      );
    } catch (error) {
      this.log(
        `S3 export ${this.config.identifier}: upload ${state.uploadId} of a deleted stream not aborted (S3 keeps its parts until the bucket's lifecycle rule removes them): ${String(error)}`,
      );
    }
    await this.#forget();
  }

  get #stateFile(): string {
    return join(this.#stateDir, `${this.#checkpoint}.json`);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const committed = this.store.committed(this.stream, this.#checkpoint);
      const next = Math.max(
        committed === undefined ? 0 : committed + 1,
        this.store.describeStream(this.stream).firstSequence,
      );
      const [record] = await this.store.read(this.stream, { fromSequence: next, maxRecords: 1 });
      if (record === undefined) {
        try {
          await this.store.waitFor(this.stream, next, signal);
        } catch {
          // Aborted: the loop condition ends it.
        }
        continue;
      }
      await this.#runTask(record.sequence, record.payload, signal);
      if (signal.aborted) return;
      await this.store.commit(this.stream, this.#checkpoint, record.sequence);
      this.#done++;
    }
  }

  /** Runs one task to success or permanent failure; transient failures are retried with backoff. */
  async #runTask(sequence: number, payload: Uint8Array, signal: AbortSignal): Promise<void> {
    let task: S3Task;
    try {
      task = parseTask(payload);
    } catch (error) {
      if (!(error instanceof TaskFailed)) throw error;
      this.#lastError = error.message;
      await this.#status(sequence, undefined, TaskStatus.Failure, StatusLevel.ERROR, error.message);
      return;
    }
    let target: S3Task;
    try {
      const saved = await this.#saved(sequence);
      target = { ...task, key: saved?.key ?? expandKey(task.key, new Date()) };
    } catch (error) {
      if (!(error instanceof S3KeyPatternError)) throw error;
      this.#lastError = error.message;
      await this.#status(sequence, task, TaskStatus.Failure, StatusLevel.ERROR, error.message);
      return;
    }
    await this.#status(
      sequence,
      task,
      TaskStatus.InProgress,
      StatusLevel.INFO,
      `upload to s3://${target.bucket}/${target.key} started`,
    );
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        this.#lastAttemptAt = Date.now();
        const bytes = await this.#upload(sequence, target, signal);
        // Stopped between parts: the upload goes on at the next start.
        if (signal.aborted) return;
        this.#bytesUploaded += bytes;
        await this.#status(
          sequence,
          task,
          TaskStatus.Success,
          StatusLevel.INFO,
          `uploaded to s3://${target.bucket}/${target.key}`,
        );
        this.#lastError = undefined;
        return;
      } catch (error) {
        if (signal.aborted) return;
        const name = (error as { name?: string }).name ?? '';
        const message = `${name || 'Error'}: ${(error as Error).message}`;
        this.#lastError = message;
        if (error instanceof TaskFailed || PERMANENT_S3_ERRORS.has(name)) {
          await this.#forget();
          await this.#status(sequence, task, TaskStatus.Failure, StatusLevel.ERROR, message);
          return;
        }
        if (name === 'NoSuchUpload') await this.#forget();
        const delay = Math.min(RETRY_CAP_MILLIS, RETRY_BASE_MILLIS * 2 ** attempt) * Math.random();
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Uploads the task's file; resolves with its size. */
  async #upload(sequence: number, task: S3Task, signal: AbortSignal): Promise<number> {
    let path: string;
    try {
      path = fileURLToPath(task.inputUrl);
    } catch (error) {
      throw new TaskFailed(
        `inputUrl ${JSON.stringify(task.inputUrl)} is not a local file URL: ${(error as Error).message}`,
      );
    }
    let size: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new TaskFailed(`${path} is not a regular file`);
      size = info.size;
    } catch (error) {
      if (error instanceof TaskFailed) throw error;
      throw new TaskFailed(`${path} cannot be read: ${(error as Error).message}`);
    }
    const s3 = await this.s3();
    // Loaded with the first task: agents without S3 export tasks never load the SDK.
    const {
      AbortMultipartUploadCommand,
      CompleteMultipartUploadCommand,
      CreateMultipartUploadCommand,
      PutObjectCommand,
      UploadPartCommand,
    } = await import('./s3-sdk.ts');
    const metadata = task.userMetadata ?? undefined;
    const threshold = Math.max(
      S3_MIN_PART_BYTES,
      this.config.sizeThresholdForMultipartUploadBytes ?? S3_MIN_PART_BYTES,
    );
    if (size < threshold) {
      await this.#bandwidth(size, signal);
      if (signal.aborted) return size;
      await s3.send(
        new PutObjectCommand({
          Bucket: task.bucket,
          Key: task.key,
          Body: await readFile(path),
          ...(metadata === undefined ? {} : { Metadata: metadata }),
        }),
        { abortSignal: signal },
      );
      return size;
    }
    let state = await this.#saved(sequence);
    if (state === undefined) {
      const created = await s3.send(
        new CreateMultipartUploadCommand({
          Bucket: task.bucket,
          Key: task.key,
          ...(metadata === undefined ? {} : { Metadata: metadata }),
        }),
        { abortSignal: signal },
      );
      state = { sequence, key: task.key, uploadId: created.UploadId as string, parts: [] };
      await this.#save(state);
    }
    const handle = await open(path, 'r');
    try {
      const partCount = Math.max(1, Math.ceil(size / PART_BYTES));
      for (let part = state.parts.length + 1; part <= partCount; part++) {
        if (signal.aborted) return size;
        this.#lastAttemptAt = Date.now();
        const offset = (part - 1) * PART_BYTES;
        const buffer = Buffer.allocUnsafe(Math.min(PART_BYTES, size - offset));
        await handle.read(buffer, 0, buffer.length, offset);
        await this.#bandwidth(buffer.length, signal);
        if (signal.aborted) return size;
        const uploaded = await s3.send(
          new UploadPartCommand({
            Bucket: task.bucket,
            Key: task.key,
            UploadId: state.uploadId,
            PartNumber: part,
            Body: buffer,
          }),
          { abortSignal: signal },
        );
        state.parts.push({ PartNumber: part, ETag: uploaded.ETag as string });
        await this.#save(state);
      }
    } finally {
      await handle.close();
    }
    try {
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: task.bucket,
          Key: task.key,
          UploadId: state.uploadId,
          MultipartUpload: { Parts: state.parts },
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (PERMANENT_S3_ERRORS.has((error as { name?: string }).name ?? '')) {
        await s3.send(
          new AbortMultipartUploadCommand({ Bucket: task.bucket, Key: task.key, UploadId: state.uploadId }),
        );
      }
      throw error;
    }
    await this.#forget();
    return size;
  }

  /** Waits for `bytes` of the agent's bandwidth cap (no cap: at once). */
  async #bandwidth(bytes: number, signal: AbortSignal): Promise<void> {
    if (this.share !== undefined) {
      await acquireBandwidth(this.share.bandwidth, this, this.share.priority, bytes, signal);
    }
  }

  async #saved(sequence?: number): Promise<UploadState | undefined> {
    try {
      const state = JSON.parse(await readFile(this.#stateFile, 'utf8')) as UploadState;
      return sequence === undefined || state.sequence === sequence ? state : undefined;
    } catch {
      return undefined;
    }
  }

  async #save(state: UploadState): Promise<void> {
    await mkdir(this.#stateDir, { recursive: true });
    await new FsDir(this.#stateDir).replace(`${this.#checkpoint}.json`, Buffer.from(JSON.stringify(state)));
  }

  async #forget(): Promise<void> {
    await rm(this.#stateFile, { force: true });
  }

  /** Appends a StatusMessage (JSON, as the SDKs' Util.validate_and_serialize_to_json_bytes writes). */
  async #status(
    sequence: number,
    task: S3Task | undefined,
    status: number,
    level: number,
    message: string,
  ): Promise<void> {
    const target = this.config.statusConfig?.statusStreamName;
    const wanted = this.config.statusConfig?.statusLevel ?? StatusLevel.INFO;
    if (target == null || level > wanted) return;
    const body = {
      eventType: EVENT_S3_TASK,
      statusLevel: level,
      status,
      statusContext: {
        ...(task === undefined ? {} : { s3ExportTaskDefinition: task }),
        exportIdentifier: this.config.identifier,
        streamName: this.stream,
        sequenceNumber: sequence,
      },
      message,
      timestampEpochMs: Date.now(),
    };
    try {
      await this.store.append(target, Buffer.from(JSON.stringify(body)));
    } catch (error) {
      this.log(
        `S3 export ${this.config.identifier}: status to ${target} not written: ${(error as Error).message}`,
      );
    }
  }
}
