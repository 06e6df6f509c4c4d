/**
 * Flink job figures (analytics/), on a local MiniCluster with parallelism 2:
 * - ours: events/s through the whole topology (JSON parse + contract validation, watermarks, 1 min
 *   tumbling + 5 min sliding windows with DDSketch, late stream), and window-emit latency: wall time
 *   from generating the event that moves the watermark past a 1-minute window's end to that window's
 *   aggregate reaching the sink (includes Flink's 200 ms periodic watermark interval);
 * - baseline: the same generated records through the same parse operator into a discarding sink, with
 *   no event time and no windows (what reading and validating alone costs).
 * Both run in one JVM, baseline first, through analytics/src/test/.../bench/PipelineBench.java.
 * Run: node --import tsx bench/analytics.bench.ts [events]   (default 2,000,000; needs Java 17 + Maven)
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../local/servers/runtime.ts';

const EVENTS = Number(process.argv[2] ?? 2_000_000);

const result = spawnSync(
  'mvn',
  [
    '-B',
    '-q',
    '-ntp',
    '-f',
    join(PROJECT_ROOT, 'analytics', 'pom.xml'),
    'test',
    '-Dtest=PipelineBench',
    `-Dtributary.bench=${EVENTS}`,
  ],
  { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
);
// Maven may prefix a line with terminal escapes: keep what follows the marker.
const lines = `${result.stdout}\n${result.stderr}`
  .split('\n')
  .filter((line) => line.includes('BENCH '))
  .map((line) => line.slice(line.indexOf('BENCH ')));
if (result.status !== 0 || lines.length < 2) {
  console.error(`PipelineBench failed (exit ${result.status ?? result.signal}):`);
  console.error(`${result.stdout}\n${result.stderr}`.split('\n').slice(-40).join('\n'));
  process.exit(1);
}

const number = (line: string | undefined, pattern: RegExp): number =>
  Number(line?.match(pattern)?.[1] ?? Number.NaN);
const baselineLine = lines.find((line) => line.includes('baseline'));
const oursLine = lines.find((line) => !line.includes('baseline') && line.includes('throughput='));
const latencyLine = lines.find((line) => line.includes('window-emit latency'));
const rate = (line: string | undefined) => number(line, /throughput=(\d+)/);
const fmt = (value: number) => Math.round(value).toLocaleString('en-US');

console.log(`events per run: ${fmt(EVENTS)} telemetry records, 1000 devices, parallelism 2`);
console.log(`baseline  parse + validate only, no windows   ${fmt(rate(baselineLine))} events/s`);
console.log(`ours      whole topology (1m + 5m windows)    ${fmt(rate(oursLine))} events/s`);
console.log(
  `ours/baseline                                 ${((rate(oursLine) / rate(baselineLine)) * 100).toFixed(0)} %`,
);
if (latencyLine !== undefined) {
  console.log(
    `window-emit latency after the watermark passes: p50 ${number(latencyLine, /p50=([\d.]+)/)} ms, p95 ${number(
      latencyLine,
      /p95=([\d.]+)/,
    )} ms, max ${number(latencyLine, /max=([\d.]+)/)} ms (n=${number(latencyLine, /n=(\d+)/)})`,
  );
}
console.log('target: >= 100,000 events/s');
