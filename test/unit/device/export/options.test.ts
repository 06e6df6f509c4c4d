import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KinesisExporter } from '../../../../device/export/exporter.ts';
import type { KinesisApi } from '../../../../device/export/kinesis.ts';
import { LogStore } from '../../../../device/log/index.ts';
import { useTempDirs } from '../../../helpers/temp-dir.ts';

/** Never reached: options are validated before Kinesis is called. */
const unreachable: KinesisApi = {
  putRecords: () => Promise.reject(new Error('not called')),
  listShards: () => Promise.reject(new Error('not called')),
  maxRecordBytes: () => Promise.reject(new Error('not called')),
  shardIteratorAfter: () => Promise.reject(new Error('not called')),
  getRecords: () => Promise.reject(new Error('not called')),
};

// Registered before the hook that closes the store, so the store closes before its root goes.
const tempDir = useTempDirs('tributary-exporter-options-');
let store: LogStore;

beforeEach(async () => {
  store = await LogStore.open(await tempDir());
});

afterEach(async () => {
  await store.close();
});

describe('KinesisExporter options', () => {
  it('refuses a misspelt option at its path instead of dropping it', async () => {
    const options = { store, kinesis: unreachable, exports: [], maxBufferedByte: 1 };
    await expect(KinesisExporter.start(options)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      path: 'maxBufferedByte',
      value: 1,
    });
  });

  it('names every bad option in one error', async () => {
    const options = {
      store,
      kinesis: unreachable,
      exports: [],
      maxInFlightRequests: 0,
      retry: { baseMillis: 0, capMillis: 0.5 },
    };
    await expect(KinesisExporter.start(options)).rejects.toMatchObject({
      path: 'maxInFlightRequests',
      issues: [
        expect.objectContaining({ path: 'maxInFlightRequests', value: 0 }),
        expect.objectContaining({ path: 'retry.baseMillis', value: 0 }),
        expect.objectContaining({ path: 'retry.capMillis', value: 0.5 }),
      ],
    });
  });
});
