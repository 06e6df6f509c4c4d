import { CliExit, type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

/** The log store's codes; `http` is the agent API's answer where an append meets one. */
export const LogErrorCodes = errorCodes('device/log', {
  STREAM_NOT_FOUND: {
    class: 'StreamNotFoundError',
    retryable: false,
    http: 404,
    exit: CliExit.refused,
    meaning: 'no stream of that name',
  },
  STREAM_EXISTS: {
    class: 'StreamExistsError',
    retryable: false,
    meaning: 'a stream of that name exists already',
  },
  STREAM_FULL: {
    class: 'StreamFullError',
    retryable: true,
    http: 503,
    exit: CliExit.busy,
    meaning: 'a RejectNewData stream is at maxSize; TTL expiry or export frees room',
  },
  CORRUPT_RECORD: {
    class: 'CorruptRecordError',
    retryable: false,
    meaning: 'a stored frame failed its CRC or sequence check; reading resumes at the next segment',
  },
  LOG_WRITE_FAILED: {
    class: 'LogWriteError',
    retryable: true,
    http: 503,
    exit: CliExit.busy,
    meaning: 'a write or fsync failed; unacknowledged appends are refused and the stream reloads',
  },
  METADATA_WRITE_FAILED: {
    class: 'MetadataWriteError',
    retryable: true,
    meaning:
      "a stream's stream.json or sequence.json could not be replaced (not for space); the old content stays",
  },
  STORAGE_FULL: {
    class: 'StorageFullError',
    retryable: true,
    http: 507,
    exit: CliExit.storageFull,
    meaning: "the device's disk is full; `path` names the file that could not be written",
  },
  SEGMENT_VERSION: {
    class: 'SegmentVersionError',
    retryable: false,
    meaning: 'a segment written by another format version of the log',
  },
  INVALID_SEQUENCE: {
    class: 'InvalidSequenceError',
    retryable: false,
    meaning: "a sequence number out of the stream's range (read, trim or checkpoint)",
  },
  LOG_CLOSED: {
    class: 'LogClosedError',
    retryable: false,
    http: 503,
    exit: CliExit.busy,
    meaning: 'the log store is closed (the agent is stopping)',
  },
  STORE_LOCKED: {
    class: 'StoreLockedError',
    retryable: false,
    meaning: 'another live process holds the store directory',
  },
  LOG_FORMAT: {
    class: 'LogFormatError',
    retryable: false,
    meaning: 'a store file is unreadable as FORMAT.md describes (not a torn tail, which recovery repairs)',
  },
});
export type LogErrorCode = CodeOf<typeof LogErrorCodes>;

/** Base of every error the device log raises on purpose. */
export class LogError extends TributaryError<LogErrorCode> {}

export class StreamNotFoundError extends LogError {
  readonly stream: string;
  constructor(stream: string) {
    super('STREAM_NOT_FOUND', `stream ${JSON.stringify(stream)} does not exist`);
    this.stream = stream;
  }
}

export class StreamExistsError extends LogError {
  readonly stream: string;
  constructor(stream: string) {
    super('STREAM_EXISTS', `stream ${JSON.stringify(stream)} already exists`);
    this.stream = stream;
  }
}

/** RejectNewData stream at maxSize. Retryable: TTL expiry or trim() frees whole segments. */
export class StreamFullError extends LogError {
  readonly stream: string;
  readonly maxSize: number;
  readonly requiredBytes: number;
  constructor(stream: string, maxSize: number, requiredBytes: number) {
    super(
      'STREAM_FULL',
      `stream ${JSON.stringify(stream)} is full: ${requiredBytes} more bytes do not fit in maxSize ${maxSize}`,
      { retryable: true },
    );
    this.stream = stream;
    this.maxSize = maxSize;
    this.requiredBytes = requiredBytes;
  }
}

/**
 * A stored frame failed its CRC or sequence check while reading a sealed segment. Records before
 * `sequence` were fine; `resumeSequence` is the first sequence of the next segment, where reading can go on.
 */
export class CorruptRecordError extends LogError {
  readonly stream: string;
  readonly segment: string;
  readonly offset: number;
  readonly sequence: number;
  readonly resumeSequence: number;
  constructor(stream: string, segment: string, offset: number, sequence: number, resumeSequence: number) {
    super(
      'CORRUPT_RECORD',
      `stream ${JSON.stringify(stream)}: corrupt frame for sequence ${sequence} in segment ${segment} at offset ${offset}`,
    );
    this.stream = stream;
    this.segment = segment;
    this.offset = offset;
    this.sequence = sequence;
    this.resumeSequence = resumeSequence;
  }
}

/** A write or fsync failed. Appends not yet acknowledged are rejected; the stream reloads from disk. */
export class LogWriteError extends LogError {
  readonly stream: string;
  constructor(stream: string, cause: unknown) {
    super('LOG_WRITE_FAILED', `stream ${JSON.stringify(stream)}: write failed: ${String(cause)}`, {
      retryable: true,
      cause,
    });
    this.stream = stream;
  }
}

/** errno codes that mean the filesystem has no room (quota included). */
export function isNoSpace(error: unknown): boolean {
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * A stream's metadata file (stream.json, sequence.json) could not be replaced for a reason other than
 * space. The file on disk still holds its previous content; retrying the operation is safe.
 */
export class MetadataWriteError extends LogError {
  /** The file that could not be written. */
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super('METADATA_WRITE_FAILED', `${path}: write failed: ${String(cause)}`, { retryable: true, cause });
    this.path = path;
  }
}

/**
 * The filesystem holding the store is full. Retryable: the store reclaims exported segments (and,
 * for OverwriteOldestData streams, the oldest ones) as soon as it sees this.
 */
export class StorageFullError extends LogError {
  /** The file or directory that could not be written. */
  readonly path: string;
  constructor(path: string, cause?: unknown) {
    super('STORAGE_FULL', `no space left on the device for ${path}`, {
      retryable: true,
      ...(cause === undefined ? {} : { cause }),
    });
    this.path = path;
  }
}

/** A segment was written by another format version of the log: refused, never repaired as a torn tail. */
export class SegmentVersionError extends LogError {
  readonly file: string;
  readonly version: number;
  constructor(file: string, version: number, supported: number) {
    super(
      'SEGMENT_VERSION',
      `${file}: segment format version ${version}, this agent reads version ${supported}; run the agent that wrote it, or move the store aside`,
    );
    this.file = file;
    this.version = version;
  }
}

export class InvalidSequenceError extends LogError {
  readonly stream: string;
  readonly sequence: number;
  constructor(stream: string, sequence: number, reason: string) {
    super('INVALID_SEQUENCE', `stream ${JSON.stringify(stream)}: sequence ${sequence} ${reason}`);
    this.stream = stream;
    this.sequence = sequence;
  }
}

export class LogClosedError extends LogError {
  constructor() {
    super('LOG_CLOSED', 'the log store is closed');
  }
}

/** Another live process holds the store directory. */
export class StoreLockedError extends LogError {
  readonly rootDir: string;
  readonly pid: number;
  constructor(rootDir: string, pid: number) {
    super('STORE_LOCKED', `log store ${rootDir} is in use by process ${pid}`);
    this.rootDir = rootDir;
    this.pid = pid;
  }
}

/** A file in the store is unreadable as the format describes (not a torn tail, which recovery repairs). */
export class LogFormatError extends LogError {
  readonly file: string;
  constructor(file: string, reason: string) {
    super('LOG_FORMAT', `${file}: ${reason}`);
    this.file = file;
  }
}
