/**
 * Which files of a directory a source follows, and how a file is recognised again: pure functions
 * of names and first bytes. Rotated files compressed by logrotate (or anything else) are never read.
 */
import { fingerprintOf } from './checkpoint.ts';

/** Names of compressed or archived files: a rotated `app.log.2.gz` matches `app.log*` but is skipped. */
const COMPRESSED = /\.(?:gz|tgz|bz2|tbz2?|xz|txz|zst|zstd|lz4|lzma|lzo|z|zip|7z|tar|br|sz)$/i;

export function isCompressedName(name: string): boolean {
  return COMPRESSED.test(name);
}

/** A copy must share at least this many first bytes with the original to be taken for one. */
export const MIN_COPY_PREFIX = 64;

/** The first bytes of two files agree over the shorter of them (and at least `min` bytes). */
export function samePrefix(a: Uint8Array, b: Uint8Array, min: number): boolean {
  const n = Math.min(a.length, b.length);
  if (n < min) return false;
  return Buffer.compare(a.subarray(0, n), b.subarray(0, n)) === 0;
}

/** `head` starts with the bytes a stored fingerprint covered. */
export function matchesFingerprint(head: Uint8Array, fingerprintBytes: number, fingerprint: string): boolean {
  return head.length >= fingerprintBytes && fingerprintOf(head.subarray(0, fingerprintBytes)) === fingerprint;
}
