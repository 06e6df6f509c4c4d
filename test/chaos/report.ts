/** The suite's one table (Markdown, so README's "Reliability" section can carry it as printed). */
import { mb, percent, type ScenarioResult } from './harness.ts';

const HEADER = ['scenario', 'acked', 'lost', 'duplicated', 'crashes', 'peak RSS', 'result'];

function cell(value: number | undefined): string {
  return value === undefined ? '–' : value.toLocaleString('en-US');
}

export function table(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => [
    r.scenario,
    cell(r.acked),
    cell(r.lost),
    r.duplicated === undefined
      ? '–'
      : `${cell(r.duplicated)}${r.acked ? ` (${percent(r.duplicated, r.acked)})` : ''}`,
    cell(r.crashes),
    r.peakRssBytes === 0 ? '–' : mb(r.peakRssBytes),
    r.outcome,
  ]);
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(HEADER), line(HEADER.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Each failed or skipped scenario's findings, one per line. */
export function findings(results: readonly ScenarioResult[]): string {
  return results
    .filter((r) => r.findings.length > 0)
    .map((r) => [`${r.scenario}: ${r.outcome}`, ...r.findings.map((f) => `  - ${f}`)].join('\n'))
    .join('\n');
}
