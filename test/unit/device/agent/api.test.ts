import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../../device/agent.ts';
import { ApiClient } from '../../../../device/api/client.ts';
import { type ApiServer, startApiServer } from '../../../../device/api/server.ts';
import { parseConfig } from '../../../../device/config.ts';
import { ApiRequestError } from '../../../../device/errors.ts';
import { decodeRecord } from '../../../../shared/contract/index.ts';
import { telemetryRecord } from '../../../helpers/records.ts';

let dir: string;
let agent: Agent;
let api: ApiServer;
let client: ApiClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tributary-api-'));
  agent = await Agent.start(
    parseConfig({
      storeRoot: dir,
      deviceId: 'sensor-0001',
      aws: { region: 'us-east-1' },
      streams: [
        { name: 'telemetry' },
        { name: 'tiny', maxSize: 4096, segmentSize: 1024, strategyOnFull: 'RejectNewData' },
        { name: 'small records', maxRecordSize: 200 },
      ],
    }),
  );
  api = await startApiServer({ agent, port: 0, maxBodyBytes: 64 * 1024 });
  client = new ApiClient({ url: api.url });
});

afterAll(async () => {
  await api?.close();
  await agent?.stop();
  await rm(dir, { recursive: true, force: true });
});

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
    expect(broken).toMatchObject({ status: 400, body: { code: 'RECORD_MALFORMED', index: 2 } });
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
    const names = (await client.streams()).map((s) => s.name);
    expect(names).toEqual(['small records', 'telemetry', 'tiny']);
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
    } finally {
      await secured.close();
    }
  });
});
