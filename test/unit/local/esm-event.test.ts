import { describe, expect, it } from 'vitest';
import { kinesisEventRecord, lambdaContext, type ShardRecord } from '../../../local/esm/event.ts';
import { TEST_EVENT_SOURCE } from '../../helpers/kinesis-events.ts';

const record = (encryptionType: string | undefined): ShardRecord => ({
  shardId: 'shardId-000000000000',
  sequenceNumber: '49650000000000000000000000000000000000000000000000000001',
  partitionKey: 'device-1',
  data: new Uint8Array([1, 2, 3]),
  arrivedAt: Date.UTC(2026, 10, 23, 12),
  encryptionType,
});

describe('kinesisEventRecord', () => {
  it('carries encryptionType KMS from a KMS stream record', () => {
    expect(kinesisEventRecord(record('KMS'), TEST_EVENT_SOURCE).kinesis.encryptionType).toBe('KMS');
  });

  it('has no encryptionType for an unencrypted stream, as Lambda sends it', () => {
    for (const type of ['NONE', undefined]) {
      expect(Object.keys(kinesisEventRecord(record(type), TEST_EVENT_SOURCE).kinesis)).not.toContain(
        'encryptionType',
      );
    }
  });
});

describe('lambdaContext', () => {
  it('counts the remaining time on the clock it is given, down to zero', () => {
    let now = 1_000;
    const context = lambdaContext({
      functionName: 'alerts',
      region: 'eu-west-1',
      accountId: '000000000000',
      memoryLimitInMB: 512,
      timeoutMs: 6_000,
      requestId: 'r',
      clock: () => now,
    });
    expect(context.getRemainingTimeInMillis()).toBe(6_000);
    now += 2_500;
    expect(context.getRemainingTimeInMillis()).toBe(3_500);
    now += 10_000;
    expect(context.getRemainingTimeInMillis()).toBe(0);
  });
});
