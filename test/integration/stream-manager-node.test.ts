/**
 * The official Node Stream Manager SDK (npm aws-greengrass-core-sdk 1.7.0, unchanged) running its
 * documented export flows against the agent (`tributary.mjs agent run`): S3 export tasks with their
 * status stream (uploads checked in s3rver, statuses read back with the SDK's StatusMessage
 * deserializer) and an IoT SiteWise export against the local SiteWise stand-in
 * (local/servers/sitewise.ts, which holds each request against the AWS SDK's model).
 */
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RunningServer,
  type SiteWiseStandIn,
  startS3,
  startSiteWise,
} from '../../local/servers/index.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';
import {
  connectNodeClient,
  type NodeSm,
  nodeSm,
  type RunningSmAgent,
  startSmAgent,
  stopSmAgent,
} from '../helpers/stream-manager.ts';
import { useTempDir } from '../helpers/temp-dir.ts';

const BUCKET = 'sm-node-exports';
const ALIAS = '/plant/line-2/pressure';
const tmp = useTempDir('tributary-sm-node-');
const sm: NodeSm = nodeSm();
let dir: string;
let s3: RunningServer;
let sitewise: SiteWiseStandIn;
let clients: AwsClients;
/** Between the agent and s3rver: records each S3 request's method and URL (multipart shows there). */
let s3Proxy: Server;
let s3ProxyEndpoint: string;
const s3Requests: string[] = [];
let agent: RunningSmAgent;
let token: string;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Export statuses as the SDK reads them from DescribeMessageStream, once `done` holds or 60 s pass. */
async function exportStatusWhen(
  client: NodeSm,
  stream: string,
  done: (status: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  let status: Record<string, unknown> = {};
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
    status = (await client.describeMessageStream(stream)).exportStatuses?.[0] ?? {};
    if (done(status)) break;
  }
  return status;
}

/** The export status fields these flows check. */
function exportFigures(status: Record<string, unknown>) {
  return {
    identifier: status.exportConfigIdentifier,
    last: status.lastExportedSequenceNumber,
    messages: status.exportedMessagesCount,
    bytes: status.exportedBytesFromStream,
  };
}

beforeAll(async () => {
  dir = tmp.path;
  [s3, sitewise] = await Promise.all([
    startS3({ dataDir: join(dir, 's3') }),
    startSiteWise({ properties: [ALIAS] }),
  ]);
  clients = createAwsClients({ kind: 'local', region: 'us-east-1', endpoints: { s3: s3.endpoint } });
  await clients.s3().send(new CreateBucketCommand({ Bucket: BUCKET }));
  const upstream = new URL(s3.endpoint);
  s3Proxy = createServer((req, res) => {
    s3Requests.push(`${req.method} ${req.url}`);
    // Headers unchanged (Host included), so the agent's signature still holds at s3rver.
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  s3Proxy.listen(0, '127.0.0.1');
  await once(s3Proxy, 'listening');
  s3ProxyEndpoint = `http://127.0.0.1:${(s3Proxy.address() as AddressInfo).port}`;
  const configFile = join(dir, 'agent.json');
  await writeFile(
    configFile,
    JSON.stringify({
      storeRoot: join(dir, 'store'),
      deviceId: 'gateway-sm-node',
      aws: {
        region: 'us-east-1',
        // No stream here exports to Kinesis: the endpoint only marks the config as a local cloud's.
        endpoint: 'http://127.0.0.1:9',
        s3Endpoint: s3ProxyEndpoint,
        siteWiseEndpoint: sitewise.endpoint,
      },
      api: { port: 0, streamManagerPort: 0 },
      streams: [{ name: 'telemetry' }],
    }),
  );
  agent = await startSmAgent(configFile);
  token = (await readFile(join(dir, 'store', 'api-token'), 'utf8')).trim();
}, 120_000);

afterAll(async () => {
  if (agent !== undefined) await stopSmAgent(agent);
  clients?.destroy();
  s3Proxy?.closeAllConnections();
  s3Proxy?.close();
  await Promise.all([s3?.stop(), sitewise?.stop()]);
});

describe('Node stream manager SDK export flows against the agent', () => {
  it('S3 export tasks upload files (multipart above the threshold) and report on the status stream, read with the SDK', async () => {
    const big = join(dir, 'big.bin');
    const small = join(dir, 'small.txt');
    const bigData = Buffer.alloc(6 * 1024 * 1024 + 7);
    for (let i = 0; i + 4 <= bigData.length; i += 4096) bigData.writeUInt32BE(i, i);
    await writeFile(big, bigData);
    await writeFile(small, 'a small file from node');
    const client = await connectNodeClient(sm, agent.smPort, token);
    try {
      await client.createMessageStream(
        new sm.MessageStreamDefinition()
          .withName('NodeStatusStream')
          .withStrategyOnFull(sm.StrategyOnFull.OverwriteOldestData),
      );
      await client.createMessageStream(
        new sm.MessageStreamDefinition()
          .withName('NodeS3TaskStream')
          .withStrategyOnFull(sm.StrategyOnFull.OverwriteOldestData)
          .withExportDefinition(
            new sm.ExportDefinition().withS3TaskExecutor([
              new sm.S3ExportTaskExecutorConfig()
                .withIdentifier('NodeS3Tasks')
                .withSizeThresholdForMultipartUploadBytes(5 * 1024 * 1024)
                .withStatusConfig(
                  new sm.StatusConfig()
                    .withStatusLevel(sm.StatusLevel.INFO)
                    .withStatusStreamName('NodeStatusStream'),
                ),
            ]),
          ),
      );
      const tasks = [
        [big, 'node/big.bin'],
        [small, 'node/small.txt'],
        [`${big}.missing`, 'node/missing.bin'],
      ] as const;
      for (const [file, key] of tasks) {
        await client.appendMessage(
          'NodeS3TaskStream',
          sm.util.validateAndSerializeToJsonBytes(
            new sm.S3ExportTaskDefinition().withInputUrl(`file://${file}`).withBucket(BUCKET).withKey(key),
          ),
        );
      }

      // The status stream, as the SDK's documentation reads it: StatusMessage objects.
      const statuses: NodeSm[] = [];
      const final = new Map<number, NodeSm>();
      let start = 0;
      for (const deadline = Date.now() + 90_000; final.size < tasks.length && Date.now() < deadline; ) {
        let batch: { sequenceNumber: number; payload: Buffer }[];
        try {
          batch = await client.readMessages(
            'NodeStatusStream',
            new sm.ReadMessagesOptions()
              .withDesiredStartSequenceNumber(start)
              .withMinMessageCount(1)
              .withMaxMessageCount(10)
              .withReadTimeoutMillis(1000),
          );
        } catch (error) {
          if (error instanceof sm.NotEnoughMessagesException) continue;
          throw error;
        }
        for (const message of batch) {
          const status = sm.util.deserializeJsonBytesToObj(message.payload, sm.StatusMessage);
          statuses.push(status);
          if (status.status === sm.Status.Success || status.status === sm.Status.Failure)
            final.set(status.statusContext.sequenceNumber, status);
          start = message.sequenceNumber + 1;
        }
      }
      const summary = (s: NodeSm) => ({
        sequence: s.statusContext.sequenceNumber,
        status: s.status,
        level: s.statusLevel,
        stream: s.statusContext.streamName,
        key: s.statusContext.s3ExportTaskDefinition.key,
      });
      expect(statuses.filter((s) => s.status === sm.Status.InProgress).map(summary)).toEqual(
        tasks.map(([, key], i) => ({
          sequence: i,
          status: sm.Status.InProgress,
          level: sm.StatusLevel.INFO,
          stream: 'NodeS3TaskStream',
          key,
        })),
      );
      expect([0, 1, 2].map((i) => final.get(i)?.status)).toEqual([
        sm.Status.Success,
        sm.Status.Success,
        sm.Status.Failure,
      ]);
      expect(final.get(2)?.statusLevel).toBe(sm.StatusLevel.ERROR);
      expect(final.get(2)?.message).toMatch(/big\.bin\.missing cannot be read/);
      expect(final.get(0)?.statusContext.s3ExportTaskDefinition.bucket).toBe(BUCKET);
      for (const s of statuses) expect(s.timestampEpochMs).toBeGreaterThan(0);

      const object = async (key: string) =>
        Buffer.from(
          await ((
            await clients.s3().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
          ).Body?.transformToByteArray() ?? new Uint8Array()),
        );
      expect((await object('node/big.bin')).equals(bigData)).toBe(true);
      // The big file went up as a multipart upload of two 5 MiB parts (the second one short), the small one whole.
      const bigRequests = s3Requests.filter((r) => r.includes('/node/big.bin'));
      expect(bigRequests.filter((r) => /^POST .*\?uploads/.test(r))).toHaveLength(1);
      const parts = bigRequests.flatMap((r) => /^PUT .*partNumber=(\d+)/.exec(r)?.[1] ?? []);
      expect([...new Set(parts)].sort()).toEqual(['1', '2']);
      expect(s3Requests.filter((r) => r.includes('/node/small.txt'))).toEqual([
        expect.stringMatching(/^PUT \/sm-node-exports\/node\/small\.txt/),
      ]);
      expect((await object('node/small.txt')).toString()).toBe('a small file from node');

      // The export status catches up with the last task a moment after its final status.
      const status = await exportStatusWhen(
        client,
        'NodeS3TaskStream',
        (s) => (s.lastExportedSequenceNumber as number) >= 2,
      );
      expect(exportFigures(status)).toEqual({
        identifier: 'NodeS3Tasks',
        last: 2,
        messages: 3,
        bytes: bigData.length + 'a small file from node'.length,
      });
    } finally {
      client.close();
    }
  });

  it('a SiteWise export sends PutAssetPropertyValueEntry messages as BatchPutAssetPropertyValue, retries throttling and reports entry errors', async () => {
    const client = await connectNodeClient(sm, agent.smPort, token);
    try {
      await client.createMessageStream(
        new sm.MessageStreamDefinition()
          .withName('NodeSiteWiseStream')
          .withStrategyOnFull(sm.StrategyOnFull.OverwriteOldestData)
          .withExportDefinition(
            new sm.ExportDefinition().withIotSitewise([
              new sm.IoTSiteWiseConfig().withIdentifier('NodeSiteWise').withBatchSize(2),
            ]),
          ),
      );
      sitewise.throttleNext(3);
      const requestsBefore = sitewise.requests;
      const now = Math.floor(Date.now() / 1000);
      const targets = [ALIAS, ALIAS, '/plant/unknown', ALIAS, ALIAS];
      const sizes: number[] = [];
      for (const [i, alias] of targets.entries()) {
        const variant =
          i === 4 ? new sm.Variant().withIntegerValue(42) : new sm.Variant().withDoubleValue(1.5 + i);
        const entry = new sm.PutAssetPropertyValueEntry()
          .withEntryId(`node-entry-${i}`)
          .withPropertyAlias(alias)
          .withPropertyValues([
            new sm.AssetPropertyValue()
              .withValue(variant)
              .withQuality(sm.Quality.GOOD)
              .withTimestamp(new sm.TimeInNanos().withTimeInSeconds(now).withOffsetInNanos(i)),
          ]);
        const message = sm.util.validateAndSerializeToJsonBytes(entry);
        sizes.push(message.length);
        await client.appendMessage('NodeSiteWiseStream', message);
      }
      const status = await exportStatusWhen(
        client,
        'NodeSiteWiseStream',
        (s) => (s.lastExportedSequenceNumber as number) >= 4,
      );
      expect(exportFigures(status)).toEqual({
        identifier: 'NodeSiteWise',
        last: 4,
        messages: 4,
        bytes: sizes.reduce((a, b) => a + b) - (sizes[2] ?? 0),
      });
      expect(status.errorMessage).toMatch(
        /entry node-entry-2: ResourceNotFoundException: property \/plant\/unknown does not exist/,
      );
      expect(status.lastExportTime).toBeGreaterThan(0);
      expect(
        sitewise.stored.filter((v) => v.timeInSeconds === now).map((v) => [v.property, v.value]),
      ).toEqual([
        [ALIAS, { doubleValue: 1.5 }],
        [ALIAS, { doubleValue: 2.5 }],
        [ALIAS, { doubleValue: 4.5 }],
        [ALIAS, { integerValue: 42 }],
      ]);
      // 3 throttled answers, then at least three requests of at most 2 entries (batchSize).
      expect(sitewise.requests - requestsBefore).toBeGreaterThanOrEqual(6);
    } finally {
      client.close();
    }
  });
});
