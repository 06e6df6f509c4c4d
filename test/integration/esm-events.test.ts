import { join } from 'node:path';
import { KinesisDataStreamSchema } from '@aws-lambda-powertools/parser/schemas/kinesis';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { type EventSourceRunner, startEventSourceRunner } from '../../local/esm/index.ts';
import { stackResource } from '../../local/resources/stack.ts';
import { encodeRecord } from '../../shared/contract/index.ts';
import { useLocalCloud } from '../helpers/local-cloud.ts';
import { telemetryRecord } from '../helpers/records.ts';

/** The local event source mapping over the stack's KMS-encrypted stream sends what Lambda sends. */

const local = useLocalCloud('esm-events');
let runner: EventSourceRunner | undefined;

afterAll(async () => {
  await runner?.stop();
});

describe('local event source mapping on a KMS stream', () => {
  it('puts encryptionType KMS on every record, as Lambda does', async () => {
    const events: KinesisStreamEvent[] = [];
    runner = await startEventSourceRunner({
      cloud: local.cloud,
      dataDir: join(local.root, 'esm'),
      handlers: {
        alerts: async (event) => {
          events.push(event);
          return { batchItemFailures: [] };
        },
      },
      settings: { startingPosition: 'TRIM_HORIZON' },
      log: () => undefined,
    });
    const records = Array.from({ length: 20 }, (_, i) => telemetryRecord({ device_id: `device-${i}` }));
    const streamName = stackResource(local.cloud.stack, 'kinesis-stream', 'RecordsStream').name;
    const put = await local.cloud.clients.kinesis().send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: records.map((r) => ({ PartitionKey: r.partition_key, Data: encodeRecord(r) })),
      }),
    );
    expect(put.EncryptionType).toBe('KMS');

    // The deadline only bounds a hang; nothing depends on timing.
    const deadline = Date.now() + 60_000;
    const received = () => events.reduce((n, e) => n + e.Records.length, 0);
    while (received() < records.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(received()).toBe(records.length);
    for (const event of events) {
      expect(KinesisDataStreamSchema.safeParse(event).success).toBe(true);
      for (const record of event.Records) expect(record.kinesis).toMatchObject({ encryptionType: 'KMS' });
    }
  });
});
