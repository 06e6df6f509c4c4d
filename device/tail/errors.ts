import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

/** Codes of the file tailer (device/tail). */
export const TailErrorCodes = errorCodes('device/tail', {
  TAIL_CHECKPOINT_WRITE_FAILED: {
    class: 'TailCheckpointWriteError',
    retryable: true,
    meaning: 'a tail checkpoint file could not be written; the tailer retries and sends nothing past it',
  },
  TAIL_READ_FAILED: {
    class: 'TailReadError',
    retryable: true,
    meaning: 'a tailed file could not be read (permissions, I/O error); retried at the next poll',
  },
});
export type TailErrorCode = CodeOf<typeof TailErrorCodes>;

/** Base of every error the file tailer raises on purpose. */
export class TailError extends TributaryError<TailErrorCode> {}

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
