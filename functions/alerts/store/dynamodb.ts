import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { EntityState } from '../rules/engine.ts';
import type { ClearedAlert, RaisedAlert } from '../rules/model.ts';
import {
  ALERT_CLEARED,
  ALERT_KIND,
  ALERT_OPEN,
  alertKey,
  OPEN_STATE,
  QUARANTINE_ENTITY_ID,
  QUARANTINE_KIND,
  quarantineKey,
} from './layout.ts';
import type { AlertStore, QuarantinedRecord, StateStore, StoredState, StreamPosition } from './types.ts';

/**
 * DynamoDB adapters. Item layouts (see serverless.yml for the tables and their access patterns):
 *
 * AlertsTable:             keys, kinds and indexes in layout.ts (readers use the same names);
 *                          alerts carry status OPEN|CLEARED.
 * CardStateTable:          pk = entity id (`card:<token>`, `device:<id>`); version, state, applied
 *                          position; TTL expiresAt.
 * Every write is conditional, so a redelivered record never creates or applies anything twice.
 */

/** The part of the document client the stores use (lets tests wrap `send` to inject faults). */
export interface DocumentSender {
  send: DynamoDBDocumentClient['send'];
}

export interface StoreOptions {
  /** Seconds until items expire (DynamoDB TTL). */
  ttlSeconds: number;
  /** Wall clock for TTLs, epoch ms. */
  now?: () => number;
}

/** Quarantined bytes kept inline; larger records keep a prefix plus size and SHA-256 (items max 400 KB). */
export const QUARANTINE_DATA_MAX_BYTES = 32 * 1024;

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** What both stores share: one table, the document client, item expiry. */
abstract class DynamoTableStore {
  protected readonly documents: DocumentSender;
  protected readonly table: string;
  protected readonly ttlSeconds: number;
  protected readonly now: () => number;

  constructor(documents: DocumentSender, table: string, options: StoreOptions) {
    this.documents = documents;
    this.table = table;
    this.ttlSeconds = options.ttlSeconds;
    this.now = options.now ?? Date.now;
  }
}

export class DynamoStateStore extends DynamoTableStore implements StateStore {
  async get(entityId: string): Promise<StoredState | undefined> {
    const { Item: item } = await this.documents.send(
      new GetCommand({ TableName: this.table, Key: { pk: entityId }, ConsistentRead: true }),
    );
    if (item === undefined) return undefined;
    const applied =
      typeof item.appliedShard === 'string'
        ? {
            shardId: item.appliedShard,
            sequenceNumber: String(item.appliedSequence),
            subSequenceNumber: Number(item.appliedSubSequence),
          }
        : undefined;
    return {
      entity: { kind: item.kind, state: JSON.parse(String(item.state)) } as EntityState,
      version: Number(item.version),
      applied,
    };
  }

  async put(
    entityId: string,
    entity: EntityState,
    applied: StreamPosition,
    expectedVersion: number,
  ): Promise<'written' | 'conflict'> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: entityId,
            kind: entity.kind,
            version: expectedVersion + 1,
            // A JSON string: one attribute, no per-field type mapping, and state shape can evolve.
            state: JSON.stringify(entity.state),
            appliedShard: applied.shardId,
            appliedSequence: applied.sequenceNumber,
            appliedSubSequence: applied.subSequenceNumber,
            updatedAt: iso(this.now()),
            expiresAt: Math.floor(this.now() / 1000) + this.ttlSeconds,
          },
          ...(expectedVersion === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: 'version = :expected',
                ExpressionAttributeValues: { ':expected': expectedVersion },
              }),
        }),
      );
      return 'written';
    } catch (error) {
      if (isConditionFailure(error)) return 'conflict';
      throw error;
    }
  }
}

export class DynamoAlertStore extends DynamoTableStore implements AlertStore {
  #expiresAt(): number {
    return Math.floor(this.now() / 1000) + this.ttlSeconds;
  }

  async raise(alert: RaisedAlert): Promise<'created' | 'exists'> {
    return this.#putNew({
      ...alertKey(alert.alertId),
      kind: ALERT_KIND,
      alertId: alert.alertId,
      ruleId: alert.ruleId,
      ruleType: alert.ruleType,
      severity: alert.severity,
      entityId: alert.entityId,
      raisedAt: iso(alert.raisedAt),
      status: ALERT_OPEN,
      openState: OPEN_STATE,
      triggerRecordIds: alert.triggerRecordIds,
      message: alert.message,
      details: alert.details,
      expiresAt: this.#expiresAt(),
    });
  }

  async clear(cleared: ClearedAlert): Promise<'cleared' | 'unchanged'> {
    try {
      await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
          Key: alertKey(cleared.alertId),
          UpdateExpression:
            'SET #status = :cleared, clearedAt = :at, clearedByRecordId = :rid, clearValue = :value REMOVE openState',
          // Open, or already closed by this very record (a replay): both converge on the same item.
          ConditionExpression: 'attribute_exists(pk) AND (openState = :open OR clearedByRecordId = :rid)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':cleared': ALERT_CLEARED,
            ':open': OPEN_STATE,
            ':at': iso(cleared.clearedAt),
            ':rid': cleared.clearedByRecordId,
            ':value': cleared.value,
          },
        }),
      );
      return 'cleared';
    } catch (error) {
      if (isConditionFailure(error)) return 'unchanged';
      throw error;
    }
  }

  async quarantine(record: QuarantinedRecord): Promise<'created' | 'exists'> {
    const { position, data } = record;
    const kept = data.subarray(0, QUARANTINE_DATA_MAX_BYTES);
    return this.#putNew({
      ...quarantineKey(position),
      kind: QUARANTINE_KIND,
      entityId: QUARANTINE_ENTITY_ID,
      raisedAt: iso(record.arrivedAt),
      reasonCode: record.reasonCode,
      reason: record.reason,
      shardId: position.shardId,
      sequenceNumber: position.sequenceNumber,
      subSequenceNumber: position.subSequenceNumber,
      partitionKey: record.partitionKey,
      data: Buffer.from(kept).toString('base64'),
      dataBytes: data.byteLength,
      dataTruncated: kept.byteLength < data.byteLength,
      dataSha256: createHash('sha256').update(data).digest('hex'),
      expiresAt: this.#expiresAt(),
    });
  }

  async #putNew(item: Record<string, unknown>): Promise<'created' | 'exists'> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'created';
    } catch (error) {
      if (isConditionFailure(error)) return 'exists';
      throw error;
    }
  }
}
