import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  decodeSegmentHeader,
  encodeFrame,
  encodeSegmentHeader,
  FRAME_HEADER_SIZE,
  FrameStatus,
  newFrameInfo,
  parseSegmentName,
  SEGMENT_HEADER_SIZE,
  segmentName,
} from '../../../../device/log/format.ts';

const sequences = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const timestamps = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

function frame(sequence: number, timestamp: number, payload: Uint8Array): Buffer {
  const buf = Buffer.alloc(FRAME_HEADER_SIZE + payload.length);
  encodeFrame(buf, 0, sequence, timestamp, payload);
  return buf;
}

describe('frame codec', () => {
  it('round-trips sequence, timestamp and payload', () => {
    fc.assert(
      fc.property(
        sequences,
        timestamps,
        fc.uint8Array({ maxLength: 2000 }),
        fc.nat(64),
        (seq, ts, payload, pad) => {
          const buf = Buffer.alloc(pad + FRAME_HEADER_SIZE + payload.length);
          expect(encodeFrame(buf, pad, seq, ts, payload)).toBe(buf.length);
          const info = newFrameInfo();
          expect(decodeFrame(buf, pad, buf.length, info)).toBe(FrameStatus.Ok);
          expect(info).toEqual({ length: payload.length, sequence: seq, timestamp: ts });
          expect(buf.subarray(pad + FRAME_HEADER_SIZE)).toEqual(Buffer.from(payload));
        },
      ),
    );
  });

  it('reports every truncation as incomplete', () => {
    fc.assert(
      fc.property(sequences, fc.uint8Array({ maxLength: 500 }), fc.nat(), (seq, payload, cut) => {
        const buf = frame(seq, 1, payload);
        const end = cut % buf.length;
        expect(decodeFrame(buf, 0, end, newFrameInfo())).toBe(FrameStatus.Incomplete);
      }),
    );
  });

  it('never accepts a frame with any single byte changed', () => {
    fc.assert(
      fc.property(
        sequences,
        timestamps,
        fc.uint8Array({ maxLength: 500 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (seq, ts, payload, at, flip) => {
          const buf = frame(seq, ts, payload);
          const index = at % buf.length;
          buf[index] = (buf[index] as number) ^ flip;
          // A changed length can make the frame look longer than the bytes at hand: incomplete, not Ok.
          expect(decodeFrame(buf, 0, buf.length, newFrameInfo())).not.toBe(FrameStatus.Ok);
        },
      ),
    );
  });
});

describe('segment header and names', () => {
  it('round-trips and rejects any changed byte', () => {
    fc.assert(
      fc.property(
        sequences,
        timestamps,
        fc.nat(SEGMENT_HEADER_SIZE - 1),
        fc.integer({ min: 1, max: 255 }),
        (base, ts, at, flip) => {
          const header = encodeSegmentHeader({ baseSequence: base, prevLastTimestamp: ts });
          expect(decodeSegmentHeader(header)).toEqual({ baseSequence: base, prevLastTimestamp: ts });
          header[at] = (header[at] as number) ^ flip;
          expect(decodeSegmentHeader(header)).toBeUndefined();
        },
      ),
    );
  });

  it('names segments by zero-padded base sequence, sorting like numbers', () => {
    expect(segmentName(42)).toBe('00000000000000000042.seg');
    expect(parseSegmentName(segmentName(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseSegmentName('00000000000000000042.seg.tmp')).toBeUndefined();
    expect(parseSegmentName('stream.json')).toBeUndefined();
  });
});
