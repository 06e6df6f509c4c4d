import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExportErrorCodes } from '../../../../device/export/errors.ts';
import {
  classifyFailure,
  httpKinesisApi,
  KINESIS_TARGET,
  outcomesOf,
  putRecordsBody,
  RESPONSE_TOO_LARGE_CODE,
} from '../../../../device/export/kinesis.ts';
import type { PlannedEntry } from '../../../../device/export/planner.ts';
import { fullGc } from '../../../../device/memory.ts';
import { AwsServiceError } from '../../../../shared/aws/errors.ts';
import { type AwsJsonClient, createAwsJsonClient } from '../../../../shared/aws/json-client.ts';
import { signRequest } from '../../../../shared/aws/sigv4.ts';

function entry(data: Uint8Array, partitionKey: string, explicitHashKey?: string): PlannedEntry {
  return {
    lane: partitionKey,
    shardId: 'shardId-0',
    partitionKey,
    explicitHashKey,
    data,
    bytes: data.byteLength,
    records: [],
    solo: false,
  };
}

describe('PutRecords body', () => {
  it('is the JSON the SDK would send, byte for byte, for any data and keys', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.array(
          fc.record({
            data: fc.uint8Array({ maxLength: 300 }),
            key: fc.string({ minLength: 1, maxLength: 256, unit: 'grapheme' }),
            hash: fc.option(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }).map(String), { nil: undefined }),
          }),
          { maxLength: 20 },
        ),
        (streamName, items) => {
          const entries = items.map((i) => entry(i.data, i.key, i.hash));
          const body = putRecordsBody(streamName, entries);
          const expected = {
            StreamName: streamName,
            Records: items.map((i) => ({
              Data: Buffer.from(i.data).toString('base64'),
              PartitionKey: i.key,
              ...(i.hash === undefined ? {} : { ExplicitHashKey: i.hash }),
            })),
          };
          expect(body.toString('utf8')).toBe(JSON.stringify(expected));
        },
      ),
    );
  });

  it('reads data from subarrays of larger buffers without their neighbours', () => {
    const backing = Buffer.from('xxHELLOyy');
    const body = putRecordsBody('s', [entry(backing.subarray(2, 7), 'k')]);
    expect(JSON.parse(body.toString()).Records[0].Data).toBe(Buffer.from('HELLO').toString('base64'));
  });

  it('encodes large entries (base64 written in slices) exactly', () => {
    const sizes = [48 * 1024 - 1, 48 * 1024, 48 * 1024 + 1, 96 * 1024 + 2, 1024 * 1024 - 7];
    const backing = Buffer.alloc(1024 * 1024 + 10);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 7919 + (i >> 8)) & 0xff;
    const entries = sizes.map((size, i) => entry(backing.subarray(i + 1, i + 1 + size), `k${i}`));
    const records = JSON.parse(putRecordsBody('s', entries).toString()).Records as { Data: string }[];
    expect(records.map((r) => r.Data)).toEqual(
      sizes.map((size, i) => backing.subarray(i + 1, i + 1 + size).toString('base64')),
    );
  });
});

const bytes = (data: string | ArrayBuffer | ArrayBufferView) =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** The Checksum shape SignatureV4 expects, over node:crypto. */
class NodeSha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
  reset(): void {}
}

describe('SigV4 signer', () => {
  it('signs exactly as @smithy/signature-v4 does', async () => {
    const body = Buffer.from('{"StreamName":"records","Records":[]}');
    for (const sessionToken of [undefined, 'FwoGZXIvYXdzE//token+/=']) {
      const credentials = {
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        ...(sessionToken === undefined ? {} : { sessionToken }),
      };
      const date = new Date(Date.UTC(2025, 4, 17, 8, 9, 10));
      const headers = {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'Kinesis_20131202.PutRecords',
        'content-length': String(body.byteLength),
      };
      const ours = signRequest({
        method: 'POST',
        host: 'kinesis.eu-west-1.amazonaws.com',
        path: '/',
        headers,
        body,
        region: 'eu-west-1',
        service: 'kinesis',
        credentials,
        date,
      });
      const reference = await new SignatureV4({
        service: 'kinesis',
        region: 'eu-west-1',
        credentials,
        sha256: NodeSha256,
        applyChecksum: false,
      }).sign(
        {
          method: 'POST',
          protocol: 'https:',
          hostname: 'kinesis.eu-west-1.amazonaws.com',
          path: '/',
          query: {},
          headers: { ...headers, host: 'kinesis.eu-west-1.amazonaws.com' },
          body,
        },
        { signingDate: date },
      );
      expect(ours.authorization).toBe(reference.headers.authorization);
      expect(ours['x-amz-date']).toBe(reference.headers['x-amz-date']);
      expect(ours['x-amz-security-token']).toBe(reference.headers['x-amz-security-token']);
    }
  });
});

describe('failure classification', () => {
  it('reads service errors of the slim client like SDK errors', () => {
    const kind = (error: unknown) => classifyFailure('PutRecords', error).kind;
    expect(
      kind(new AwsServiceError('PutRecords', 'ProvisionedThroughputExceededException', 400, 'slow')),
    ).toBe('throttled');
    expect(kind(new AwsServiceError('PutRecords', 'ResourceNotFoundException', 400, 'gone'))).toBe(
      'stream-missing',
    );
    expect(kind(new AwsServiceError('PutRecords', 'ValidationException', 400, 'bad'))).toBe('invalid');
    expect(kind(new AwsServiceError('PutRecords', 'ExpiredTokenException', 400, 'old'))).toBe('denied');
    const internal = classifyFailure(
      'PutRecords',
      new AwsServiceError('PutRecords', 'InternalFailure', 500, 'oops'),
    );
    expect({ kind: internal.kind, code: internal.code }).toEqual({
      kind: 'unavailable',
      code: 'InternalFailure (HTTP 500)',
    });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(classifyFailure('PutRecords', refused).code).toBe('ECONNREFUSED');
  });
});

describe('per-entry outcomes', () => {
  it('reports an entry PutRecords gave no result for under the registered MISSING_RESULT code', () => {
    const outcomes = outcomesOf(3, [
      { ShardId: 'shardId-000000000000', SequenceNumber: '1' },
      { ShardId: 'shardId-000000000000' },
    ]);
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.code))).toEqual(['ok', 'MISSING_RESULT', 'MISSING_RESULT']);
    expect(ExportErrorCodes.codes.MISSING_RESULT.retryable).toBe(true);
  });
});

/** Starts `server` on a loopback port and returns the agent's slim Kinesis client pointed at it. */
async function slimClientOf(server: Server): Promise<AwsJsonClient> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return createAwsJsonClient({
    service: 'kinesis',
    targetPrefix: KINESIS_TARGET,
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials: async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' }),
  });
}

describe('PutRecords through the slim client', () => {
  it('lets the request body be collected while the answer is awaited', async () => {
    const gc = fullGc();
    let received!: () => void;
    const bodyReceived = new Promise<void>((resolve) => {
      received = resolve;
    });
    let answer!: () => void;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received();
        answer = () => {
          res.setHeader('content-type', 'application/x-amz-json-1.1');
          res.end(JSON.stringify({ Records: [{ ShardId: 'shardId-0', SequenceNumber: '1' }] }));
        };
      });
    });
    const client = await slimClientOf(server);
    try {
      let body: WeakRef<object> | undefined;
      // Sees the body the API built and hands it on; keeps only a weak reference.
      const watched: AwsJsonClient = {
        call: (operation, payload, options) => {
          if (typeof payload !== 'string') body = new WeakRef(payload);
          return client.call(operation, payload, options);
        },
        destroy: () => client.destroy(),
      };
      const sent = httpKinesisApi(watched).putRecords(
        'stream',
        [entry(new Uint8Array(1024 * 1024).fill(7), 'key')],
        10_000,
      );
      await bodyReceived;
      // Written to the socket; a few turns of the event loop let the write complete on our side.
      for (let turn = 0; turn < 10 && body?.deref() !== undefined; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
        gc();
      }
      expect(body).toBeDefined();
      expect(body?.deref()).toBeUndefined();
      answer();
      expect(await sent).toEqual([{ ok: true, shardId: 'shardId-0', sequenceNumber: '1' }]);
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('GetRecords through the slim client', () => {
  it('decodes the page, and drops an answer over maxResponseBytes while it arrives', async () => {
    const data = Buffer.alloc(300 * 1024, 9);
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/x-amz-json-1.1');
        res.end(
          JSON.stringify({
            Records: [{ PartitionKey: 'k', Data: data.toString('base64'), SequenceNumber: '5' }],
            NextShardIterator: 'next',
            MillisBehindLatest: 0,
          }),
        );
      });
    });
    const client = await slimClientOf(server);
    try {
      const api = httpKinesisApi(client);
      const page = await api.getRecords('iterator', 10, 5_000, 1024 * 1024);
      expect(page).toMatchObject({ nextShardIterator: 'next', millisBehindLatest: 0 });
      expect(page.records.map((r) => [r.partitionKey, Buffer.from(r.data).equals(data)])).toEqual([
        ['k', true],
      ]);
      await expect(api.getRecords('iterator', 10, 5_000, 100 * 1024)).rejects.toMatchObject({
        code: RESPONSE_TOO_LARGE_CODE,
        kind: 'unavailable',
      });
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
