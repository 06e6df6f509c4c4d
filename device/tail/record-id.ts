import { createHash } from 'node:crypto';

/**
 * A tailed record's id: a UUIDv7 (the contract's id) whose 48-bit time is the batch's read time and
 * whose 74 "random" bits are a SHA-256 of the record's place (source, file identity, byte offset).
 * The same line read in the same batch always gets the same id, so a batch re-created after a crash
 * is byte-identical to the one appended before it, and any downstream dedupe on `id` sees one line.
 */
export function tailRecordId(readTime: number, place: string): string {
  const h = createHash('sha256').update(place).digest();
  const b = Buffer.alloc(16);
  b.writeUIntBE(Math.max(0, Math.floor(readTime)), 0, 6);
  h.copy(b, 6, 0, 10);
  b[6] = 0x70 | ((b[6] ?? 0) & 0x0f); // version 7
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f); // variant 10
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
