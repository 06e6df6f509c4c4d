/**
 * Units and durations as people read them, for messages the pipeline writes (alert reasons). The
 * dashboard page (local/dashboard/public/view.js, served without a build step) keeps the same symbol
 * table and duration format; test/unit/local/dashboard/view.test.ts checks that the two agree.
 */

/** UCUM codes the contract's examples use, as people write them; anything else is shown as sent. */
export const UCUM_SYMBOLS: Readonly<Record<string, string>> = {
  Cel: '°C',
  '[degF]': '°F',
  K: 'K',
  '%': '%',
  kPa: 'kPa',
  hPa: 'hPa',
  Pa: 'Pa',
  V: 'V',
  A: 'A',
  W: 'W',
};

/** `34` in `Cel` → `34 °C`; `45` in `%` → `45%`; an unknown code follows the value as sent (`3 kg`). */
export function withUnit(value: number, unit: string): string {
  const symbol = Object.hasOwn(UCUM_SYMBOLS, unit) ? (UCUM_SYMBOLS[unit] as string) : unit;
  return symbol === '%' ? `${value}%` : `${value} ${symbol}`;
}

/** `850` → `850 ms`, `5000` → `5.0 s`, `60000` → `1 min 0 s`, `5400000` → `1 h 30 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}
