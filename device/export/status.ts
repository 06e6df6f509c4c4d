/**
 * What `KinesisExporter.status()` reports per export. Kept apart from the loop: it only reads the
 * export's state and the log's description, and the backlog of the unread part is an estimate.
 */
import type { LogStore } from '../log/index.ts';
import type { ExportCounters, LastError } from './state.ts';
import type { StreamExport } from './stream-export.ts';

export interface ExportStatus {
  readonly logStream: string;
  readonly kinesisStreamName: string;
  readonly priority: number;
  readonly aggregation: boolean;
  readonly state: 'starting' | 'exporting' | 'idle' | 'backing-off' | 'stopped';
  /** Records not yet exported; bytes estimated from the log's average record size for the unread part. */
  readonly backlog: { readonly records: number; readonly bytes: number };
  /** Highest sequence with everything up to it accepted (or dead-lettered). */
  readonly lastExportedSequence: number | undefined;
  /** The checkpoint durably in the log. */
  readonly committedSequence: number | undefined;
  /** Age of the oldest record not yet exported, ms. */
  readonly lagMillis: number;
  readonly lastError: LastError | undefined;
  /** When the latest PutRecords request was sent, ms since the epoch (stream manager's lastExportTime). */
  readonly lastRequestAt: number | undefined;
  readonly counters: Readonly<ExportCounters> & {
    /** Records the log deleted (TTL, overwrite) before they were exported. */
    readonly lostBeforeExport: number;
  };
  readonly inFlightRequests: number;
  readonly bufferedBytes: number;
}

export function exportStatus(e: StreamExport, store: LogStore, now: number, stopped: boolean): ExportStatus {
  const { state, definition } = e;
  let unread = 0;
  let averageBytes = 0;
  try {
    const description = store.describeStream(definition.logStream);
    unread = Math.max(0, description.nextSequence - Math.max(e.nextRead, description.firstSequence));
    averageBytes = description.records > 0 ? description.bytes / description.records : 0;
  } catch {
    // Store closed: report what the exporter itself holds.
  }
  const oldest = state.oldestUnexportedTimestamp;
  let phase: ExportStatus['state'];
  if (stopped) phase = 'stopped';
  else if (e.describeDue && state.counters.requestsSent === 0) phase = 'starting';
  else if (state.offlineUntil > now) phase = 'backing-off';
  else if (state.heldRecords === 0 && unread === 0) phase = 'idle';
  else phase = 'exporting';
  return {
    logStream: definition.logStream,
    kinesisStreamName: definition.kinesisStreamName,
    priority: definition.priority,
    aggregation: definition.aggregation,
    state: phase,
    backlog: {
      records: state.heldRecords + unread,
      bytes: Math.round(state.bufferedBytes + unread * averageBytes),
    },
    lastExportedSequence: state.checkpoint,
    committedSequence: e.committed,
    lagMillis: oldest === undefined ? 0 : Math.max(0, now - oldest),
    lastError: state.lastError,
    lastRequestAt: state.lastRequestAt,
    counters: { ...state.counters, lostBeforeExport: e.lostBeforeExport },
    inFlightRequests: state.inFlightRequests,
    bufferedBytes: state.bufferedBytes,
  };
}
