/**
 * The AWS event stream framing (application/vnd.amazon.eventstream) as SubscribeToShard sends it, the
 * encoding side only. Pure; no I/O.
 *
 * A message is a prelude (total length u32 BE, headers length u32 BE, CRC32 of those 8 bytes), the
 * headers, the payload and a CRC32 of everything before it. A header is its name's length (u8), the
 * name, a value type (7: string), the value's length (u16 BE) and the value. SubscribeToShard needs
 * only string headers. https://docs.aws.amazon.com/lexv2/latest/dg/event-stream-encoding.html describes the
 * same framing; @smithy/core's EventStreamCodec is the decoder the SDK uses, and the unit tests decode
 * with it.
 */
import { crc32 } from 'node:zlib';

const PRELUDE_BYTES = 12;
const CRC_BYTES = 4;
const STRING_HEADER = 7;
const MAX_HEADER_NAME_BYTES = 255;
/** The length field is 16 bits; the SDK's own encoder stops at 32,767 (signed), so this does too. */
const MAX_HEADER_VALUE_BYTES = 32_767;

export type EventHeaders = readonly (readonly [name: string, value: string])[];

function encodeHeaders(headers: EventHeaders): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const nameBytes = Buffer.from(name, 'utf8');
    const valueBytes = Buffer.from(value, 'utf8');
    if (nameBytes.length === 0 || nameBytes.length > MAX_HEADER_NAME_BYTES)
      throw new RangeError(`event header name must be 1-${MAX_HEADER_NAME_BYTES} bytes: ${name}`);
    if (valueBytes.length > MAX_HEADER_VALUE_BYTES)
      throw new RangeError(`event header ${name}: value above ${MAX_HEADER_VALUE_BYTES} bytes`);
    const head = Buffer.alloc(1 + nameBytes.length + 3);
    head.writeUInt8(nameBytes.length, 0);
    nameBytes.copy(head, 1);
    head.writeUInt8(STRING_HEADER, 1 + nameBytes.length);
    head.writeUInt16BE(valueBytes.length, 2 + nameBytes.length);
    parts.push(head, valueBytes);
  }
  return Buffer.concat(parts);
}

/** One framed message. Throws RangeError for a header name or value out of range. */
export function encodeEventMessage(headers: EventHeaders, payload: Uint8Array): Buffer {
  const headerBytes = encodeHeaders(headers);
  const total = PRELUDE_BYTES + headerBytes.length + payload.length + CRC_BYTES;
  const message = Buffer.alloc(total);
  message.writeUInt32BE(total, 0);
  message.writeUInt32BE(headerBytes.length, 4);
  message.writeUInt32BE(crc32(message.subarray(0, 8)), 8);
  headerBytes.copy(message, PRELUDE_BYTES);
  message.set(payload, PRELUDE_BYTES + headerBytes.length);
  message.writeUInt32BE(crc32(message.subarray(0, total - CRC_BYTES)), total - CRC_BYTES);
  return message;
}

/** An `event` message: `:event-type` names the member of the operation's event stream union. */
export function eventMessage(eventType: string, contentType: string, payload: Uint8Array): Buffer {
  return encodeEventMessage(
    [
      [':message-type', 'event'],
      [':event-type', eventType],
      [':content-type', contentType],
    ],
    payload,
  );
}

/** A modeled `exception` message, e.g. ResourceInUseException; the SDK throws it from the stream. */
export function exceptionMessage(exceptionType: string, message: string): Buffer {
  return encodeEventMessage(
    [
      [':message-type', 'exception'],
      [':exception-type', exceptionType],
      [':content-type', 'application/json'],
    ],
    Buffer.from(JSON.stringify({ message }), 'utf8'),
  );
}
