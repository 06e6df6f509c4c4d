import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeTailCheckpoint,
  encodeTailSlot,
  TAIL_CHECKPOINT_FILE_SIZE,
  TAIL_SLOT_STRIDE,
  type TailPosition,
} from '../../../../device/tail/checkpoint.ts';

const position = fc.record({
  path: fc.string({ maxLength: 200 }),
  dev: fc.nat(),
  ino: fc.nat(),
  fingerprintBytes: fc.integer({ min: 0, max: 1024 }),
  fingerprint: fc.stringMatching(/^[0-9a-f]{64}$/),
  offset: fc.nat(),
  headerLinesLeft: fc.nat({ max: 1000 }),
}) satisfies fc.Arbitrary<TailPosition>;
const generation = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });

describe('tail checkpoint slots', () => {
  it('round-trip; the newer of two valid slots wins; a damaged slot falls back to the other', () => {
    fc.assert(
      fc.property(generation, position, position, fc.nat(), (gen, older, newer, flip) => {
        const file = Buffer.alloc(TAIL_CHECKPOINT_FILE_SIZE);
        encodeTailSlot(gen, older).copy(file, (gen % 2) * TAIL_SLOT_STRIDE);
        const newSlot = encodeTailSlot(gen + 1, newer);
        const at = ((gen + 1) % 2) * TAIL_SLOT_STRIDE;
        newSlot.copy(file, at);
        expect(decodeTailCheckpoint(file)).toEqual({ generation: gen + 1, position: newer });
        const byte = at + (flip % newSlot.length);
        file[byte] = (file[byte] ?? 0) ^ 0x01;
        expect(decodeTailCheckpoint(file)).toEqual({ generation: gen, position: older });
      }),
    );
  });

  it('an all-zero file holds no position', () => {
    expect(decodeTailCheckpoint(Buffer.alloc(TAIL_CHECKPOINT_FILE_SIZE))).toBeUndefined();
  });
});
