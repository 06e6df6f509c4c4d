import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyFailure, type PlannedEntry, putRecordsBody } from '../../../../device/export/index.ts';
import { AwsServiceError } from '../../../../shared/aws/errors.ts';
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
