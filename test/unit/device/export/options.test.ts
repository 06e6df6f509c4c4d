import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KinesisExporter } from '../../../../device/export/exporter.ts';
import type { KinesisApi } from '../../../../device/export/kinesis.ts';
import { LogStore } from '../../../../device/log/index.ts';

/** Never reached: options are validated before Kinesis is called. */
const unreachable: KinesisApi = {
  putRecords: () => Promise.reject(new Error('not called')),
  listShards: () => Promise.reject(new Error('not called')),
  maxRecordBytes: () => Promise.reject(new Error('not called')),
};

let root: string;
let store: LogStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'tributary-exporter-options-'));
  store = await LogStore.open(root);
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
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
