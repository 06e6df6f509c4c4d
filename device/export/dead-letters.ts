/**
 * Dead letters: records Kinesis will never take (no key, an invalid key, unreadable in the log) are
 * written to the export's dead-letter log stream with their exact bytes, and count as exported
 * only once that write is durable. A failed write keeps them and tries again a second later.
 */

import type { LogRecord } from '../log/index.ts';
import type { ExportDefinition } from './definition.ts';
import { ExportStatusCode } from './errors.ts';
import type { DeadLetter } from './state.ts';
import type { ExporterContext, StreamExport } from './stream-export.ts';

export function deadLetter(
  record: LogRecord,
  partitionKey: string | undefined,
  reason: DeadLetter['reason'],
  detail: string,
): DeadLetter {
  return {
    sequence: record.sequence,
    timestamp: record.timestamp,
    payload: record.payload,
    ...(partitionKey === undefined ? {} : { partitionKey }),
    reason,
    detail,
  };
}

/** Takes the state's new dead letters and writes what is waiting, unless a write is under way or backing off. */
export function pumpLetters(ctx: ExporterContext, e: StreamExport, now: number): void {
  const taken = e.state.takeDeadLetters();
  e.letters.push(...taken);
  // A dead-lettered record shows in the status as the last error, not only in a counter.
  const last = taken.at(-1);
  if (last !== undefined)
    e.state.noteError(last.reason, `sequence ${last.sequence} dead-lettered: ${last.detail}`, now);
  if (e.writingLetters !== undefined || e.letters.length === 0 || e.letterRetryAt > now) return;
  const letters = e.letters.splice(0);
  const { definition } = e;
  e.writingLetters = ctx.store
    .appendMany(
      definition.deadLetterStream,
      letters.map((letter) => encodeDeadLetter(definition, letter, now)),
    )
    .then(
      () => e.state.deadLettered(letters),
      (error: unknown) => {
        e.letters.unshift(...letters);
        e.letterRetryAt = ctx.clock() + 1_000;
        e.state.noteError(
          ExportStatusCode.DEAD_LETTER_WRITE_FAILED,
          error instanceof Error ? error.message : String(error),
          ctx.clock(),
        );
      },
    )
    .finally(() => {
      e.writingLetters = undefined;
      ctx.wake();
    });
}

/**
 * Dead-letter record: UTF-8 JSON with where the record came from, why it was refused, and its exact
 * bytes (base64), so it can be inspected and replayed.
 */
export function encodeDeadLetter(definition: ExportDefinition, letter: DeadLetter, now: number): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      source_stream: definition.logStream,
      source_sequence: letter.sequence,
      appended_at: letter.timestamp,
      kinesis_stream: definition.kinesisStreamName,
      partition_key: letter.partitionKey ?? null,
      reason: letter.reason,
      detail: letter.detail,
      dead_lettered_at: now,
      payload_base64: Buffer.from(letter.payload).toString('base64'),
    }),
    'utf8',
  );
}
