/**
 * Walks the frames of one segment file in bounded chunks, checking every CRC and that sequences
 * follow each other. Recovery stops at the first frame that is not Ok and truncates there; reads
 * report it as corruption. Memory stays at one chunk (or one frame, when a frame is bigger).
 */
import { decodeFrame, FRAME_HEADER_SIZE, FrameStatus, MAX_FRAME_PAYLOAD, newFrameInfo } from './format.ts';
import type { LogFile } from './io.ts';
import { readAt } from './segment.ts';

export const ScanStatus = {
  /** A frame: `info` and `payload()` describe it; `advance()` moves past it. */
  Ok: 0,
  /** `offset` reached the limit. */
  End: 1,
  /** The frame runs past the limit or the file: a torn tail, or a file shortened behind our back. */
  Short: 2,
  /** CRC mismatch, impossible length, or not the expected sequence. */
  Bad: 3,
} as const;
export type ScanStatus = (typeof ScanStatus)[keyof typeof ScanStatus];

export class FrameScanner {
  readonly info = newFrameInfo();
  #buf: Buffer = Buffer.alloc(0);
  #bufPos: number;

  /**
   * @param offset  where a frame starts
   * @param sequence  the sequence that frame must carry
   * @param limit  bytes of the file that may be read
   * @param chunk  bytes per read (more only for a single bigger frame)
   */
  constructor(
    private readonly file: LogFile,
    public offset: number,
    public sequence: number,
    private readonly limit: number,
    private readonly chunk: number,
  ) {
    this.#bufPos = offset;
  }

  async next(): Promise<ScanStatus> {
    if (this.offset >= this.limit) return ScanStatus.End;
    // At most two reads: one that may learn the length, one sized for the whole frame.
    for (let reads = 0; ; reads++) {
      const rel = this.offset - this.#bufPos;
      const need = this.#need(rel);
      if (need === undefined) return ScanStatus.Bad;
      if (this.#buf.length - rel >= need) break;
      // A read that returned less than it could have: the file is shorter than the limit says.
      if (this.offset + need > this.limit || reads === 2) return ScanStatus.Short;
      const length = Math.min(this.limit - this.offset, Math.max(this.chunk, need));
      this.#buf = await readAt(this.file, this.offset, length);
      this.#bufPos = this.offset;
    }
    const rel = this.offset - this.#bufPos;
    if (decodeFrame(this.#buf, rel, this.#buf.length, this.info) !== FrameStatus.Ok) return ScanStatus.Bad;
    return this.info.sequence === this.sequence ? ScanStatus.Ok : ScanStatus.Bad;
  }

  /** Bytes the frame at `rel` needs (its header until the length is known), undefined if impossible. */
  #need(rel: number): number | undefined {
    if (this.#buf.length - rel < FRAME_HEADER_SIZE) return FRAME_HEADER_SIZE;
    const length = this.#buf.readUInt32LE(rel);
    return length > MAX_FRAME_PAYLOAD ? undefined : FRAME_HEADER_SIZE + length;
  }

  /** The current frame's payload: a view into its read chunk (chunks are never reused). */
  payload(): Buffer {
    const start = this.offset - this.#bufPos + FRAME_HEADER_SIZE;
    return this.#buf.subarray(start, start + this.info.length);
  }

  advance(): void {
    this.offset += FRAME_HEADER_SIZE + this.info.length;
    this.sequence++;
  }
}
