/**
 * A tailed line as a contract record of type `log` (shared/CONTRACT.md): the message and level, the
 * source's filePattern as `source`, parsed and metadata fields in `fields`, the line's own time as
 * `event_time` (the read time when it has none, or one the contract cannot hold). A record over the
 * stream's size limit has its message cut, with the marker, rather than being refused.
 */
import { encodeRecord, RecordTooLargeError } from '../../shared/contract/index.ts';
import type { EntryEncoder } from './tailer.ts';

/** The contract's event_time range (CONTRACT.md): 2000-01-01 to 2100-01-01. */
const MIN_TIME = Date.UTC(2000, 0, 1);
const MAX_TIME = Date.UTC(2100, 0, 1);
const MAX_SOURCE_CHARS = 256;

export function logRecordEncoder(deviceId: string, maxRecordBytes: number, marker: string): EntryEncoder {
  return (entry, meta) => {
    let message = entry.message;
    const fields: Record<string, string> = { ...entry.fields };
    if (meta.truncated) fields.truncated = 'true';
    const time = entry.time >= MIN_TIME && entry.time < MAX_TIME ? entry.time : meta.readTime;
    for (;;) {
      const record = {
        id: meta.id,
        schema_version: 1,
        type: 'log',
        device_id: deviceId,
        partition_key: deviceId,
        event_time: time,
        payload: {
          level: entry.level,
          message,
          source: meta.source.slice(0, MAX_SOURCE_CHARS),
          ...(Object.keys(fields).length === 0 ? {} : { fields }),
        },
      };
      try {
        return encodeRecord(record, maxRecordBytes);
      } catch (error) {
        if (!(error instanceof RecordTooLargeError) || message.length === 0) throw error;
        // JSON escaping can make a line several times its size: halve until it fits.
        message = `${message.slice(0, Math.floor(message.length / 2))}${marker}`;
        if (message.length <= marker.length * 2) message = '';
        fields.truncated = 'true';
      }
    }
  };
}
