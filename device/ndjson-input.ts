/**
 * The CLI's NDJSON input (a file or stdin), read as a stream and cut into request-sized batches. Each
 * line goes through the bounded scanner (strict UTF-8, the API's JSON limits) before anything is
 * sent, so a bad line is named by its line number and byte offset in the file, and neither the file
 * nor a line is ever held whole beyond one batch.
 */
import {
  isBlankLine,
  type JsonLimits,
  JsonScanner,
  RecordDecodeError,
  RecordTooComplexError,
} from '../shared/contract/index.ts';
import { InputLineError } from './errors.ts';

export interface NdjsonBatchOptions {
  readonly maxRecords: number;
  /** Bytes of one request body: the lines and the newlines between them. */
  readonly maxBytes: number;
  readonly limits: JsonLimits;
}

export interface NdjsonBatch {
  /** The batch's lines joined by newlines, as sent. */
  readonly body: Buffer;
  /** The 1-based line number of each record, for messages. */
  readonly lineNumbers: readonly number[];
}

const EMPTY = Buffer.alloc(0);

/** Yields batches of at most `maxRecords` lines and `maxBytes` bytes; throws InputLineError at the first bad line. */
export async function* ndjsonBatches(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: NdjsonBatchOptions,
): AsyncGenerator<NdjsonBatch> {
  let carry: Buffer = EMPTY;
  let lineNumber = 1;
  let lineStart = 0;
  let lines: Buffer[] = [];
  let numbers: number[] = [];
  let bytes = 0;

  const take = (): NdjsonBatch => {
    const batch = {
      body: Buffer.concat(lines.flatMap((l, i) => (i === 0 ? [l] : [Buffer.from('\n'), l]))),
      lineNumbers: numbers,
    };
    lines = [];
    numbers = [];
    bytes = 0;
    return batch;
  };

  /** Checks a complete line; true when it joins the batch. */
  const check = (line: Buffer): boolean => {
    if (isBlankLine(line)) return false;
    try {
      const scanner = new JsonScanner(options.limits, { framing: 'single', objectsOnly: {} });
      scanner.write(line, () => {});
      scanner.end(() => {});
    } catch (error) {
      if (error instanceof RecordDecodeError || error instanceof RecordTooComplexError) {
        throw new InputLineError(lineNumber, lineStart + (error.offset ?? 0), error);
      }
      throw error;
    }
    return true;
  };

  for await (const input of source) {
    const chunk =
      typeof input === 'string'
        ? Buffer.from(input, 'utf8')
        : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    let from = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, from);
      const piece = chunk.subarray(from, newline < 0 ? chunk.length : newline);
      if (carry.length + piece.length > options.maxBytes) {
        throw new InputLineError(
          lineNumber,
          lineStart,
          undefined,
          `the line is longer than ${options.maxBytes} bytes, the most one request may carry`,
        );
      }
      if (newline < 0) {
        carry = carry.length === 0 ? Buffer.from(piece) : Buffer.concat([carry, piece]);
        break;
      }
      const line = carry.length === 0 ? Buffer.from(piece) : Buffer.concat([carry, piece]);
      carry = EMPTY;
      if (check(line)) {
        if (lines.length >= options.maxRecords || bytes + line.length + 1 > options.maxBytes) yield take();
        lines.push(line);
        numbers.push(lineNumber);
        bytes += line.length + 1;
      }
      lineStart += line.length + 1;
      lineNumber++;
      from = newline + 1;
    }
  }
  if (carry.length > 0 && check(carry)) {
    if (lines.length >= options.maxRecords || bytes + carry.length + 1 > options.maxBytes) yield take();
    lines.push(carry);
    numbers.push(lineNumber);
  }
  if (lines.length > 0) yield take();
}
