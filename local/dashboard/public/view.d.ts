// Types of view.js for the unit tests (the page itself loads view.js as is: no build step).
import type { AlertView, SeriesSummary } from '../../../functions/dashboard/reader.ts';

export interface UnitInfo {
  scale: number;
  suffix: string;
  unit: string;
  axis: string;
  digits?: number;
  /** A count series (log lines): the window's count is the value, min/mean/max are all 1. */
  counts?: boolean;
}
export interface EntityGroup {
  kind: string;
  label: string;
  series: SeriesSummary[];
}
export interface FleetRow {
  device: string;
  metrics: { metric: string; entity: string; value: string }[];
  lastWindowEnd: number;
  alerts: AlertView[];
  state: 'alert' | 'quiet' | 'ok';
}
type AlertLike = Pick<AlertView, 'entityId' | 'raisedAt'> & Partial<AlertView>;

export const KIND_LABELS: Record<string, string>;
export const MIN_DEFAULT_WINDOWS: number;
export const MIN_AXIS_WINDOWS: number;
export const QUIET_AFTER_MS: number;
export function currencyExponent(code: string): number | undefined;
export function parseEntity(entity: string): { kind: string; id: string; metric?: string };
export function unitInfo(entity: string, unit: string | undefined): UnitInfo;
export function activity(series: Partial<SeriesSummary>): number;
export function windowCount(series: Partial<SeriesSummary>): number;
export function mergeEntities(pages: SeriesSummary[][]): SeriesSummary[];
export function groupEntities(entities: SeriesSummary[], query?: string): EntityGroup[];
export function alertSeriesPrefix(entityId: string): string;
export function seriesForAlert(entities: SeriesSummary[], alert: AlertLike): SeriesSummary | undefined;
export const DEFAULT_WINDOW: string;
export function chooseDefaultEntity(entities: SeriesSummary[], alerts: AlertLike[]): string;
export function xRange(xs: number[], windowSeconds: number): [number, number];
export function yRange(min: number, max: number): [number, number];
export function formatDuration(ms: number | undefined): string;
export function alertDuration(alert: AlertLike, now?: number): number;
export function humanKey(key: string): string;
export function detailRows(alert: Partial<AlertView>): [string, string][];
export function formatNumber(n: number | undefined): string;
export function formatValue(value: number | undefined, info: UnitInfo): string;
export function fleetRows(entities: SeriesSummary[], openAlerts: AlertLike[], now?: number): FleetRow[];
export const MAX_ENTITY_PAGES: number;
export function entitiesNotice(count: number, truncated: boolean): string | undefined;
export function readEntityPages(
  fetchPage: (
    cursor: string | undefined,
  ) => Promise<{ entities: SeriesSummary[]; nextCursor?: string | null }>,
  maxPages?: number,
): Promise<{ entities: SeriesSummary[]; truncated: boolean }>;
