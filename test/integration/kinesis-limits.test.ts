import {
  CreateStreamCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  PutRecordCommand,
  PutRecordsCommand,
  type PutRecordsResultEntry,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_PATH, type KinesisLimits, startKinesisLimits } from '../../local/kinesis-limits/proxy.ts';
import { WINDOW_MS } from '../../local/kinesis-limits/window.ts';
import { listShards } from '../../local/scale/scale.ts';
import { startKinesis } from '../../local/servers/kinesis.ts';
import type { RunningServer } from '../../local/servers/runtime.ts';
import { ShardMap } from '../../shared/kinesis/hash.ts';

let kinesis: RunningServer;
let limits: KinesisLimits;
let client: KinesisClient;
// The proxy's clock stands still unless a test moves it, so "within one second" holds however slow CI is.
let now = 0;

const text = (data: Uint8Array | undefined) => Buffer.from(data ?? new Uint8Array()).toString('utf8');
const entries = (from: number, to: number, partitionKey: string) =>
  Array.from({ length: to - from }, (_, i) => ({
    Data: Buffer.from(`rec-${from + i}`),
    PartitionKey: partitionKey,
  }));

async function createStream(name: string, shards: number): Promise<ShardMap> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  return activeShards(name);
}

async function activeShards(name: string): Promise<ShardMap> {
  for (;;) {
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return ShardMap.fromShards(await listShards(client, name));
}

/** A partition key the stream routes to `shardId`. */
function keyFor(map: ShardMap, shardId: string): string {
  for (let i = 0; ; i++) if (map.shardForKey(`key-${i}`)?.shardId === shardId) return `key-${i}`;
}

async function readShard(stream: string, shardId: string, expected: number): Promise<string[]> {
  const { ShardIterator } = await client.send(
    new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  let iterator = ShardIterator;
  const seen: string[] = [];
  // Bounded by calls, not time: each GetRecords returns what the shard holds past the iterator.
  for (let call = 0; call < 50 && iterator !== undefined && seen.length < expected; call++) {
    const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
    for (const record of page.Records ?? []) seen.push(text(record.Data));
    iterator = page.NextShardIterator;
  }
  return seen;
}

const failures = (records: PutRecordsResultEntry[] | undefined) => (records ?? []).filter((r) => r.ErrorCode);

beforeAll(async () => {
  kinesis = await startKinesis();
  // EFO starts piped to the emulator: the pass-through test needs it, the proxy's own EFO test turns it on.
  limits = await startKinesisLimits({
    upstream: kinesis.endpoint,
    clock: () => now,
    efo: { enabled: false },
  });
  client = new KinesisClient({
    endpoint: limits.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'dummy', secretAccessKey: 'dummy' },
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client?.destroy();
  await limits?.stop();
  await kinesis?.stop();
});

describe('kinesis-limits proxy in front of kinesis-mock', () => {
  it('throttles exactly the 1001st record of a second on one shard; the rest land in order', async () => {
    const map = await createStream('limits-order', 2);
    const shardId = map.shards[0]?.shardId ?? '';
    const key = keyFor(map, shardId);
    now += WINDOW_MS;
    const results = [];
    for (const [from, to] of [
      [0, 500],
      [500, 1000],
      [1000, 1001],
    ] as const) {
      results.push(
        await client.send(
          new PutRecordsCommand({ StreamName: 'limits-order', Records: entries(from, to, key) }),
        ),
      );
    }
    expect(results.map((r) => r.FailedRecordCount)).toEqual([0, 0, 1]);
    const [failed] = failures(results[2]?.Records);
    expect(failed?.ErrorCode).toBe('ProvisionedThroughputExceededException');
    expect(failed?.ErrorMessage).toBe(
      `Rate exceeded for shard ${shardId} in stream limits-order under account 000000000000.`,
    );
    const accepted = results.flatMap((r) => r.Records ?? []).filter((r) => !r.ErrorCode);
    expect(accepted).toHaveLength(1000);
    expect(accepted.every((r) => r.ShardId === shardId && /^\d+$/.test(r.SequenceNumber ?? ''))).toBe(true);

    const stored = await readShard('limits-order', shardId, 1000);
    expect(stored).toEqual(Array.from({ length: 1000 }, (_, i) => `rec-${i}`));
    expect(limits.stats().records).toMatchObject({ throttled: 1 });
  });

  it('merges a partially throttled request back into the original order', async () => {
    const map = await createStream('limits-merge', 2);
    const [a, b] = map.shards.map((s) => s.shardId);
    const keyA = keyFor(map, a ?? '');
    const keyB = keyFor(map, b ?? '');
    limits.setLimits({ recordsPerSecond: 2 });
    now += WINDOW_MS;
    const keys = [keyA, keyB, keyA, keyA, keyB, keyB, keyB, keyA];
    const result = await client.send(
      new PutRecordsCommand({
        StreamName: 'limits-merge',
        Records: keys.map((k, i) => ({ Data: Buffer.from(`m-${i}`), PartitionKey: k })),
      }),
    );
    limits.setLimits({ recordsPerSecond: 1000 });
    const records = result.Records ?? [];
    expect(result.FailedRecordCount).toBe(4);
    expect(records.map((r) => r.ErrorCode ?? r.ShardId)).toEqual([
      a,
      b,
      a,
      'ProvisionedThroughputExceededException',
      b,
      'ProvisionedThroughputExceededException',
      'ProvisionedThroughputExceededException',
      'ProvisionedThroughputExceededException',
    ]);
    expect(await readShard('limits-merge', b ?? '', 2)).toEqual(['m-1', 'm-4']);
  });

  it('answers a throttled PutRecord with HTTP 400 ProvisionedThroughputExceededException', async () => {
    const map = await createStream('limits-single', 1);
    const key = keyFor(map, map.shards[0]?.shardId ?? '');
    limits.setLimits({ recordsPerSecond: 1 });
    now += WINDOW_MS;
    try {
      const first = await client.send(
        new PutRecordCommand({ StreamName: 'limits-single', PartitionKey: key, Data: Buffer.from('one') }),
      );
      expect(first.SequenceNumber).toMatch(/^\d+$/);
      const second = client.send(
        new PutRecordCommand({ StreamName: 'limits-single', PartitionKey: key, Data: Buffer.from('two') }),
      );
      await expect(second).rejects.toMatchObject({
        name: 'ProvisionedThroughputExceededException',
        $metadata: { httpStatusCode: 400 },
      });
    } finally {
      limits.setLimits({ recordsPerSecond: 1000 });
    }
  });

  it('does not throttle when switched off', async () => {
    const map = await createStream('limits-off', 1);
    const key = keyFor(map, map.shards[0]?.shardId ?? '');
    limits.setEnabled(false);
    now += WINDOW_MS;
    try {
      let failed = 0;
      for (const [from, to] of [
        [0, 500],
        [500, 1000],
        [1000, 1500],
      ] as const) {
        const result = await client.send(
          new PutRecordsCommand({ StreamName: 'limits-off', Records: entries(from, to, key) }),
        );
        failed += result.FailedRecordCount ?? 0;
      }
      expect(failed).toBe(0);
    } finally {
      limits.setEnabled(true);
    }
  });

  it('injects whole-request and per-record faults, also through the control endpoint', async () => {
    const map = await createStream('limits-faults', 1);
    const key = keyFor(map, map.shards[0]?.shardId ?? '');
    now += WINDOW_MS;
    limits.injectFaults({ failNextRequests: 1 });
    const put = () =>
      client.send(new PutRecordsCommand({ StreamName: 'limits-faults', Records: entries(0, 10, key) }));
    await expect(put()).rejects.toMatchObject({
      name: 'InternalFailure',
      $metadata: { httpStatusCode: 500 },
    });

    const control = `${limits.endpoint}${CONTROL_PATH}`;
    const set = await fetch(control, {
      method: 'POST',
      body: JSON.stringify({ faults: { throttleFraction: 1 } }),
    });
    expect(set.status).toBe(200);
    const throttled = await put();
    expect(throttled.FailedRecordCount).toBe(10);
    expect(
      failures(throttled.Records).every((r) => r.ErrorCode === 'ProvisionedThroughputExceededException'),
    ).toBe(true);

    await fetch(control, { method: 'POST', body: JSON.stringify({ faults: {} }) });
    expect((await put()).FailedRecordCount).toBe(0);
    const stats = (await (await fetch(control)).json()) as { requests: { injectedFailures: number } };
    expect(stats.requests.injectedFailures).toBe(1);
    const invalid = await fetch(control, {
      method: 'POST',
      body: JSON.stringify({ limits: { recordsPerSecond: -1 } }),
    });
    expect(invalid.status).toBe(400);
  });

  it('routes by the new shards after a reshard passes through', async () => {
    const before = await createStream('limits-reshard', 1);
    const key = keyFor(before, before.shards[0]?.shardId ?? '');
    now += WINDOW_MS;
    await client.send(new PutRecordsCommand({ StreamName: 'limits-reshard', Records: entries(0, 1, key) }));
    await client.send(
      new UpdateShardCountCommand({
        StreamName: 'limits-reshard',
        TargetShardCount: 2,
        ScalingType: 'UNIFORM_SCALING',
      }),
    );
    const after = await activeShards('limits-reshard');
    const children = after.shards.map((s) => s.shardId);
    expect(children).toHaveLength(2);
    expect(children).not.toContain(before.shards[0]?.shardId);
    limits.setLimits({ recordsPerSecond: 1 });
    now += WINDOW_MS;
    try {
      const keys = children.flatMap((shardId) => [keyFor(after, shardId), keyFor(after, shardId)]);
      const result = await client.send(
        new PutRecordsCommand({
          StreamName: 'limits-reshard',
          Records: keys.map((k, i) => ({ Data: Buffer.from(`r-${i}`), PartitionKey: k })),
        }),
      );
      expect(result.Records?.map((r) => r.ShardId ?? r.ErrorMessage?.split(' ')[4])).toEqual([
        children[0],
        children[0],
        children[1],
        children[1],
      ]);
      expect(result.FailedRecordCount).toBe(2);
    } finally {
      limits.setLimits({ recordsPerSecond: 1000 });
    }
  });

  it('passes SubscribeToShard (EFO) through as an unbuffered event stream when its EFO is off', async () => {
    const map = await createStream('limits-efo', 1);
    const shardId = map.shards[0]?.shardId ?? '';
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: 'limits-efo' }),
    );
    const { Consumer } = await client.send(
      new RegisterStreamConsumerCommand({
        StreamARN: StreamDescriptionSummary?.StreamARN,
        ConsumerName: 'efo',
      }),
    );
    for (;;) {
      const { ConsumerDescription } = await client.send(
        new DescribeStreamConsumerCommand({ ConsumerARN: Consumer?.ConsumerARN }),
      );
      if (ConsumerDescription?.ConsumerStatus === 'ACTIVE') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    now += WINDOW_MS;
    await client.send(
      new PutRecordsCommand({ StreamName: 'limits-efo', Records: entries(0, 5, keyFor(map, shardId)) }),
    );

    const abort = new AbortController();
    const subscription = await client.send(
      new SubscribeToShardCommand({
        ConsumerARN: Consumer?.ConsumerARN,
        ShardId: shardId,
        StartingPosition: { Type: 'TRIM_HORIZON' },
      }),
      { abortSignal: abort.signal },
    );
    // The emulator keeps the subscription open, so records arrive here only if the proxy does not buffer.
    const received: string[] = [];
    for await (const event of subscription.EventStream ?? []) {
      for (const record of event.SubscribeToShardEvent?.Records ?? []) received.push(text(record.Data));
      if (received.length >= 5) break;
    }
    abort.abort();
    expect(received).toEqual(['rec-0', 'rec-1', 'rec-2', 'rec-3', 'rec-4']);
  });

  it('serves SubscribeToShard itself when its EFO is on: the SDK reads its events, one subscription per consumer and shard', async () => {
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: 'limits-efo' }),
    );
    const { Consumer } = await client.send(
      new RegisterStreamConsumerCommand({
        StreamARN: StreamDescriptionSummary?.StreamARN,
        ConsumerName: 'proxy-efo',
      }),
    );
    const shardId = (await listShards(client, 'limits-efo'))[0]?.ShardId ?? '';
    limits.setEfo(true);
    try {
      const abort = new AbortController();
      const request = {
        ConsumerARN: Consumer?.ConsumerARN,
        ShardId: shardId,
        StartingPosition: { Type: 'TRIM_HORIZON' as const },
      };
      const subscription = await client.send(new SubscribeToShardCommand(request), {
        abortSignal: abort.signal,
      });
      await expect(client.send(new SubscribeToShardCommand(request))).rejects.toMatchObject({
        name: 'ResourceInUseException',
      });
      const received: string[] = [];
      let continuation: string | undefined;
      for await (const event of subscription.EventStream ?? []) {
        for (const record of event.SubscribeToShardEvent?.Records ?? []) received.push(text(record.Data));
        continuation = event.SubscribeToShardEvent?.ContinuationSequenceNumber;
        if (received.length >= 5) break;
      }
      abort.abort();
      expect(received).toEqual(['rec-0', 'rec-1', 'rec-2', 'rec-3', 'rec-4']);
      expect(continuation).toMatch(/^\d+$/);
      expect(limits.stats().efo).toMatchObject({ enabled: true, subscriptions: 1, refused: 1 });
    } finally {
      limits.setEfo(false);
    }
  });
});
