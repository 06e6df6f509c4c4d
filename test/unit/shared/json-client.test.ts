import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsJsonClient } from '../../../shared/aws/json-client.ts';

let server: Server;
let endpoint: string;
const received: Buffer[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push(Buffer.concat(chunks));
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end('{"ok":true}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const credentials = async () => ({ accessKeyId: 'local', secretAccessKey: 'local' });

describe('AWS JSON client', () => {
  it('reports when the whole body has left, so its memory can be reused', async () => {
    const client = createAwsJsonClient({
      service: 'kinesis',
      targetPrefix: 'T',
      region: 'us-east-1',
      endpoint,
      credentials,
    });
    const body = Buffer.alloc(3 * 1024 * 1024, 0x61);
    let flushed = 0;
    const answer = await client.call('Op', body, { onBodyFlushed: () => flushed++ });
    expect(answer).toEqual({ ok: true });
    expect(flushed).toBe(1);
    expect(received.at(-1)?.equals(body)).toBe(true);
    client.destroy();
  });

  it('does not report a body that never left', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const client = createAwsJsonClient({
      service: 'kinesis',
      targetPrefix: 'T',
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials,
    });
    let flushed = 0;
    await expect(client.call('Op', Buffer.from('{}'), { onBodyFlushed: () => flushed++ })).rejects.toThrow();
    expect(flushed).toBe(0);
    client.destroy();
  });
});
