/**
 * The agent's MQTT 5 status publisher (aws-iot-device-sdk-v2) against a real mosquitto broker, with
 * the agent as a separate process started through the CLI and a plain `mqtt` client as the fleet view.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { connectAsync, type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../device/api/client.ts';
import { type RunningMqtt, type RunningServer, startKinesis, startMqtt } from '../../local/servers/index.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';
import { telemetryRecord } from '../helpers/records.ts';
import { useTempDir } from '../helpers/temp-dir.ts';

const BIN = join(import.meta.dirname, '../../bin/tributary.mjs');
const THING = 'gateway-mqtt-01';
const STATUS = `fleet/${THING}/status`;
const COMMANDS = `fleet/${THING}/commands`;
const RESPONSES = `fleet/${THING}/responses`;
const KINESIS_STREAM = 'mqtt-status-test';

const tmp = useTempDir('tributary-mqtt-');
let broker: RunningMqtt;
let kinesis: RunningServer;
let clients: AwsClients;
let fleet: MqttClient;
const messages: { topic: string; body: Record<string, unknown>; packet: IPublishPacket }[] = [];

beforeAll(async () => {
  [broker, kinesis] = await Promise.all([startMqtt({ dataDir: join(tmp.path, 'mqtt') }), startKinesis()]);
  clients = createAwsClients({
    kind: 'local',
    region: 'us-east-1',
    endpoints: { kinesis: kinesis.endpoint },
  });
  const client = clients.kinesis();
  await client.send(new CreateStreamCommand({ StreamName: KINESIS_STREAM, ShardCount: 1 }));
  while (
    (await client.send(new DescribeStreamSummaryCommand({ StreamName: KINESIS_STREAM })))
      .StreamDescriptionSummary?.StreamStatus !== 'ACTIVE'
  ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  fleet = await connectAsync(broker.endpoint, {
    protocolVersion: 5,
    clientId: 'fleet-view',
    reconnectPeriod: 0,
  });
  fleet.on('message', (topic, payload, packet) => {
    messages.push({ topic, body: JSON.parse(payload.toString('utf8')) as Record<string, unknown>, packet });
  });
  await fleet.subscribeAsync([STATUS, RESPONSES, `${RESPONSES}/#`], { qos: 1 });
}, 60_000);

afterAll(async () => {
  await fleet?.endAsync();
  clients?.destroy();
  await Promise.all([broker?.stop(), kinesis?.stop()]);
});

/** Resolves with the first message (already received or coming) that matches. */
async function next(
  match: (m: (typeof messages)[number]) => boolean,
  timeoutMillis = 15_000,
): Promise<(typeof messages)[number]> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    const found = messages.find(match);
    if (found !== undefined) {
      messages.splice(messages.indexOf(found), 1);
      return found;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no matching message in ${timeoutMillis} ms; got ${JSON.stringify(messages.map((m) => m.body))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function startAgent(name: string): Promise<{ child: ChildProcess; api: ApiClient; output: string[] }> {
  const config = join(tmp.path, `${name}.json`);
  await writeFile(
    config,
    JSON.stringify({
      storeRoot: join(tmp.path, `${name}-store`),
      deviceId: 'gateway-01',
      aws: { region: 'us-east-1', endpoint: kinesis.endpoint },
      api: { port: 0 },
      iot: {
        mqtt: {
          endpoint: `127.0.0.1:${broker.port}`,
          tls: false,
          thingName: THING,
          topicPrefix: 'fleet',
          statusIntervalMillis: 60_000,
        },
      },
      streams: [
        {
          name: 'telemetry',
          export: { kinesisStreamName: KINESIS_STREAM, batchIntervalMillis: 600_000, batchSize: 10_000 },
        },
      ],
    }),
  );
  const child = spawn(process.execPath, [BIN, 'agent', 'run', '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  const output: string[] = [];
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let url: string | undefined;
  for await (const line of lines) {
    output.push(line);
    url = / API (http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1];
    if (url !== undefined) break;
  }
  if (url === undefined) throw new Error(`agent exited before its API came up:\n${output.join('\n')}`);
  lines.on('line', (line) => output.push(line));
  // The agent generated its API token into its store at start.
  const token = (await readFile(join(tmp.path, `${name}-store`, 'api-token'), 'utf8')).trim();
  return { child, api: new ApiClient({ url, token }), output };
}

async function command(body: unknown, properties: Record<string, unknown> = {}): Promise<void> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  await fleet.publishAsync(COMMANDS, payload, { qos: 1, properties });
}

describe('agent status over MQTT 5 (aws-iot-device-sdk-v2)', () => {
  it('publishes retained status, answers commands, refuses bad ones, and leaves a will when killed', async (ctx) => {
    if (broker.kind !== 'mosquitto') ctx.skip(); // aedes speaks MQTT 3.1.1 only

    const { child, api } = await startAgent('first');
    try {
      // The status a fleet view sees on connect: retained, JSON, the documented shape.
      const online = await next((m) => m.topic === STATUS && m.body.state === 'running');
      expect(online.packet.retain).toBe(false); // live delivery; the retained copy is checked below
      expect(online.body).toMatchObject({
        version: 1,
        agentId: 'gateway-01',
        thingName: THING,
        health: 'ok',
        reason: 'connected',
      });
      expect(Number.isNaN(Date.parse(online.body.time as string))).toBe(false);
      const [stream] = online.body.streams as Record<string, unknown>[];
      expect(stream).toMatchObject({ name: 'telemetry', kinesisStreamName: KINESIS_STREAM, lastError: null });
      expect(stream).toHaveProperty('backlog.records');
      expect(stream).toHaveProperty('backlog.bytes');
      expect(stream).toHaveProperty('lagMillis');
      expect(stream).toHaveProperty('lastExportedSequence');

      const late = await connectAsync(broker.endpoint, {
        protocolVersion: 5,
        clientId: 'late-view',
        reconnectPeriod: 0,
      });
      const retained = new Promise<Record<string, unknown>>((resolve) =>
        late.on('message', (_topic, payload, packet) => {
          if (packet.retain) resolve(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
        }),
      );
      await late.subscribeAsync(STATUS, { qos: 1 });
      expect(await retained).toMatchObject({ state: 'running', thingName: THING });
      await late.endAsync();

      // status-now, answered on the MQTT 5 response topic with the correlation data echoed.
      await command(
        { command: 'status-now', id: 'req-1' },
        { responseTopic: `${RESPONSES}/fleet-view`, correlationData: Buffer.from('corr-1') },
      );
      const answer = await next((m) => m.topic === `${RESPONSES}/fleet-view` && m.body.id === 'req-1');
      expect(answer.body).toMatchObject({ ok: true, command: 'status-now', result: { state: 'running' } });
      expect(answer.packet.properties?.correlationData?.toString()).toBe('corr-1');
      await next((m) => m.topic === STATUS && m.body.reason === 'command');

      // flush: records held back by a 10-minute batch interval go out now.
      const records = Array.from({ length: 200 }, (_, i) => telemetryRecord({ device_id: `s-${i % 7}` }));
      await api.append('telemetry', records);
      expect((await api.stream('telemetry')).export?.backlog.records).toBe(200);
      await command({ command: 'flush', id: 'req-2', timeoutMillis: 20_000 });
      const flushed = await next((m) => m.topic === RESPONSES && m.body.id === 'req-2', 30_000);
      expect(flushed.body).toMatchObject({ ok: true, result: { drained: true, backlog: { telemetry: 0 } } });

      // Bad commands get named errors on the response topic; the agent keeps running.
      await command('not json {');
      expect((await next((m) => m.topic === RESPONSES && m.body.ok === false)).body).toMatchObject({
        error: { code: 'COMMAND_MALFORMED' },
      });
      await command({ command: 'reboot', id: 'req-3' });
      expect((await next((m) => m.topic === RESPONSES && m.body.id === 'req-3')).body).toMatchObject({
        ok: false,
        command: 'reboot',
        error: { code: 'COMMAND_UNKNOWN', retryable: false },
      });
      await command({ command: 'flush', id: 'req-4', timeoutMillis: -1 });
      const invalid = await next((m) => m.topic === RESPONSES && m.body.id === 'req-4');
      expect(invalid.body).toMatchObject({ ok: false, error: { code: 'COMMAND_INVALID' } });
      expect((invalid.body.error as { message: string }).message).toContain('timeoutMillis');

      const status = await api.status();
      expect(status.state).toBe('running');
      expect(status.mqtt).toMatchObject({
        connected: true,
        commands: 5,
        commandErrors: 3,
        publishFailures: 0,
      });

      // SIGKILL: no goodbye, so the broker publishes the retained "offline" will.
      child.kill('SIGKILL');
      await once(child, 'exit');
      const will = await next((m) => m.topic === STATUS && m.body.state === 'offline');
      expect(will.body).toMatchObject({
        version: 1,
        agentId: 'gateway-01',
        thingName: THING,
        health: 'offline',
        reason: 'connection-lost',
        streams: [],
      });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }

    // A clean stop says so itself (retained "stopped"), and no will follows.
    // Left-over statuses of the first life must not stand in for the second's connect.
    messages.length = 0;
    const second = await startAgent('second');
    await next((m) => m.topic === STATUS && m.body.state === 'running' && m.body.reason === 'connected');
    expect((await second.api.status()).mqtt).toMatchObject({ connected: true });
    second.child.kill('SIGTERM');
    await once(second.child, 'exit');
    expect((await next((m) => m.topic === STATUS && m.body.state === 'stopped')).body).toMatchObject({
      reason: 'stopped',
      health: 'offline',
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(messages.filter((m) => m.topic === STATUS && m.body.state === 'offline')).toEqual([]);
  }, 120_000);
});
