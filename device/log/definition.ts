import { ConfigError } from '../../shared/errors.ts';
import { parseOptions } from '../../shared/options.ts';
import * as z from '../../shared/zod.ts';
import { FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE } from './format.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Greengrass stream manager defaults: 256 MiB per stream, 16 MiB segments. */
export const DEFAULT_MAX_SIZE = 256 * MiB;
export const DEFAULT_SEGMENT_SIZE = 16 * MiB;
/** Same as Kinesis' default record limit, so anything the log accepts can be exported as one record. */
export const DEFAULT_MAX_RECORD_SIZE = 1 * MiB;
export const DEFAULT_GROUP_COMMIT_MILLIS = 5;
/** Greengrass' segment ceiling; also keeps file offsets far from 2^53. */
export const MAX_SEGMENT_SIZE = 2 * 1024 * MiB;

/** Greengrass' stream name rule; "." and ".." are refused because the name is a directory name. */
const STREAM_NAME = /^[A-Za-z0-9 ,._-]{1,255}$/;

const schema = z.strictObject({
  name: z.string().check(
    z.regex(STREAM_NAME, 'must be 1-255 letters, digits, spaces, commas, periods, hyphens or underscores'),
    z.refine((name) => name !== '.' && name !== '..', 'must not be "." or ".."'),
  ),
  /** Bytes on disk for the whole stream (segment headers and frames). */
  maxSize: z._default(z.int().check(z.gte(KiB), z.lte(Number.MAX_SAFE_INTEGER)), DEFAULT_MAX_SIZE),
  /** Target size of one segment file; data is deleted a whole segment at a time. At most maxSize. */
  segmentSize: z.optional(z.int().check(z.gte(KiB), z.lte(MAX_SEGMENT_SIZE))),
  /** Whole segments whose newest record is older than this are deleted. No expiry when absent. */
  timeToLiveMillis: z.optional(z.int().check(z.positive(), z.lte(Number.MAX_SAFE_INTEGER))),
  strategyOnFull: z._default(z.enum(['RejectNewData', 'OverwriteOldestData']), 'RejectNewData'),
  /** Memory: records and checkpoints live in RAM and are gone after a restart. */
  persistence: z._default(z.enum(['File', 'Memory']), 'File'),
  /** fsync after every single append instead of group commit. */
  flushOnWrite: z._default(z.boolean(), false),
  /** Group commit: at most one fsync per this many ms; acknowledgements still wait for the fsync. */
  groupCommitMillis: z._default(z.int().check(z.gte(0), z.lte(10_000)), DEFAULT_GROUP_COMMIT_MILLIS),
  /** Largest payload accepted, in bytes. */
  maxRecordSize: z.optional(z.int().check(z.gte(1))),
});

/** What callers pass to createStream/updateStream; everything but `name` has a default. */
export type StreamDefinitionInput = z.input<typeof schema>;

/**
 * A validated definition with every default filled in (segmentSize and maxRecordSize derived from
 * the others when absent); stored as the stream's `stream.json`.
 */
export type StreamDefinition = Readonly<
  Omit<z.output<typeof schema>, 'segmentSize' | 'maxRecordSize'> & {
    segmentSize: number;
    maxRecordSize: number;
  }
>;

/** Stream names double as directory names; this is the same rule the schema applies. */
export function isValidStreamName(name: string): boolean {
  return STREAM_NAME.test(name) && name !== '.' && name !== '..';
}

/** Validates and fills defaults. Throws one ConfigError naming every bad path and its value. */
export function parseStreamDefinition(input: unknown): StreamDefinition {
  const d = parseOptions(schema, input, { unknownKey: 'is not a stream definition field' });
  const segmentSize = d.segmentSize ?? Math.min(DEFAULT_SEGMENT_SIZE, d.maxSize);
  if (segmentSize > d.maxSize) {
    throw new ConfigError('segmentSize', segmentSize, `must not exceed maxSize (${d.maxSize})`);
  }
  // One record must always fit in an empty segment, so a roll always makes room.
  const recordCeiling = segmentSize - SEGMENT_HEADER_SIZE - FRAME_HEADER_SIZE;
  const maxRecordSize = d.maxRecordSize ?? Math.min(DEFAULT_MAX_RECORD_SIZE, recordCeiling);
  if (maxRecordSize > recordCeiling) {
    throw new ConfigError(
      'maxRecordSize',
      maxRecordSize,
      `must be at most segmentSize - ${SEGMENT_HEADER_SIZE + FRAME_HEADER_SIZE} (${recordCeiling})`,
    );
  }
  return {
    name: d.name,
    maxSize: d.maxSize,
    segmentSize,
    ...(d.timeToLiveMillis === undefined ? {} : { timeToLiveMillis: d.timeToLiveMillis }),
    strategyOnFull: d.strategyOnFull,
    persistence: d.persistence,
    flushOnWrite: d.flushOnWrite,
    groupCommitMillis: d.groupCommitMillis,
    maxRecordSize,
  };
}
