import { join } from 'node:path';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../device/agent.ts';
import { ApiClient } from '../../device/api/client.ts';
import { startApiServer } from '../../device/api/server.ts';
import { type AgentConfig, parseConfig } from '../../device/config.ts';
import { decodeRecord } from '../../shared/contract/index.ts';
import { referenceDeaggregate } from '../helpers/aggregated.ts';
import { useLocalCloud } from '../helpers/local-cloud.ts';
import { telemetryRecord } from '../helpers/records.ts';
import { useTempDir } from '../helpers/temp-dir.ts';

const STREAM = 'tributary-dev-records';
const local = useLocalCloud('agent-cloud');
const tmp = useTempDir('tributary-agent-');
let config: AgentConfig;

beforeAll(async () => {
  config = parseConfig({
    storeRoot: join(tmp.path, 'store'),
    deviceId: 'gateway-01',
    aws: { region: local.cloud.region, endpoint: local.cloud.endpoints.kinesis },
    api: { port: 0 },
    streams: [{ name: 'telemetry', export: { kinesisStreamName: STREAM } }],
  });
});

/** Every user record in the Kinesis stream, KPL aggregates unpacked. */
async function recordsInKinesis(): Promise<string[]> {
  const kinesis = local.cloud.clients.kinesis();
  const ids: string[] = [];
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: STREAM }));
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: STREAM,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator !== undefined) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) {
        for (const user of referenceDeaggregate(record.Data ?? new Uint8Array(), record.PartitionKey ?? '')) {
          ids.push(decodeRecord(user.data).id);
        }
      }
      if ((page.Records ?? []).length === 0 && page.MillisBehindLatest === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return ids;
}

function batch(count: number) {
  return Array.from({ length: count }, (_, i) =>
    telemetryRecord({ device_id: `sensor-${i % 50}`, partition_key: `sensor-${i % 50}` }),
  );
}

describe('device agent against the local cloud', () => {
  it('exports every appended record, resumes from its checkpoint after a restart, and drains on stop', async () => {
    const first = batch(2000);
    const agent = await Agent.start(config);
    const api = await startApiServer({
      agent,
      port: 0,
      maxBodyBytes: config.api.maxBodyBytes,
      authToken: null,
    });
    const client = new ApiClient({ url: api.url });
    let last = -1;
    for (let i = 0; i < first.length; i += 500) {
      const result = await client.append('telemetry', first.slice(i, i + 500));
      last = result.firstSequence + result.count - 1;
    }
    await agent.whenExported('telemetry', last);
    const exported = (await client.stream('telemetry')).export;
    expect(exported).toMatchObject({ committedSequence: 1999, backlog: { records: 0 } });
    expect(exported?.lastError).toBeUndefined();
    await api.close();
    expect(await agent.stop()).toEqual({ drained: true, backlog: { telemetry: 0 } });
    expect(new Set(await recordsInKinesis())).toEqual(new Set(first.map((r) => r.id)));

    // Restart: the checkpoint is where the first run left off, nothing is sent twice.
    const second = batch(500);
    const restarted = await Agent.start(config);
    expect(restarted.streamStatus('telemetry').export?.committedSequence).toBe(1999);
    const { firstSequence } = await restarted.appendMany('telemetry', second);
    expect(firstSequence).toBe(2000);
    const stopped = await restarted.stop({ drainTimeoutMillis: 60_000 });
    expect(stopped).toEqual({ drained: true, backlog: { telemetry: 0 } });

    const ids = await recordsInKinesis();
    expect(ids).toHaveLength(2500);
    expect(new Set(ids)).toEqual(new Set([...first, ...second].map((r) => r.id)));
  });
});
