/**
 * Greengrass stream manager's wire protocol (device/PROTOCOL.md), as the official SDKs speak it:
 * a one-byte connect version, then frames of `length (i32 BE, = 1 + payload bytes) | operation (u8) |
 * CBOR payload`, both ways. Pure: no sockets here, so any chunking of the byte stream can be tested.
 */
import { Decoder, Encoder, type Options } from 'cbor-x';
import { FrameMalformedError } from './errors.ts';

/** The only connect version the SDKs (Python 1.1.2, Node 1.7.0) know; it precedes the Connect frame. */
export const CONNECT_VERSION = 1;
/** The newest protocol the SDKs speak; the others this server accepts in negotiation. */
export const PROTOCOL_VERSION = '1.1.0';
export const SUPPORTED_PROTOCOL_VERSIONS: readonly string[] = ['1.1.0', '1.0.0'];
/** The SDKs' own ceiling on a frame (`_MAX_PACKET_SIZE`, 1 GiB); the server's is far lower (below). */
export const SDK_MAX_FRAME_BYTES = 1 << 30;
export const FRAME_HEADER_BYTES = 5;

export const Operation = {
  Unknown: 0,
  Connect: 1,
  CreateMessageStream: 2,
  DeleteMessageStream: 3,
  AppendMessage: 4,
  ReadMessages: 5,
  ConnectResponse: 6,
  CreateMessageStreamResponse: 7,
  DeleteMessageStreamResponse: 8,
  AppendMessageResponse: 9,
  ReadMessagesResponse: 10,
  ListStreams: 11,
  ListStreamsResponse: 12,
  DescribeMessageStream: 13,
  DescribeMessageStreamResponse: 14,
  UpdateMessageStream: 15,
  UpdateMessageStreamResponse: 16,
  UnknownOperationError: 17,
} as const;
export type OperationName = keyof typeof Operation;

/** The request operations a connected client may send, and the operation of their answer. */
export const RESPONSE_OF: Readonly<Record<number, number>> = {
  [Operation.CreateMessageStream]: Operation.CreateMessageStreamResponse,
  [Operation.DeleteMessageStream]: Operation.DeleteMessageStreamResponse,
  [Operation.AppendMessage]: Operation.AppendMessageResponse,
  [Operation.ReadMessages]: Operation.ReadMessagesResponse,
  [Operation.ListStreams]: Operation.ListStreamsResponse,
  [Operation.DescribeMessageStream]: Operation.DescribeMessageStreamResponse,
  [Operation.UpdateMessageStream]: Operation.UpdateMessageStreamResponse,
};

export interface Frame {
  readonly operation: number;
  readonly payload: Uint8Array;
}

/**
 * Plain CBOR both ways: maps as text-keyed maps, byte strings untagged. cbor-x's own extensions
 * (record structures, tagged typed arrays) would be unreadable to the SDKs' cbor2 and `cbor` libraries.
 */
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
// int64AsNumber: a sequence number sent in 8 bytes is a number (a bigint fails validation as a type).
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true } as Options);

/**
 * cbor-x writes a number past 32 bits as a float; the SDKs' sequence numbers and times are integers
 * (Python would read 1.7e12 as a float), so such integers go out as 64-bit CBOR integers.
 */
function wideIntegers(value: unknown): unknown {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && (value > 0xffff_ffff || value < -0x8000_0000)
      ? BigInt(value)
      : value;
  }
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(wideIntegers);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = wideIntegers(v);
  return out;
}

export function encodeCbor(value: unknown): Buffer {
  return encoder.encode(wideIntegers(value));
}

/** Decodes one CBOR item; anything after it, or a truncated item, is a malformed frame. */
export function decodeCbor(payload: Uint8Array): unknown {
  try {
    return decoder.decode(payload);
  } catch (error) {
    throw new FrameMalformedError(`payload is not one CBOR item: ${(error as Error).message}`);
  }
}

/** One frame as bytes, header and payload in one buffer. */
export function encodeFrame(operation: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeInt32BE(payload.length + 1, 0);
  out.writeUInt8(operation, 4);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export function encodeMessage(operation: number, body: unknown): Buffer {
  return encodeFrame(operation, encodeCbor(body));
}

/** Bytes of an oversized frame's payload kept to find its request id (the SDKs write it first). */
export const OVERSIZED_HEAD_BYTES = 512;

/** A frame whose declared size is over the limit: reported with its head, the rest skipped unbuffered. */
export interface OversizedFrame {
  readonly operation: number;
  readonly oversized: number;
  readonly head: Buffer;
}

/**
 * Cuts a byte stream into frames whatever the chunking. With `expectConnectVersion`, the first byte
 * is the connect version (reported once through `connectVersion`). A frame over `maxFrameBytes` is
 * not buffered: its bytes are dropped as they come and it is reported as oversized.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #skipping = 0;
  connectVersion: number | undefined;
  #expectVersion: boolean;

  constructor(options: { maxFrameBytes: number; expectConnectVersion?: boolean }) {
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#expectVersion = options.expectConnectVersion ?? false;
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }

  push(chunk: Uint8Array): (Frame | OversizedFrame)[] {
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#skipping > 0) {
      const skip = Math.min(this.#skipping, data.length);
      this.#skipping -= skip;
      data = data.subarray(skip);
    }
    if (data.length > 0) {
      this.#pending.push(data);
      this.#pendingBytes += data.length;
    }
    const out: (Frame | OversizedFrame)[] = [];
    for (;;) {
      if (this.#expectVersion) {
        if (this.#pendingBytes < 1) return out;
        this.connectVersion = this.#take(1)[0];
        this.#expectVersion = false;
      }
      if (this.#pendingBytes < FRAME_HEADER_BYTES) return out;
      const header = this.#peek(FRAME_HEADER_BYTES);
      const length = header.readInt32BE(0);
      const operation = header.readUInt8(4);
      if (length < 1) throw new FrameMalformedError(`length ${length} is below 1 (the operation byte)`);
      const payloadBytes = length - 1;
      if (payloadBytes > this.#maxFrameBytes) {
        const headBytes = Math.min(OVERSIZED_HEAD_BYTES, payloadBytes);
        if (this.#pendingBytes < FRAME_HEADER_BYTES + headBytes) return out;
        this.#take(FRAME_HEADER_BYTES);
        const head = Buffer.from(this.#take(headBytes));
        const available = Math.min(payloadBytes - headBytes, this.#pendingBytes);
        this.#take(available);
        this.#skipping = payloadBytes - headBytes - available;
        out.push({ operation, oversized: payloadBytes, head });
        if (this.#skipping > 0) return out;
        continue;
      }
      if (this.#pendingBytes < FRAME_HEADER_BYTES + payloadBytes) return out;
      this.#take(FRAME_HEADER_BYTES);
      out.push({ operation, payload: this.#take(payloadBytes) });
    }
  }

  #peek(n: number): Buffer {
    const first = this.#pending[0] as Buffer;
    if (first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.#pending);
    this.#pending = [joined];
    return joined.subarray(0, n);
  }

  /** Removes and returns the next n bytes (a copy only when they span chunks). */
  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.#pending[0] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#pending.shift();
      else this.#pending[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const head = this.#pending[0] as Buffer;
        const part = Math.min(head.length, n - filled);
        head.copy(out, filled, 0, part);
        filled += part;
        if (part === head.length) this.#pending.shift();
        else this.#pending[0] = head.subarray(part);
      }
    }
    this.#pendingBytes -= n;
    return out;
  }
}

export function isOversized(frame: Frame | OversizedFrame): frame is OversizedFrame {
  return 'oversized' in frame;
}

/**
 * Protocol negotiation as stream manager does it: the client's own version when the server speaks
 * it, else the first of the client's older ones the server speaks; undefined when none.
 */
export function negotiateProtocol(protocolVersion: string, others: readonly string[]): string | undefined {
  return [protocolVersion, ...others].find((v) => SUPPORTED_PROTOCOL_VERSIONS.includes(v));
}
