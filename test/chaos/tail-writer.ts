// A log writer for the tail chaos scenario, in its own process: appends numbered lines to
// <dir>/app.log in bursts and rotates it the two ways logrotate does, alternately:
//   rename:       app.log.N → app.log.N+1 … app.log → app.log.1, the next line creates app.log;
//   copytruncate: the same shift, then app.log copied to app.log.1 and truncated in place.
// Rotated files are kept (none deleted), so every line written stays readable and a missing line is
// the agent's loss. Rotation happens between lines (the writer owns the file), so copytruncate's own
// window for losing lines is closed and the check is on the agent alone.
// Usage: node --import tsx tail-writer.ts '<json {dir, lines, rotateEvery, lineBytes, seed, pauseMaxMillis}>'; prints "done <n>".
import { appendFileSync, copyFileSync, existsSync, renameSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { seededRandom } from '../../shared/seeded-random.ts';

const { dir, lines, rotateEvery, lineBytes, seed, pauseMaxMillis } = JSON.parse(process.argv[2] ?? '{}') as {
  dir: string;
  lines: number;
  rotateEvery: number;
  lineBytes: number;
  seed: number;
  pauseMaxMillis: number;
};
const log = join(dir, 'app.log');

const random = seededRandom(seed);

let rotated = 0;
function shift() {
  for (let n = rotated; n >= 1; n--) renameSync(`${log}.${n}`, `${log}.${n + 1}`);
}

function rotate() {
  if (!existsSync(log)) return;
  shift();
  if (rotated % 2 === 0) renameSync(log, `${log}.1`);
  else {
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
  }
  rotated++;
}

let era = 0;
let sinceRotation = 0;
for (let seq = 0; seq < lines; ) {
  const burst = Math.min(lines - seq, 1 + Math.floor(random() * 40));
  let text = '';
  for (let i = 0; i < burst; i++, seq++) {
    const head = `L${String(seq).padStart(8, '0')} era=${era} `;
    text += `${head}${'x'.repeat(Math.max(0, lineBytes - head.length - 1))}\n`;
  }
  appendFileSync(log, text);
  sinceRotation += burst;
  if (sinceRotation >= rotateEvery) {
    rotate();
    era++;
    sinceRotation = 0;
  }
  await sleep(Math.floor(random() * pauseMaxMillis));
}
process.stdout.write(`done ${lines} ${rotated}\n`);
