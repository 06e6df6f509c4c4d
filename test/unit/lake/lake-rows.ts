import type { TributaryRecord } from '../../../shared/contract/index.ts';

/**
 * A record as DuckDB's JSON rendering of a lake row shows it: every payload field present (null when
 * the record's type lacks it), BIGINT as decimal strings, maps as key/value lists. Comparing against
 * this checks values and types at once.
 */
export function expectedRow(record: TributaryRecord): Record<string, unknown> {
  const p = record.payload as Record<string, unknown>;
  const tags = p.tags as Record<string, string> | undefined;
  const fields = p.fields as Record<string, string> | undefined;
  const location = p.location as { lat: number; lon: number; country?: string } | undefined;
  const amount = p.amount_minor as number | undefined;
  return {
    id: record.id,
    schema_version: record.schema_version,
    device_id: record.device_id,
    partition_key: record.partition_key,
    event_time: String(record.event_time),
    type: record.type,
    payload: {
      metric: p.metric ?? null,
      value: p.value ?? null,
      unit: p.unit ?? null,
      tags: tags === undefined ? null : Object.entries(tags).map(([key, value]) => ({ key, value })),
      card_token: p.card_token ?? null,
      merchant_id: p.merchant_id ?? null,
      merchant_category: p.merchant_category ?? null,
      amount_minor: amount === undefined ? null : String(amount),
      currency: p.currency ?? null,
      location:
        location === undefined
          ? null
          : { lat: location.lat, lon: location.lon, country: location.country ?? null },
      channel: p.channel ?? null,
      level: p.level ?? null,
      message: p.message ?? null,
      source: p.source ?? null,
      fields: fields === undefined ? null : Object.entries(fields).map(([key, value]) => ({ key, value })),
    },
  };
}

/** DuckDB's column types for the lake's data columns, as Firehose's conversion of the Glue schema gives them. */
export const EXPECTED_COLUMN_TYPES: Readonly<Record<string, string>> = {
  id: 'VARCHAR',
  schema_version: 'INTEGER',
  device_id: 'VARCHAR',
  partition_key: 'VARCHAR',
  event_time: 'BIGINT',
  type: 'VARCHAR',
  payload:
    'STRUCT("metric" VARCHAR, "value" DOUBLE, "unit" VARCHAR, "tags" MAP(VARCHAR, VARCHAR), "card_token" VARCHAR, ' +
    '"merchant_id" VARCHAR, "merchant_category" VARCHAR, "amount_minor" BIGINT, "currency" VARCHAR, ' +
    '"location" STRUCT("lat" DOUBLE, "lon" DOUBLE, "country" VARCHAR), "channel" VARCHAR, ' +
    '"level" VARCHAR, "message" VARCHAR, "source" VARCHAR, "fields" MAP(VARCHAR, VARCHAR))',
};
