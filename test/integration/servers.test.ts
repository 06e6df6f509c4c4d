import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  PutRecordCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JavaMissingError, PortInUseError, ServerStartError } from '../../local/errors.ts';
import {
  freePort,
  type RunningMqtt,
  type RunningServer,
  startDynamoDb,
  startKinesis,
  startMqtt,
  startS3,
} from '../../local/servers/index.ts';
import { PROJECT_ROOT, TRIBUTARY_DIR } from '../../local/servers/runtime.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';

const root = join(TRIBUTARY_DIR, 'test', `servers-${process.pid}`);

/** Listening TCP sockets of a process, as "address:port" strings, read from /proc. */
function listenersOf(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1] !== undefined) inodes.add(match[1]);
    } catch {
      // fd closed while reading
    }
  }
  const found: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [, local, , state] = cols;
      if (state !== '0A' || local === undefined || !inodes.has(cols[9] ?? '')) continue;
      const [hexAddr = '', hexPort = ''] = local.split(':');
      found.push(`${decodeAddress(hexAddr)}:${Number.parseInt(hexPort, 16)}`);
    }
  }
  return found;
}

/** /proc/net/tcp* addresses are little-endian per 32-bit word. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) =>
    (word.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16)),
  );
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  return bytes.every((b, i) => b === (i === 15 ? 1 : 0)) ? '::1' : `[${hex}]`;
}

const isLoopback = (listener: string) =>
  /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+):\d+$/.test(listener);

/** True while the process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('local servers', () => {
  let kinesis: RunningServer;
  let dynamodb: RunningServer;
  let s3: RunningServer;
  let broker: RunningMqtt;
  let clients: AwsClients;
  const notices: string[] = [];

  beforeAll(async () => {
    mkdirSync(root, { recursive: true });
    const timed = async <T>(label: string, start: () => Promise<T>) => {
      const t0 = performance.now();
      const server = await start();
      console.info(`${label} ready in ${Math.round(performance.now() - t0)} ms`);
      return server;
    };
    [kinesis, dynamodb, s3, broker] = await Promise.all([
      timed('kinesis', () => startKinesis({ dataDir: join(root, 'kinesis'), shardLimit: 3 })),
      timed('dynamodb', () => startDynamoDb({})),
      timed('s3', () => startS3({ dataDir: join(root, 's3') })),
      timed('mqtt', () => startMqtt({ dataDir: join(root, 'mqtt'), notice: (m) => notices.push(m) })),
    ]);
    clients = createAwsClients({
      kind: 'local',
      region: 'us-east-1',
      endpoints: { kinesis: kinesis.endpoint, dynamodb: dynamodb.endpoint, s3: s3.endpoint },
    });
  });

  afterAll(async () => {
    clients?.destroy();
    await Promise.all([kinesis?.stop(), dynamodb?.stop(), s3?.stop(), broker?.stop()]);
    rmSync(root, { recursive: true, force: true });
  });

  it('kinesis: CreateStream → ACTIVE → PutRecord → GetRecords, and SubscribeToShard over HTTP/1.1', async () => {
    const client: KinesisClient = clients.kinesis();
    const StreamName = 'servers-test';
    await expect(
      client.send(new CreateStreamCommand({ StreamName: 'too-big', ShardCount: 4 })),
    ).rejects.toThrow(/limit/i);
    await client.send(new CreateStreamCommand({ StreamName, ShardCount: 1 }));
    let summary = await client.send(new DescribeStreamSummaryCommand({ StreamName }));
    while (summary.StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') {
      await sleep(20);
      summary = await client.send(new DescribeStreamSummaryCommand({ StreamName }));
    }
    const streamARN = summary.StreamDescriptionSummary.StreamARN;
    const put = await client.send(
      new PutRecordCommand({ StreamName, PartitionKey: 'device-1', Data: Buffer.from('hello kinesis') }),
    );
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({ StreamName, ShardId: put.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    const got = await client.send(new GetRecordsCommand({ ShardIterator }));
    expect(got.Records?.map((r) => Buffer.from(r.Data ?? []).toString())).toEqual(['hello kinesis']);

    const registered = await client.send(
      new RegisterStreamConsumerCommand({ StreamARN: streamARN, ConsumerName: 'servers-test-efo' }),
    );
    const ConsumerARN = registered.Consumer?.ConsumerARN;
    let status = registered.Consumer?.ConsumerStatus;
    while (status !== 'ACTIVE') {
      await sleep(20);
      const described = await client.send(new DescribeStreamConsumerCommand({ ConsumerARN }));
      status = described.ConsumerDescription?.ConsumerStatus;
    }
    const subscription = await client.send(
      new SubscribeToShardCommand({
        ConsumerARN,
        ShardId: put.ShardId,
        StartingPosition: { Type: 'TRIM_HORIZON' },
      }),
    );
    const received: string[] = [];
    for await (const event of subscription.EventStream ?? []) {
      for (const record of event.SubscribeToShardEvent?.Records ?? []) {
        received.push(Buffer.from(record.Data ?? []).toString());
      }
      if (received.length > 0) break;
    }
    expect(received).toEqual(['hello kinesis']);
  });

  it('dynamodb: CreateTable → PutItem → GetItem', async () => {
    const client = clients.dynamodb();
    await client.send(
      new CreateTableCommand({
        TableName: 'servers-test',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    await client.send(
      new PutItemCommand({ TableName: 'servers-test', Item: { pk: { S: 'a' }, n: { N: '42' } } }),
    );
    const got = await client.send(new GetItemCommand({ TableName: 'servers-test', Key: { pk: { S: 'a' } } }));
    expect(got.Item).toEqual({ pk: { S: 'a' }, n: { N: '42' } });
  });

  it('s3: CreateBucket → PutObject → GetObject → paged ListObjectsV2', async () => {
    const client = clients.s3();
    const Bucket = 'servers-test';
    await client.send(new CreateBucketCommand({ Bucket }));
    for (const key of ['a.txt', 'b.txt', 'c.txt']) {
      await client.send(new PutObjectCommand({ Bucket, Key: key, Body: `body of ${key}` }));
    }
    const object = await client.send(new GetObjectCommand({ Bucket, Key: 'b.txt' }));
    expect(await object.Body?.transformToString()).toBe('body of b.txt');

    // MaxKeys 1 forces continuation tokens, which s3rver encrypts with DES (legacy OpenSSL provider).
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({
          Bucket,
          MaxKeys: 1,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
      );
      keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
      token = page.NextContinuationToken;
    } while (token !== undefined);
    expect(keys).toEqual(['a.txt', 'b.txt', 'c.txt']);
  });

  it('mqtt: publish/subscribe', async () => {
    if (broker.kind === 'aedes') expect(notices).toHaveLength(1);
    const client = await mqtt.connectAsync(broker.endpoint, { protocolVersion: 4 });
    try {
      const message = new Promise<string>((resolve) =>
        client.on('message', (topic, payload) => resolve(`${topic} ${payload.toString()}`)),
      );
      await client.subscribeAsync('devices/+/telemetry', { qos: 1 });
      await client.publishAsync('devices/d1/telemetry', '{"t":21.5}', { qos: 1 });
      expect(await message).toBe('devices/d1/telemetry {"t":21.5}');
    } finally {
      await client.endAsync();
    }
  });

  it('listens on loopback only', () => {
    for (const server of [kinesis, dynamodb, s3, broker]) {
      const pid = server.pid ?? process.pid;
      const listeners = listenersOf(pid);
      expect(listeners.some((l) => l.endsWith(`:${server.port}`))).toBe(true);
      // An in-process broker shares this process with other tests' sockets; judge only its own port.
      const own =
        server.pid === undefined ? listeners.filter((l) => l.endsWith(`:${server.port}`)) : listeners;
      expect(
        own.filter((l) => !isLoopback(l)),
        server.name,
      ).toEqual([]);
    }
  });

  it('a taken port gives PortInUseError', async () => {
    const port = await freePort();
    const holder = await occupy(port);
    try {
      await expect(startKinesis({ port })).rejects.toBeInstanceOf(PortInUseError);
      await expect(startDynamoDb({ port })).rejects.toThrow(`port ${port} on 127.0.0.1 is already in use`);
      await expect(
        startMqtt({ dataDir: join(root, 'mqtt-busy'), port, notice: () => {} }),
      ).rejects.toBeInstanceOf(PortInUseError);
    } finally {
      holder.close();
    }
  });

  it('a server that exits during start gives ServerStartError with its output', async () => {
    const dataDir = join(root, 'kinesis-corrupt');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'kinesis-data.json'), '{not json');
    const error = await startKinesis({ dataDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerStartError);
    expect((error as ServerStartError).logTail).toMatch(/ParsingFailure/);
    expect((error as ServerStartError).message).toContain(join(dataDir, 'kinesis.log'));
  });

  it('a missing java gives JavaMissingError', async () => {
    const saved = process.env.JAVA_HOME;
    process.env.JAVA_HOME = join(root, 'no-such-jdk');
    try {
      await expect(startDynamoDb({ dataDir: join(root, 'no-java') })).rejects.toBeInstanceOf(
        JavaMissingError,
      );
    } finally {
      if (saved === undefined) delete process.env.JAVA_HOME;
      else process.env.JAVA_HOME = saved;
    }
  });

  it('stop() leaves no process behind', async () => {
    const server = await startS3({ dataDir: join(root, 's3-stop') });
    const pid = server.pid ?? -1;
    expect(alive(pid)).toBe(true);
    await server.stop();
    await server.stop();
    expect(alive(pid)).toBe(false);
    expect(() => process.kill(-pid, 0)).toThrow();
  });

  it('children exit when their launcher dies (SIGKILL: watchdogs; SIGTERM: exit hooks)', async () => {
    const script = join(root, 'launcher.ts');
    const serversModule = join(PROJECT_ROOT, 'local/servers/index.ts');
    // Runs as its own Node process so it can be killed; argv: [mode, data folder].
    writeFileSync(
      script,
      [
        "import { join } from 'node:path';",
        `import { startDynamoDb, startKinesis } from ${JSON.stringify(serversModule)};`,
        'const [mode, dir] = process.argv.slice(2);',
        "const kinesis = startKinesis({ dataDir: join(dir, 'kinesis') });",
        "const java = mode === 'java' ? [startDynamoDb({ dataDir: join(dir, 'ddb') })] : [];",
        'const servers = await Promise.all([kinesis, ...java]);',
        'console.log(JSON.stringify(servers.map((s) => s.pid)));',
      ].join('\n'),
    );
    const launch = async (arg: string) => {
      const launcher = spawn(
        process.execPath,
        ['--import', 'tsx', script, arg, join(root, `launched-${arg}`)],
        {
          cwd: PROJECT_ROOT,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        launcher.once('exit', (_, signal) => resolve(signal)),
      );
      let output = '';
      for await (const chunk of launcher.stdout) {
        output += String(chunk);
        if (output.includes('\n')) break;
      }
      return { launcher, exited, pids: JSON.parse(output) as number[] };
    };
    const [killed, terminated] = await Promise.all([launch('java'), launch('node-only')]);
    const pids = [...killed.pids, ...terminated.pids];
    expect(pids).toHaveLength(3);
    expect(pids.every(alive)).toBe(true);

    killed.launcher.kill('SIGKILL');
    terminated.launcher.kill('SIGTERM');
    // The exit hook re-raises SIGTERM once the children are signalled, so the launcher still dies of it.
    expect(await terminated.exited).toBe('SIGTERM');
    expect(await killed.exited).toBe('SIGKILL');
    while (pids.some(alive)) await sleep(50);
    expect(pids.some(alive)).toBe(false);
  });
});
