/**
 * A tailed line as a contract record of type `log` (shared/CONTRACT.md): the message and level, the
 * source's filePattern as `source`, parsed and metadata fields in `fields`, the line's own time as
 * `event_time` (the read time when it has none, or one the contract cannot hold). A record over the
 * stream's size limit has its message cut, with the marker, rather than being refused.
 */
import {
  EVENT_TIME_MAX_MS,
  EVENT_TIME_MIN_MS,
  encodeLogRecord,
  LOG_SOURCE_MAX_CHARS,
  RecordTooLargeError,
} from '../../shared/contract/index.ts';
import type { EntryEncoder } from './tailer.ts';

export function logRecordEncoder(deviceId: string, maxRecordBytes: number, marker: string): EntryEncoder {
  return (entry, meta) => {
    let message = entry.message;
    // The entry's own fields unless a key is added to them (never changed in place: the encoder is pure).
    let fields: Readonly<Record<string, string>> = meta.truncated
      ? { ...entry.fields, truncated: 'true' }
      : entry.fields;
    let hasFields = meta.truncated;
    if (!hasFields) for (const _ in fields) hasFields = true;
    const time =
      entry.time >= EVENT_TIME_MIN_MS && entry.time <= EVENT_TIME_MAX_MS ? entry.time : meta.readTime;
    const source = meta.source.slice(0, LOG_SOURCE_MAX_CHARS);
    for (;;) {
      try {
        return encodeLogRecord(
          {
            id: meta.id,
            deviceId,
            partitionKey: deviceId,
            eventTime: time,
            level: entry.level,
            message,
            source,
            fields: hasFields ? fields : undefined,
          },
          maxRecordBytes,
        );
      } catch (error) {
        if (!(error instanceof RecordTooLargeError) || message.length === 0) throw error;
        // JSON escaping can make a line several times its size: halve until it fits.
        message = `${message.slice(0, Math.floor(message.length / 2))}${marker}`;
        if (message.length <= marker.length * 2) message = '';
        fields = { ...fields, truncated: 'true' };
        hasFields = true;
      }
    }
  };
}
