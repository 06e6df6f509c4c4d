/**
 * The AlertsTable's item layout (serverless.yml declares the table and its indexes). The alert
 * store writes it, the dashboard reader and the local pipeline read it: each builds keys and
 * matches items through these names, so a change of layout is one change here. No SDK imports, so
 * a reader takes the layout without the writer's client.
 *
 * alert:      pk ALERT#<alertId>, sk ALERT, kind alert; openState OPEN while open (sparse GSI
 *             open-alerts); entityId + raisedAt (GSI by-entity-time); kind + raisedAt (GSI recent-alerts).
 * quarantine: pk QUARANTINE#<shard>#<seq>#<subseq>, sk QUARANTINE, kind quarantine; entityId
 *             `quarantine`, so GSI by-entity-time lists quarantined records by arrival.
 */
import type { StreamPosition } from './types.ts';

/** Sort key of every alert item; partition keys are `ALERT#<alertId>`. */
export const ALERT_SK = 'ALERT';
export const ALERT_PK_PREFIX = 'ALERT#';
/** Sort key of every quarantined record's item. */
export const QUARANTINE_SK = 'QUARANTINE';
export const QUARANTINE_PK_PREFIX = 'QUARANTINE#';

/** The `kind` attribute: what an item is (and the hash key of GSI recent-alerts). */
export const ALERT_KIND = 'alert';
export const QUARANTINE_KIND = 'quarantine';
/** entityId of quarantine items, so GSI by-entity-time lists them apart from any device or card. */
export const QUARANTINE_ENTITY_ID = 'quarantine';
/** The `status` attribute of an alert item: OPEN until a record clears it. */
export const ALERT_STATUSES = ['OPEN', 'CLEARED'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];
export const ALERT_OPEN: AlertStatus = 'OPEN';
export const ALERT_CLEARED: AlertStatus = 'CLEARED';
/** openState of an open alert; clearing removes the attribute, so GSI open-alerts holds open ones only. */
export const OPEN_STATE = 'OPEN';

/** Names of the AlertsTable's GSIs (serverless.yml). */
export const OPEN_ALERTS_INDEX = 'open-alerts';
export const ENTITY_TIME_INDEX = 'by-entity-time';
/** Every alert by raise time (hash `kind` = `alert`): the history beside the open list. */
export const RECENT_ALERTS_INDEX = 'recent-alerts';

/** Primary key of an alert's item. */
export function alertKey(alertId: string): { pk: string; sk: typeof ALERT_SK } {
  return { pk: `${ALERT_PK_PREFIX}${alertId}`, sk: ALERT_SK };
}

/** Primary key of a quarantined record's item: one per Kinesis position. */
export function quarantineKey(position: StreamPosition): { pk: string; sk: typeof QUARANTINE_SK } {
  return {
    pk: `${QUARANTINE_PK_PREFIX}${position.shardId}#${position.sequenceNumber}#${position.subSequenceNumber}`,
    sk: QUARANTINE_SK,
  };
}
