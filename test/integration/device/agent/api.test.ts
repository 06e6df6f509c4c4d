import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../../device/agent.ts';
import { ApiClient } from '../../../../device/api/client.ts';
import { type ApiServer, startApiServer } from '../../../../device/api/server.ts';
import { parseConfig } from '../../../../device/config.ts';
import { ApiRequestError } from '../../../../device/errors.ts';
import { decodeRecord, RECORD_TYPES } from '../../../../shared/contract/index.ts';
import { telemetryRecord, transactionRecord } from '../../../helpers/records.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const tmp = useTempDir('tributary-api-');
let agent: Agent;
let api: ApiServer;
let client: ApiClient;

beforeAll(async () => {
  agent = await Agent.start(
    parseConfig({
      storeRoot: tmp.path,
      deviceId: 'sensor-0001',
      aws: { region: 'us-east-1' },
      streams: [
        { name: 'telemetry' },
        { name: 'tiny', maxSize: 4096, segmentSize: 1024, strategyOnFull: 'RejectNewData' },
        { name: 'small records', maxRecordSize: 200 },
      ],
    }),
  );
  api = await startApiServer({ agent, port: 0, maxBodyBytes: 64 * 1024, authToken: null });
  client = new ApiClient({ url: api.url });
});

afterAll(async () => {
  await api?.close();
  await agent?.stop();
});

/** A request as raw as a hostile client sends it: any Host, any body, chunked when `body` is an iterable. */
function raw(
  options: { method?: string; path: string; headers?: Record<string, string>; url?: string },
  body?: Buffer | Iterable<Buffer>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { port } = new URL(options.url ?? api.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'POST',
        path: options.path,
        headers: options.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString() || '{}'),
          }),
        );
      },
    );
    // The agent may answer before the whole body is sent and drop the rest.
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      const write = async () => {
        for (const chunk of body) {
          if (req.destroyed) return;
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      };
      write().catch(reject);
    }
  });
}

/** `count` chunks of `chunk`, as a lazily generated body. */
function* repeat(head: string, chunk: string, count: number, tail: string): Generator<Buffer> {
  yield Buffer.from(head);
  const block = Buffer.from(chunk.repeat(Math.max(1, Math.floor(16_384 / chunk.length))));
  for (let sent = 0; sent < count; sent += block.length / chunk.length) yield block;
  yield Buffer.from(tail);
}

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe('local API', () => {
  it('listens on 127.0.0.1 only', () => {
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('acknowledges a valid record with 202 once it is readable from the log', async () => {
    const record = telemetryRecord();
    const result = await client.append('telemetry', [record]);
    expect(result).toEqual({ stream: 'telemetry', firstSequence: 0, count: 1 });
    const [stored] = await agent.read('telemetry', { fromSequence: result.firstSequence });
    expect(decodeRecord(stored?.payload ?? new Uint8Array())).toEqual(record);
  });

  it('appends an NDJSON batch atomically and refuses it whole when one line is invalid', async () => {
    const batch = [telemetryRecord(), telemetryRecord(), telemetryRecord()];
    const ok = await client.append('telemetry', batch);
    expect(ok.count).toBe(3);
    const before = agent.streamStatus('telemetry').log.nextSequence;
    const bad = [
      telemetryRecord(),
      { ...telemetryRecord(), payload: { metric: 'temp', value: 'hot', unit: 'Cel' } },
    ];
    const error = await client.append('telemetry', bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 400, code: 'RECORD_INVALID', index: 1, path: 'payload.value' });
    expect(agent.streamStatus('telemetry').log.nextSequence).toBe(before);
  });

  it('lists every refused record of a batch with its index, body line and path; the batch whole', async () => {
    const ndjson = { 'content-type': 'application/x-ndjson' };
    const before = agent.streamStatus('telemetry').log.nextSequence;
    const good = JSON.stringify(telemetryRecord());
    const hot = JSON.stringify({ ...telemetryRecord(), payload: { metric: 't', value: 'hot', unit: 'Cel' } });
    const typo = JSON.stringify({ ...telemetryRecord(), devise_id: 'x' });
    const sale = JSON.stringify(transactionRecord());
    // Body lines 1..6: a blank line counts as a line, not as a record index.
    const mixed = await post(
      '/v1/streams/telemetry/records',
      [good, hot, '', typo, good, sale].join('\n'),
      ndjson,
    );
    expect(mixed).toMatchObject({
      status: 400,
      // The first refused record's, as before: code, index, path and issues.
      body: { code: 'RECORD_INVALID', index: 1, line: 2, path: 'payload.value', recordsRefused: 3 },
    });
    expect(mixed.body.records).toEqual([
      expect.objectContaining({ index: 1, line: 2, code: 'RECORD_INVALID', path: 'payload.value' }),
      expect.objectContaining({ index: 2, line: 4, code: 'RECORD_INVALID', path: 'devise_id' }),
      expect.objectContaining({ index: 4, line: 6, code: 'RECORD_TYPE_NOT_ACCEPTED', path: 'type' }),
    ]);
    const [, second] = mixed.body.records as { issues: { path: string }[] }[];
    expect(second?.issues.map((i) => i.path)).toEqual(['devise_id']);
    expect(mixed.body.message).toMatch(
      /^3 records of the batch refused, so none was appended: index 1 \(line 2\)/,
    );
    // Capped at 20 listed records; the count says how many there were.
    const many = await post('/v1/streams/telemetry/records', Array(25).fill(hot).join('\n'), ndjson);
    expect(many).toMatchObject({
      status: 400,
      body: { code: 'RECORD_INVALID', index: 0, recordsRefused: 25 },
    });
    const listed = many.body.records as { index: number; line: number }[];
    expect(listed.map((r) => r.line)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(many.body.message).toMatch(/; and 5 more$/);
    expect(agent.streamStatus('telemetry').log.nextSequence).toBe(before);
    // Through the client: the same list.
    const error = await client
      .append('telemetry', [telemetryRecord(), JSON.parse(hot), JSON.parse(typo)])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'RECORD_INVALID', index: 1, recordsRefused: 2 });
    expect((error as ApiRequestError).records.map((r) => [r.index, r.line, r.path])).toEqual([
      [1, 2, 'payload.value'],
      [2, 3, 'devise_id'],
    ]);
  });

  it('refuses a valid record of a type the stream does not take, naming the type field; the batch whole', async () => {
    const before = agent.streamStatus('telemetry').log.nextSequence;
    const error = await client
      .append('telemetry', [telemetryRecord(), transactionRecord()])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 400, code: 'RECORD_TYPE_NOT_ACCEPTED', index: 1, path: 'type' });
    expect((error as Error).message).toMatch(/stream "telemetry" takes telemetry records, not transaction/);
    expect(agent.streamStatus('telemetry').log.nextSequence).toBe(before);
    // One record through the JSON door: the same refusal.
    await expect(agent.append('telemetry', transactionRecord())).rejects.toMatchObject({
      code: 'RECORD_TYPE_NOT_ACCEPTED',
      path: 'type',
    });
    expect((await client.stream('telemetry')).recordTypes).toEqual(['telemetry']);
  });

  it('reads NDJSON line by line: blank lines skipped, a bad line named by its record index', async () => {
    const ndjson = { 'content-type': 'application/x-ndjson' };
    const lines = [JSON.stringify(telemetryRecord()), '', JSON.stringify(telemetryRecord()), '\r'];
    const ok = await post('/v1/streams/telemetry/records', `${lines.join('\n')}\n`, ndjson);
    expect(ok).toMatchObject({ status: 202, body: { count: 2 } });
    const before = agent.streamStatus('telemetry').log.nextSequence;
    const broken = await post(
      '/v1/streams/telemetry/records',
      [lines[0], '', lines[2], '{"id":'].join('\n'),
      ndjson,
    );
    expect(broken).toMatchObject({ status: 400, body: { code: 'RECORD_MALFORMED', index: 2, line: 4 } });
    expect(broken.body.records).toEqual([
      expect.objectContaining({ index: 2, line: 4, code: 'RECORD_MALFORMED' }),
    ]);
    const empty = await post('/v1/streams/telemetry/records', '\n \n', ndjson);
    expect(empty).toMatchObject({
      status: 400,
      body: { code: 'RECORD_MALFORMED', message: 'the NDJSON body holds no record' },
    });
    expect(agent.streamStatus('telemetry').log.nextSequence).toBe(before);
  });

  it('answers 400 with code, path and message for an invalid record or bad JSON', async () => {
    const typo = post(
      '/v1/streams/telemetry/records',
      JSON.stringify({ ...telemetryRecord(), devise_id: 'x' }),
    );
    expect(await typo).toMatchObject({ status: 400, body: { code: 'RECORD_INVALID', path: 'devise_id' } });
    // Every problem is listed, each with its path, in the message and as `issues`.
    const { device_id: _dropped, ...noDevice } = telemetryRecord();
    const two = await post('/v1/streams/telemetry/records', JSON.stringify({ ...noDevice, devise_id: 'x' }));
    const issues = two.body.issues as { path: string }[];
    expect(issues.map((i) => i.path).sort()).toEqual(['device_id', 'devise_id']);
    expect(two.body.message).toMatch(
      /^record has 2 problems: .*device_id.*; .*devise_id|^record has 2 problems: .*devise_id.*; .*device_id/,
    );
    const broken = await post('/v1/streams/telemetry/records', '{"id":');
    expect(broken).toMatchObject({ status: 400, body: { code: 'RECORD_MALFORMED', path: '' } });
    expect(typeof broken.body.message).toBe('string');
  });

  it('answers 413 for a record over the stream limit and for a body over the API limit', async () => {
    const record = post('/v1/streams/small%20records/records', JSON.stringify(telemetryRecord()));
    expect(await record).toMatchObject({ status: 413, body: { code: 'RECORD_TOO_LARGE' } });
    const body = post('/v1/streams/telemetry/records', JSON.stringify({ pad: 'x'.repeat(100 * 1024) }));
    expect(await body).toMatchObject({ status: 413, body: { code: 'BODY_TOO_LARGE' } });
  });

  it('answers 503 with Retry-After when a RejectNewData stream is full', async () => {
    let last: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 100; i++) {
      last = await post('/v1/streams/tiny/records', JSON.stringify(telemetryRecord()));
      if (last.status !== 202) break;
    }
    expect(last).toMatchObject({ status: 503, body: { code: 'STREAM_FULL' } });
    expect(last?.headers.get('retry-after')).toBe('1');
  });

  it('serves stream and agent status, 404 for unknown streams and routes', async () => {
    const streams = await client.streams();
    expect(streams.map((s) => s.name)).toEqual(['small records', 'telemetry', 'tiny']);
    // A stream with no default takes every record type.
    expect(streams.find((s) => s.name === 'tiny')?.recordTypes).toEqual(RECORD_TYPES);
    const telemetry = await client.stream('telemetry');
    expect(telemetry.log.records).toBe(6);
    expect(telemetry.export).toBeUndefined();
    expect(await client.status()).toMatchObject({ deviceId: 'sensor-0001', state: 'running' });
    await expect(client.append('nope', [telemetryRecord()])).rejects.toMatchObject({
      status: 404,
      code: 'STREAM_NOT_FOUND',
    });
    expect((await fetch(`${api.url}/v2/x`)).status).toBe(404);
    expect((await fetch(`${api.url}/v1/status`, { method: 'DELETE' })).status).toBe(405);
  });

  it('requires the bearer token when one is configured', async () => {
    const secured = await startApiServer({
      agent,
      port: 0,
      maxBodyBytes: 64 * 1024,
      authToken: 's3cret-token',
    });
    const as = (authorization: string) =>
      fetch(`${secured.url}/v1/status`, { headers: { authorization } }).then((r) => r.status);
    try {
      await expect(new ApiClient({ url: secured.url }).status()).rejects.toMatchObject({
        status: 401,
        code: 'UNAUTHORIZED',
      });
      await expect(new ApiClient({ url: secured.url, token: 'wrong-token!' }).status()).rejects.toMatchObject(
        {
          status: 401,
        },
      );
      const unauthorized = await fetch(`${secured.url}/v1/streams/telemetry/records`, {
        method: 'POST',
        body: JSON.stringify(telemetryRecord()),
      });
      expect(unauthorized.status).toBe(401);
      expect(unauthorized.headers.get('www-authenticate')).toBe('Bearer');
      const authed = new ApiClient({ url: secured.url, token: 's3cret-token' });
      expect((await authed.append('telemetry', [telemetryRecord()])).count).toBe(1);
      // The scheme is case-insensitive (RFC 9110); the token is not, nor is a prefix of it enough.
      expect(await as('bearer s3cret-token')).toBe(200);
      expect(await as('BEARER  s3cret-token')).toBe(200);
      expect(await as('Bearer s3cret-toke')).toBe(401);
      expect(await as('Bearer S3CRET-TOKEN')).toBe(401);
      expect(await as('Basic s3cret-token')).toBe(401);
    } finally {
      await secured.close();
    }
  });

  it('refuses hostile bodies with a status and a code, after a bounded number of bytes, and stays up', async () => {
    const json = { 'content-type': 'application/json' };
    const ndjson = { 'content-type': 'application/x-ndjson' };
    const path = '/v1/streams/telemetry/records';
    const records = path;
    // Chunked (no Content-Length), so the scanner, not the declared length, stops them.
    const nested = await raw({ path, headers: json }, repeat('', '[', 1_000_000, ''));
    expect(nested).toMatchObject({ status: 400, body: { code: 'RECORD_MALFORMED' } });
    const deep = await raw({ path, headers: json }, repeat('{"a":', '[', 1_000_000, ''));
    expect(deep).toMatchObject({ status: 413, body: { code: 'RECORD_TOO_COMPLEX' } });
    expect(deep.body.message).toMatch(/more than 32 levels of nested arrays and objects \(at byte 36\)/);
    const empties = await raw({ path, headers: json }, repeat('[', '{},', 1_000_000, '{}]'));
    expect(empties).toMatchObject({ status: 400, body: { code: 'RECORD_MALFORMED' } });
    expect(empties.body.message).toMatch(
      /expected a JSON object, got an array at byte 0; send batches as application\/x-ndjson/,
    );
    const record = JSON.stringify(telemetryRecord());
    const unknownKey = await raw(
      { path, headers: json },
      repeat(`${record.slice(0, -1)},"extra":[`, '0,', 4_000_000, '0]}'),
    );
    expect(unknownKey).toMatchObject({ status: 413, body: { code: 'RECORD_TOO_COMPLEX' } });
    expect(unknownKey.body.message).toMatch(/more than 4,096 values/);
    const line = await raw(
      { path: records, headers: ndjson },
      repeat(`${record}\n{"a":[`, '{},', 100_000, '{}]}'),
    );
    expect(line).toMatchObject({ status: 413, body: { code: 'RECORD_TOO_COMPLEX', index: 1 } });
    const bytes = Buffer.concat([Buffer.from(record.slice(0, -2)), Buffer.from([0xff]), Buffer.from('"}')]);
    const utf8 = await raw({ path, headers: json }, bytes);
    expect(utf8).toMatchObject({ status: 400, body: { code: 'RECORD_MALFORMED' } });
    expect(utf8.body.message).toContain(`invalid UTF-8 or unexpected byte 0xFF at byte ${record.length - 2}`);
    const big = await raw({ path, headers: json }, repeat('{"a":"', 'x', 200_000, '"}'));
    expect(big).toMatchObject({ status: 413 });
    expect(['BODY_TOO_LARGE', 'RECORD_TOO_COMPLEX']).toContain(big.body.code);
    expect(await client.status()).toMatchObject({ state: 'running' });
  });

  it('never echoes a card number, and describes a big bad value by type and size', async () => {
    const base = transactionRecord();
    const pan = await post(
      '/v1/streams/telemetry/records',
      JSON.stringify({ ...base, payload: { ...base.payload, card_token: '4111 1111 1111 1111' } }),
    );
    expect(pan).toMatchObject({ status: 400, body: { code: 'RECORD_INVALID', path: 'payload.card_token' } });
    expect(JSON.stringify(pan.body)).not.toMatch(/4111 1111 1111 1111|4111111111111111/);
    expect(pan.body.message).toContain('"4111 11** **** 1111"');
    const list = await post(
      '/v1/streams/telemetry/records',
      JSON.stringify({ ...telemetryRecord(), extra: new Array(4000).fill(0) }),
    );
    expect(list).toMatchObject({ status: 400, body: { code: 'RECORD_INVALID', path: 'extra' } });
    expect(list.body.message).toContain('(got array of 4,000 items)');
  });

  it('answers 415 for anything but JSON and NDJSON, so a browser cannot post a simple request', async () => {
    const path = '/v1/streams/telemetry/records';
    const body = JSON.stringify(telemetryRecord());
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=latin1',
    ]) {
      expect(await raw({ path, headers: { 'content-type': type } }, Buffer.from(body))).toMatchObject({
        status: 415,
        body: { code: 'UNSUPPORTED_MEDIA_TYPE' },
      });
    }
    expect(await raw({ path, headers: {} }, Buffer.from(body))).toMatchObject({ status: 415 });
    expect(
      await raw(
        { path, headers: { 'content-type': 'Application/JSON; charset="UTF-8"' } },
        Buffer.from(body),
      ),
    ).toMatchObject({ status: 202 });
  });

  it('answers 403 to another Host or Origin (DNS rebinding, cross-site pages), 400 to a malformed path', async () => {
    const { port } = api;
    expect(await raw({ method: 'GET', path: '/v1/status', headers: { host: 'evil.example' } })).toMatchObject(
      {
        status: 403,
        body: { code: 'HOST_NOT_ALLOWED' },
      },
    );
    expect(
      await raw({ method: 'GET', path: '/v1/status', headers: { host: `evil.example:${port}` } }),
    ).toMatchObject({ status: 403 });
    expect(
      await raw({ method: 'GET', path: '/v1/status', headers: { host: `localhost:${port}` } }),
    ).toMatchObject({
      status: 200,
    });
    expect(
      await raw({ method: 'GET', path: '/v1/status', headers: { origin: 'http://evil.example' } }),
    ).toMatchObject({ status: 403, body: { code: 'ORIGIN_NOT_ALLOWED' } });
    expect(await raw({ method: 'GET', path: '/v1/streams/%E0%A4%A' })).toMatchObject({
      status: 400,
      body: { code: 'PATH_MALFORMED' },
    });
  });

  it('collects garbage while it reads or drops big bodies, so dropped socket buffers do not pile up', async () => {
    let collections = 0;
    const metered = await startApiServer({
      agent,
      port: 0,
      maxBodyBytes: 64 * 1024,
      authToken: null,
      collectGarbage: () => collections++,
    });
    try {
      const path = '/v1/streams/telemetry/records';
      const headers = { 'content-type': 'application/json' };
      // 9 MiB announced and sent: refused at once, read and dropped, then answered.
      const reply = await raw({ path, headers, url: metered.url }, Buffer.alloc(9 * 1024 * 1024, 0x20));
      expect(reply).toMatchObject({ status: 413, body: { code: 'BODY_TOO_LARGE' } });
      expect(collections).toBe(2);
    } finally {
      await metered.close();
    }
  });

  it('closes a connection whose body stalls, and caps the connections open at once', async () => {
    const strict = await startApiServer({
      agent,
      port: 0,
      maxBodyBytes: 64 * 1024,
      authToken: null,
      timeouts: { idleMillis: 200, requestMillis: 1_000, headersMillis: 1_000 },
      maxConnections: 2,
    });
    try {
      const stalled = connect(strict.port, '127.0.0.1');
      stalled.write(
        `POST /v1/streams/telemetry/records HTTP/1.1\r\nhost: 127.0.0.1:${strict.port}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"id":`,
      );
      stalled.on('error', () => {});
      await once(stalled, 'close');
      const open = [connect(strict.port, '127.0.0.1'), connect(strict.port, '127.0.0.1')];
      await Promise.all(open.map((s) => once(s, 'connect')));
      const third = connect(strict.port, '127.0.0.1');
      third.on('error', () => {});
      // Over the cap, the server drops the connection without reading from it.
      await once(third, 'close');
      for (const s of open) s.destroy();
    } finally {
      await strict.close();
    }
  });
});
