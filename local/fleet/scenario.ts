import type { RulesConfig, ThresholdRule } from '../../functions/alerts/rules/config.ts';
import { cardEntityId } from '../../functions/alerts/rules/fraud.ts';
import { deviceEntityId } from '../../functions/alerts/rules/threshold.ts';
import {
  SCHEMA_VERSION,
  type TelemetryRecord,
  type TransactionRecord,
  type TributaryRecord,
} from '../../shared/contract/index.ts';
import { seededRandom } from '../../shared/seeded-random.ts';
import { FleetConfigError } from './errors.ts';

/**
 * The simulated fleet as a pure, seeded model of simulated time: sensors report temperature and
 * humidity, card terminals take card transactions, and anomalies are injected on a schedule. The same
 * seed and options give the same records (ids included) whatever the wall clock does, so a bounded run
 * can be checked record by record.
 *
 * Normal traffic is built never to trip a rule: temperatures stay between the bundled rules' low and
 * high thresholds, amounts stay under the amount-anomaly floor, a card transacts at most
 * maxTransactions times per velocity window and only in its home city. Each injected anomaly is
 * shaped from the same rules so that it trips exactly one alert.
 */

export type AnomalyKind = 'overheating' | 'velocity' | 'impossible_travel';

export interface FleetScenarioOptions {
  readonly seed: number;
  readonly sensors: number;
  readonly terminals: number;
  /** Simulated epoch ms of the first tick. */
  readonly startTime: number;
  /** Each sensor reports every metric this often (simulated ms). */
  readonly sensorIntervalMs: number;
  readonly transactionsPerTerminalPerMinute: number;
  /** Simulated ms between anomaly starts; kinds rotate. 0 disables anomalies. */
  readonly anomalyIntervalMs: number;
  /** Simulated ms before the first anomaly (normal history first). */
  readonly firstAnomalyAfterMs: number;
  readonly anomalyKinds: readonly AnomalyKind[];
  /** A bounded run ends here: anomalies that could not complete by then are not started. */
  readonly endTime?: number;
}

export interface InjectedAnomaly {
  readonly kind: AnomalyKind;
  readonly startedAt: number;
  /** Simulated time by which every record the anomaly needs has been emitted. */
  readonly completesAt: number;
  /** The one alert it must raise (rule id and entity as the alert function names them). */
  readonly expectedAlert: { readonly ruleId: string; readonly entityId: string };
  readonly deviceId: string;
}

export const DEFAULT_SCENARIO: Omit<FleetScenarioOptions, 'startTime'> = {
  seed: 1,
  sensors: 50,
  terminals: 20,
  sensorIntervalMs: 5_000,
  transactionsPerTerminalPerMinute: 6,
  anomalyIntervalMs: 60_000,
  firstAnomalyAfterMs: 30_000,
  anomalyKinds: ['overheating', 'velocity', 'impossible_travel'],
};

interface City {
  readonly name: string;
  readonly country: string;
  readonly currency: string;
  readonly lat: number;
  readonly lon: number;
}

/** Home cities are within Europe; far cities are where impossible travel lands. */
const HOME_CITIES: readonly City[] = [
  { name: 'Paris', country: 'FR', currency: 'EUR', lat: 48.8566, lon: 2.3522 },
  { name: 'Berlin', country: 'DE', currency: 'EUR', lat: 52.52, lon: 13.405 },
  { name: 'Madrid', country: 'ES', currency: 'EUR', lat: 40.4168, lon: -3.7038 },
  { name: 'Milan', country: 'IT', currency: 'EUR', lat: 45.4642, lon: 9.19 },
  { name: 'Amsterdam', country: 'NL', currency: 'EUR', lat: 52.3676, lon: 4.9041 },
];
const FAR_CITIES: readonly City[] = [
  { name: 'New York', country: 'US', currency: 'USD', lat: 40.7128, lon: -74.006 },
  { name: 'Tokyo', country: 'JP', currency: 'JPY', lat: 35.6762, lon: 139.6503 },
  { name: 'Sydney', country: 'AU', currency: 'AUD', lat: -33.8688, lon: 151.2093 },
];
const MERCHANT_CATEGORIES = ['5411', '5812', '5541', '5912', '5999'] as const;
const LOCATED_CHANNELS = ['card_present', 'contactless'] as const;
/** Simulated time advances in steps of this size. */
const TICK_MS = 1_000;

interface Sensor {
  readonly deviceId: string;
  readonly baseTemperature: number;
  readonly baseHumidity: number;
  /** Phase so sensors do not all report in the same millisecond. */
  readonly offsetMs: number;
  nextReportAt: number;
  /** Reports hot values in [hotFrom, hotUntil). */
  hotFrom: number;
  hotUntil: number;
  /** Reserved until its anomaly has fully played out (raise and clear). */
  busyUntil: number;
}

interface Terminal {
  readonly deviceId: string;
  readonly merchantId: string;
  readonly merchantCategory: string;
  readonly city: number;
  readonly lat: number;
  readonly lon: number;
  nextTransactionAt: number;
}

interface Card {
  readonly token: string;
  readonly city: number;
  /** Earliest simulated time of its next normal transaction. */
  availableAt: number;
  /** Anomalous cards are blocked afterwards, as a bank would: no later traffic can re-trigger. */
  retired: boolean;
}

/** A transaction or reading scheduled by an anomaly at an exact simulated time. */
interface Scheduled {
  readonly at: number;
  readonly make: (at: number) => TributaryRecord;
}

export class FleetScenario {
  readonly options: FleetScenarioOptions;
  readonly #rules: RulesConfig;
  readonly #random: () => number;
  readonly #sensors: Sensor[];
  readonly #terminals: Terminal[];
  readonly #cards: Card[];
  readonly #cardsByCity: Card[][];
  #scheduled: Scheduled[] = [];
  readonly #anomalies: InjectedAnomaly[] = [];
  readonly #overheat: ThresholdRule;
  #now: number;
  #nextAnomalyAt: number;
  #anomalyCount = 0;
  #lastIdTime = 0;
  #lastIdCounter = 0;

  constructor(options: FleetScenarioOptions, rules: RulesConfig) {
    this.options = options;
    this.#rules = rules;
    this.#random = seededRandom(options.seed);
    const overheat = rules.threshold.find((r) => r.metric === 'temperature' && r.direction === 'above');
    const cold = rules.threshold.find((r) => r.metric === 'temperature' && r.direction === 'below');
    if (overheat === undefined) {
      throw new FleetConfigError(
        'rules.threshold',
        rules.threshold,
        'needs an "above" rule on temperature to overheat against',
      );
    }
    this.#overheat = overheat;
    // Normal temperatures stay strictly between the cold rule's clear level and the hot rule's.
    const low = (cold?.clear ?? overheat.clear - 20) + 4;
    const high = overheat.clear - 4;
    if (high - low < 2)
      throw new FleetConfigError(
        'rules.threshold',
        rules.threshold,
        'temperature thresholds leave no normal band',
      );
    this.#now = options.startTime;
    this.#nextAnomalyAt = options.startTime + options.firstAnomalyAfterMs;
    const interval = options.sensorIntervalMs;
    this.#sensors = Array.from({ length: options.sensors }, (_, i) => {
      const offsetMs = Math.floor(this.#random() * interval);
      return {
        deviceId: sensorId(i + 1),
        baseTemperature: low + 1 + this.#random() * (high - low - 2),
        baseHumidity: 35 + this.#random() * 25,
        offsetMs,
        nextReportAt: options.startTime + offsetMs,
        hotFrom: 0,
        hotUntil: 0,
        busyUntil: 0,
      };
    });
    this.#terminals = Array.from({ length: options.terminals }, (_, i) => {
      const city = i % HOME_CITIES.length;
      const home = HOME_CITIES[city] as City;
      return {
        deviceId: terminalId(i + 1),
        merchantId: `merchant-${pad(i + 1)}`,
        merchantCategory: MERCHANT_CATEGORIES[i % MERCHANT_CATEGORIES.length] as string,
        city,
        // Within ~5 km of the centre: far below the travel rule's minimum distance.
        lat: home.lat + (this.#random() - 0.5) * 0.08,
        lon: home.lon + (this.#random() - 0.5) * 0.08,
        nextTransactionAt: options.startTime + this.#exponentialGap(),
      };
    });
    // Enough cards that each one can keep to the velocity limit at the configured rate, with room.
    const txPerMs = (options.terminals * options.transactionsPerTerminalPerMinute) / 60_000;
    const cardCount = Math.max(100, Math.ceil(txPerMs * this.#cardSpacingMs() * 3));
    this.#cards = Array.from({ length: cardCount }, (_, i) => ({
      token: `tok_${hex(this.#random, 16)}`,
      city: i % HOME_CITIES.length,
      availableAt: options.startTime,
      retired: false,
    }));
    this.#cardsByCity = HOME_CITIES.map((_, city) => this.#cards.filter((c) => c.city === city));
  }

  /** Simulated time up to which records have been produced. */
  get now(): number {
    return this.#now;
  }

  get anomalies(): readonly InjectedAnomaly[] {
    return this.#anomalies;
  }

  /**
   * Every record up to `until`, in event-time order. Time advances in whole ticks, so the records do
   * not depend on how a caller slices time: the rest of a partial tick comes with the next call.
   */
  advanceTo(until: number): TributaryRecord[] {
    const out: TributaryRecord[] = [];
    while (this.#now + TICK_MS <= until) {
      this.#now += TICK_MS;
      out.push(...this.#tick(this.#now));
    }
    return out;
  }

  #tick(tickEnd: number): TributaryRecord[] {
    const out: { at: number; record: TributaryRecord }[] = [];
    while (this.#anomalyDue(tickEnd)) this.#startAnomaly(this.#nextAnomalyAt);
    for (const sensor of this.#sensors) {
      while (sensor.nextReportAt <= tickEnd) {
        const at = sensor.nextReportAt;
        out.push(...this.#readings(sensor, at).map((record) => ({ at, record })));
        sensor.nextReportAt += this.options.sensorIntervalMs;
      }
    }
    for (const terminal of this.#terminals) {
      while (terminal.nextTransactionAt <= tickEnd) {
        const at = terminal.nextTransactionAt;
        const record = this.#normalTransaction(terminal, at);
        if (record !== undefined) out.push({ at, record });
        terminal.nextTransactionAt += this.#exponentialGap();
      }
    }
    const due = this.#scheduled.filter((item) => item.at <= tickEnd);
    this.#scheduled = this.#scheduled.filter((item) => item.at > tickEnd);
    for (const item of due) out.push({ at: item.at, record: item.make(item.at) });
    return out.sort((a, b) => a.at - b.at).map((entry) => entry.record);
  }

  #anomalyDue(until: number): boolean {
    const { anomalyIntervalMs, anomalyKinds } = this.options;
    return anomalyIntervalMs > 0 && anomalyKinds.length > 0 && this.#nextAnomalyAt <= until;
  }

  #startAnomaly(at: number): void {
    const { anomalyKinds, anomalyIntervalMs, endTime } = this.options;
    const kind = anomalyKinds[this.#anomalyCount % anomalyKinds.length] as AnomalyKind;
    this.#anomalyCount++;
    this.#nextAnomalyAt = at + anomalyIntervalMs;
    const injected =
      kind === 'overheating'
        ? this.#overheating(at, endTime)
        : kind === 'velocity'
          ? this.#velocityBurst(at, endTime)
          : this.#impossibleTravel(at, endTime);
    if (injected !== undefined) this.#anomalies.push(injected);
  }

  /** Hot for minDuration plus margin (raise), then normal for minDuration plus margin (clear). */
  #overheating(at: number, endTime: number | undefined): InjectedAnomaly | undefined {
    const interval = this.options.sensorIntervalMs;
    const margin = 3 * interval;
    const hotUntil = at + this.#overheat.minDurationMs + margin;
    const completesAt = hotUntil + this.#overheat.minDurationMs + margin;
    if (endTime !== undefined && completesAt > endTime) return undefined;
    const candidates = this.#sensors.filter((s) => s.busyUntil < at);
    const sensor = candidates[Math.floor(this.#random() * candidates.length)];
    if (sensor === undefined) return undefined;
    sensor.hotFrom = at;
    sensor.hotUntil = hotUntil;
    sensor.busyUntil = completesAt;
    return {
      kind: 'overheating',
      startedAt: at,
      completesAt,
      expectedAlert: { ruleId: this.#overheat.id, entityId: deviceEntityId(sensor.deviceId) },
      deviceId: sensor.deviceId,
    };
  }

  /** maxTransactions + 2 transactions within a fifth of the velocity window, then the card is blocked. */
  #velocityBurst(at: number, endTime: number | undefined): InjectedAnomaly | undefined {
    const { maxTransactions, windowMs } = this.#rules.fraud.velocity;
    const count = maxTransactions + 2;
    const step = Math.floor(windowMs / 5 / count);
    const completesAt = at + step * (count - 1);
    const target = this.#cardAnomalyTarget(at, completesAt, endTime);
    if (target === undefined) return undefined;
    const { terminal, card } = target;
    for (let i = 0; i < count; i++) {
      this.#scheduled.push({ at: at + i * step, make: (t) => this.#transaction(terminal, card, t) });
    }
    return {
      kind: 'velocity',
      startedAt: at,
      completesAt,
      expectedAlert: { ruleId: 'velocity', entityId: cardEntityId(card.token) },
      deviceId: terminal.deviceId,
    };
  }

  /** A home transaction, then one on another continent a few minutes later; the card is blocked after. */
  #impossibleTravel(at: number, endTime: number | undefined): InjectedAnomaly | undefined {
    const { minIntervalMs } = this.#rules.fraud.impossibleTravel;
    const gap = Math.max(minIntervalMs, 5 * 60_000);
    const completesAt = at + gap;
    const target = this.#cardAnomalyTarget(at, completesAt, endTime);
    if (target === undefined) return undefined;
    const { terminal, card } = target;
    const far = this.#pick(FAR_CITIES);
    const farTerminal: Terminal = {
      deviceId: `terminal-${far.country.toLowerCase()}-${pad(this.#anomalyCount)}`,
      merchantId: `merchant-${far.country.toLowerCase()}-${pad(this.#anomalyCount)}`,
      merchantCategory: '5999',
      city: -1,
      lat: far.lat,
      lon: far.lon,
      nextTransactionAt: Number.POSITIVE_INFINITY,
    };
    this.#scheduled.push(
      { at, make: (t) => this.#transaction(terminal, card, t, 'card_present') },
      { at: completesAt, make: (t) => this.#transaction(farTerminal, card, t, 'card_present', far) },
    );
    return {
      kind: 'impossible_travel',
      startedAt: at,
      completesAt,
      expectedAlert: { ruleId: 'impossible_travel', entityId: cardEntityId(card.token) },
      deviceId: farTerminal.deviceId,
    };
  }

  /** A terminal and a card of its city, reserved for an anomaly that completes before the run ends. */
  #cardAnomalyTarget(
    at: number,
    completesAt: number,
    endTime: number | undefined,
  ): { terminal: Terminal; card: Card } | undefined {
    if (this.#terminals.length === 0 || (endTime !== undefined && completesAt > endTime)) return undefined;
    const terminal = this.#pick(this.#terminals);
    const card = this.#reserveCard(terminal.city, at);
    return card === undefined ? undefined : { terminal, card };
  }

  #reserveCard(city: number, at: number): Card | undefined {
    const card = this.#cardsByCity[city]?.find((c) => !c.retired && c.availableAt <= at);
    if (card !== undefined) card.retired = true;
    return card;
  }

  #readings(sensor: Sensor, at: number): TelemetryRecord[] {
    const hot = at >= sensor.hotFrom && at < sensor.hotUntil;
    const temperature = hot
      ? this.#overheat.raise + 3 + this.#random() * 3
      : sensor.baseTemperature + (this.#random() - 0.5) * 2;
    const humidity = sensor.baseHumidity + (this.#random() - 0.5) * 4;
    return [
      this.#telemetry(sensor, at, 'temperature', round(temperature, 2), 'Cel'),
      this.#telemetry(sensor, at, 'humidity', round(humidity, 1), '%'),
    ];
  }

  #telemetry(sensor: Sensor, at: number, metric: string, value: number, unit: string): TelemetryRecord {
    return {
      id: this.#uuidv7(at),
      schema_version: SCHEMA_VERSION,
      type: 'telemetry',
      device_id: sensor.deviceId,
      partition_key: sensor.deviceId,
      event_time: at,
      payload: { metric, value, unit, tags: { site: `site-${Number(sensor.deviceId.slice(-4)) % 5}` } },
    };
  }

  #normalTransaction(terminal: Terminal, at: number): TransactionRecord | undefined {
    const pool = this.#cardsByCity[terminal.city] ?? [];
    const start = Math.floor(this.#random() * pool.length);
    for (let i = 0; i < pool.length; i++) {
      const card = pool[(start + i) % pool.length] as Card;
      if (card.retired || card.availableAt > at) continue;
      card.availableAt = at + this.#cardSpacingMs();
      return this.#transaction(terminal, card, at);
    }
    return undefined;
  }

  #transaction(
    terminal: Terminal,
    card: Card,
    at: number,
    channel?: TransactionRecord['payload']['channel'],
    city: City = HOME_CITIES[terminal.city] ?? (HOME_CITIES[0] as City),
  ): TransactionRecord {
    // Under the amount-anomaly floor, so normal spending never looks anomalous.
    const ceiling = Math.min(this.#rules.fraud.amountAnomaly.minAmountMinor - 1, 8_000);
    const amount = 150 + Math.floor(this.#random() * (ceiling - 150));
    const pickedChannel = channel ?? (this.#random() < 0.85 ? this.#pick(LOCATED_CHANNELS) : 'online');
    return {
      id: this.#uuidv7(at),
      schema_version: SCHEMA_VERSION,
      type: 'transaction',
      device_id: terminal.deviceId,
      // One card's transactions stay on one shard, in order, for the per-card fraud state.
      partition_key: card.token,
      event_time: at,
      payload: {
        card_token: card.token,
        merchant_id: terminal.merchantId,
        merchant_category: terminal.merchantCategory,
        amount_minor: amount,
        currency: city.currency,
        ...(pickedChannel === 'online'
          ? {}
          : {
              location: { lat: round(terminal.lat, 4), lon: round(terminal.lon, 4), country: city.country },
            }),
        channel: pickedChannel,
      },
    };
  }

  /** Normal transactions of one card are at least this far apart: never more than the velocity limit. */
  #cardSpacingMs(): number {
    const { windowMs, maxTransactions } = this.#rules.fraud.velocity;
    return Math.ceil((windowMs / maxTransactions) * 1.25);
  }

  #exponentialGap(): number {
    const meanMs = 60_000 / this.options.transactionsPerTerminalPerMinute;
    return Math.max(1, Math.round(-Math.log(1 - this.#random()) * meanMs));
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)] as T;
  }

  /** RFC 9562 UUIDv7 from the simulated time and the seeded generator, monotonic within a millisecond. */
  #uuidv7(at: number): string {
    if (at === this.#lastIdTime) this.#lastIdCounter++;
    else {
      this.#lastIdTime = at;
      this.#lastIdCounter = Math.floor(this.#random() * 0x400);
    }
    const time = at.toString(16).padStart(12, '0');
    const randA = (this.#lastIdCounter & 0xfff).toString(16).padStart(3, '0');
    const variant = (8 + Math.floor(this.#random() * 4)).toString(16);
    return `${time.slice(0, 8)}-${time.slice(8)}-7${randA}-${variant}${hex(this.#random, 3)}-${hex(this.#random, 12)}`;
  }
}

/** The device id of the fleet's nth sensor (from 1), as its records and its gateway's log name it. */
export function sensorId(n: number): string {
  return `sensor-${pad(n)}`;
}

export function terminalId(n: number): string {
  return `terminal-${pad(n)}`;
}

function pad(n: number): string {
  return String(n).padStart(4, '0');
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function hex(random: () => number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += Math.floor(random() * 16).toString(16);
  return out;
}
