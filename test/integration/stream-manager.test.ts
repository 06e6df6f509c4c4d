/**
 * Greengrass stream manager compatibility: the official SDKs, unchanged (PyPI stream-manager 1.1.2 in
 * the project venv, npm aws-greengrass-core-sdk 1.7.0), against the agent run as devices run it
 * (`tributary.mjs agent run`), exporting to kinesis-local. Every request the SDKs send passes a
 * recording proxy; the last test holds what they sent against device/PROTOCOL.md's field table.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCbor, FrameDecoder, isOversized, Operation } from '../../device/sm/protocol.ts';
import { type RunningServer, startKinesis, startS3 } from '../../local/servers/index.ts';
import { type SiteWiseStandIn, startSiteWise } from '../../local/servers/sitewise.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';
import { referenceDeaggregate } from '../helpers/aggregated.ts';
import { telemetryRecord } from '../helpers/records.ts';
import { type RunningSmAgent, startSmAgent, stopSmAgent } from '../helpers/stream-manager.ts';
import { useTempDir } from '../helpers/temp-dir.ts';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/tributary.mjs');
const PYTHON = join(ROOT, '.venv/bin/python');
const DRIVER = join(ROOT, 'test/helpers/sm_python.py');
const KINESIS_STREAM = 'sm-export';
const run = promisify(execFile);

const tmp = useTempDir('tributary-sm-');
let dir: string;
let configFile: string;
let kinesis: RunningServer;
let s3: RunningServer;
let sitewise: SiteWiseStandIn;
const ALIAS = '/plant/line-1/temperature';
let clients: AwsClients;
let agent: RunningSmAgent;
let token: string;
let proxy: Server;
let proxyPort: number;
/** Field paths of every request the SDKs sent, by operation name. */
const sent = new Map<string, Set<string>>();

const startAgent = (file = configFile) => startSmAgent(file);
const stopAgent = (signal?: NodeJS.Signals) => stopSmAgent(agent, signal);

/** Every path of keys in a decoded request (`definition.exportDefinition.kinesis[].batchSize`). */
function paths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => paths(v, `${prefix}[]`));
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array)
    return prefix === '' ? [] : [prefix];
  const out = prefix === '' ? [] : [prefix];
  for (const [k, v] of Object.entries(value)) out.push(...paths(v, prefix === '' ? k : `${prefix}.${k}`));
  return out;
}

const operationName = new Map(Object.entries(Operation).map(([name, code]) => [code as number, name]));

/** Forwards to the agent and records the requests' field paths; the agent's port may change. */
async function startProxy(): Promise<void> {
  proxy = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: agent.port });
    const decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024, expectConnectVersion: true });
    client.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (isOversized(frame)) continue;
        const name = operationName.get(frame.operation) ?? `op${frame.operation}`;
        const seen = sent.get(name) ?? new Set<string>();
        for (const p of paths(decodeCbor(frame.payload))) seen.add(p);
        sent.set(name, seen);
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  proxyPort = (proxy.address() as { port: number }).port;
}

function smEnv(port: number, agentToken = token): NodeJS.ProcessEnv {
  return {
    ...process.env,
    STREAM_MANAGER_SERVER_PORT: String(port),
    AWS_CONTAINER_AUTHORIZATION_TOKEN: agentToken,
  };
}

async function python(
  args: string[],
  port = proxyPort,
  agentToken = token,
): Promise<Record<string, unknown>> {
  const { stdout } = await run(PYTHON, [DRIVER, ...args], {
    env: smEnv(port, agentToken),
    timeout: 180_000,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** A stream's status over the agent's HTTP API (the other door to the same streams). */
async function streamOverHttp(name: string): Promise<{ log: { nextSequence: number } }> {
  const response = await fetch(`http://127.0.0.1:${agent.port}/v1/streams/${encodeURIComponent(name)}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { log: { nextSequence: number } };
}

/** Every user record in the Kinesis stream, KPL aggregates unpacked, in shard order (shard by shard). */
async function recordsInKinesis(): Promise<{ partitionKey: string; payload: string }[]> {
  const client = clients.kinesis();
  const out: { partitionKey: string; payload: string }[] = [];
  const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: KINESIS_STREAM }));
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: KINESIS_STREAM,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator !== undefined) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) {
        for (const user of referenceDeaggregate(record.Data ?? new Uint8Array(), record.PartitionKey ?? '')) {
          out.push({ partitionKey: user.partitionKey, payload: Buffer.from(user.data).toString('utf8') });
        }
      }
      if ((page.Records ?? []).length === 0 && page.MillisBehindLatest === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

/** Payloads of every user record in the Kinesis stream, KPL aggregates unpacked. */
async function payloadsInKinesis(): Promise<string[]> {
  return (await recordsInKinesis()).map((r) => r.payload);
}

beforeAll(async () => {
  dir = tmp.path;
  [kinesis, s3, sitewise] = await Promise.all([
    startKinesis(),
    startS3({ dataDir: join(dir, 's3') }),
    startSiteWise({ properties: [ALIAS] }),
  ]);
  clients = createAwsClients({
    kind: 'local',
    region: 'us-east-1',
    endpoints: { kinesis: kinesis.endpoint, s3: s3.endpoint },
  });
  await clients.s3().send(new CreateBucketCommand({ Bucket: 'sm-exports' }));
  const client = clients.kinesis();
  await client.send(new CreateStreamCommand({ StreamName: KINESIS_STREAM, ShardCount: 2 }));
  while (
    (await client.send(new DescribeStreamSummaryCommand({ StreamName: KINESIS_STREAM })))
      .StreamDescriptionSummary?.StreamStatus !== 'ACTIVE'
  ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  configFile = join(dir, 'agent.json');
  await writeFile(
    configFile,
    JSON.stringify({
      storeRoot: join(dir, 'store'),
      deviceId: 'gateway-sm-01',
      aws: {
        region: 'us-east-1',
        endpoint: kinesis.endpoint,
        s3Endpoint: s3.endpoint,
        siteWiseEndpoint: sitewise.endpoint,
      },
      // A port of its own for stream manager too, as a fleet whose components name another one has.
      api: { port: 0, streamManagerPort: 0 },
      streams: [{ name: 'telemetry' }],
    }),
  );
  agent = await startAgent();
  token = (await readFile(join(dir, 'store', 'api-token'), 'utf8')).trim();
  await startProxy();
}, 120_000);

afterAll(async () => {
  if (agent !== undefined) await stopAgent();
  proxy?.close();
  clients?.destroy();
  await Promise.all([kinesis?.stop(), s3?.stop(), sitewise?.stop()]);
});

describe('stream manager SDKs against the agent', () => {
  it('Python SDK: create with a Kinesis export, append, read, describe, update, list, delete; each refusal is the documented exception', async () => {
    const started = Date.now();
    const out = await python(['flows', 'py-stream', KINESIS_STREAM]);
    expect(out.sequences).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(out.read).toEqual([5, 6, 7, 8].map((i) => [i, `python message ${i}`]));
    expect(out.describe).toEqual({
      name: 'py-stream',
      strategyOnFull: 'OverwriteOldestData',
      oldest: 0,
      newest: 19,
      kinesis: [KINESIS_STREAM],
    });
    expect(out.updated).toEqual({
      strategyOnFull: 'RejectNewData',
      maxSize: 64 * 1024 * 1024,
      ttl: 3_600_000,
    });
    expect(out.list).toEqual(expect.arrayContaining(['py-stream', 'telemetry']));
    // The exporter's dead-letter stream exists (empty) but is the agent's: ListStreams leaves it out.
    expect(out.list).not.toContain('py-stream.dead-letter');
    expect(out.deadLetterNewest).toBe(-1);
    expect(out.exportStatuses).toEqual([['KinesisExportpy-stream', 19]]);
    const lastExportTime = (out.exportStatus as { lastExportTime: number }).lastExportTime;
    expect(lastExportTime).toBeGreaterThan(started);
    expect(lastExportTime).toBeLessThanOrEqual(Date.now());
    const bad = out.bad as Record<string, { type: string; message: string }>;
    expect(Object.fromEntries(Object.entries(bad).map(([k, v]) => [k, v.type]))).toEqual({
      create: 'InvalidRequestException',
      createIotAnalytics: 'InvalidRequestException',
      update: 'UpdateNotAllowedException',
      updateMissing: 'ResourceNotFoundException',
      delete: 'ResourceNotFoundException',
      describe: 'ResourceNotFoundException',
      append: 'ResourceNotFoundException',
      appendContract: 'InvalidRequestException',
      read: 'NotEnoughMessagesException',
      readMissing: 'ResourceNotFoundException',
    });
    expect(bad.create?.message).toMatch(/already exists/);
    expect(bad.createIotAnalytics?.message).toMatch(/end of support.*Kinesis/);
    expect(bad.update?.message).toMatch(/persistence cannot change from File to Memory/);
    expect(bad.read?.message).toMatch(/fewer than minMessageCount 1 after waiting 200 ms/);
    expect(out.listAfterDelete).not.toContain('py-stream');
    // The exporter's dead-letter stream went with it (left behind, it would list as a user stream).
    expect(out.listAfterDelete).not.toContain('py-stream.dead-letter');
    // The export ran before the delete: every message is in Kinesis.
    const inKinesis = (await payloadsInKinesis()).filter((p) => p.startsWith('python message'));
    expect(new Set(inKinesis)).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `python message ${i}`)));
    // Every field of the SDK's export status. The counts span the update, which restarted the export,
    // and are what Kinesis holds: a message accepted but not yet checkpointed when the export stopped
    // goes again (at least once), and counts again.
    expect(out.exportStatus).toEqual({
      lastExportTime: expect.any(Number),
      exportedBytesFromStream: inKinesis.reduce((sum, p) => sum + p.length, 0),
      exportedMessagesCount: inKinesis.length,
      errorMessage: null,
    });
  });

  it('Python SDK: a Kinesis export from start_sequence_number sends only from there; a disabled export sends nothing until UpdateMessageStream enables it', async () => {
    const out = await python(['export-options', KINESIS_STREAM]);
    expect(out.start).toEqual([['start-stream-export', 9]]);
    // A disabled export runs no exporter: no status; the definition keeps the flag.
    expect(out.off).toEqual([]);
    expect(out.offDisabled).toEqual([true]);
    const before = await payloadsInKinesis();
    expect(before.filter((p) => p.startsWith('start ')).sort()).toEqual(
      [5, 6, 7, 8, 9].map((i) => `start ${i}`),
    );
    // The other stream's export is done: this one had as long and sent nothing.
    expect(before.filter((p) => p.startsWith('off '))).toEqual([]);
    const enabled = await python(['enable', 'off-stream', KINESIS_STREAM]);
    expect(enabled.statuses).toEqual([['off-stream-export', 4]]);
    expect((await payloadsInKinesis()).filter((p) => p.startsWith('off ')).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => `off ${i}`),
    );
  });

  it('Python SDK: a message without a key gets a random partition key of its own; a JSON message naming partition_key keeps it, in order per key', async () => {
    const out = await python(['partition-keys', KINESIS_STREAM]);
    expect(out.statuses).toEqual([['keyed-stream-export', 49]]);
    const records = await recordsInKinesis();
    const plain = records.filter((r) => r.payload.startsWith('nokey '));
    expect(plain.map((r) => r.payload).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `nokey ${i}`).sort(),
    );
    // Stream manager's keys: random, one per message.
    expect(new Set(plain.map((r) => r.partitionKey)).size).toBe(20);
    const keyed = records
      .filter((r) => r.payload.startsWith('{"partition_key"'))
      .map((r) => ({
        key: r.partitionKey,
        message: JSON.parse(r.payload) as { partition_key: string; n: number },
      }));
    expect(keyed).toHaveLength(30);
    for (const { key, message } of keyed) expect(key).toBe(message.partition_key);
    // One key, one shard: read shard by shard, each key's messages come in the order appended.
    for (const device of ['dev-0', 'dev-1', 'dev-2']) {
      const order = keyed.filter((r) => r.key === device).map((r) => r.message.n);
      expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i).filter((i) => `dev-${i % 3}` === device));
    }
  });

  it('Python SDK: each size refusal and a refused token are the exceptions the SDK documents, with messages naming the sizes', async () => {
    const out = await python(['errors']);
    const refusal = (key: string) => out[key] as { type: string; message: string };
    // Over the stream's 1 MiB record limit, and over the agent's frame limit.
    expect(refusal('appendRecordTooLarge').type).toBe('RequestPayloadTooLargeException');
    expect(refusal('appendRecordTooLarge').message).toMatch(/1048577/);
    expect(refusal('appendFrameTooLarge').type).toBe('RequestPayloadTooLargeException');
    expect(refusal('appendFrameTooLarge').message).toMatch(/over this agent's \d+-byte limit/);
    // Five messages of 900 000 bytes: the fifth would take the answer past 4 MiB.
    expect(refusal('readTooLarge').type).toBe('ResponsePayloadTooLargeException');
    expect(refusal('readTooLarge').message).toMatch(
      /5 messages from sequence 0 .* exceed the 4194304-byte answer limit/,
    );
    expect(out.readFits).toEqual([0, 1, 2, 3].map((i) => [i, 900_000]));
    // A full RejectNewData stream refuses the append (InvalidRequest, as the SDKs document), naming its size.
    expect(out.appendedBeforeFull).toBeGreaterThan(0);
    expect(out.full).toEqual({
      type: 'InvalidRequestException',
      message: expect.stringMatching(/full.*maxSize 1024/),
    });
    // The SDK connects in its constructor; a token that is not the agent's is refused there.
    const refused = await python(['connect'], proxyPort, 'not-the-token');
    expect(refused.type).toBe('ConnectFailedException');
    expect((await python(['connect'])).type).toBeNull();
  });

  it('a stream created through the SDK is one of the HTTP API: listed, described, appended to, and what it appends the SDK reads', async () => {
    await python(['bench', 'sdk-made', '3', '10']);
    const headers = { authorization: `Bearer ${token}` };
    const list = (await (await fetch(`http://127.0.0.1:${agent.port}/v1/streams`, { headers })).json()) as {
      streams: { name: string }[];
    };
    expect(list.streams.map((s) => s.name)).toContain('sdk-made');
    const status = (await streamOverHttp('sdk-made')) as unknown as {
      definition: { strategyOnFull: string };
      log: { nextSequence: number };
    };
    expect(status.definition.strategyOnFull).toBe('OverwriteOldestData');
    expect(status.log.nextSequence).toBe(3);
    const record = telemetryRecord({ device_id: 'over-http' });
    const appended = await fetch(`http://127.0.0.1:${agent.port}/v1/streams/sdk-made/records`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(record),
    });
    expect(appended.status).toBe(202);
    expect(await appended.json()).toMatchObject({ stream: 'sdk-made', firstSequence: 3, count: 1 });
    const out = await python(['read-all', 'sdk-made']);
    const payloads = out.payloads as string[];
    expect(payloads.slice(0, 3)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(10)]);
    expect(JSON.parse(payloads[3] ?? '')).toMatchObject({ id: record.id, device_id: 'over-http' });
  });

  it('Node SDK: the same flows and refusals', async () => {
    const sm = createRequire(import.meta.url)('aws-greengrass-core-sdk/stream-manager');
    const quiet = { error() {}, debug() {}, info() {}, warn() {} };
    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = token;
    const started = Date.now();
    const client = new sm.StreamManagerClient({ port: proxyPort, logger: quiet });
    try {
      await new Promise<void>((resolve, reject) => {
        client.onConnected(resolve);
        client.onError(reject);
      });
      const name = 'node-stream';
      await client.createMessageStream(
        new sm.MessageStreamDefinition()
          .withName(name)
          .withStrategyOnFull(sm.StrategyOnFull.OverwriteOldestData)
          .withPersistence(sm.Persistence.Memory)
          .withExportDefinition(
            new sm.ExportDefinition().withKinesis([
              new sm.KinesisConfig()
                .withIdentifier('node-export')
                .withKinesisStreamName(KINESIS_STREAM)
                .withBatchSize(5),
            ]),
          ),
      );
      const sequences: number[] = [];
      for (let i = 0; i < 10; i++)
        sequences.push(await client.appendMessage(name, Buffer.from(`node message ${i}`)));
      expect(sequences).toEqual(Array.from({ length: 10 }, (_, i) => i));
      const read = await client.readMessages(
        name,
        new sm.ReadMessagesOptions()
          .withDesiredStartSequenceNumber(2)
          .withMinMessageCount(2)
          .withMaxMessageCount(3),
      );
      expect(
        read.map((m: { sequenceNumber: number; payload: Buffer }) => [
          m.sequenceNumber,
          m.payload.toString(),
        ]),
      ).toEqual([2, 3, 4].map((i) => [i, `node message ${i}`]));
      // A read that waits: the message appended meanwhile answers it.
      const waiting = client.readMessages(
        name,
        new sm.ReadMessagesOptions().withDesiredStartSequenceNumber(10).withReadTimeoutMillis(10_000),
      );
      await client.appendMessage(name, Buffer.from('node message 10'));
      expect((await waiting).map((m: { payload: Buffer }) => m.payload.toString())).toEqual([
        'node message 10',
      ]);
      const info = await client.describeMessageStream(name);
      expect(info.definition.persistence).toBe(sm.Persistence.Memory);
      expect(info.storageStatus.newestSequenceNumber).toBe(10);
      // The export status as the SDK's model reads it, every field of it.
      let status: Record<string, unknown> | undefined;
      for (let tries = 0; tries < 300; tries++) {
        status = (await client.describeMessageStream(name)).exportStatuses?.[0];
        if ((status?.lastExportedSequenceNumber as number) >= 10) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect({
        identifier: status?.exportConfigIdentifier,
        last: status?.lastExportedSequenceNumber,
        bytes: status?.exportedBytesFromStream,
        messages: status?.exportedMessagesCount,
        error: status?.errorMessage,
      }).toEqual({
        identifier: 'node-export',
        last: 10,
        bytes: Array.from({ length: 11 }, (_, i) => `node message ${i}`.length).reduce((a, b) => a + b),
        messages: 11,
        error: null,
      });
      expect(status?.lastExportTime).toBeGreaterThan(started);
      await client.updateMessageStream(
        new sm.MessageStreamDefinition()
          .withName(name)
          .withStrategyOnFull(sm.StrategyOnFull.RejectNewData)
          .withPersistence(sm.Persistence.Memory),
      );
      expect((await client.describeMessageStream(name)).definition.strategyOnFull).toBe(
        sm.StrategyOnFull.RejectNewData,
      );
      expect(await client.listStreams()).toContain(name);
      expect(await client.listStreams()).not.toContain(`${name}.dead-letter`);
      const refusal = async (action: () => Promise<unknown>) => {
        try {
          await action();
          return 'none';
        } catch (error) {
          return (error as Error).constructor.name;
        }
      };
      expect({
        create: await refusal(() =>
          client.createMessageStream(
            new sm.MessageStreamDefinition()
              .withName(name)
              .withStrategyOnFull(sm.StrategyOnFull.RejectNewData),
          ),
        ),
        update: await refusal(() =>
          client.updateMessageStream(
            new sm.MessageStreamDefinition()
              .withName('telemetry')
              .withStrategyOnFull(sm.StrategyOnFull.RejectNewData),
          ),
        ),
        delete: await refusal(() => client.deleteMessageStream('no-such-stream')),
        describe: await refusal(() => client.describeMessageStream('no-such-stream')),
        append: await refusal(() => client.appendMessage('no-such-stream', Buffer.from('x'))),
        read: await refusal(() =>
          client.readMessages(name, new sm.ReadMessagesOptions().withDesiredStartSequenceNumber(99)),
        ),
      }).toEqual({
        create: 'InvalidRequestException',
        update: 'UpdateNotAllowedException',
        delete: 'ResourceNotFoundException',
        describe: 'ResourceNotFoundException',
        append: 'ResourceNotFoundException',
        read: 'NotEnoughMessagesException',
      });
      await client.deleteMessageStream(name);
      expect(await client.listStreams()).not.toContain(name);
      expect(await client.listStreams()).not.toContain(`${name}.dead-letter`);
    } finally {
      client.close();
      delete process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
    }
  });

  it('Python SDK: S3 export tasks upload files (multipart above 5 MiB) and report on the status stream', async () => {
    const big = join(dir, 'big.bin');
    const small = join(dir, 'small.txt');
    const bigData = Buffer.alloc(12 * 1024 * 1024 + 123);
    for (let i = 0; i < bigData.length; i += 4096) bigData.writeUInt32BE(i, i);
    await writeFile(big, bigData);
    await writeFile(small, 'a small file');
    const out = await python(['s3', 'sm-exports', big, small]);
    const done = out.done as Record<string, [string, string]>;
    expect(done['0']?.[0]).toBe('Success');
    expect(done['1']?.[0]).toBe('Success');
    expect(done['2']).toEqual(['Failure', expect.stringMatching(/big\.bin\.missing cannot be read/)]);
    expect((out.events as [number, string][]).filter(([, s]) => s === 'InProgress').map(([q]) => q)).toEqual([
      0, 1, 2,
    ]);
    // Three tasks processed (one failed), the two files' bytes uploaded.
    expect(out.exportStatuses).toEqual([
      ['S3TaskExecutor', 2, bigData.length + 'a small file'.length, 3, expect.any(Number)],
    ]);
    const object = async (key: string) =>
      Buffer.from(
        await ((
          await clients.s3().send(new GetObjectCommand({ Bucket: 'sm-exports', Key: key }))
        ).Body?.transformToByteArray() ?? new Uint8Array()),
      );
    expect((await object('uploads/0')).equals(bigData)).toBe(true);
    expect((await object('uploads/1')).toString()).toBe('a small file');
  });

  it('Python SDK: S3 task keys resolve !{timestamp:…} placeholders (DateTimeFormatter patterns, UTC) when the upload starts', async () => {
    const file = join(dir, 'dated.txt');
    await writeFile(file, 'a dated file');
    const day = (t: Date) => t.toISOString().slice(0, 10).replaceAll('-', '/');
    const before = new Date();
    const out = await python([
      's3-keys',
      'sm-exports',
      file,
      'dated/!{timestamp:yyyy/MM/dd}/h!{timestamp:HH}-file.txt',
      'bad/!{timestamp:YYYY/ww}/file.txt',
    ]);
    const after = new Date();
    const done = out.done as Record<string, [string, string]>;
    expect(done['0']?.[0]).toBe('Success');
    expect(done['1']).toEqual([
      'Failure',
      expect.stringMatching(/letter Y \(week-based year\) is not supported/),
    ]);
    const uploaded = /s3:\/\/sm-exports\/(\S+)$/.exec(done['0']?.[1] ?? '')?.[1] ?? '';
    const expected = (t: Date) => `dated/${day(t)}/h${t.toISOString().slice(11, 13)}-file.txt`;
    expect([expected(before), expected(after)]).toContain(uploaded);
    const object = await clients.s3().send(new GetObjectCommand({ Bucket: 'sm-exports', Key: uploaded }));
    expect(await object.Body?.transformToString()).toBe('a dated file');
  });

  it('Python SDK: a SiteWise export sends BatchPutAssetPropertyValue, retries a throttled request and reports entry errors', async () => {
    sitewise.throttleNext(4);
    const out = await python(['sitewise', ALIAS, '/plant/unknown']);
    const [status] = out.exportStatuses as [string, number, string, number, number, number][];
    expect(status?.slice(0, 2)).toEqual(['SiteWiseExport', 3]);
    expect(status?.[2]).toMatch(
      /entry entry-2: ResourceNotFoundException: property \/plant\/unknown does not exist/,
    );
    expect(status?.[3]).toBe(3);
    // Bytes of the three accepted entries' messages, not of the refused one.
    const sizes = out.sizes as number[];
    expect(status?.[4]).toBe((sizes[0] ?? 0) + (sizes[1] ?? 0) + (sizes[3] ?? 0));
    expect(status?.[5]).toBeGreaterThan(0);
    expect(sitewise.stored.map((v) => [v.property, v.value])).toEqual(
      [0, 1, 3].map((i) => [ALIAS, { doubleValue: 20.5 + i }]),
    );
    // 4 throttled answers, then at least two requests: at most 2 entries (batchSize) in each.
    expect(sitewise.requests).toBeGreaterThanOrEqual(6);
  });

  it('SIGKILL during SDK appends: after a restart every acknowledged message is there and reaches Kinesis, and the stream created at run time (with its export) too', async () => {
    const writer = spawn(PYTHON, [DRIVER, 'append-forever', 'crash-stream', KINESIS_STREAM], {
      env: smEnv(agent.port),
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const writerExited = once(writer, 'exit');
    const acked: number[] = [];
    let killSent = false;
    let afterKill = 0;
    const lines = createInterface({ input: writer.stdout as NodeJS.ReadableStream });
    const closed = once(lines, 'close');
    const reached300 = new Promise<void>((resolve) => {
      // Every line until the writer's output ends: the acknowledgements nearest the kill count most.
      lines.on('line', (line) => {
        acked.push(Number(line.split(' ')[0]));
        if (killSent) afterKill++;
        if (acked.length === 300) resolve();
      });
    });
    try {
      await reached300;
      // Reading stops; the writer goes on, its lines wait in the pipe. Once the agent holds 20 more
      // messages (the writer sends one only when the one before was acknowledged), the kill lands
      // mid-stream and those acknowledgements, the ones nearest the kill, are read after it.
      lines.pause();
      while ((await streamOverHttp('crash-stream')).log.nextSequence < acked.length + 20) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      killSent = true;
      await stopAgent('SIGKILL');
      lines.resume();
      // The writer fails on its connection and exits; its output ends.
      await Promise.all([writerExited, closed]);
    } finally {
      writer.kill('SIGKILL');
    }
    expect(afterKill).toBeGreaterThanOrEqual(19);
    expect(acked).toEqual(Array.from({ length: acked.length }, (_, i) => i));
    agent = await startAgent();
    const out = await python(['read-all', 'crash-stream'], agent.port);
    expect(out.streams).toContain('crash-stream');
    const payloads = new Set(out.payloads as string[]);
    const lost = acked.filter((i) => !payloads.has(`crash ${i}`));
    expect(lost).toEqual([]);
    // The run-time stream's export came back with it: every acknowledged message reaches Kinesis.
    let missing: number[] = acked;
    for (const deadline = Date.now() + 60_000; missing.length > 0 && Date.now() < deadline; ) {
      const inKinesis = new Set((await payloadsInKinesis()).filter((p) => p.startsWith('crash ')));
      missing = acked.filter((i) => !inKinesis.has(`crash ${i}`));
      if (missing.length > 0) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(missing).toEqual([]);
  });

  it('an unmodified component finds the agent through its environment: eval "$(tributary agent env)" sets the port and token the SDK reads', async () => {
    const { stdout: exports } = await run(process.execPath, [BIN, 'agent', 'env', '--config', configFile]);
    expect(exports).toBe(
      `export STREAM_MANAGER_SERVER_PORT='${agent.smPort}'\nexport AWS_CONTAINER_AUTHORIZATION_TOKEN='${token}'\n`,
    );
    // The component's own environment has neither variable; the shell line gives both.
    const env = { ...process.env };
    delete env.STREAM_MANAGER_SERVER_PORT;
    delete env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
    const { stdout } = await run(
      'sh',
      [
        '-c',
        `eval "$("$0" "$1" agent env --config "$2")" && exec "$3" "$4" whoami`,
        process.execPath,
        BIN,
        configFile,
        PYTHON,
        DRIVER,
      ],
      { env, timeout: 120_000 },
    );
    const out = JSON.parse(stdout) as { port: number; streams: string[] };
    expect(out.port).toBe(agent.smPort);
    expect(out.port).not.toBe(agent.port);
    expect(out.streams).toContain('telemetry');
    const { stdout: envFile } = await run(process.execPath, [
      BIN,
      'agent',
      'env',
      '--config',
      configFile,
      '--format',
      'env',
    ]);
    expect(envFile).toBe(
      `STREAM_MANAGER_SERVER_PORT=${agent.smPort}\nAWS_CONTAINER_AUTHORIZATION_TOKEN=${token}\n`,
    );
    // The stream manager port speaks only stream manager's protocol: an HTTP request is closed unanswered.
    await expect(fetch(`http://127.0.0.1:${agent.smPort}/v1/streams`)).rejects.toThrow();
  });

  it("the agent's bandwidth cap covers every stream manager export together, the most urgent first", async () => {
    const rate = 64 * 1024;
    const count = 200;
    const size = 1000;
    const file = join(dir, 'capped.json');
    await writeFile(
      file,
      JSON.stringify({
        storeRoot: join(dir, 'capped-store'),
        deviceId: 'gateway-sm-capped',
        aws: { region: 'us-east-1', endpoint: kinesis.endpoint },
        api: { port: 0, streamManagerPort: 0 },
        exporter: { maxBandwidthBytesPerSecond: rate },
        streams: [{ name: 'telemetry' }],
      }),
    );
    const capped = await startAgent(file);
    try {
      const cappedToken = (await readFile(join(dir, 'capped-store', 'api-token'), 'utf8')).trim();
      const out = await python(
        ['bandwidth', KINESIS_STREAM, String(count), String(size)],
        capped.port,
        cappedToken,
      );
      const done = out.done as { 'bw-low': number; 'bw-high': number };
      // Messages went in turns, the urgent stream's after the other's each time: uncapped (or capped
      // apart) the low export would be done first. Under one cap the urgent export (priority 1) took
      // it whenever both had data: done first, the other behind.
      expect(done['bw-high']).toBeLessThan(done['bw-low']);
      expect(out.lowAtHighDone as number).toBeLessThan(count - 1);
      const inKinesis = (await payloadsInKinesis()).filter((p) => p.startsWith('bw-'));
      expect(new Set(inKinesis).size).toBe(2 * count);
    } finally {
      const exited = once(capped.child, 'exit');
      capped.child.kill('SIGTERM');
      await exited;
    }
  });

  it('sends nothing device/PROTOCOL.md does not list', async () => {
    const doc = await readFile(join(ROOT, 'device/PROTOCOL.md'), 'utf8');
    const listed = new Set<string>();
    for (const match of doc.matchAll(/^\| `(\w+)` \| `([^`]+)` \|/gm)) listed.add(`${match[1]} ${match[2]}`);
    expect(listed.size).toBeGreaterThan(40);
    const unlisted: string[] = [];
    for (const [operation, fields] of sent) {
      for (const field of fields)
        if (!listed.has(`${operation} ${field}`)) unlisted.push(`${operation} ${field}`);
    }
    expect(sent.get('AppendMessage')?.size).toBeGreaterThan(0);
    expect(unlisted).toEqual([]);
  });
});
