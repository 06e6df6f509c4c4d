/**
 * `bytes` cut at the given offsets (any order, repeats allowed, each in 0..length): the pieces a
 * stream could deliver, for the "any chunking gives the same result" properties.
 */
export function cutAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets)].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(from, point));
    from = point;
  }
  pieces.push(bytes.subarray(from));
  return pieces;
}
