/**
 * The local IoT SiteWise stand-in (local/servers/sitewise.ts) through the AWS SDK's own client, as the
 * agent's SiteWise export calls it: what BatchPutAssetPropertyValue accepts, refuses whole (400
 * InvalidRequestException, 429 ThrottlingException) and refuses per entry (errorEntries). Raw HTTP
 * requests show that the request is held against the SDK's model (members, required, types).
 */
import { Agent } from 'node:http';
import {
  BatchPutAssetPropertyValueCommand,
  type BatchPutAssetPropertyValueCommandInput,
  IoTSiteWiseClient,
  type PutAssetPropertyValueEntry,
} from '@aws-sdk/client-iotsitewise';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SiteWiseStandIn, startSiteWise } from '../../local/servers/index.ts';

const ALIAS = '/plant/line-1/temperature';
const NOW = 1_800_000_000;
let sitewise: SiteWiseStandIn;
let client: IoTSiteWiseClient;

function entry(entryId: string, timeInSeconds = NOW - 60, alias = ALIAS): PutAssetPropertyValueEntry {
  return {
    entryId,
    propertyAlias: alias,
    propertyValues: [{ value: { doubleValue: 21.5 }, timestamp: { timeInSeconds }, quality: 'GOOD' }],
  };
}

/** What `pending` rejects with; fails the test when it resolves instead. */
async function thrown(pending: Promise<unknown>): Promise<unknown> {
  try {
    await pending;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function put(input: BatchPutAssetPropertyValueCommandInput) {
  return client.send(new BatchPutAssetPropertyValueCommand(input));
}

/** A request the SDK would not build, sent as the SDK sends its requests. */
async function raw(body: unknown): Promise<{ status: number; type: string | null; message: string }> {
  const response = await fetch(`${sitewise.endpoint}/properties`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const { message } = (await response.json()) as { message: string };
  return { status: response.status, type: response.headers.get('x-amzn-errortype'), message };
}

beforeAll(async () => {
  sitewise = await startSiteWise({ properties: [ALIAS, 'asset-1/property-1'], now: () => NOW });
  client = new IoTSiteWiseClient({
    region: 'us-east-1',
    endpoint: sitewise.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    disableHostPrefix: true,
    // One attempt: the test sees each answer, not the SDK's retries of it.
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true }) }),
  });
});

afterAll(async () => {
  client?.destroy();
  await sitewise?.stop();
});

describe('local IoT SiteWise (BatchPutAssetPropertyValue)', () => {
  it('listens on 127.0.0.1 and stores a valid batch, by alias and by asset and property id', async () => {
    expect(sitewise.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const before = sitewise.stored.length;
    const out = await put({
      entries: [
        entry('a'),
        {
          entryId: 'b',
          assetId: 'asset-1',
          propertyId: 'property-1',
          propertyValues: [
            { value: { integerValue: 7 }, timestamp: { timeInSeconds: NOW, offsetInNanos: 5 } },
            { value: { booleanValue: true }, timestamp: { timeInSeconds: NOW + 1 } },
          ],
        },
      ],
    });
    expect(out.errorEntries).toEqual([]);
    expect(sitewise.stored.slice(before)).toEqual([
      { property: ALIAS, value: { doubleValue: 21.5 }, timeInSeconds: NOW - 60 },
      { property: 'asset-1/property-1', value: { integerValue: 7 }, timeInSeconds: NOW },
      { property: 'asset-1/property-1', value: { booleanValue: true }, timeInSeconds: NOW + 1 },
    ]);
  });

  it('refuses 11 entries, an empty batch and a repeated entryId whole (InvalidRequestException), storing nothing', async () => {
    const before = sitewise.stored.length;
    const eleven = await thrown(put({ entries: Array.from({ length: 11 }, (_, i) => entry(`e${i}`)) }));
    expect(eleven).toMatchObject({ name: 'InvalidRequestException', $metadata: { httpStatusCode: 400 } });
    expect((eleven as Error).message).toMatch(/entries holds 11, more than 10/);
    expect(await thrown(put({ entries: [] }))).toMatchObject({ name: 'InvalidRequestException' });
    const repeated = await thrown(put({ entries: [entry('same'), entry('same')] }));
    expect(repeated).toMatchObject({ name: 'InvalidRequestException' });
    expect((repeated as Error).message).toMatch(/entries\[1\]\.entryId same is not unique/);
    expect(
      await thrown(
        put({
          entries: [{ ...entry('v'), propertyValues: [{ value: {}, timestamp: { timeInSeconds: NOW } }] }],
        }),
      ),
    ).toMatchObject({ name: 'InvalidRequestException', message: expect.stringMatching(/exactly one of/) });
    expect(sitewise.stored.length).toBe(before);
  });

  it('reports entry problems in errorEntries and accepts the other entries', async () => {
    const before = sitewise.stored.length;
    const eightDaysAgo = NOW - 8 * 24 * 3600;
    const out = await put({
      entries: [
        entry('old', eightDaysAgo),
        entry('ahead', NOW + 11 * 60),
        entry('unknown', NOW, '/plant/unknown'),
        { entryId: 'nameless', propertyValues: entry('x').propertyValues },
        entry('fine'),
      ],
    });
    expect(out.errorEntries).toEqual([
      {
        entryId: 'old',
        errors: [
          {
            errorCode: 'TimestampOutOfRangeException',
            errorMessage: expect.stringMatching(/7 days in the past and 10 minutes in the future/),
            timestamps: [{ timeInSeconds: eightDaysAgo, offsetInNanos: 0 }],
          },
        ],
      },
      {
        entryId: 'ahead',
        errors: [expect.objectContaining({ errorCode: 'TimestampOutOfRangeException' })],
      },
      {
        entryId: 'unknown',
        errors: [
          expect.objectContaining({
            errorCode: 'ResourceNotFoundException',
            errorMessage: 'property /plant/unknown does not exist',
          }),
        ],
      },
      { entryId: 'nameless', errors: [expect.objectContaining({ errorCode: 'InvalidRequestException' })] },
    ]);
    expect(sitewise.stored.slice(before).map((v) => v.timeInSeconds)).toEqual([NOW - 60]);
  });

  it('answers 429 ThrottlingException while told to throttle, then accepts again', async () => {
    sitewise.throttleNext(2);
    for (let i = 0; i < 2; i++) {
      expect(await thrown(put({ entries: [entry('t')] }))).toMatchObject({
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 429 },
      });
    }
    expect((await put({ entries: [entry('t')] })).errorEntries).toEqual([]);
  });

  it("holds requests against the SDK's model: unknown members, missing required members, wrong types", async () => {
    const valid = { entries: [entry('m')] };
    expect(await raw(valid)).toMatchObject({ status: 200 });
    expect(await raw({ ...valid, extra: 1 })).toEqual({
      status: 400,
      type: 'InvalidRequestException',
      message: 'extra is not a member of BatchPutAssetPropertyValueRequest',
    });
    expect(await raw({ entries: [{ ...entry('m'), propertyValue: [] }] })).toMatchObject({
      message: 'entries[0].propertyValue is not a member of PutAssetPropertyValueEntry',
    });
    expect(await raw({ entries: [{ entryId: 'm', propertyAlias: ALIAS }] })).toMatchObject({
      message: 'entries[0].propertyValues is required (PutAssetPropertyValueEntry)',
    });
    expect(
      await raw({
        entries: [{ ...entry('m'), propertyValues: [{ value: { doubleValue: 1 }, timestamp: {} }] }],
      }),
    ).toMatchObject({
      message: 'entries[0].propertyValues[0].timestamp.timeInSeconds is required (TimeInNanos)',
    });
    expect(
      await raw({
        entries: [
          {
            ...entry('m'),
            propertyValues: [{ value: { doubleValue: '1' }, timestamp: { timeInSeconds: NOW } }],
          },
        ],
      }),
    ).toMatchObject({ message: 'entries[0].propertyValues[0].value.doubleValue must be a number' });
    // The optional member the model added (enablePartialEntryProcessing) is a member like any other.
    expect(await raw({ ...valid, enablePartialEntryProcessing: true })).toMatchObject({ status: 200 });
    expect(await raw({ ...valid, enablePartialEntryProcessing: 'yes' })).toMatchObject({ status: 400 });
  });

  it('routes by the operation the model declares (POST /properties) only', async () => {
    const response = await fetch(`${sitewise.endpoint}/properties/history`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
  });
});
