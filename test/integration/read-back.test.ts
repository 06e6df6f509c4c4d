/**
 * The exporter's read-back at start against the local Kinesis (behind the limits proxy), through
 * the agent's own slim HTTP client. A run whose last PutRecords answers are lost after Kinesis
 * accepted them (what a SIGKILL or power loss leaves behind) is followed by a second run on the
 * same log: with the read-back, the accepted records are found and not sent again; without it (or
 * without read permission) they are sent again, and nothing is ever lost.
 */
import { join } from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  httpKinesisApi,
  KINESIS_TARGET,
  type KinesisApi,
  KinesisExporter,
} from '../../device/export/index.ts';
import { classifyFailure } from '../../device/export/kinesis.ts';
import { LogStore } from '../../device/log/index.ts';
import { type KinesisLimits, startKinesisLimits } from '../../local/kinesis-limits/proxy.ts';
import { startKinesis } from '../../local/servers/kinesis.ts';
import type { RunningServer } from '../../local/servers/runtime.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';
import { type AwsJsonClient, createAwsJsonClient } from '../../shared/aws/json-client.ts';
import { decodeRecord, encodeRecord } from '../../shared/contract/index.ts';
import { createActiveStream, userRecordsIn } from '../helpers/kinesis-stream.ts';
import { telemetryRecord, transactionRecord } from '../helpers/records.ts';
import { useTempDir } from '../helpers/temp-dir.ts';
import { until } from '../helpers/until.ts';

let kinesis: RunningServer;
let limits: KinesisLimits;
let clients: AwsClients;
let sdk: KinesisClient;
let json: AwsJsonClient;
const tmp = useTempDir('tributary-read-back-');

beforeAll(async () => {
  kinesis = await startKinesis();
  limits = await startKinesisLimits({ upstream: kinesis.endpoint });
  clients = createAwsClients({ kind: 'local', region: 'us-east-1', endpoints: { kinesis: limits.endpoint } });
  sdk = clients.kinesis();
  json = createAwsJsonClient({
    service: 'kinesis',
    targetPrefix: KINESIS_TARGET,
    region: 'us-east-1',
    endpoint: limits.endpoint,
    credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
  });
});

afterAll(async () => {
  json?.destroy();
  clients?.destroy();
  await limits?.stop();
  await kinesis?.stop();
});

/** How many copies of each record id the stream holds. */
async function copiesById(stream: string): Promise<Map<string, number>> {
  const copies = new Map<string, number>();
  for (const user of await userRecordsIn(sdk, stream)) {
    const { id } = decodeRecord(user.data);
    copies.set(id, (copies.get(id) ?? 0) + 1);
  }
  return copies;
}

/**
 * The real API, except that from the `passing + 1`-th PutRecords on, each request reaches Kinesis
 * and its answer is then withheld until `loseAnswers()`, which fails them all as a dropped
 * connection would; nothing is sent after that.
 */
function losingAnswers(api: KinesisApi, passing: number) {
  let calls = 0;
  let lost = false;
  const held: (() => void)[] = [];
  const dropped = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  const wrapped: KinesisApi = {
    ...api,
    async putRecords(stream, entries, timeoutMillis) {
      if (lost) throw classifyFailure('PutRecords', dropped());
      const outcomes = await api.putRecords(stream, entries, timeoutMillis);
      if (++calls <= passing) return outcomes;
      await new Promise<void>((resolve) => held.push(resolve));
      throw classifyFailure('PutRecords', dropped());
    },
  };
  return {
    api: wrapped,
    get held() {
      return held.length;
    },
    loseAnswers() {
      lost = true;
      for (const release of held.splice(0)) release();
    },
  };
}

async function appendRecords(store: LogStore, stream: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const record =
      i % 3 === 0
        ? transactionRecord({ partition_key: `card-${i % 17}` })
        : telemetryRecord({ device_id: `sensor-${i % 23}`, partition_key: `sensor-${i % 23}` });
    ids.push(record.id);
    payloads.push(encodeRecord(record));
  }
  await store.appendMany(stream, payloads);
  return ids;
}

interface Scenario {
  readonly name: string;
  readonly readBackOnStart?: boolean;
  /** The second run's API (the real one by default). */
  readonly secondApi?: (api: KinesisApi) => KinesisApi;
}

/** A first run loses the answers of its last requests; a second run on the same log exports the rest. */
async function lostAnswersThenRestart(scenario: Scenario) {
  const kinesisStream = `read-back-${scenario.name}`;
  await createActiveStream(sdk, kinesisStream, 2);
  const store = await LogStore.open(join(tmp.path, scenario.name));
  try {
    await store.createStream({ name: 'records' });
    const ids = await appendRecords(store, 'records', 3000);
    const api = httpKinesisApi(json);
    const exports = [
      {
        logStream: 'records',
        kinesisStreamName: kinesisStream,
        ...(scenario.readBackOnStart === undefined ? {} : { readBackOnStart: scenario.readBackOnStart }),
      },
    ];
    const losing = losingAnswers(api, 3);
    const first = await KinesisExporter.start({
      store,
      kinesis: losing.api,
      exports,
    });
    await until(() => losing.held, {
      what: 'a request with its answer lost',
      done: (n) => n >= 1,
      intervalMs: 5,
    });
    const stopped = first.stop();
    losing.loseAnswers();
    await stopped;
    const checkpoint = store.committed('records', `kinesis.${kinesisStream}`) ?? -1;
    const before = await copiesById(kinesisStream);
    const acceptedPastCheckpoint = ids.slice(checkpoint + 1).filter((id) => before.has(id)).length;
    expect(checkpoint).toBeGreaterThanOrEqual(0);
    expect(acceptedPastCheckpoint).toBeGreaterThan(0);

    const second = await KinesisExporter.start({
      store,
      kinesis: scenario.secondApi?.(api) ?? api,
      exports,
    });
    await second.whenExported('records', ids.length - 1);
    const status = second.statusOf('records');
    await second.stop();
    const after = await copiesById(kinesisStream);
    return { ids, acceptedPastCheckpoint, status, after };
  } finally {
    await store.close();
  }
}

describe('read-back at start', () => {
  it('finds the records whose answers were lost and sends each record once', async () => {
    const { ids, acceptedPastCheckpoint, status, after } = await lostAnswersThenRestart({ name: 'on' });
    expect(status.counters.recordsFoundLanded).toBe(acceptedPastCheckpoint);
    expect(status.lastError).toBeUndefined();
    expect([...after.keys()].sort()).toEqual([...ids].sort());
    expect([...after.values()].filter((copies) => copies > 1)).toEqual([]);
  }, 120_000);

  it('sends them again when the read-back is turned off', async () => {
    const { ids, acceptedPastCheckpoint, status, after } = await lostAnswersThenRestart({
      name: 'off',
      readBackOnStart: false,
    });
    expect(status.counters.recordsFoundLanded).toBe(0);
    expect([...after.keys()].sort()).toEqual([...ids].sort());
    expect([...after.values()].filter((copies) => copies > 1)).toHaveLength(acceptedPastCheckpoint);
  }, 120_000);

  it('sends them again, and says why, when reading the stream is denied', async () => {
    const denied = Object.assign(new Error('not authorized to perform kinesis:GetShardIterator'), {
      name: 'AccessDeniedException',
    });
    const { ids, acceptedPastCheckpoint, status, after } = await lostAnswersThenRestart({
      name: 'denied',
      secondApi: (api) => ({
        ...api,
        shardIteratorAfter: async () => {
          throw classifyFailure('GetShardIterator', denied);
        },
      }),
    });
    expect(status.counters.recordsFoundLanded).toBe(0);
    expect(status.lastError).toMatchObject({ code: 'READ_BACK_FAILED' });
    expect(status.lastError?.message).toContain('AccessDeniedException');
    expect([...after.keys()].sort()).toEqual([...ids].sort());
    expect([...after.values()].filter((copies) => copies > 1)).toHaveLength(acceptedPastCheckpoint);
  }, 120_000);
});
