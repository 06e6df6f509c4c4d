/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8. Node 20 has no crc32c and
 * zlib's crc32 uses the other polynomial; CRC32C is what storage formats (ext4, iSCSI, Kafka) use.
 */

const POLY = 0x82f63b78;

// 8 tables of 256 entries: table k maps a byte to its CRC contribution k bytes further on.
const TABLE = new Int32Array(8 * 256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  TABLE[i] = c;
}
for (let i = 0; i < 256; i++) {
  for (let t = 1; t < 8; t++) {
    const prev = TABLE[(t - 1) * 256 + i] as number;
    TABLE[t * 256 + i] = (prev >>> 8) ^ (TABLE[prev & 0xff] as number);
  }
}

/**
 * CRC32C of `data[start, end)`. Pass a previous result as `initial` to continue a checksum over
 * several pieces: `crc32c(b, crc32c(a))` equals the CRC of `a` followed by `b`.
 */
export function crc32c(data: Uint8Array, initial = 0, start = 0, end = data.length): number {
  const t = TABLE;
  let crc = ~initial;
  let i = start;
  // Casts: noUncheckedIndexedAccess types every index read as possibly undefined; bounds hold by the loops.
  for (const last = end - 8; i <= last; i += 8) {
    const a =
      crc ^
      ((data[i] as number) |
        ((data[i + 1] as number) << 8) |
        ((data[i + 2] as number) << 16) |
        ((data[i + 3] as number) << 24));
    const b =
      (data[i + 4] as number) |
      ((data[i + 5] as number) << 8) |
      ((data[i + 6] as number) << 16) |
      ((data[i + 7] as number) << 24);
    crc =
      (t[1792 + (a & 0xff)] as number) ^
      (t[1536 + ((a >>> 8) & 0xff)] as number) ^
      (t[1280 + ((a >>> 16) & 0xff)] as number) ^
      (t[1024 + (a >>> 24)] as number) ^
      (t[768 + (b & 0xff)] as number) ^
      (t[512 + ((b >>> 8) & 0xff)] as number) ^
      (t[256 + ((b >>> 16) & 0xff)] as number) ^
      (t[b >>> 24] as number);
  }
  for (; i < end; i++) crc = (t[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}
