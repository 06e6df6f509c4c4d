import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KinesisLimits, startKinesisLimits } from '../../local/kinesis-limits/proxy.ts';
import type { ScaleRefusedError } from '../../local/scale/errors.ts';
import { openShards, scaleStream } from '../../local/scale/scale.ts';
import { startKinesis } from '../../local/servers/kinesis.ts';
import type { RunningServer } from '../../local/servers/runtime.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';

/** `tributary scale` against the Kinesis emulator behind the limits proxy, as `npm start` runs them. */

const run = promisify(execFile);
let kinesis: RunningServer;
let limits: KinesisLimits;
let clients: AwsClients;
let client: KinesisClient;

async function create(name: string, shards: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (;;) {
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const options = { stepwise: false, timeoutMs: 30_000, pollMs: 50, log: () => {} };

beforeAll(async () => {
  // A small account quota, so the quota check meets the emulator's DescribeLimits.
  kinesis = await startKinesis({ shardLimit: 12 });
  limits = await startKinesisLimits({ upstream: kinesis.endpoint });
  clients = createAwsClients({ kind: 'local', region: 'us-east-1', endpoints: { kinesis: limits.endpoint } });
  client = clients.kinesis();
});

afterAll(async () => {
  clients?.destroy();
  await limits?.stop();
  await kinesis?.stop();
});

describe('tributary scale', () => {
  it('doubles a stage stream from the command line and prints the children', async () => {
    await create('tributary-scaletest-records', 1);
    const { stdout } = await run(
      process.execPath,
      ['bin/tributary.mjs', 'scale', '--stage', 'scaletest', '--shards', '2', '--endpoint', limits.endpoint],
      { env: { ...process.env, AWS_REGION: 'us-east-1' } },
    );
    expect(stdout).toContain('tributary-scaletest-records: 1 → 2 open shards, ACTIVE after');
    expect(stdout.match(/50\.00% of the hash keys {2}from shardId-000000000000/g)).toHaveLength(2);
    expect(await openShards(client, 'tributary-scaletest-records')).toHaveLength(2);
  });

  it('refuses more than double, goes stepwise when asked, and halves back', async () => {
    await create('scale-steps', 1);
    const far = (await scaleStream(client, { ...options, stream: 'scale-steps', target: 4 }).catch(
      (e: unknown) => e,
    )) as ScaleRefusedError;
    expect(far.code).toBe('SCALE_TOO_FAR');
    const up = await scaleStream(client, { ...options, stream: 'scale-steps', target: 4, stepwise: true });
    expect(up.steps).toEqual([2, 4]);
    expect(up.shards).toHaveLength(4);
    const down = await scaleStream(client, { ...options, stream: 'scale-steps', target: 2 });
    expect(down.steps).toEqual([2]);
    expect(down.shards).toHaveLength(2);
    // Every open shard after the merge descends from a closed one.
    expect(down.shards.every((s) => s.ParentShardId != null)).toBe(true);
  });

  it("stops before the account's shard quota (DescribeLimits)", async () => {
    // 2 + 2 open shards of the streams above, plus 5 here: 9 of 12; 5 → 10 would make 14.
    await create('scale-quota', 5);
    const refused = (await scaleStream(client, { ...options, stream: 'scale-quota', target: 10 }).catch(
      (e: unknown) => e,
    )) as ScaleRefusedError;
    expect(refused.code).toBe('SCALE_ACCOUNT_QUOTA');
    const missing = (await scaleStream(client, { ...options, stream: 'no-such-stream', target: 2 }).catch(
      (e: unknown) => e,
    )) as ScaleRefusedError;
    expect(missing.code).toBe('SCALE_NOT_FOUND');
  });
});
