/**
 * How the agent is started on a device, in one place: the systemd unit, the Greengrass recipe and
 * device/README.md's launch line use these (the README's figures were measured with them).
 */

/** glibc malloc: few arenas, freed memory given back (device/README.md's table). */
export const LAUNCH_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/** A small V8 heap tuned for size. */
export function nodeFlags(maxOldSpaceMb = 48): string[] {
  return ['--max-semi-space-size=1', `--max-old-space-size=${maxOldSpaceMb}`, '--optimize-for-size'];
}
