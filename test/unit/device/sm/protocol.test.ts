import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError, ResponseStatus, StreamManagerError } from '../../../../device/sm/errors.ts';
import { appendRequest, createRequest, parseRequest, readRequest } from '../../../../device/sm/model.ts';
import {
  CONNECT_VERSION,
  decodeCbor,
  encodeCbor,
  encodeFrame,
  type Frame,
  FrameDecoder,
  isOversized,
  negotiateProtocol,
  type OversizedFrame,
} from '../../../../device/sm/protocol.ts';
import { requestIdFromHead } from '../../../../device/sm/server.ts';
import { cutAt } from '../../../helpers/chunks.ts';

/** Cuts `bytes` at the given fractions of its length. */
const chunk = (bytes: Buffer, cuts: number[]): Buffer[] =>
  cutAt(
    bytes,
    cuts.map((c) => Math.floor(c * bytes.length)),
  );

const frameArb = fc.record({
  operation: fc.integer({ min: 0, max: 255 }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): (Frame | OversizedFrame)[] {
  return chunks.flatMap((c) => decoder.push(c));
}

describe('stream manager frame codec', () => {
  it('yields the same connect version and frames whatever the chunking of the byte stream', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 12 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
        (frames, cuts) => {
          const bytes = Buffer.concat([
            Buffer.of(CONNECT_VERSION),
            ...frames.map((f) => encodeFrame(f.operation, f.payload)),
          ]);
          const decoder = new FrameDecoder({ maxFrameBytes: 1024, expectConnectVersion: true });
          const out = decodeAll(decoder, chunk(bytes, cuts));
          expect(decoder.connectVersion).toBe(CONNECT_VERSION);
          expect(
            out.map((f) => ({ operation: f.operation, payload: new Uint8Array((f as Frame).payload) })),
          ).toEqual(frames.map((f) => ({ operation: f.operation, payload: new Uint8Array(f.payload) })));
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
    );
  });

  it('skips an oversized frame without buffering it, reports it with its head, and reads on', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 65, max: 4000 }),
        fc.record({ operation: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 64 }) }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }),
        (size, after, cuts) => {
          const big = Buffer.alloc(size, 7);
          const bytes = Buffer.concat([encodeFrame(4, big), encodeFrame(after.operation, after.payload)]);
          const decoder = new FrameDecoder({ maxFrameBytes: 64 });
          let peak = 0;
          const out: (Frame | OversizedFrame)[] = [];
          for (const c of chunk(bytes, cuts)) {
            out.push(...decoder.push(c));
            peak = Math.max(peak, decoder.bufferedBytes);
          }
          expect(out).toHaveLength(2);
          const [first, second] = out as [Frame | OversizedFrame, Frame | OversizedFrame];
          expect(isOversized(first)).toBe(true);
          expect((first as OversizedFrame).oversized).toBe(size);
          expect((first as OversizedFrame).head).toEqual(big.subarray(0, Math.min(512, size)));
          expect(second).toEqual({ operation: after.operation, payload: Buffer.from(after.payload) });
          // Never more than the head and one small frame held.
          expect(peak).toBeLessThanOrEqual(bytes.length - size + 512 + 5);
        },
      ),
    );
  });

  it('refuses a frame whose length does not even cover its operation byte', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 64 });
    const bad = Buffer.alloc(5);
    bad.writeInt32BE(0, 0);
    expect(() => decoder.push(bad)).toThrow(StreamManagerError);
  });

  it('round-trips request maps through CBOR, with 64-bit integers kept integers', () => {
    fc.assert(
      fc.property(
        fc.record({
          requestId: fc.string({ minLength: 1, maxLength: 40 }),
          sequenceNumber: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          payload: fc.uint8Array({ maxLength: 200 }),
          nested: fc.array(fc.record({ k: fc.integer(), s: fc.string() }), { maxLength: 4 }),
        }),
        (value) => {
          const decoded = decodeCbor(encodeCbor(value)) as typeof value;
          expect({ ...decoded, payload: new Uint8Array(decoded.payload) }).toEqual(value);
          expect(Number.isInteger(decoded.sequenceNumber)).toBe(true);
        },
      ),
    );
  });

  it('finds the request id at the head of a request map, as both SDKs write it', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 200 }),
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        (id, payload) => {
          const bytes = encodeCbor({ requestId: id, name: 's', payload: Buffer.from(payload) });
          const expected = Buffer.byteLength(id) <= 255 ? id : undefined;
          expect(requestIdFromHead(bytes.subarray(0, 512))).toBe(expected);
        },
      ),
    );
    expect(requestIdFromHead(encodeCbor({ name: 's', requestId: 'x' }))).toBeUndefined();
    expect(requestIdFromHead(Buffer.of(0xff))).toBeUndefined();
  });

  it('negotiates the client version when spoken, else an older one it offers', () => {
    expect(negotiateProtocol('1.1.0', ['1.0.0'])).toBe('1.1.0');
    expect(negotiateProtocol('2.0.0', ['1.0.0'])).toBe('1.0.0');
    expect(negotiateProtocol('2.0.0', ['0.9.0'])).toBeUndefined();
  });
});

describe('stream manager request model', () => {
  const definition = { name: 'sensors', strategyOnFull: 0 };

  it('refuses a field it does not know, naming its path', () => {
    const error = (() => {
      try {
        parseRequest(createRequest, { requestId: 'r', definition: { ...definition, colour: 'red' } });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).path).toBe('definition.colour');
    expect((error as InvalidRequestError).status).toBe(ResponseStatus.InvalidRequest);
  });

  it('names the bad field and value of an export config', () => {
    expect(() =>
      parseRequest(createRequest, {
        requestId: 'r',
        definition: {
          ...definition,
          exportDefinition: { kinesis: [{ identifier: 'k', kinesisStreamName: 'ks', batchSize: 501 }] },
        },
      }),
    ).toThrow(/definition\.exportDefinition\.kinesis\[0\]\.batchSize .*\(got 501\)/);
  });

  it('takes what the SDKs send and refuses an empty payload or a bad stream name', () => {
    expect(parseRequest(appendRequest, { requestId: 'r', name: 's', payload: Buffer.of(1) }).name).toBe('s');
    expect(() =>
      parseRequest(appendRequest, { requestId: 'r', name: 's', payload: Buffer.alloc(0) }),
    ).toThrow(/payload must not be empty/);
    expect(() => parseRequest(readRequest, { requestId: 'r', streamName: '../x' })).toThrow(/streamName/);
  });
});
