import { TributaryError } from '../../shared/errors.ts';

/** Base of every error the alert function raises on purpose. */
export class AlertsError extends TributaryError {}

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

/** A required environment variable of the deployed function is missing. */
export class MissingEnvironmentError extends AlertsError {
  constructor(name: string) {
    super(
      'ALERTS_ENV_MISSING',
      `environment variable ${name} is not set (serverless.yml functions.alerts.environment)`,
    );
  }
}
