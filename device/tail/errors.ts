import { TributaryError } from '../../shared/errors.ts';

/** Base of every error the file tailer raises on purpose. */
export class TailError extends TributaryError {}

/** A tail checkpoint file could not be written (the tailer retries; nothing is sent past it). */
export class TailCheckpointWriteError extends TailError {
  readonly file: string;
  constructor(file: string, cause: unknown) {
    super(
      'TAIL_CHECKPOINT_WRITE_FAILED',
      `cannot write tail checkpoint ${file}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { retryable: true, cause },
    );
    this.file = file;
  }
}

/** A tailed file could not be read (permissions, I/O error); the tailer retries at the next poll. */
export class TailReadError extends TailError {
  readonly file: string;
  constructor(file: string, cause: unknown) {
    super(
      'TAIL_READ_FAILED',
      `cannot read ${file}: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        retryable: true,
        cause,
      },
    );
    this.file = file;
  }
}
