import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tailRecordId } from '../../../../device/tail/record-id.ts';

/** The id as record-id.ts documents it, byte by byte: 48-bit time, then SHA-256 bytes 0-9 under version and variant. */
function byTheSpec(readTime: number, place: string): string {
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(Math.max(0, Math.floor(readTime)), 0, 6);
  createHash('sha256').update(place, 'utf8').digest().copy(bytes, 6, 0, 10);
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = bytes.toString('hex');
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('tailRecordId', () => {
  it('keeps the ids records already carry (a batch announced before an upgrade is re-created byte for byte)', () => {
    expect(tailRecordId(1765000000123, '0123456789abcdef:2049:1234567:400')).toBe(
      '019af232-b27b-705c-b171-6f578c776b3f',
    );
    expect(tailRecordId(0, 'x')).toBe('00000000-0000-7d71-9642-b726b0440162');
    expect(tailRecordId(Number.NaN, '\ud800')).toBe('00000000-0000-73d5-84cc-c223c057d2bf');
    expect(tailRecordId(2 ** 48 - 1, 'é')).toBe('ffffffff-ffff-7a99-957e-4033c3539de2');
  });

  it('is the documented UUIDv7 for any read time and place, in any order of calls', () => {
    const time = fc.oneof(
      fc.integer({ min: 0, max: 2 ** 48 - 1 }),
      fc.double({ min: -1e6, max: 2 ** 48 - 1, noNaN: true }),
      fc.constantFrom(1765000000000, 1765000000000, -0),
    );
    const place = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ maxLength: 80 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(time, place), { minLength: 1, maxLength: 8 }), (calls) => {
        for (const [readTime, where] of calls) {
          const id = tailRecordId(readTime, where);
          expect(id).toBe(byTheSpec(readTime, where));
          expect(id).toMatch(UUID_V7);
        }
      }),
    );
  });

  it('refuses a read time beyond 48 bits, as the UUID layout does', () => {
    expect(() => tailRecordId(2 ** 48, 'x')).toThrow(RangeError);
  });
});
