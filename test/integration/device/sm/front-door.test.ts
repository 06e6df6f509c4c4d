/**
 * One port, two doors: HTTP connections handed over by the front door keep the API's timeouts and
 * connection cap, stream manager connections get the protocol, and a stop closes both.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../../device/agent.ts';
import { ApiClient } from '../../../../device/api/client.ts';
import { startApiServer } from '../../../../device/api/server.ts';
import { parseConfig } from '../../../../device/config.ts';
import { ResponseStatus } from '../../../../device/sm/errors.ts';
import {
  CONNECT_VERSION,
  decodeCbor,
  encodeMessage,
  type Frame,
  FrameDecoder,
  Operation,
} from '../../../../device/sm/protocol.ts';
import { serveStreamManager } from '../../../../device/sm/server.ts';
import { telemetryRecord } from '../../../helpers/records.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const dir = useTempDir('tributary-sm-door-');
let agent: Agent;
const TOKEN = 'front-door-token';

beforeAll(async () => {
  agent = await Agent.start(
    parseConfig({
      storeRoot: dir.path,
      deviceId: 'sensor-0001',
      aws: { region: 'us-east-1' },
      streams: [{ name: 'telemetry' }],
    }),
  );
});

afterAll(async () => {
  await agent?.stop();
});

async function start(options: { maxConnections?: number } = {}) {
  const service = agent.streamManager;
  if (service === undefined) throw new Error('stream manager is on by default');
  return startApiServer({
    agent,
    port: 0,
    maxBodyBytes: 64 * 1024,
    authToken: TOKEN,
    timeouts: { idleMillis: 200, requestMillis: 1_000, headersMillis: 1_000 },
    ...options,
    streamManager: (socket, head) =>
      serveStreamManager(socket, head, { service, authToken: TOKEN, maxFrameBytes: 128 * 1024 }),
  });
}

/** A raw stream manager client: sends the connect version and Connect, then answers by frame. */
async function smClient(port: number, authToken: string) {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20, expectConnectVersion: true });
  const frames: Frame[] = [];
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) frames.push(f as Frame);
    wake?.();
  });
  const next = async (): Promise<{ operation: number; body: Record<string, unknown> }> => {
    while (frames.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    const f = frames.shift() as Frame;
    return { operation: f.operation, body: decodeCbor(f.payload) as Record<string, unknown> };
  };
  socket.write(Buffer.of(CONNECT_VERSION));
  socket.write(
    encodeMessage(Operation.Connect, {
      requestId: 'c1',
      protocolVersion: '1.1.0',
      otherSupportedProtocolVersions: ['1.0.0'],
      sdkVersion: 'test',
      authToken,
    }),
  );
  return { socket, next, decoder };
}

describe('the front door', () => {
  it('serves both protocols on one port, to the same streams', async () => {
    const api = await start();
    try {
      const http = new ApiClient({ url: api.url, token: TOKEN });
      const record = telemetryRecord();
      await http.append('telemetry', [record]);
      const sm = await smClient(api.port, TOKEN);
      const connected = await sm.next();
      expect(connected.operation).toBe(Operation.ConnectResponse);
      expect(connected.body).toMatchObject({
        requestId: 'c1',
        status: ResponseStatus.Success,
        protocolVersion: '1.1.0',
      });
      expect(sm.decoder.connectVersion).toBe(CONNECT_VERSION);
      sm.socket.write(encodeMessage(Operation.ReadMessages, { requestId: 'r1', streamName: 'telemetry' }));
      const read = await sm.next();
      expect(read.operation).toBe(Operation.ReadMessagesResponse);
      const [message] = read.body.messages as { payload: Uint8Array }[];
      expect(JSON.parse(Buffer.from(message?.payload ?? []).toString('utf8')).id).toBe(record.id);
      // An unknown operation is answered, and the connection goes on.
      sm.socket.write(encodeMessage(99, { requestId: 'u1' }));
      expect(await sm.next()).toMatchObject({
        operation: Operation.UnknownOperationError,
        body: { requestId: 'u1', status: ResponseStatus.UnknownOperation },
      });
      // An oversized request is answered by its id without being held.
      sm.socket.write(
        encodeMessage(Operation.AppendMessage, {
          requestId: 'big',
          name: 'telemetry',
          payload: Buffer.alloc(200_000),
        }),
      );
      expect(await sm.next()).toMatchObject({
        operation: Operation.AppendMessageResponse,
        body: { requestId: 'big', status: ResponseStatus.RequestPayloadTooLarge },
      });
      const closed = once(sm.socket, 'close');
      await api.close();
      // A stop closes stream manager connections too (the SDKs reconnect).
      await closed;
    } finally {
      await api.close().catch(() => {});
    }
  });

  it('refuses a client without the token', async () => {
    const api = await start();
    try {
      const sm = await smClient(api.port, 'wrong');
      expect((await sm.next()).body).toMatchObject({ status: ResponseStatus.Unauthorized });
      await once(sm.socket, 'close');
    } finally {
      await api.close();
    }
  });

  it('keeps the HTTP API’s stall timeouts and connection cap for connections it hands over', async () => {
    const api = await start({ maxConnections: 2 });
    try {
      const stalled = connect(api.port, '127.0.0.1');
      stalled.on('error', () => {});
      stalled.write(
        `POST /v1/streams/telemetry/records HTTP/1.1\r\nhost: 127.0.0.1:${api.port}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"id":`,
      );
      await once(stalled, 'close');
      // Silent connections are closed too, before either door has a byte.
      const silent = connect(api.port, '127.0.0.1');
      silent.on('error', () => {});
      await once(silent, 'close');
      const open: Socket[] = [connect(api.port, '127.0.0.1'), connect(api.port, '127.0.0.1')];
      await Promise.all(open.map((s) => once(s, 'connect')));
      const third = connect(api.port, '127.0.0.1');
      third.on('error', () => {});
      await once(third, 'close');
      for (const s of open) s.destroy();
    } finally {
      await api.close();
    }
  });
});
