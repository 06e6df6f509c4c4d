import { EventStreamCodec } from '@smithy/core/event-streams';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LimitsOptionError } from '../../../local/kinesis-limits/errors.ts';
import { encodeEventMessage, eventMessage } from '../../../local/kinesis-limits/event-stream.ts';
import { type EfoOptions, proxyEfoDefault, startKinesisLimits } from '../../../local/kinesis-limits/proxy.ts';
import {
  consumerArnParts,
  parseSubscribeRequest,
  SubscriptionCursor,
  SubscriptionRegistry,
} from '../../../local/kinesis-limits/subscription.ts';

const codec = new EventStreamCodec(
  (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8'),
  (text: string) => new Uint8Array(Buffer.from(text, 'utf8')),
);

describe('event stream encoder', () => {
  it('frames messages the SDK codec decodes to the same headers and payload', () => {
    const header = fc.tuple(
      // The SDK's decoder collects headers with `headers[name] = …`: a `__proto__` header sets the
      // prototype there, so it could not come back (and no AWS event stream header is named so).
      fc
        .string({ minLength: 1, maxLength: 40 })
        .filter((n) => Buffer.byteLength(n) <= 255 && n !== '__proto__'),
      fc.string({ maxLength: 200 }),
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(header, { selector: ([name]) => name, maxLength: 6 }),
        fc.uint8Array({ maxLength: 4096 }),
        (headers, payload) => {
          const decoded = codec.decode(encodeEventMessage(headers, payload));
          expect(Buffer.from(decoded.body)).toEqual(Buffer.from(payload));
          const values = Object.fromEntries(Object.entries(decoded.headers).map(([k, v]) => [k, v.value]));
          expect(values).toEqual(Object.fromEntries(headers));
        },
      ),
    );
  });

  it('marks a SubscribeToShardEvent as an event of that type', () => {
    const decoded = codec.decode(
      eventMessage('SubscribeToShardEvent', 'application/json', Buffer.from('{}')),
    );
    expect(decoded.headers[':message-type']?.value).toBe('event');
    expect(decoded.headers[':event-type']?.value).toBe('SubscribeToShardEvent');
  });

  it('refuses a header name longer than 255 bytes', () => {
    expect(() => encodeEventMessage([['x'.repeat(256), 'v']], new Uint8Array())).toThrow(RangeError);
  });
});

describe('subscription core', () => {
  it('parses requests and names the bad field', () => {
    expect(
      parseSubscribeRequest({ ConsumerARN: 'a', ShardId: 's', StartingPosition: { Type: 'LATEST' } }),
    ).toEqual({
      consumerArn: 'a',
      shardId: 's',
      startingPosition: { type: 'LATEST' },
    });
    expect(
      parseSubscribeRequest({
        ConsumerARN: 'a',
        ShardId: 's',
        StartingPosition: { Type: 'AFTER_SEQUENCE_NUMBER' },
      }),
    ).toMatchObject({ type: 'InvalidArgumentException', message: expect.stringContaining('SequenceNumber') });
  });

  it('reads consumer ARNs', () => {
    expect(
      consumerArnParts('arn:aws:kinesis:eu-west-1:123456789012:stream/s1/consumer/c1:1700000000'),
    ).toEqual({
      region: 'eu-west-1',
      accountId: '123456789012',
      streamName: 's1',
      consumerName: 'c1',
      streamArn: 'arn:aws:kinesis:eu-west-1:123456789012:stream/s1',
    });
    expect(consumerArnParts('arn:aws:kinesis:eu-west-1:123456789012:stream/s1')).toBeUndefined();
  });

  it('refuses a second subscription within the takeover window, lets a later one take over', () => {
    let now = 0;
    const registry = new SubscriptionRegistry<string>(() => now, 5000);
    expect(registry.acquire('c', 's', 'first')).toEqual({ ok: true, replaced: undefined });
    now = 4999;
    expect(registry.acquire('c', 's', 'second')).toMatchObject({
      ok: false,
      fault: { type: 'ResourceInUseException' },
    });
    expect(registry.acquire('c', 'other', 'third')).toEqual({ ok: true, replaced: undefined });
    now = 5000;
    expect(registry.acquire('c', 's', 'second')).toEqual({ ok: true, replaced: 'first' });
  });

  it('continues from the last record and ends a closed shard with its children in an event of its own', () => {
    const cursor = new SubscriptionCursor('start', 0);
    const record = { SequenceNumber: '7', Data: 'AA==' };
    const first = cursor.step(
      { records: [record], nextShardIterator: 'i', millisBehindLatest: 0, childShards: undefined },
      0,
    );
    expect(first.events).toEqual([
      { Records: [record], ContinuationSequenceNumber: '7', MillisBehindLatest: 0 },
    ]);
    // Nothing new before the heartbeat: no event.
    expect(
      cursor.step({ records: [], nextShardIterator: 'i', millisBehindLatest: 0, childShards: undefined }, 10)
        .events,
    ).toEqual([]);
    const heartbeat = cursor.step(
      { records: [], nextShardIterator: 'i', millisBehindLatest: 0, childShards: undefined },
      1000,
    );
    expect(heartbeat.events).toEqual([
      { Records: [], ContinuationSequenceNumber: '7', MillisBehindLatest: 0 },
    ]);
    const children = [{ ShardId: 'child' }];
    const end = cursor.step(
      { records: [], nextShardIterator: undefined, millisBehindLatest: 0, childShards: children },
      1001,
    );
    expect(end).toEqual({
      events: [{ Records: [], MillisBehindLatest: 0, ChildShards: children }],
      end: 'shard-end',
    });
    expect(cursor.expired(300_000)).toBe(true);
  });
});

describe('proxyEfoDefault', () => {
  it('is on unless TRIBUTARY_PROXY_EFO says off, and refuses other values', () => {
    expect(proxyEfoDefault({})).toBe(true);
    for (const on of ['1', 'true', 'ON', ' on ', ''])
      expect(proxyEfoDefault({ TRIBUTARY_PROXY_EFO: on })).toBe(true);
    for (const off of ['0', 'false', 'OFF', ' off '])
      expect(proxyEfoDefault({ TRIBUTARY_PROXY_EFO: off })).toBe(false);
    expect(() => proxyEfoDefault({ TRIBUTARY_PROXY_EFO: 'no' })).toThrow(LimitsOptionError);
  });
});

describe('efo options', () => {
  it('refuses a misspelt or out-of-range setting before the proxy listens, naming its path and value', async () => {
    const efo = { heartbeatMS: 5, lifetimeMs: 0 } as unknown as EfoOptions;
    // Port 9 is never contacted: the options fail before anything starts.
    const started = startKinesisLimits({ upstream: 'http://127.0.0.1:9', efo });
    await expect(started).rejects.toBeInstanceOf(LimitsOptionError);
    await expect(started).rejects.toMatchObject({
      option: 'efo.lifetimeMs',
      value: 0,
      issues: [
        { path: 'efo.lifetimeMs', value: 0 },
        { path: 'efo.heartbeatMS', value: 5, reason: 'is not an efo setting' },
      ],
    });
  });
});
