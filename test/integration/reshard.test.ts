import { join } from 'node:path';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  MergeShardsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud.ts';
import { openLake, syncLake } from '../../local/delivery/lake-query.ts';
import { FLEET_STREAMS } from '../../local/fleet/agent.ts';
import { type LogLine, parseFleetOptions } from '../../local/fleet/index.ts';
import { type RunningPipeline, startPipeline } from '../../local/pipeline.ts';
import { listShards, openShards, scaleStream } from '../../local/scale/scale.ts';
import type { TelemetryRecord, TributaryRecord } from '../../shared/contract/index.ts';
import { deaggregate } from '../../shared/kinesis/aggregation.ts';
import { keepTestData, useTempDir } from '../helpers/temp-dir.ts';

/**
 * Resharding under load, end to end: while the seeded fleet publishes through a device agent, the
 * records stream goes 2 → 4 → 2 shards (UpdateShardCount) and then through a SplitShard/MergeShards
 * pair. Afterwards: every record exported (at-least-once) and in per-key order along the shard
 * lineage, exactly the expected alerts, one lake copy of each record, and Flink windows equal to the
 * records. The gateway's syslog lines, which its agent tails rather than the fleet appending them,
 * are held to the same: each once in the stream (in order per key) and in the lake.
 */

const TIME_SCALE = 16;
const OUT_OF_ORDERNESS_MS = 30_000;
const WINDOW_MS = 60_000;

/** Kept with the pipeline's log when TRIBUTARY_KEEP_TEST_DATA is set. */
const work = useTempDir('tributary-reshard-', { keep: keepTestData });
let cloud: LocalCloud;
let pipeline: RunningPipeline;
let kinesis: KinesisClient;
const published: TributaryRecord[] = [];
/** Lines the fleet wrote to the gateway's syslog; the agent turns each into one `log` record. */
const logLines: (LogLine & { gateway: string })[] = [];
const figures: Record<string, number | string> = {};

const eventually = (timeout: number, assertion: () => Promise<void> | void) =>
  vi.waitFor(assertion, { timeout, interval: 250 });

async function scanAll(table: string): Promise<Record<string, unknown>[]> {
  const documents = cloud.clients.documents();
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(
      new ScanCommand({ TableName: table, ...(start === undefined ? {} : { ExclusiveStartKey: start }) }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return items;
}

async function exported(): Promise<number> {
  return (await pipeline.health()).totals?.recordsExported ?? 0;
}

/** Waits until the agent exported `more` records beyond now: the change happens under load. */
async function underLoad(more: number): Promise<void> {
  const from = await exported();
  await eventually(30_000, async () => expect(await exported()).toBeGreaterThanOrEqual(from + more));
}

async function active(): Promise<void> {
  await eventually(10_000, async () => {
    const { StreamDescriptionSummary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: pipeline.streamName }),
    );
    expect(StreamDescriptionSummary?.StreamStatus).toBe('ACTIVE');
  });
}

const allShards = () => listShards(kinesis, pipeline.streamName);

/** How long until the alert function holds a checkpoint in each of `children`. */
async function alertsReach(children: readonly string[], since: number): Promise<number> {
  await eventually(30_000, () => {
    const checkpoints = pipeline.functions.mapping('alerts').checkpoints();
    for (const child of children) expect(checkpoints[child], child).toBeDefined();
  });
  return Date.now() - since;
}

/** How long until the lake delivery has read into each of `children` (a checkpoint, or one pending). */
async function lakeReach(children: readonly string[], since: number): Promise<number> {
  await eventually(30_000, () => {
    for (const child of children) {
      const checkpoint = pipeline.lake.checkpoint(child);
      expect(checkpoint.sequenceNumber ?? checkpoint.pendingLastSequenceNumber, child).toBeDefined();
    }
  });
  return Date.now() - since;
}

beforeAll(async () => {
  cloud = await startLocalCloud({ dataDir: join(work.path, 'cloud') });
  kinesis = cloud.clients.kinesis();
  pipeline = await startPipeline({
    cloud,
    fleet: parseFleetOptions({
      seed: 7,
      sensors: 12,
      terminals: 10,
      transactionsPerTerminalPerMinute: 12,
      anomalyIntervalMs: 40_000,
      firstAnomalyAfterMs: 20_000,
      // 60 s of wall time: the reshards below take 15 s here and up to three times that on a 2-core CI
      // runner, and they must all happen while the fleet still publishes.
      durationMs: 16 * 60_000,
      timeScale: TIME_SCALE,
    }),
    analyticsWindows: { 'out.of.orderness.ms': String(OUT_OF_ORDERNESS_MS) },
    lakeIntervalMs: 2_000,
    onPublished: (batch) => published.push(...batch.records),
    onLogWritten: ({ gateway, lines }) => logLines.push(...lines.map((line) => ({ ...line, gateway }))),
    log: keepTestData ? (m) => console.error(m) : () => {},
  });
}, 180_000);

afterAll(async () => {
  console.log(`reshard figures: ${JSON.stringify(figures)}`);
  await pipeline?.stop();
  await cloud?.stop();
}, 60_000);

describe('resharding under load', () => {
  it('scales 2 → 4 → 2 and splits and merges a shard while the fleet publishes', async () => {
    const stream = pipeline.streamName;
    const options = { stream, stepwise: false, timeoutMs: 30_000, pollMs: 100, log: () => {} };
    await underLoad(300);

    let started = Date.now();
    const out = await scaleStream(kinesis, { ...options, target: 4 });
    expect(out.shards).toHaveLength(4);
    const outReached = alertsReach(
      out.shards.map((s) => s.ShardId ?? ''),
      started,
    );
    const outInLake = lakeReach(
      out.shards.map((s) => s.ShardId ?? ''),
      started,
    );
    await underLoad(300);

    started = Date.now();
    const back = await scaleStream(kinesis, { ...options, target: 2 });
    expect(back.shards).toHaveLength(2);
    figures.scaleOutAlertsChildrenMs = await outReached;
    figures.scaleOutLakeChildrenMs = await outInLake;
    const backReached = alertsReach(
      back.shards.map((s) => s.ShardId ?? ''),
      started,
    );
    const backInLake = lakeReach(
      back.shards.map((s) => s.ShardId ?? ''),
      started,
    );
    await underLoad(300);

    // SplitShard at the middle of one shard's range, then MergeShards of the two halves.
    const [target] = await openShards(kinesis, stream);
    const low = BigInt(target?.HashKeyRange?.StartingHashKey ?? '0');
    const high = BigInt(target?.HashKeyRange?.EndingHashKey ?? '0');
    await kinesis.send(
      new SplitShardCommand({
        StreamName: stream,
        ShardToSplit: target?.ShardId,
        NewStartingHashKey: String((low + high) / 2n + 1n),
      }),
    );
    await active();
    const halves = (await openShards(kinesis, stream))
      .filter((s) => s.ParentShardId === target?.ShardId)
      .sort((a, b) =>
        BigInt(a.HashKeyRange?.StartingHashKey ?? 0) < BigInt(b.HashKeyRange?.StartingHashKey ?? 0) ? -1 : 1,
      );
    expect(halves).toHaveLength(2);
    await underLoad(300);
    await kinesis.send(
      new MergeShardsCommand({
        StreamName: stream,
        ShardToMerge: halves[0]?.ShardId,
        AdjacentShardToMerge: halves[1]?.ShardId,
      }),
    );
    await active();
    const merged = (await openShards(kinesis, stream)).find((s) => s.ParentShardId === halves[0]?.ShardId);
    expect(merged?.AdjacentParentShardId).toBe(halves[1]?.ShardId);
    figures.scaleInAlertsChildrenMs = await backReached;
    figures.scaleInLakeChildrenMs = await backInLake;
    figures.shardsInTotal = (await allShards()).length;
    figures.exportedWhenReshardsDone = await exported();
  }, 120_000);

  it('exports every published record, per key in order along the shard lineage', async () => {
    const fleet = pipeline.fleet;
    if (fleet === undefined) throw new Error('no fleet');
    await fleet.publisher.done;
    const stats = fleet.publisher.stats();
    expect(stats.refused).toBe(0);
    expect(published.length).toBe(stats.published);
    expect(logLines.length).toBeGreaterThan(0);
    expect(figures.exportedWhenReshardsDone, 'the fleet stopped before the reshards were done').toBeLessThan(
      published.length + logLines.length,
    );
    await eventually(60_000, async () => {
      const health = await pipeline.health();
      expect(health.exports?.map((e) => e.backlogRecords)).toEqual(Object.values(FLEET_STREAMS).map(() => 0));
      // The published records and one `log` record per syslog line the agent tailed.
      expect(health.totals?.recordsExported).toBe(published.length + logLines.length);
    });
    figures.syslogLines = logLines.length;

    // The whole stream, shard by shard, deaggregated.
    const shards = await allShards();
    const parents = new Map(
      shards.map((s) => [
        s.ShardId ?? '',
        [s.ParentShardId, s.AdjacentParentShardId].filter((p) => p != null),
      ]),
    );
    const ancestors = (id: string): Set<string> => {
      const seen = new Set<string>();
      const todo = [...(parents.get(id) ?? [])];
      for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
        if (seen.has(next)) continue;
        seen.add(next);
        todo.push(...(parents.get(next) ?? []));
      }
      return seen;
    };
    const byShard = new Map<string, { id: string; key: string; type: string; at: number }[]>();
    for (const shard of shards) {
      const shardId = shard.ShardId ?? '';
      const list: { id: string; key: string; type: string; at: number }[] = [];
      let { ShardIterator: iterator } = await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: pipeline.streamName,
          ShardId: shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      for (let call = 0; call < 1_000 && iterator !== undefined; call++) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        for (const record of page.Records ?? []) {
          for (const user of deaggregate(record.Data ?? new Uint8Array(), {
            partitionKey: record.PartitionKey ?? '',
          })) {
            const decoded = JSON.parse(Buffer.from(user.data).toString('utf8')) as TributaryRecord;
            list.push({
              id: decoded.id,
              key: decoded.partition_key,
              type: decoded.type,
              at: decoded.event_time,
            });
          }
        }
        iterator = page.NextShardIterator;
        if ((page.Records ?? []).length === 0 && page.MillisBehindLatest === 0) break;
      }
      byShard.set(shardId, list);
    }
    const copies = [...byShard.values()].reduce((n, list) => n + list.length, 0);
    const all = [...byShard.values()].flat();
    const ids = new Set(all.filter((r) => r.type !== 'log').map((r) => r.id));
    expect(ids).toEqual(new Set(published.map((r) => r.id)));
    // Tailed lines have the agent's own ids: every line is there, and no more.
    expect(new Set(all.filter((r) => r.type === 'log').map((r) => r.id)).size).toBe(logLines.length);
    figures.extraCopiesInStream = copies - published.length - logLines.length;

    // Per key, within every shard: first copies in publish order (a resend may repeat an earlier one);
    // a gateway's syslog lines in the order they were written, which is their time order.
    const order = new Map(published.map((r, i) => [r.id, i]));
    const disordered: string[] = [];
    for (const [shardId, list] of byShard) {
      const last = new Map<string, number>();
      const seen = new Set<string>();
      for (const r of list) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        const at = r.type === 'log' ? r.at : (order.get(r.id) ?? -1);
        if (at < (last.get(r.key) ?? -1))
          disordered.push(`${r.key}: ${r.id} after a later record in ${shardId}`);
        last.set(r.key, Math.max(at, last.get(r.key) ?? -1));
      }
    }
    expect(disordered).toEqual([]);
    // Across shards a key should follow one line of descent. Known limit (README "Resharding"): an
    // aggregate planned on the old map during a reshard lands whole in one child, so a few keys also
    // appear in a sibling, where readers may take them out of order. Counted, not yet prevented.
    const keyShards = new Map<string, Set<string>>();
    for (const [shardId, list] of byShard)
      for (const r of list) keyShards.set(r.key, (keyShards.get(r.key) ?? new Set()).add(shardId));
    let split = 0;
    for (const holding of keyShards.values()) {
      // Along one line of descent, an ancestor has fewer ancestors than its descendants.
      const line = [...holding].sort((a, b) => ancestors(a).size - ancestors(b).size);
      if (line.some((shard, i) => i > 0 && !ancestors(shard).has(line[i - 1] ?? ''))) split++;
    }
    figures.keysInSiblingShards = split;
    figures.keysChecked = keyShards.size;
    expect(disordered).toEqual([]);
  }, 120_000);

  it('raises exactly one alert per injected anomaly, and no other', async () => {
    const anomalies = pipeline.fleet?.scenario.anomalies ?? [];
    expect(anomalies.length).toBeGreaterThan(0);
    const expected = anomalies.map((a) => `${a.expectedAlert.ruleId} ${a.expectedAlert.entityId}`).sort();
    const alerts = async () =>
      (await scanAll(pipeline.alertsTable))
        .filter((item) => item.sk === 'ALERT')
        .map((item) => `${String(item.ruleId)} ${String(item.entityId)}`)
        .sort();
    await eventually(60_000, async () => expect(await alerts()).toEqual(expected));
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await alerts()).toEqual(expected);
  }, 90_000);

  it('delivers exactly one lake copy of every record', async () => {
    await eventually(60_000, () => {
      expect(pipeline.lake.stats().delivered).toBeGreaterThanOrEqual(published.length);
    });
    const dir = join(work.path, 'lake');
    await syncLake(cloud.clients.s3(), pipeline.lake.bucket, dir);
    const lake = await openLake(dir);
    try {
      const { rows } = await lake.query('SELECT id, record_type FROM records');
      const ids = rows.filter((row) => row.record_type !== 'log').map((row) => String(row.id));
      expect(new Set(ids)).toEqual(new Set(published.map((r) => r.id)));
      expect(ids.length).toBe(published.length);
      const logIds = rows.filter((row) => row.record_type === 'log').map((row) => String(row.id));
      expect(logIds.length).toBe(logLines.length);
      expect(new Set(logIds).size).toBe(logLines.length);
      expect(lake.errorFiles).toBe(0);
    } finally {
      lake.close();
    }
  }, 90_000);

  // Flink's Kinesis connector (flink-connector-kinesis 4.3.0, FlinkKinesisConsumer) finds children by
  // ListShards every 10 s and reads them at once, parents not first; with the watermark taken per
  // subtask, a child's backlog read in a burst pushes it past records of its sibling shards. Those
  // records go to the late side output instead of their windows. Measured here (short windows, late
  // records); required: no window counts a record twice.
  it('measures what the Flink connector loses to a reshard, and never double counts', async () => {
    const telemetry = published.filter((r): r is TelemetryRecord => r.type === 'telemetry');
    const expected = new Map<string, number>();
    // Syslog lines count in their gateway's series of their level (device#<id>#log.<level>).
    const observations = [
      ...telemetry.map((r) => ({ at: r.event_time, series: `${r.device_id}#${r.payload.metric}` })),
      ...logLines.map((l) => ({ at: l.at, series: `${l.gateway}#log.${l.level}` })),
    ];
    for (const { at, series } of observations) {
      const start = Math.floor(at / WINDOW_MS) * WINDOW_MS;
      const key = `device#${series}#1m ${start}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const lastEvent = Math.max(...published.map((r) => r.event_time));
    const closed = [...expected.keys()].filter(
      (key) => Number(key.split(' ')[1]) + WINDOW_MS <= lastEvent - OUT_OF_ORDERNESS_MS - 1,
    );
    await eventually(90_000, async () => {
      const items = await scanAll(pipeline.aggregatesTable);
      const windows = new Map(
        items
          .filter((item) => String(item.pk).startsWith('device#') && item.windowSize === '1m')
          .map((item) => [`${String(item.pk)} ${String(item.sk)}`, Number(item.count)]),
      );
      const late = new Map<string, number>();
      for (const item of items) {
        const pk = String(item.pk);
        if (!pk.startsWith('late#device#') || !pk.endsWith('#1m')) continue;
        const start = Math.floor(Number(String(item.sk).split('.')[0]) / WINDOW_MS) * WINDOW_MS;
        const key = `${pk.slice('late#'.length)} ${start}`;
        late.set(key, (late.get(key) ?? 0) + 1);
      }
      const unaccounted = closed.filter(
        (key) => (windows.get(key) ?? 0) + (late.get(key) ?? 0) !== expected.get(key),
      );
      const short = closed.filter((key) => windows.get(key) !== expected.get(key));
      figures.flinkWindows = closed.length;
      figures.flinkShortWindows = short.length;
      figures.flinkLateRecords = [...late.values()].reduce((n, c) => n + c, 0);
      figures.flinkRevisedWindows = items.filter((item) => Number(item.revision ?? 0) > 1).length;
      figures.flinkUnaccountedWindows = unaccounted.length;
      // Replays and resends never count a record twice: no window holds more than its records.
      const over = closed.filter((key) => (windows.get(key) ?? 0) > (expected.get(key) ?? 0));
      expect(over).toEqual([]);
      expect(windows.size).toBeGreaterThan(closed.length / 2);
    });
  }, 120_000);
});
