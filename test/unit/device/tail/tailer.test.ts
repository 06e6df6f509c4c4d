import { appendFileSync, copyFileSync, truncateSync, utimesSync } from 'node:fs';
import { appendFile, copyFile, mkdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StreamFullError } from '../../../../device/log/errors.ts';
import { LogStore } from '../../../../device/log/index.ts';
import { batchDigest } from '../../../../device/tail/checkpoint.ts';
import { resolvePending } from '../../../../device/tail/resolve.ts';
import { parseSource } from '../../../../device/tail/source.ts';
import { type EntryEncoder, SourceTailer, type TailTarget } from '../../../../device/tail/tailer.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';
import { untilWith } from '../../../helpers/until.ts';

const tmp = useTempDir('tailer-');

/** Test encoding: the line and where it came from, as JSON (the agent encodes contract records). */
const encode: EntryEncoder = (entry, meta) =>
  Buffer.from(
    JSON.stringify({ id: meta.id, message: entry.message, level: entry.level, fields: entry.fields }),
  );

interface Harness {
  dir: string;
  store: LogStore;
  tailer: SourceTailer;
  messages(): Promise<string[]>;
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.tailer.stop();
    await h.store.close();
  }
});

async function harness(
  source: Record<string, unknown>,
  opts: { dir?: string; root?: string; target?: (t: TailTarget) => TailTarget } = {},
): Promise<Harness> {
  const root = opts.root ?? tmp.fresh();
  const dir = opts.dir ?? join(root, 'logs');
  await mkdir(dir, { recursive: true });
  const store = await LogStore.open(join(root, 'store'));
  if (!store.listStreams().includes('logs')) await store.createStream({ name: 'logs' });
  const base: TailTarget = {
    nextSequence: () => store.describeStream('logs').nextSequence,
    appendMany: (payloads) => store.appendMany('logs', payloads),
    read: (from) => store.records('logs', { fromSequence: from }),
  };
  const tailer = new SourceTailer({
    source: parseSource(
      {
        stream: 'logs',
        pollIntervalMillis: 20,
        ...source,
        filePattern: join(dir, source.filePattern as string),
      },
      root,
    ),
    deviceId: 'gw-1',
    checkpointDir: join(root, 'tail'),
    target: opts.target?.(base) ?? base,
    encode,
  });
  await tailer.start();
  const h: Harness = {
    dir,
    store,
    tailer,
    messages: async () =>
      (await store.read('logs', { fromSequence: 0, maxRecords: 100_000 })).map(
        (r) => JSON.parse(Buffer.from(r.payload).toString()).message as string,
      ),
  };
  open.push(h);
  return h;
}

const until = untilWith({ timeoutMs: 20_000, intervalMs: 20 });

const lines = (prefix: string, from: number, to: number) =>
  Array.from(
    { length: to - from },
    (_, i) => `${prefix} line ${String(from + i).padStart(5, '0')} ${'x'.repeat(40)}`,
  );
const text = (ls: string[]) => ls.map((l) => `${l}\n`).join('');

describe('SourceTailer', () => {
  it('START_OF_FILE sends every line once, in order; header lines skipped; a partial line waits', async () => {
    const root = tmp.fresh();
    await mkdir(join(root, 'logs'), { recursive: true });
    await writeFile(join(root, 'logs', 'app.log'), `HEADER\n${text(lines('a', 0, 50))}partial`);
    const h = await harness(
      { filePattern: 'app.log', initialPosition: 'START_OF_FILE', skipHeaderLines: 1 },
      { root },
    );
    await until(async () => (await h.messages()).length === 50);
    expect(await h.messages()).toEqual(lines('a', 0, 50));
    await appendFile(join(h.dir, 'app.log'), ' done\n');
    await until(async () => (await h.messages()).length === 51);
    expect((await h.messages()).at(-1)).toBe('partial done');
    expect(h.tailer.status()).toMatchObject({ lines: 51, filesFollowed: 1, lagBytes: 0, unparsed: 0 });
  });

  it('END_OF_FILE on the first run starts after the last complete line', async () => {
    const root = tmp.fresh();
    await mkdir(join(root, 'logs'), { recursive: true });
    await writeFile(join(root, 'logs', 'app.log'), `${text(lines('old', 0, 10))}half`);
    const h = await harness({ filePattern: 'app.log' }, { root });
    await appendFile(join(h.dir, 'app.log'), ` line\n${text(lines('new', 0, 3))}`);
    await until(async () => (await h.messages()).length === 4);
    expect(await h.messages()).toEqual(['half line', ...lines('new', 0, 3)]);
  });

  it('rotation by rename: the old file is read to its end, then the new one; .gz ignored', async () => {
    const h = await harness({ filePattern: 'app.log*', initialPosition: 'START_OF_FILE' });
    const live = join(h.dir, 'app.log');
    await writeFile(live, text(lines('a', 0, 100)));
    await until(async () => (await h.messages()).length === 100);
    await appendFile(live, text(lines('a', 100, 150)));
    await rename(live, `${live}.1`);
    await writeFile(live, text(lines('b', 0, 30)));
    await writeFile(join(h.dir, 'app.log.2.gz'), 'not text at all\n');
    await until(async () => (await h.messages()).length >= 180);
    await new Promise((r) => setTimeout(r, 200));
    expect(await h.messages()).toEqual([...lines('a', 0, 150), ...lines('b', 0, 30)]);
  });

  it('a file deleted while open is read to its end; copytruncate is noticed and nothing is sent twice', async () => {
    const h = await harness({ filePattern: 'app.log*', initialPosition: 'START_OF_FILE' });
    const live = join(h.dir, 'app.log');
    await writeFile(live, text(lines('a', 0, 40)));
    await until(async () => (await h.messages()).length === 40);
    // copytruncate: lines written after the last poll are in the copy only.
    await appendFile(live, text(lines('a', 40, 60)));
    await copyFile(live, `${live}.1`);
    await truncate(live, 0);
    await appendFile(live, text(lines('b', 0, 10)));
    await until(async () => (await h.messages()).length >= 70);
    await new Promise((r) => setTimeout(r, 300));
    const got = await h.messages();
    expect([...got].sort()).toEqual([...lines('a', 0, 60), ...lines('b', 0, 10)].sort());
    expect(got.filter((m) => m.startsWith('a'))).toEqual(lines('a', 0, 60));
    // Deleted while open: the rest still arrives.
    const other = await harness({ filePattern: 'gone.log', initialPosition: 'START_OF_FILE' });
    const gone = join(other.dir, 'gone.log');
    await writeFile(gone, text(lines('g', 0, 5)));
    await until(async () => (await other.messages()).length === 5);
    await appendFile(gone, text(lines('g', 5, 9)));
    await rm(gone);
    await until(async () => (await other.messages()).length === 9);
  });

  it('copytruncate within one mtime tick: the copy is read before the new lines', async () => {
    const h = await harness({ filePattern: 'app.log*', initialPosition: 'START_OF_FILE' });
    const live = join(h.dir, 'app.log');
    await writeFile(live, text(lines('a', 0, 40)));
    await until(async () => (await h.messages()).length === 40);
    // One synchronous block, so no poll of this process falls inside it; the kernel stamps mtimes at
    // its tick, so a copy, the truncation and the next line can carry the same one (set here).
    appendFileSync(live, text(lines('a', 40, 60)));
    copyFileSync(live, `${live}.1`);
    truncateSync(live, 0);
    appendFileSync(live, text(lines('b', 0, 10)));
    const tick = new Date();
    utimesSync(`${live}.1`, tick, tick);
    utimesSync(live, tick, tick);
    await until(async () => (await h.messages()).length >= 70);
    await new Promise((r) => setTimeout(r, 300));
    expect(await h.messages()).toEqual([...lines('a', 0, 60), ...lines('b', 0, 10)]);
  });

  it('multi-line records are joined and flushed once the file is quiet', async () => {
    const h = await harness({
      filePattern: 'java.log',
      initialPosition: 'START_OF_FILE',
      multiLineStartPattern: '^\\d{4}-',
      multiLineFlushMillis: 100,
    });
    await writeFile(join(h.dir, 'java.log'), '2026-01-01 boom\n  at a()\n  at b()\n2026-01-02 next\n');
    await until(async () => (await h.messages()).length === 2);
    expect(await h.messages()).toEqual(['2026-01-01 boom\n  at a()\n  at b()', '2026-01-02 next']);
  });

  it('a full stream pauses tailing and nothing is dropped', async () => {
    let refusals = 5;
    const h = await harness(
      { filePattern: 'app.log', initialPosition: 'START_OF_FILE' },
      {
        target: (t) => ({
          ...t,
          appendMany: (payloads) => {
            if (refusals-- > 0) return Promise.reject(new StreamFullError('logs', 1, 1));
            return t.appendMany(payloads);
          },
        }),
      },
    );
    await writeFile(join(h.dir, 'app.log'), text(lines('a', 0, 20)));
    await until(async () => (await h.messages()).length === 20);
    expect(await h.messages()).toEqual(lines('a', 0, 20));
    expect(h.tailer.status().lastError?.code).toBe('STREAM_FULL');
    expect(h.tailer.status().state).toBe('running');
  });

  it('a restart resumes where the log says, without re-sending', async () => {
    const root = tmp.fresh();
    const first = await harness({ filePattern: 'app.log', initialPosition: 'START_OF_FILE' }, { root });
    await writeFile(join(first.dir, 'app.log'), text(lines('a', 0, 30)));
    await until(async () => (await first.messages()).length === 30);
    open.splice(open.indexOf(first), 1);
    await first.tailer.stop();
    await first.store.close();
    await appendFile(join(first.dir, 'app.log'), text(lines('a', 30, 40)));
    const second = await harness({ filePattern: 'app.log', initialPosition: 'START_OF_FILE' }, { root });
    await until(async () => (await second.messages()).length >= 40);
    await new Promise((r) => setTimeout(r, 200));
    expect(await second.messages()).toEqual(lines('a', 0, 40));
  });

  /** Stops `h` (tailer and store) as a restart would, so another harness can open its root. */
  async function stopped(h: Harness): Promise<void> {
    open.splice(open.indexOf(h), 1);
    await h.tailer.stop();
    await h.store.close();
  }

  it('a copy made while stopped, the original truncated after the restart: read from where it had got to', async () => {
    const root = tmp.fresh();
    const source = { filePattern: 'app.log*', initialPosition: 'START_OF_FILE' };
    const first = await harness(source, { root });
    const live = join(first.dir, 'app.log');
    await writeFile(live, text(lines('a', 0, 50)));
    await until(async () => (await first.messages()).length === 50);
    await stopped(first);
    await appendFile(live, text(lines('a', 50, 60)));
    // copytruncate's copy lands while the agent is down; the truncation comes once it is back.
    await copyFile(live, `${live}.1`);
    const second = await harness(source, { root });
    await new Promise((r) => setTimeout(r, 100));
    await truncate(live, 0);
    await appendFile(live, text(lines('b', 0, 5)));
    await until(async () => (await second.messages()).length >= 65);
    await new Promise((r) => setTimeout(r, 300));
    expect(await second.messages()).toEqual([...lines('a', 0, 60), ...lines('b', 0, 5)]);
  });

  it('a file renamed away and back, or missed by one listing, keeps its position', async () => {
    const root = tmp.fresh();
    const h = await harness({ filePattern: 'app.log*', initialPosition: 'START_OF_FILE' }, { root });
    const live = join(h.dir, 'app.log');
    await writeFile(live, text(lines('a', 0, 20)));
    await until(async () => (await h.messages()).length === 20);
    // Out of the pattern long enough to be let go (read to its end and quiet for the grace).
    await rename(live, join(h.dir, 'parked'));
    await until(() => h.tailer.status().filesFollowed === 0, { timeoutMs: 5_000 });
    await rename(join(h.dir, 'parked'), live);
    await appendFile(live, text(lines('a', 20, 25)));
    await until(async () => (await h.messages()).length >= 25);
    await new Promise((r) => setTimeout(r, 300));
    expect(await h.messages()).toEqual(lines('a', 0, 25));
    // The same after a restart: the position of a file let go survives it.
    await rename(live, join(h.dir, 'parked'));
    await until(() => h.tailer.status().filesFollowed === 0, { timeoutMs: 5_000 });
    await stopped(h);
    await rename(join(h.dir, 'parked'), live);
    const again = await harness({ filePattern: 'app.log*', initialPosition: 'START_OF_FILE' }, { root });
    await appendFile(live, text(lines('a', 25, 28)));
    await until(async () => (await again.messages()).length >= 28);
    await new Promise((r) => setTimeout(r, 300));
    expect(await again.messages()).toEqual(lines('a', 0, 28));
  });
});

describe('resolvePending', () => {
  const p = (s: string) => Buffer.from(s);
  const batch = [p('r1'), p('r2'), p('r3')];
  const pending = { to: 30, lowSequence: 5, count: 3, digest: batchDigest(batch), readTime: 1 };
  const logged = (payloads: Buffer[]) => payloads.map((payload, i) => ({ sequence: 5 + i, payload }));
  const recreated = batch.map((payload, i) => ({ payload, end: [16, 23, 30][i] as number }));

  it("whole batch in the log (after others' records) → after it; nothing → before it", () => {
    expect(resolvePending(10, pending, logged([p('api'), ...batch]))).toEqual({ offset: 30, found: 3 });
    expect(resolvePending(10, pending, logged([p('api')]), recreated)).toEqual({ offset: 10, found: 0 });
  });

  it("a torn write's prefix → after the prefix, when the file can re-create the batch", () => {
    expect(resolvePending(10, pending, logged([p('api'), p('r1'), p('r2')]), recreated)).toEqual({
      offset: 23,
      found: 2,
    });
    // Without the file's bytes (or with other bytes) the prefix cannot be told: sent again.
    expect(resolvePending(10, pending, logged([p('r1'), p('r2')]))).toEqual({ offset: 10, found: 0 });
    const other = recreated.map((r) => ({ ...r, payload: p('zz') }));
    expect(resolvePending(10, pending, logged([p('r1'), p('r2')]), other)).toEqual({ offset: 10, found: 0 });
  });
});
