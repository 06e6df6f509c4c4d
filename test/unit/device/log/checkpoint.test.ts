import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHECKPOINT_FILE_SIZE,
  CHECKPOINT_NOTE_MAX_BYTES,
  CHECKPOINT_SLOT_SIZE,
  CHECKPOINT_SLOT_STRIDE,
  decodeCheckpointFile,
  decodeCheckpointSlot,
  encodeCheckpointSlot,
} from '../../../../device/log/checkpoint.ts';
import { LogStore } from '../../../../device/log/index.ts';
import { SimFs } from '../../../helpers/sim-fs.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const tmp = useTempDir('tributary-checkpoint-');

const freshRoot = () => tmp.fresh();
const u64 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

describe('checkpoint slots', () => {
  it('round-trip, and the newer generation of two valid slots wins', () => {
    fc.assert(
      fc.property(u64, u64, u64, u64, (genA, seqA, genB, seqB) => {
        const file = Buffer.alloc(CHECKPOINT_FILE_SIZE);
        encodeCheckpointSlot({ generation: genA, sequence: seqA, committedAt: 7 }).copy(file, 0);
        encodeCheckpointSlot({ generation: genB, sequence: seqB, committedAt: 8 }).copy(
          file,
          CHECKPOINT_SLOT_STRIDE,
        );
        const slot = decodeCheckpointFile(file);
        expect(slot?.sequence).toBe(genA >= genB ? seqA : seqB);
      }),
    );
  });

  it('a torn or flipped slot falls back to the other slot', () => {
    fc.assert(
      fc.property(
        u64,
        u64,
        fc.integer({ min: 0, max: CHECKPOINT_SLOT_SIZE - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (older, newer, at, flip) => {
          const file = Buffer.alloc(CHECKPOINT_FILE_SIZE);
          encodeCheckpointSlot({ generation: 4, sequence: older, committedAt: 1 }).copy(file, 0);
          encodeCheckpointSlot({ generation: 5, sequence: newer, committedAt: 2 }).copy(
            file,
            CHECKPOINT_SLOT_STRIDE,
          );
          file[CHECKPOINT_SLOT_STRIDE + at] = (file[CHECKPOINT_SLOT_STRIDE + at] as number) ^ flip;
          expect(decodeCheckpointFile(file)?.sequence).toBe(older);
        },
      ),
    );
  });
});

describe('checkpoint notes', () => {
  const note = fc.uint8Array({ minLength: 1, maxLength: CHECKPOINT_NOTE_MAX_BYTES });

  it("round-trip in the slot's sector, and a slot without one reads as before", () => {
    fc.assert(
      fc.property(u64, note, (sequence, bytes) => {
        const file = Buffer.alloc(CHECKPOINT_FILE_SIZE);
        encodeCheckpointSlot({ generation: 1, sequence, committedAt: 3, note: bytes }).copy(file, 0);
        const slot = decodeCheckpointFile(file);
        expect(slot).toMatchObject({ sequence, committedAt: 3 });
        expect(Buffer.from(slot?.note ?? [])).toEqual(Buffer.from(bytes));
        const bare = encodeCheckpointSlot({ generation: 1, sequence, committedAt: 3 });
        expect(bare.length).toBe(CHECKPOINT_SLOT_SIZE);
        expect(decodeCheckpointSlot(bare, 0)?.note).toBeUndefined();
      }),
    );
  });

  it('a torn note is dropped and the slot kept; an oversized note is refused', () => {
    fc.assert(
      fc.property(u64, note, fc.nat(), fc.integer({ min: 1, max: 255 }), (sequence, bytes, at, flip) => {
        const slot = encodeCheckpointSlot({ generation: 2, sequence, committedAt: 1, note: bytes });
        const index = CHECKPOINT_SLOT_SIZE + (at % bytes.length);
        slot[index] = (slot[index] as number) ^ flip;
        const decoded = decodeCheckpointSlot(slot, 0);
        expect(decoded?.sequence).toBe(sequence);
        expect(decoded?.note).toBeUndefined();
      }),
    );
    expect(() =>
      encodeCheckpointSlot({
        generation: 1,
        sequence: 1,
        committedAt: 1,
        note: new Uint8Array(CHECKPOINT_NOTE_MAX_BYTES + 1),
      }),
    ).toThrow(RangeError);
  });
});

async function storeWith(root: string, records: number, fs?: SimFs): Promise<LogStore> {
  const store = await LogStore.open(root, {
    retentionIntervalMillis: 0,
    ...(fs === undefined ? {} : { openDir: fs.openDir }),
  });
  if (!store.listStreams().includes('s')) {
    await store.createStream({ name: 's' });
    await store.appendMany(
      's',
      Array.from({ length: records }, (_, i) => Buffer.from(`r${i}`)),
    );
  }
  return store;
}

describe('checkpoints in the store', () => {
  it('coalesce commits issued while a write is in flight into one more write', async () => {
    const fs = new SimFs();
    const store = await storeWith(freshRoot(), 100, fs);
    await store.commit('s', 'c', 0);
    const syncs = fs.counts.sync;
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.commit('s', 'c', i + 1)));
    // The first write starts at once; the other 49 values wait for it and only the newest is written.
    expect(fs.counts.sync - syncs).toBe(2);
    expect(store.committed('s', 'c')).toBe(50);
    await store.close();
  });

  it('need no free space once the slot file exists', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await storeWith(root, 10, fs);
    await store.commit('s', 'c', 1);
    fs.freeBytes = 0;
    for (let i = 2; i < 10; i++) await store.commit('s', 'c', i);
    await store.close();
    const reopened = await storeWith(root, 0, fs);
    expect(reopened.committed('s', 'c')).toBe(9);
    await reopened.close();
  });

  it('keep the last acknowledged commit across a power loss, and a failed fsync is reported', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await storeWith(root, 10, fs);
    await store.commit('s', 'c', 3);
    fs.failNext('sync', 'EIO', 'consumers');
    await expect(store.commit('s', 'c', 5)).rejects.toMatchObject({ code: 'EIO' });
    expect(store.committed('s', 'c')).toBe(3);
    await store.commit('s', 'c', 6);
    fs.powerLoss();
    await rm(join(root, 'LOCK'));
    const reopened = await storeWith(root, 0, fs);
    expect(reopened.committed('s', 'c')).toBe(6);
    await reopened.close();
  });

  it('keep the note of the latest commit across a reopen; a commit without one clears it', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await storeWith(root, 10, fs);
    await store.commit('s', 'c', 2, Uint8Array.of(1, 2, 3));
    await store.commit('s', 'd', 4, Uint8Array.of(9));
    await store.commit('s', 'd', 5);
    expect(store.checkpointNote('s', 'c')).toEqual(Uint8Array.of(1, 2, 3));
    await store.close();
    const reopened = await storeWith(root, 0, fs);
    expect(reopened.committed('s', 'c')).toBe(2);
    expect(reopened.checkpointNote('s', 'c')).toEqual(Uint8Array.of(1, 2, 3));
    expect(reopened.committed('s', 'd')).toBe(5);
    expect(reopened.checkpointNote('s', 'd')).toBeUndefined();
    await expect(
      reopened.commit('s', 'c', 3, new Uint8Array(CHECKPOINT_NOTE_MAX_BYTES + 1)),
    ).rejects.toBeInstanceOf(RangeError);
    await reopened.close();
  });

  it('migrate a version-1 .json checkpoint into a slot file', async () => {
    const root = freshRoot();
    const store = await storeWith(root, 10);
    await store.close();
    const consumers = join(root, 'streams', 's', 'consumers');
    await writeFile(join(consumers, 'old.json'), '{"sequence":7,"committedAt":1}\n');
    // A crash during an earlier migration left a short slot file beside the .json.
    await writeFile(join(consumers, 'torn.json'), '{"sequence":4,"committedAt":1}\n');
    await writeFile(join(consumers, 'torn.ckpt'), Buffer.alloc(100));
    let reopened = await storeWith(root, 0);
    expect(reopened.committed('s', 'old')).toBe(7);
    expect(reopened.committed('s', 'torn')).toBe(4);
    expect((await readdir(consumers)).sort()).toEqual(['old.ckpt', 'torn.ckpt']);
    await reopened.commit('s', 'old', 8);
    await reopened.close();
    reopened = await storeWith(root, 0);
    expect(reopened.committed('s', 'old')).toBe(8);
    expect(reopened.committed('s', 'torn')).toBe(4);
    await reopened.close();
  });

  it('keep a .json checkpoint when there is no room to migrate it, and migrate on the next commit', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await storeWith(root, 10, fs);
    await store.close();
    const consumers = join(root, 'streams', 's', 'consumers');
    const simConsumers = fs.openDir(consumers);
    const file = await simConsumers.create('old.json');
    await file.writev([Buffer.from('{"sequence":7,"committedAt":1}\n')], 0);
    await file.sync();
    await simConsumers.sync();
    fs.freeBytes = 0;
    const reopened = await storeWith(root, 0, fs);
    expect(reopened.committed('s', 'old')).toBe(7);
    await expect(reopened.commit('s', 'old', 8)).rejects.toMatchObject({
      code: 'STORAGE_FULL',
      path: join(consumers, 'old.ckpt'),
    });
    fs.freeBytes = undefined;
    await reopened.commit('s', 'old', 9);
    expect((await simConsumers.list()).map((e) => e.name)).toEqual(['old.ckpt']);
    await reopened.close();
  });
});

describe('prepared checkpoints', () => {
  it('make even the first commit of a consumer need no free space', async () => {
    const fs = new SimFs();
    const root = freshRoot();
    const store = await storeWith(root, 10, fs);
    await store.prepareCheckpoint('s', 'c');
    fs.freeBytes = 0;
    await store.commit('s', 'c', 4);
    await store.close();
    const reopened = await storeWith(root, 0, fs);
    expect(reopened.committed('s', 'c')).toBe(4);
    await reopened.close();
  });
});
