/**
 * Bytes of a tailed file to records: lines split on `\n` (a `\r` before it dropped), header lines
 * skipped, lines joined into multi-line records by a start pattern, and records longer than the
 * limit truncated with a marker. Pure and chunk-independent: any chunking of the same bytes gives the
 * same records with the same offsets, which is what lets a restart resume at a byte offset.
 */

export interface LineSplitterOptions {
  /** Largest record in bytes, the marker included; longer ones are cut at a UTF-8 boundary. */
  readonly maxRecordBytes: number;
  /** Appended to a truncated record (counted in maxRecordBytes). */
  readonly truncationMarker: string;
  /** A line matching it starts a new record; other lines join the record before them. */
  readonly multiLineStartPattern?: RegExp | undefined;
  /** Lines at the start of the file that are never sent (CSV headers). */
  readonly skipHeaderLines?: number;
  /** Byte offset of the first byte pushed (a resumed file). */
  readonly startOffset?: number;
}

export interface SplitRecord {
  readonly text: string;
  /** Byte offset of the record's first byte in the file. */
  readonly offset: number;
  /** Byte offset just past the record's last line terminator: where the next record starts. */
  readonly end: number;
  readonly truncated: boolean;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/** The longest prefix of `buf[0..limit)` that ends on a UTF-8 character boundary. */
function utf8Cut(buf: Buffer, limit: number): number {
  if (limit >= buf.length) return buf.length;
  let cut = limit;
  // Continuation bytes are 10xxxxxx: back up to the start of the character they belong to.
  while (cut > 0 && ((buf[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return cut;
}

/** A line or record being built: its first bytes (bounded) and its true length. */
class Bounded {
  readonly #limit: number;
  #parts: Buffer[] = [];
  #kept = 0;
  length = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(bytes: Buffer): void {
    this.length += bytes.length;
    const room = this.#limit - this.#kept;
    if (room <= 0) return;
    const part = bytes.length <= room ? bytes : bytes.subarray(0, room);
    // A subarray of the caller's chunk would pin the whole chunk; copy what is kept.
    this.#parts.push(Buffer.from(part));
    this.#kept += part.length;
  }

  head(): Buffer {
    if (this.#parts.length !== 1) this.#parts = [Buffer.concat(this.#parts, this.#kept)];
    return this.#parts[0] ?? Buffer.alloc(0);
  }

  clear(): void {
    this.#parts = [];
    this.#kept = 0;
    this.length = 0;
  }
}

export class LineSplitter {
  readonly #max: number;
  readonly #marker: Buffer;
  readonly #start: RegExp | undefined;
  #skip: number;
  /** Offset of the next byte pushed. */
  #offset: number;
  /** The line being read (terminator not yet seen). */
  readonly #line: Bounded;
  #lineStart: number;
  /** The multi-line record being built (complete lines only). */
  readonly #record: Bounded;
  #recordStart = -1;
  #recordEnd = 0;

  constructor(options: LineSplitterOptions) {
    this.#max = options.maxRecordBytes;
    this.#marker = Buffer.from(options.truncationMarker, 'utf8');
    if (this.#marker.length >= this.#max)
      throw new RangeError('truncationMarker must be shorter than maxRecordBytes');
    this.#start = options.multiLineStartPattern;
    this.#skip = options.skipHeaderLines ?? 0;
    this.#offset = options.startOffset ?? 0;
    this.#lineStart = this.#offset;
    // One byte over the limit is enough to know a record must be truncated.
    this.#line = new Bounded(this.#max + 1);
    this.#record = new Bounded(this.#max + 1);
  }

  /**
   * Where a restart must resume so that nothing is lost or repeated: the start of the first byte
   * not yet part of an emitted record (the pending multi-line record or partial line).
   */
  get safeOffset(): number {
    return this.#recordStart >= 0 ? this.#recordStart : this.#lineStart;
  }

  /** Header lines still to skip. */
  get headerLinesLeft(): number {
    return this.#skip;
  }

  /** Records completed by `chunk`. */
  push(chunk: Buffer): SplitRecord[] {
    const out: SplitRecord[] = [];
    let from = 0;
    // Each line its own record, no header left, none begun in an earlier chunk: the common case is
    // decoded straight from the chunk, without the bounded copies a partial or joined line needs.
    const direct = this.#start === undefined && this.#skip === 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, from);
      if (nl < 0) break;
      if (direct && this.#line.length === 0) {
        const end = nl > from && chunk[nl - 1] === CR ? nl - 1 : nl;
        if (end - from <= this.#max) {
          const offset = this.#lineStart;
          this.#offset += nl + 1 - from;
          this.#lineStart = this.#offset;
          out.push({ text: chunk.toString('utf8', from, end), offset, end: this.#offset, truncated: false });
          from = nl + 1;
          continue;
        }
      }
      this.#line.add(chunk.subarray(from, nl));
      this.#offset += nl + 1 - from;
      from = nl + 1;
      this.#endLine(out);
    }
    if (from < chunk.length) {
      this.#line.add(chunk.subarray(from));
      this.#offset += chunk.length - from;
    }
    return out;
  }

  /**
   * Emits the pending multi-line record: the file went quiet, or it ends (rotated away, deleted).
   * With `partialLine`, a last line without its terminator is emitted too (only when the file can
   * no longer grow: a live writer may be in the middle of it).
   */
  flush(partialLine = false): SplitRecord[] {
    const out: SplitRecord[] = [];
    if (partialLine && this.#line.length > 0) this.#endLine(out);
    this.#emitRecord(out);
    return out;
  }

  #endLine(out: SplitRecord[]): void {
    const start = this.#lineStart;
    const end = this.#offset;
    let head = this.#line.head();
    let length = this.#line.length;
    if (length === head.length && head[length - 1] === CR) {
      head = head.subarray(0, length - 1);
      length--;
    }
    this.#line.clear();
    this.#lineStart = end;
    if (this.#skip > 0) {
      this.#skip--;
      return;
    }
    const startsRecord = this.#start === undefined || this.#start.test(head.toString('utf8'));
    if (startsRecord || this.#recordStart < 0) {
      this.#emitRecord(out);
      this.#recordStart = start;
    } else {
      this.#record.add(Buffer.from('\n'));
    }
    // The record keeps its own bounded copy; a line longer than the limit only adds its length.
    this.#record.add(head);
    this.#record.length += length - head.length;
    this.#recordEnd = end;
    if (this.#start === undefined) this.#emitRecord(out);
  }

  #emitRecord(out: SplitRecord[]): void {
    if (this.#recordStart < 0) return;
    const head = this.#record.head();
    const truncated = this.#record.length > this.#max;
    const text = truncated
      ? Buffer.concat([
          head.subarray(0, utf8Cut(head, this.#max - this.#marker.length)),
          this.#marker,
        ]).toString('utf8')
      : head.toString('utf8');
    out.push({ text, offset: this.#recordStart, end: this.#recordEnd, truncated });
    this.#record.clear();
    this.#recordStart = -1;
  }
}
