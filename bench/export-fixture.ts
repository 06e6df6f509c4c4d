/**
 * What the export benchmarks share: the synthetic log records they export and a one-shard stream.
 */
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';

export const RECORD_BYTES = 100;
export const DEVICES = 100;

/** A 100-byte JSON payload with a top-level partition_key, like a (small) contract record; `n` is its index. */
export function payload(i: number): Uint8Array {
  const head = `{"partition_key":"device-${String(i % DEVICES).padStart(3, '0')}","n":${i},"pad":"`;
  return Buffer.from(`${head}${'x'.repeat(RECORD_BYTES - head.length - 2)}"}`, 'utf8');
}

export async function createStream(client: KinesisClient, name: string): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  for (;;) {
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
