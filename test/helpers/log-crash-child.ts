/**
 * Child process for the device log crash test. Appends self-checking records with many appends
 * in flight (group commit) and prints "<sequence> <sha256 prefix>" for each acknowledged append.
 * The parent SIGKILLs it at random moments. Run: node --import tsx log-crash-child.ts <rootDir>
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { LogStore } from '../../device/log/index.ts';

export const CRASH_STREAM = 'crash';
/** Payload = random body + first 8 bytes of its SHA-256, so any record can be checked on its own. */
export const CHECK_BYTES = 8;

export function payloadIsIntact(payload: Uint8Array): boolean {
  if (payload.length < CHECK_BYTES) return false;
  const body = payload.subarray(0, payload.length - CHECK_BYTES);
  const digest = createHash('sha256').update(body).digest().subarray(0, CHECK_BYTES);
  return Buffer.compare(digest, payload.subarray(payload.length - CHECK_BYTES)) === 0;
}

export function payloadHash(payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest('hex').slice(0, 16);
}

function makePayload(): Buffer {
  const body = randomBytes(randomInt(0, 3000));
  return Buffer.concat([body, createHash('sha256').update(body).digest().subarray(0, CHECK_BYTES)]);
}

async function main(root: string): Promise<void> {
  const store = await LogStore.open(root, { retentionIntervalMillis: 0 });
  if (!store.listStreams().includes(CRASH_STREAM)) {
    // Small segments so kills also land during segment rolls.
    await store.createStream({
      name: CRASH_STREAM,
      segmentSize: 64 * 1024,
      maxSize: 1 << 30,
      groupCommitMillis: 2,
    });
  }
  process.stdout.write('ready\n');
  const worker = async (): Promise<never> => {
    for (;;) {
      const payload = makePayload();
      const { sequence } = await store.append(CRASH_STREAM, payload);
      // stdout to a pipe is synchronous on Linux: once written, the parent has the line.
      process.stdout.write(`${sequence} ${payloadHash(payload)}\n`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

const root = process.argv[2];
if (root !== undefined && process.argv[1]?.endsWith('log-crash-child.ts')) {
  void main(root);
}
