import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { TributaryError } from '../../shared/errors.ts';

export const AlertsErrorCodes = errorCodes('functions/alerts', {
  ALERTS_STATE_CONFLICT: {
    class: 'StateConflictError',
    retryable: true,
    meaning:
      "another writer kept changing an entity's state between read and conditional write; the record is redelivered",
  },
  ALERTS_EARLIER_RECORD_FAILED: {
    class: 'EarlierRecordFailedError',
    retryable: true,
    meaning: 'not processed because an earlier record of the same entity in the batch failed (keeps order)',
  },
});
export type AlertsErrorCode = CodeOf<typeof AlertsErrorCodes>;

/** Base of every error the alert function raises on purpose. */
export class AlertsError extends TributaryError<AlertsErrorCode> {}

/**
 * Another writer changed an entity's state between our read and our conditional write, more often
 * than we are willing to re-read. Retryable: the event source mapping redelivers the record and the
 * version check makes the retry safe.
 */
export class StateConflictError extends AlertsError {
  readonly entityKey: string;

  constructor(entityKey: string, attempts: number) {
    super(
      'ALERTS_STATE_CONFLICT',
      `state of ${entityKey} changed under us ${attempts} times in a row; giving up this delivery`,
      { retryable: true },
    );
    this.entityKey = entityKey;
  }
}

/**
 * A record was not processed because an earlier record of the same entity in this batch failed.
 * Reporting it failed keeps the entity's records in order: Lambda retries from the earliest failure.
 */
export class EarlierRecordFailedError extends AlertsError {
  constructor(entityKey: string) {
    super('ALERTS_EARLIER_RECORD_FAILED', `an earlier record of ${entityKey} in this batch failed`, {
      retryable: true,
    });
  }
}
