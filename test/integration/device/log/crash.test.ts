import { type ChildProcess, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LogStore } from '../../../../device/log/index.ts';
import { CRASH_STREAM, payloadHash, payloadIsIntact } from '../../../helpers/log-crash-child.ts';
import { useTempDirs } from '../../../helpers/temp-dir.ts';

const CHILD = new URL('../../../helpers/log-crash-child.ts', import.meta.url).pathname;
const ITERATIONS = 20;

interface Run {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
}

function start(root: string): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    // A line cut by the kill has no newline yet: it never counts as an acknowledgement.
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line === 'ready') onReady();
      else lines.push(line);
    }
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited on its own (${code ?? signal}): ${stderr}`));
    });
  });
  return { child, lines, ready, exited };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('device log crash safety (SIGKILL during group-commit appends)', () => {
  const tempDir = useTempDirs('tributary-crash-');

  it('keeps every acknowledged record, exactly once, in order, intact', async () => {
    const root = await tempDir();
    const acked = new Map<number, string>();
    let kills = 0;
    let killedBeforeReady = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const run = start(root);
      // Every fourth run is killed at a random point during start-up and open (recovery included).
      if (i % 4 === 3) {
        await delay(Math.random() * 500);
        killedBeforeReady++;
      } else {
        await run.ready;
        await delay(20 + Math.random() * 250);
      }
      run.child.kill('SIGKILL');
      await run.exited;
      kills++;
      for (const line of run.lines) {
        const [seqText, hash] = line.split(' ');
        const sequence = Number(seqText);
        const previous = acked.get(sequence);
        // A sequence acknowledged twice with different content would mean an acked record was lost.
        if (previous !== undefined) expect(previous).toBe(hash);
        acked.set(sequence, hash as string);
      }
      const store = await LogStore.open(root, { retentionIntervalMillis: 0 });
      try {
        if (!store.listStreams().includes(CRASH_STREAM)) {
          expect(acked.size).toBe(0);
          continue;
        }
        let expected = 0;
        let seenAcked = 0;
        for await (const record of store.records(CRASH_STREAM, { maxBytes: 256 * 1024 })) {
          expect(record.sequence).toBe(expected);
          expect(payloadIsIntact(record.payload)).toBe(true);
          const hash = acked.get(record.sequence);
          if (hash !== undefined) {
            expect(payloadHash(record.payload)).toBe(hash);
            seenAcked++;
          }
          expected++;
        }
        expect(seenAcked).toBe(acked.size);
        expect(store.describeStream(CRASH_STREAM).nextSequence).toBe(expected);
      } finally {
        await store.close();
      }
    }
    expect(kills).toBe(ITERATIONS);
    expect(killedBeforeReady).toBeGreaterThan(0);
    // The runs must have done real work for the check to mean anything.
    expect(acked.size).toBeGreaterThan(1000);
  }, 120_000);
});
