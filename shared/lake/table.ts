import { type GlueColumn, glueColumns } from '../contract/glue.ts';
import type { TributaryRecord } from '../contract/schema.ts';

/**
 * The raw records table of the lake: data columns from the contract, partition columns from the
 * record type and the event hour. Partition columns are not data columns (Hive/Athena forbid a
 * partition key that repeats a column name, hence `record_type`, not `type`).
 */

/** CloudFormation's AWS::Glue::Table Column shape, as serverless.yml embeds it. */
export interface GlueColumnTemplate {
  Name: string;
  Type: string;
  Comment?: string;
}

export function glueColumnsTemplate(columns: readonly GlueColumn[] = glueColumns()): GlueColumnTemplate[] {
  return columns.map((c) =>
    c.comment === undefined
      ? { Name: c.name, Type: c.type }
      : { Name: c.name, Type: c.type, Comment: c.comment },
  );
}

/** Partition keys in S3 path order; all strings, as the Glue table declares them. */
export const PARTITION_KEYS = ['record_type', 'dt', 'hour'] as const;
export type PartitionKey = (typeof PARTITION_KEYS)[number];
export type PartitionValues = Readonly<Record<PartitionKey, string>>;

/**
 * The partition a record lands in: its type and the UTC date and hour of its event time (not its
 * arrival time: a record that arrives late still lands in the hour it happened). The lake processor
 * returns these as Firehose's dynamic-partitioning keys (`!{partitionKeyFromLambda:...}`).
 */
export function partitionValues(record: Pick<TributaryRecord, 'type' | 'event_time'>): PartitionValues {
  const iso = new Date(Math.floor(record.event_time / 1000) * 1000).toISOString();
  return { record_type: record.type, dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}
