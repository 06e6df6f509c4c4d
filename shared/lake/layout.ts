import { createHash } from 'node:crypto';
import { LakePrefixError } from './errors.ts';
import { PARTITION_KEYS, type PartitionValues } from './table.ts';

/**
 * S3 key layout of Firehose deliveries (https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html,
 * https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html):
 *   <evaluated prefix><stream name>-<stream version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid><file extension>
 * Prefix expressions: `!{partitionKeyFromLambda:key}` (the keys the lake processor returns in
 * `metadata.partitionKeys`), `!{timestamp:<Java DateTimeFormatter>}` (the
 * approximate arrival time of the oldest record in the object, UTC) and `!{firehose:error-output-type}`.
 * Firehose's uuid is random; ours is derived from the source shard and sequence range, so a replay
 * of the same records writes the same key (overwrite, never a second copy).
 */

/** What a prefix is evaluated against. */
export interface PrefixContext {
  /** Approximate arrival time (epoch ms) of the oldest record in the object. */
  readonly arrivalMs: number;
  readonly partitions?: PartitionValues;
  readonly errorOutputType?: ErrorOutputType;
}

/**
 * Error output types used here. Firehose writes records its Lambda processor returned as
 * `ProcessingFailed` under `processing-failed`
 * (https://docs.aws.amazon.com/firehose/latest/dev/data-transformation-failure-handling.html) and
 * records its JSON deserializer cannot convert to the table's schema under `format-conversion-failed`
 * (https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion-error-handling.html).
 */
export type ErrorOutputType = 'processing-failed' | 'format-conversion-failed';
export const ERROR_OUTPUT_TYPES: readonly ErrorOutputType[] = [
  'processing-failed',
  'format-conversion-failed',
];

const EXPRESSION = /!\{([A-Za-z]+):([^}]*)\}/g;

/** Checks a template once, up front: a typo must stop delivery at start, not misfile data later. */
export function assertPrefix(template: string, kind: 'data' | 'error'): void {
  const stripped = template.replace(EXPRESSION, '');
  if (stripped.includes('!{'))
    throw new LakePrefixError(template, 'unterminated or malformed !{...} expression');
  for (const [, namespace, value] of template.matchAll(EXPRESSION)) {
    switch (namespace) {
      case 'partitionKeyFromLambda':
        if (kind === 'error')
          throw new LakePrefixError(template, 'an error prefix cannot use partition keys');
        if (!(PARTITION_KEYS as readonly string[]).includes(value as string)) {
          throw new LakePrefixError(
            template,
            `unknown partition key "${value}" (known: ${PARTITION_KEYS.join(', ')})`,
          );
        }
        break;
      case 'timestamp':
        formatTimestamp(0, value as string, template);
        break;
      case 'firehose':
        if (value !== 'error-output-type' || kind !== 'error') {
          throw new LakePrefixError(template, `!{firehose:${value}} is not supported here`);
        }
        break;
      default:
        throw new LakePrefixError(template, `unsupported namespace "${namespace}"`);
    }
  }
  if (kind === 'error' && !template.includes('!{firehose:error-output-type}')) {
    // Firehose requires it when the data prefix has expressions; without it error types mix.
    throw new LakePrefixError(template, 'an error prefix must contain !{firehose:error-output-type}');
  }
}

export function evaluatePrefix(template: string, context: PrefixContext): string {
  return template.replace(EXPRESSION, (_match, namespace: string, value: string) => {
    switch (namespace) {
      case 'partitionKeyFromLambda': {
        const partition = context.partitions?.[value as keyof PartitionValues];
        if (partition === undefined)
          throw new LakePrefixError(template, `no value for partition key "${value}"`);
        return partition;
      }
      case 'timestamp':
        return formatTimestamp(context.arrivalMs, value, template);
      default:
        if (context.errorOutputType === undefined)
          throw new LakePrefixError(template, 'no error output type');
        return context.errorOutputType;
    }
  });
}

const PATTERN_TOKEN = /'[^']*'|yyyy|MM|dd|HH|mm|ss|[A-Za-z]/g;

/** The subset of java.time.format.DateTimeFormatter patterns that prefixes use, in UTC. */
function formatTimestamp(epochMs: number, pattern: string, template: string): string {
  const iso = new Date(epochMs).toISOString();
  return pattern.replace(PATTERN_TOKEN, (token) => {
    switch (token) {
      case 'yyyy':
        return iso.slice(0, 4);
      case 'MM':
        return iso.slice(5, 7);
      case 'dd':
        return iso.slice(8, 10);
      case 'HH':
        return iso.slice(11, 13);
      case 'mm':
        return iso.slice(14, 16);
      case 'ss':
        return iso.slice(17, 19);
      default:
        if (token.startsWith("'")) return token.slice(1, -1);
        throw new LakePrefixError(template, `timestamp pattern letter "${token}" is not supported`);
    }
  });
}

/** Where an object's records came from: enough to name it deterministically. */
export interface ObjectSource {
  readonly shardId: string;
  readonly firstSequenceNumber: string;
  readonly lastSequenceNumber: string;
}

export interface ObjectNameInput {
  readonly deliveryStreamName: string;
  /** Firehose starts at 1 and adds 1 per configuration change. */
  readonly deliveryStreamVersion: number;
  readonly prefix: string;
  readonly arrivalMs: number;
  readonly source: ObjectSource;
  /** E.g. `.parquet` (Firehose's FileExtension); empty for none. */
  readonly extension: string;
}

export function objectKey(input: ObjectNameInput): string {
  const t = new Date(input.arrivalMs).toISOString();
  const stamp = `${t.slice(0, 4)}-${t.slice(5, 7)}-${t.slice(8, 10)}-${t.slice(11, 13)}-${t.slice(14, 16)}-${t.slice(17, 19)}`;
  const uuid = deterministicUuid(
    `${input.source.shardId}/${input.source.firstSequenceNumber}/${input.source.lastSequenceNumber}/${input.prefix}`,
  );
  return `${input.prefix}${input.deliveryStreamName}-${input.deliveryStreamVersion}-${stamp}-${uuid}${input.extension}`;
}

/** RFC 9562 UUIDv8 (custom) from a SHA-256: UUID-shaped like Firehose's suffix, but reproducible. */
export function deterministicUuid(seed: string): string {
  const bytes = createHash('sha256').update(seed).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
