import type { TransactionRecord } from '../../../shared/contract/index.ts';
import type { AmountAnomalyConfig, ImpossibleTravelConfig, RulesConfig, VelocityConfig } from './config.ts';
import { type AmountProfile, alertIdFor, type CardState, type Effects, type RaisedAlert } from './model.ts';

/** Currencies profiled per card; the least recently used one is dropped beyond this. */
export const MAX_PROFILED_CURRENCIES = 4;
const EARTH_RADIUS_KM = 6371.0088;

export function cardEntityId(cardToken: string): string {
  return `card:${cardToken}`;
}

/** Great-circle distance (haversine), km. */
export function distanceKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** A fraud alert on the record's card: its id derives from the rule, the card and the triggering records. */
function raiseCardAlert(
  effects: Effects,
  rule: 'velocity' | 'amount_anomaly' | 'impossible_travel',
  severity: RaisedAlert['severity'],
  record: TransactionRecord,
  triggerRecordIds: string[],
  message: string,
  details: Record<string, unknown>,
): void {
  const entityId = cardEntityId(record.payload.card_token);
  effects.raised.push({
    alertId: alertIdFor(rule, entityId, triggerRecordIds),
    ruleId: rule,
    ruleType: rule,
    severity,
    entityId,
    raisedAt: record.event_time,
    triggerRecordIds,
    message,
    details,
  });
}

function velocityStep(config: VelocityConfig, state: CardState, record: TransactionRecord, effects: Effects) {
  const t = record.event_time;
  const from = t - config.windowMs;
  // Entries after `t` stay (records of one card may arrive slightly out of event-time order).
  const recent = state.recent.filter((entry) => entry.t > from && entry.id !== record.id);
  recent.push({ id: record.id, t });
  recent.sort((a, b) => a.t - b.t || (a.id < b.id ? -1 : 1));
  // Only "more than maxTransactions" matters, so the newest maxTransactions+1 entries are enough.
  state.recent = recent.slice(-(config.maxTransactions + 1));
  const inWindow = recent.filter((entry) => entry.t <= t);
  if (inWindow.length <= config.maxTransactions || t < state.velocityQuietUntil) return;
  // One alert per burst: quiet until the window that raised it has passed.
  state.velocityQuietUntil = t + config.windowMs;
  raiseCardAlert(
    effects,
    'velocity',
    config.severity,
    record,
    [record.id],
    `${inWindow.length} transactions within ${config.windowMs / 1000} s (limit ${config.maxTransactions})`,
    {
      count: inWindow.length,
      windowMs: config.windowMs,
      maxTransactions: config.maxTransactions,
      recordIds: inWindow.slice(-(config.maxTransactions + 1)).map((entry) => entry.id),
    },
  );
}

function amountStep(
  config: AmountAnomalyConfig,
  state: CardState,
  record: TransactionRecord,
  effects: Effects,
) {
  const { amount_minor: amount, currency } = record.payload;
  const profile = state.profiles[currency];
  if (profile !== undefined && profile.count >= config.minSamples && amount >= config.minAmountMinor) {
    const std = Math.sqrt(profile.variance);
    const farAboveMean = amount >= profile.mean * config.multiplier;
    const outlier = std === 0 ? amount > profile.mean : (amount - profile.mean) / std > config.zScore;
    if (farAboveMean && outlier) {
      raiseCardAlert(
        effects,
        'amount_anomaly',
        config.severity,
        record,
        [record.id],
        `${amount} ${currency} (minor units) is ${(amount / Math.max(profile.mean, 1)).toFixed(1)}x the card's running mean`,
        {
          amountMinor: amount,
          currency,
          profileMean: Math.round(profile.mean),
          profileStd: Math.round(std),
          profileCount: profile.count,
        },
      );
    }
  }
  state.profiles = {
    ...state.profiles,
    [currency]: updateProfile(profile, amount, config.alpha, record.event_time),
  };
  const currencies = Object.entries(state.profiles);
  if (currencies.length > MAX_PROFILED_CURRENCIES) {
    currencies.sort(([, a], [, b]) => b.lastSeen - a.lastSeen);
    state.profiles = Object.fromEntries(currencies.slice(0, MAX_PROFILED_CURRENCIES));
  }
}

/** Exponentially weighted mean/variance (West 1979), plain averaging while count < 1/alpha. */
export function updateProfile(
  profile: AmountProfile | undefined,
  amount: number,
  alpha: number,
  t: number,
): AmountProfile {
  if (profile === undefined) return { count: 1, mean: amount, variance: 0, lastSeen: t };
  const count = profile.count + 1;
  const weight = Math.max(alpha, 1 / count);
  const delta = amount - profile.mean;
  const mean = profile.mean + weight * delta;
  const variance = (1 - weight) * (profile.variance + weight * delta * delta);
  return { count, mean, variance, lastSeen: Math.max(profile.lastSeen, t) };
}

function travelStep(
  config: ImpossibleTravelConfig,
  state: CardState,
  record: TransactionRecord,
  effects: Effects,
) {
  const location = record.payload.location;
  if (location === undefined || !config.channels.includes(record.payload.channel)) return;
  const last = state.lastLocated;
  const t = record.event_time;
  if (last !== undefined && last.id !== record.id) {
    const km = distanceKm(last, location);
    const hours = Math.max(Math.abs(t - last.t), config.minIntervalMs) / 3_600_000;
    const speed = km / hours;
    if (km >= config.minDistanceKm && speed > config.maxSpeedKmh) {
      raiseCardAlert(
        effects,
        'impossible_travel',
        config.severity,
        record,
        [last.id, record.id],
        `${Math.round(km)} km in ${Math.round(Math.abs(t - last.t) / 60_000)} min implies ${Math.round(speed)} km/h`,
        {
          distanceKm: Math.round(km),
          elapsedMs: Math.abs(t - last.t),
          speedKmh: Math.round(speed),
          from: { lat: last.lat, lon: last.lon },
          to: { lat: location.lat, lon: location.lon },
        },
      );
    }
  }
  if (last === undefined || t >= last.t)
    state.lastLocated = { id: record.id, t, lat: location.lat, lon: location.lon };
}

/** Applies the fraud rules to one transaction. Returns a new state object (the input is not mutated). */
export function evaluateTransaction(
  config: RulesConfig['fraud'],
  state: CardState,
  record: TransactionRecord,
  effects: Effects,
): CardState {
  const next: CardState = { ...state, recent: state.recent, profiles: state.profiles };
  if (config.velocity.enabled) velocityStep(config.velocity, next, record, effects);
  if (config.amountAnomaly.enabled) amountStep(config.amountAnomaly, next, record, effects);
  if (config.impossibleTravel.enabled) travelStep(config.impossibleTravel, next, record, effects);
  return next;
}
