import { ConfigError, formatPath } from '../../shared/errors.ts';
import { parseOptions } from '../../shared/options.ts';
import * as z from '../../shared/zod.ts';
import { isValidStreamName } from '../log/index.ts';

/** Kinesis stream names: 1-128 of a-z A-Z 0-9 _ . - (CreateStream API). */
const KINESIS_STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;
/** Same rule as the log's consumer names, which checkpoints are stored under. */
const CHECKPOINT_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const DAY_MILLIS = 86_400_000;

const schema = z
  .strictObject({
    /** The device log stream to export. */
    logStream: z.string().check(z.refine(isValidStreamName, 'must be a valid log stream name')),
    kinesisStreamName: z.string().check(z.regex(KINESIS_STREAM_NAME, 'must be 1-128 of a-z A-Z 0-9 _ . -')),
    /**
     * Greengrass-like: pending records become eligible for upload once this many are waiting, or
     * once the oldest has waited batchIntervalMillis. Not a cap: an eligible backlog is sent in
     * requests as large as the Kinesis limits allow.
     */
    batchSize: z._default(z.int().check(z.gte(1), z.lte(100_000)), 500),
    /** 0: eligible at once (Greengrass' behaviour when unset). */
    batchIntervalMillis: z._default(z.int().check(z.gte(0), z.lte(DAY_MILLIS)), 0),
    /** 1-10, HIGHER drains first when streams compete for bandwidth (Greengrass uses lower-first). */
    priority: z._default(z.int().check(z.gte(1), z.lte(10)), 5),
    /** Token bucket for metered links: data + partition key bytes per second. No cap when absent. */
    bandwidthBytesPerSecond: z.optional(z.int().check(z.gte(1024))),
    /** KPL aggregation: many user records per Kinesis record, packed per shard. */
    aggregation: z._default(z.boolean(), true),
    /**
     * After a restart, read the shards back from where this export's records last landed and skip
     * the records past the checkpoint that are already there (landed.ts). Needs
     * kinesis:GetShardIterator and kinesis:GetRecords; without them they are sent again.
     */
    readBackOnStart: z._default(z.boolean(), true),
    /** First log sequence to export when no checkpoint exists yet; default: the oldest kept. */
    startSequence: z.optional(z.int().check(z.gte(0), z.lte(Number.MAX_SAFE_INTEGER))),
    /** Log stream receiving records Kinesis can never accept; default `<logStream>.dead-letter`. */
    deadLetterStream: z.optional(
      z.string().check(z.refine(isValidStreamName, 'must be a valid log stream name')),
    ),
    /** Consumer name of the checkpoint in the log; default `kinesis.<kinesisStreamName>`. */
    checkpointName: z.optional(
      z.string().check(z.regex(CHECKPOINT_NAME, 'must be 1-128 of A-Z a-z 0-9 _ - .')),
    ),
  })
  .check(
    z.superRefine((d, ctx) => {
      if (d.checkpointName === undefined && !CHECKPOINT_NAME.test(`kinesis.${d.kinesisStreamName}`)) {
        ctx.addIssue({
          code: 'custom',
          path: ['checkpointName'],
          message: 'is required when kinesis.<kinesisStreamName> exceeds 128 characters',
        });
      }
      const deadLetter = d.deadLetterStream ?? `${d.logStream}.dead-letter`;
      if (!isValidStreamName(deadLetter)) {
        ctx.addIssue({
          code: 'custom',
          path: ['deadLetterStream'],
          message: 'is required when <logStream>.dead-letter is not a valid stream name',
        });
      }
      if (deadLetter === d.logStream) {
        ctx.addIssue({ code: 'custom', path: ['deadLetterStream'], message: 'must differ from logStream' });
      }
    }),
  );

export type ExportDefinitionInput = z.input<typeof schema>;

const listSchema = z.array(schema);

/** A validated export definition with defaults filled in (the dead-letter stream and checkpoint named). */
export type ExportDefinition = Readonly<
  Omit<z.output<typeof schema>, 'deadLetterStream' | 'checkpointName'> & {
    deadLetterStream: string;
    checkpointName: string;
  }
>;

/**
 * Validates a list of export definitions (one per log stream). Throws one ConfigError naming every
 * bad path (`exports[1].priority`) and its value.
 */
export function parseExportDefinitions(input: unknown, root = 'exports'): ExportDefinition[] {
  if (!Array.isArray(input)) throw new ConfigError(root, input, 'must be an array of export definitions');
  const parsed = parseOptions(listSchema, input, {
    at: [root],
    unknownKey: 'is not an export definition field',
  });
  const out: ExportDefinition[] = [];
  const seen = new Set<string>();
  parsed.forEach((d, index) => {
    if (seen.has(d.logStream)) {
      throw new ConfigError(formatPath([root, index, 'logStream']), d.logStream, 'is exported twice');
    }
    seen.add(d.logStream);
    out.push({
      logStream: d.logStream,
      kinesisStreamName: d.kinesisStreamName,
      batchSize: d.batchSize,
      batchIntervalMillis: d.batchIntervalMillis,
      priority: d.priority,
      ...(d.bandwidthBytesPerSecond === undefined
        ? {}
        : { bandwidthBytesPerSecond: d.bandwidthBytesPerSecond }),
      aggregation: d.aggregation,
      readBackOnStart: d.readBackOnStart,
      ...(d.startSequence === undefined ? {} : { startSequence: d.startSequence }),
      deadLetterStream: d.deadLetterStream ?? `${d.logStream}.dead-letter`,
      checkpointName: d.checkpointName ?? `kinesis.${d.kinesisStreamName}`,
    });
  });
  const exported = new Set(out.map((d) => d.logStream));
  out.forEach((d, index) => {
    if (exported.has(d.deadLetterStream)) {
      throw new ConfigError(
        formatPath([root, index, 'deadLetterStream']),
        d.deadLetterStream,
        'must not be an exported log stream',
      );
    }
  });
  return out;
}
