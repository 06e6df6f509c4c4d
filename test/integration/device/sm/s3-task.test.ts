/**
 * S3 export tasks against s3rver: a multipart upload stopped between parts goes on at the next part
 * after a restart (no second CreateMultipartUpload, no part sent twice), and the object is whole.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedBandwidth } from '../../../../device/export/index.ts';
import { LogStore } from '../../../../device/log/index.ts';
import { S3TaskExecutor, TaskStatus } from '../../../../device/sm/s3-task.ts';
import { type RunningServer, startS3 } from '../../../../local/servers/index.ts';
import { type AwsClients, createAwsClients } from '../../../../shared/aws/clients.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const tmp = useTempDir('tributary-sm-s3-');
let s3: RunningServer;
let clients: AwsClients;

beforeAll(async () => {
  s3 = await startS3({ dataDir: join(tmp.path, 's3') });
  clients = createAwsClients({ kind: 'local', region: 'us-east-1', endpoints: { s3: s3.endpoint } });
  await clients.s3().send(new CreateBucketCommand({ Bucket: 'resume' }));
});

afterAll(async () => {
  clients?.destroy();
  await s3?.stop();
});

/** The S3 client, with the name of every command it sends recorded (and a hook after each). */
function recording(after: (name: string, input: Record<string, unknown>) => void): {
  client: () => Promise<S3Client>;
  sent: string[];
} {
  const sent: string[] = [];
  const real = clients.s3();
  const proxy = new Proxy(real, {
    get(target, key, receiver) {
      if (key !== 'send') return Reflect.get(target, key, receiver);
      return async (
        command: { constructor: { name: string }; input: Record<string, unknown> },
        options?: unknown,
      ) => {
        const result = await (real.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options);
        const name = command.constructor.name.replace(/Command$/, '');
        sent.push(name === 'UploadPart' ? `UploadPart ${command.input.PartNumber}` : name);
        after(name, command.input);
        return result;
      };
    },
  });
  return { client: async () => proxy, sent };
}

describe('S3 export tasks', () => {
  it('resume a multipart upload at the next part after a stop', async () => {
    const store = await LogStore.open(join(tmp.path, 'store'));
    try {
      await store.createStream({ name: 'tasks' });
      await store.createStream({ name: 'status' });
      const file = join(tmp.path, 'big.bin');
      const data = Buffer.alloc(3 * 5 * 1024 * 1024 + 17);
      for (let i = 0; i < data.length; i += 1024) data.writeUInt32BE(i, i);
      await writeFile(file, data);
      await store.append(
        'tasks',
        // A key resolved at the upload's start: the restart must go on under the same one.
        Buffer.from(
          JSON.stringify({
            inputUrl: `file://${file}`,
            bucket: 'resume',
            key: 'dated/!{timestamp:HHmmssSSS}/big.bin',
          }),
        ),
      );
      const config = { identifier: 'S3', statusConfig: { statusLevel: 2, statusStreamName: 'status' } };
      let first: S3TaskExecutor | undefined;
      let stopping: Promise<void> | undefined;
      const keys = new Set<unknown>();
      const one = recording((name, input) => {
        keys.add(input.Key);
        // Stopped right after the first part went up.
        if (name === 'UploadPart') stopping ??= first?.stop();
      });
      first = new S3TaskExecutor('tasks', config, store, one.client, tmp.path, () => {});
      await first.start();
      while (stopping === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
      await stopping;
      expect(one.sent).toEqual(['CreateMultipartUpload', 'UploadPart 1']);
      // Not finished, so not checkpointed.
      expect(first.status().committed).toBeUndefined();

      const two = recording((_, input) => keys.add(input.Key));
      const second = new S3TaskExecutor('tasks', config, store, two.client, tmp.path, () => {});
      await second.start();
      for (;;) {
        const statuses = (await store.read('status')).map((r) =>
          JSON.parse(Buffer.from(r.payload).toString('utf8')),
        );
        if (statuses.some((s) => s.status === TaskStatus.Success)) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await second.stop();
      expect(two.sent).toEqual(['UploadPart 2', 'UploadPart 3', 'UploadPart 4', 'CompleteMultipartUpload']);
      expect(second.status().committed).toBe(0);
      expect(keys.size).toBe(1);
      const [key] = [...keys] as string[];
      expect(key).toMatch(/^dated\/\d{9}\/big\.bin$/);
      const body = await (
        await clients.s3().send(new GetObjectCommand({ Bucket: 'resume', Key: key }))
      ).Body?.transformToByteArray();
      expect(Buffer.from(body ?? new Uint8Array()).equals(data)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("wait for the agent's bandwidth cap before sending, and claim it at their priority", async () => {
    const store = await LogStore.open(join(tmp.path, 'store-capped'));
    try {
      await store.createStream({ name: 'tasks' });
      const file = join(tmp.path, 'small.txt');
      await writeFile(file, 'under the cap');
      // 1 MiB/s, and 1 MiB spent beyond the full bucket by another exporter: a second of debt.
      const bandwidth = new SharedBandwidth(1024 * 1024, Date.now());
      bandwidth.take({}, 2 * 1024 * 1024, Date.now());
      const calls = recording(() => {});
      const executor = new S3TaskExecutor(
        'tasks',
        { identifier: 'S3' },
        store,
        calls.client,
        tmp.path,
        () => {},
        { bandwidth, priority: 1 },
      );
      await executor.start();
      await store.append(
        'tasks',
        Buffer.from(JSON.stringify({ inputUrl: `file://${file}`, bucket: 'resume', key: 'capped.txt' })),
      );
      // The task waits, its claim holding back anything less urgent (a probe at priority 0).
      const probe = {};
      while (
        bandwidth.available(Date.now(), 0, probe) !== 0 ||
        executor.status().lastAttemptAt === undefined
      ) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(calls.sent).toEqual([]);
      while (executor.status().committed === undefined)
        await new Promise((resolve) => setTimeout(resolve, 20));
      await executor.stop();
      expect(calls.sent).toEqual(['PutObject']);
      // Sent: its claim ended.
      expect(bandwidth.available(Date.now(), 0, probe)).not.toBe(0);
    } finally {
      await store.close();
    }
  });
});
