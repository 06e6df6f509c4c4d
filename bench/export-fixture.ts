/**
 * What the export benchmarks share: the emulator behind the limits proxy with a log store, the
 * synthetic log records they export and a one-shard stream.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { LogStore } from '../device/log/index.ts';
import { type KinesisLimits, startKinesisLimits } from '../local/kinesis-limits/proxy.ts';
import { startKinesis } from '../local/servers/kinesis.ts';
import { createAwsClients } from '../shared/aws/clients.ts';

/**
 * Runs `bench` against the Kinesis emulator behind the limits proxy (AWS's per-shard limits enforced)
 * and a log store in a temporary folder; stops and removes all of it afterwards.
 */
export async function withExportBench(
  tag: string,
  bench: (ctx: { kinesis: KinesisClient; store: LogStore; limits: KinesisLimits }) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `tributary-${tag}-bench-`));
  const kinesis = await startKinesis();
  const limits = await startKinesisLimits({ upstream: kinesis.endpoint });
  const clients = createAwsClients({
    kind: 'local',
    region: 'us-east-1',
    endpoints: { kinesis: limits.endpoint },
  });
  const store = await LogStore.open(join(dir, 'log'));
  try {
    await bench({ kinesis: clients.kinesis(), store, limits });
  } finally {
    await store.close();
    clients.destroy();
    await limits.stop();
    await kinesis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export const RECORD_BYTES = 100;
export const DEVICES = 100;

/** A 100-byte JSON payload with a top-level partition_key, like a (small) contract record; `n` is its index. */
export function payload(i: number): Uint8Array {
  const head = `{"partition_key":"device-${String(i % DEVICES).padStart(3, '0')}","n":${i},"pad":"`;
  return Buffer.from(`${head}${'x'.repeat(RECORD_BYTES - head.length - 2)}"}`, 'utf8');
}
