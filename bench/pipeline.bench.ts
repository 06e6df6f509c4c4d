import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ALERT_SK } from '../functions/alerts/store/layout.ts';
import { type LocalCloud, startLocalCloud } from '../local/cloud.ts';
import {
  type FleetOptionsInput,
  parseFleetOptions,
  type RunningFleet,
  startFleet,
} from '../local/fleet/index.ts';
import { agentExports, type RunningPipeline, startPipeline } from '../local/pipeline.ts';
import { stackResource } from '../local/resources/stack.ts';

/**
 * The whole local pipeline on this machine: a simulated fleet appending through the real device agent,
 * the agent exporting to the local Kinesis (with AWS shard limits), and the alert function, lake
 * delivery and Flink job consuming it.
 *
 * 1. Throughput, flat out (the fleet's clock runs far ahead, so the publisher never waits):
 *    baseline = agent → Kinesis with no consumers; ours = the same with every consumer running.
 *    Each stage's rate over the same window, then how long the consumers need to catch up.
 * 2. Latency at the default fleet's load with anomalies every few simulated seconds: from the agent's
 *    acknowledgement of the record that completed an anomaly to its alert item being readable.
 */
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** Latency phase length; `npm run bench -- pipeline` takes about five minutes. */
const LATENCY_MS = 60_000;
const dataDir = join('.tributary', `bench-pipeline-${process.pid}`);
const FLAT_OUT: FleetOptionsInput = {
  sensors: 2_000,
  terminals: 200,
  sensorIntervalMs: 1_000,
  transactionsPerTerminalPerMinute: 60,
  anomalyIntervalMs: 0,
  timeScale: 1_000,
};

/** The stepped fleet: 500 sensors × 2 metrics per second + 50 terminals × 1 per second at time scale 1. */
const STEPPED: FleetOptionsInput = {
  sensors: 500,
  terminals: 50,
  sensorIntervalMs: 1_000,
  transactionsPerTerminalPerMinute: 60,
  anomalyIntervalMs: 0,
  timeScale: 0.5,
};
const OFFERED_PER_SCALE = 500 * 2 + 50;
const STEP_SCALES = [0.5, 1, 2, 4, 8];
const STEP_MS = 20_000;
const BASELINE_MS = 20_000;
const LAKE_INTERVAL_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rate = (count: number, ms: number) => `${Math.round((count * 1000) / ms).toLocaleString('en-US')}/s`;

interface Counts {
  appended: number;
  exported: number;
  alerted: number;
  lake: number;
  flink: number;
}

/** The baseline: the same fleet and agent, nothing reading the stream. */
async function fleetOnly(cloud: LocalCloud): Promise<Measured> {
  const stream = stackResource(cloud.stack, 'kinesis-stream', 'RecordsStream');
  const fleet = await startFleet({
    fleet: parseFleetOptions(FLAT_OUT),
    dataDir: join(cloud.dataDir, 'fleet'),
    region: cloud.region,
    kinesisEndpoint: cloud.endpoints.kinesis,
    kinesisStreamName: stream.name,
  });
  return {
    fleet,
    counts: async () => {
      const exported = (await agentExports(fleet)).reduce((n, e) => n + (e.recordsAccepted ?? 0), 0);
      return { appended: fleet.publisher.stats().published, exported, alerted: 0, lake: 0, flink: 0 };
    },
    stop: () => fleet.stop(),
  };
}

async function wholePipeline(cloud: LocalCloud): Promise<Measured> {
  const pipeline = await startPipeline({
    cloud,
    fleet: parseFleetOptions(STEPPED),
    lakeIntervalMs: LAKE_INTERVAL_MS,
    log: () => undefined,
  });
  return {
    fleet: pipeline.fleet as RunningFleet,
    counts: () => counts(pipeline),
    stop: () => pipeline.stop(),
  };
}

interface Measured {
  readonly fleet: RunningFleet;
  counts(): Promise<Counts>;
  stop(): Promise<void>;
}

async function counts(pipeline: RunningPipeline): Promise<Counts> {
  const health = await pipeline.health();
  const consumer = (kind: string) =>
    (health.consumers ?? [])
      .filter((c) => c.kind === kind)
      .reduce((n, c) => n + (c.recordsProcessed ?? 0), 0);
  return {
    appended: health.totals?.recordsAppended ?? 0,
    exported: health.totals?.recordsExported ?? 0,
    alerted: consumer('lambda-esm'),
    lake: consumer('firehose'),
    flink: consumer('flink'),
  };
}

async function baseline(): Promise<void> {
  const cloud = await startLocalCloud({ dataDir: join(dataDir, 'baseline'), fresh: true });
  const measured = await fleetOnly(cloud);
  try {
    await sleep(5_000); // warm-up: JIT, the exporter's slow start
    const before = await measured.counts();
    const started = Date.now();
    // Short enough that the agent's 256 MiB log does not fill while appends outrun the export.
    await sleep(BASELINE_MS);
    const after = await measured.counts();
    const elapsed = Date.now() - started;
    console.log(
      `baseline: fleet flat out → agent → Kinesis, nothing consuming (${Math.round(elapsed / 1000)} s)`,
    );
    console.log(`  appended (agent acks)          ${rate(after.appended - before.appended, elapsed)}`);
    console.log(`  exported (Kinesis accepted)    ${rate(after.exported - before.exported, elapsed)}`);
  } finally {
    await measured.stop();
    await cloud.stop();
  }
}

/**
 * Offered load in steps (the fleet's clock speeds up); per step, each stage's rate and how many
 * records it trails the agent's acknowledgements by at the end. A stage keeps up when it did not fall
 * more than two seconds of offered load further behind during the step.
 */
async function steps(): Promise<void> {
  const cloud = await startLocalCloud({ dataDir: join(dataDir, 'ours'), fresh: true });
  const measured = await wholePipeline(cloud);
  let sustained = 0;
  try {
    // The consumers start (the Flink job compiles, boots a MiniCluster and subscribes): wait for each
    // to have processed something, so the steps measure running consumers.
    const booting = Date.now();
    for (;;) {
      const c = await measured.counts();
      if (c.alerted > 0 && c.lake > 0 && c.flink > 0) break;
      if (Date.now() - booting > 180_000) throw new Error(`consumers did not start: ${JSON.stringify(c)}`);
      await sleep(1_000);
    }
    console.log(
      `  (every consumer processing ${((Date.now() - booting) / 1000).toFixed(0)} s after the fleet started)`,
    );
    console.log(
      'ours: the whole pipeline (agent, alert function, lake delivery, Flink job), offered load in steps',
    );
    console.log(
      '  offered    appended   exported   alerts     lake       flink      trailing (exp/alert/lake/flink)',
    );
    for (const scale of STEP_SCALES) {
      measured.fleet.publisher.setTimeScale(scale);
      const before = await measured.counts();
      const started = Date.now();
      await sleep(STEP_MS);
      const after = await measured.counts();
      const elapsed = Date.now() - started;
      const r = (key: keyof Counts) => rate(after[key] - before[key], elapsed).padEnd(11);
      const offered = OFFERED_PER_SCALE * scale;
      const behind = (c: Counts) => [c.exported, c.alerted, c.lake, c.flink].map((n) => c.appended - n);
      const trailing = behind(after);
      const grew = trailing.map((n, i) => n - (behind(before)[i] ?? 0));
      // Sustained: no stage fell more than two seconds of offered load further behind during the step
      // (a constant distance, such as the lake's buffer interval or the EFO push tick, is fine).
      const keptUp = grew.every((n) => n < offered * 2);
      console.log(
        `  ${`${Math.round(offered)}/s`.padEnd(11)}${r('appended')}${r('exported')}${r('alerted')}${r('lake')}${r('flink')}${trailing.join('/')}${keptUp ? '' : '  ← falls behind'}`,
      );
      if (!keptUp) break;
      sustained = offered;
    }
    console.log(
      `  sustained through every stage: ${sustained > 0 ? `${Math.round(sustained)} records/s` : 'below the first step'}`,
    );
  } finally {
    await measured.stop();
    await cloud.stop();
  }
}

async function latency(): Promise<void> {
  const cloud = await startLocalCloud({ dataDir: join(dataDir, 'latency'), fresh: true });
  const acknowledged = new Map<string, number>();
  const pipeline = await startPipeline({
    cloud,
    fleet: parseFleetOptions({ timeScale: 10, anomalyIntervalMs: 3_000, firstAnomalyAfterMs: 5_000 }),
    analytics: false,
    log: () => undefined,
    onPublished: (batch) => {
      for (const record of batch.records) acknowledged.set(record.id, batch.acknowledgedAt);
    },
  });
  const seen = new Map<string, number>();
  const latencies: number[] = [];
  try {
    const documents = cloud.clients.documents();
    const until = Date.now() + LATENCY_MS;
    while (Date.now() < until) {
      const page = await documents.send(new ScanCommand({ TableName: pipeline.alertsTable }));
      const now = Date.now();
      for (const item of page.Items ?? []) {
        if (item.sk !== ALERT_SK || seen.has(String(item.pk))) continue;
        seen.set(String(item.pk), now);
        const acks = ((item.triggerRecordIds as string[] | undefined) ?? []).map((id) =>
          acknowledged.get(id),
        );
        if (acks.some((t) => t === undefined)) continue;
        latencies.push(now - Math.max(...(acks as number[])));
      }
      await sleep(20);
    }
  } finally {
    await pipeline.stop();
    await cloud.stop();
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  console.log(
    `device append (agent ack) -> alert readable, ${latencies.length} alerts at the default fleet's load ×10: ` +
      `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms (polled every ~20 ms)`,
  );
}

try {
  await baseline();
  await steps();
  await latency();
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
