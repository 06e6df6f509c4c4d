import { z } from 'zod';
import { LOG_LEVELS } from '../../../shared/contract/index.ts';
import { parseOptions } from '../../../shared/options.ts';

/**
 * The alert rules' configuration: one file, functions/alerts/rules.json, bundled into the Lambda and
 * read by the local runner alike. This schema is its documentation: every field, its default and
 * its unit. Omitted fields take the defaults below, so `{}` is a valid config (fraud rules on with
 * these defaults, no threshold or log error-rate rules).
 */

const MINUTE_MS = 60_000;
const DAY_SECONDS = 86_400;

const ruleId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'must be 1-64 chars of a-z 0-9 . _ - starting alphanumeric');
const severity = z.enum(['info', 'warning', 'critical']);

/**
 * A threshold rule on telemetry. `above`: raises when value > `raise` and clears when value < `clear`
 * (so `clear` <= `raise`; the gap is the hysteresis band). `below` mirrors it (`clear` >= `raise`).
 * With `minDurationMs` > 0 the condition must hold on every record for at least that long (by event
 * time) before the alert raises, and likewise before it clears: a flapping sensor raises nothing.
 */
const thresholdRule = z
  .strictObject({
    id: ruleId,
    /** Telemetry metric the rule watches, e.g. `temperature`. */
    metric: z.string().regex(/^[a-z][a-z0-9_.]{0,127}$/),
    /** Only records carrying all of these tags (exact values) are considered. */
    tags: z.record(z.string().min(1).max(64), z.string().max(256)).optional(),
    direction: z.enum(['above', 'below']),
    raise: z.number().refine(Number.isFinite, 'must be finite'),
    clear: z.number().refine(Number.isFinite, 'must be finite'),
    minDurationMs: z
      .number()
      .int()
      .min(0)
      .max(DAY_SECONDS * 1000)
      .default(0),
    severity: severity.default('warning'),
  })
  .superRefine((rule, ctx) => {
    const ok = rule.direction === 'above' ? rule.clear <= rule.raise : rule.clear >= rule.raise;
    if (!ok) {
      ctx.addIssue({
        code: 'custom',
        path: ['clear'],
        input: rule.clear,
        message: `must be ${rule.direction === 'above' ? '<=' : '>='} raise (${rule.raise}) for direction ${rule.direction}`,
      });
    }
  });

/**
 * An error-rate rule on a device's log lines. Lines at `level` or more severe (RFC 5424 order:
 * emergency, alert, critical, error, warning, notice, info, debug) count. The alert raises when at
 * least `raise` counted lines fall within `windowMs` and clears when at most `clear` remain in it (so
 * `clear` < `raise`; the gap is the hysteresis band). The window is event time, ending at the newest
 * event time the rule has seen for the device, and every log line of the device moves it: a device
 * that keeps logging without errors clears after one quiet window. The rule keeps the newest `raise`
 * counted lines per device (ids and times), which bounds its state.
 */
const logErrorRateRule = z
  .strictObject({
    id: ruleId,
    level: z.enum(LOG_LEVELS).default('error'),
    raise: z.number().int().min(1).max(1000),
    clear: z.number().int().min(0).default(0),
    windowMs: z
      .number()
      .int()
      .min(1000)
      .max(DAY_SECONDS * 1000)
      .default(5 * MINUTE_MS),
    severity: severity.default('warning'),
  })
  .superRefine((rule, ctx) => {
    if (rule.clear >= rule.raise) {
      ctx.addIssue({
        code: 'custom',
        path: ['clear'],
        input: rule.clear,
        message: `must be < raise (${rule.raise})`,
      });
    }
  });

/** Rule ids name the rule in its alerts and in the device's state: unique within a list. */
function uniqueIds(rules: readonly { id: string }[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  rules.forEach((rule, index) => {
    if (seen.has(rule.id))
      ctx.addIssue({ code: 'custom', path: [index, 'id'], input: rule.id, message: 'is used twice' });
    seen.add(rule.id);
  });
}

/** More than `maxTransactions` transactions of one card within `windowMs` (by event time). */
const velocity = z.strictObject({
  enabled: z.boolean().default(true),
  maxTransactions: z.number().int().min(1).max(1000).default(5),
  windowMs: z
    .number()
    .int()
    .min(1000)
    .max(DAY_SECONDS * 1000)
    .default(10 * MINUTE_MS),
  severity: severity.default('critical'),
});

/**
 * An amount far above the card's running profile for that currency: at least `multiplier` times the
 * running mean AND more than `zScore` standard deviations above it, once the card has `minSamples`
 * transactions in the currency; amounts under `minAmountMinor` never alert. The profile is an
 * exponentially weighted mean/variance with weight `alpha` for the newest amount (plain averaging
 * while fewer than 1/alpha samples exist).
 */
const amountAnomaly = z.strictObject({
  enabled: z.boolean().default(true),
  multiplier: z.number().min(1).default(5),
  zScore: z.number().min(0).default(3),
  minSamples: z.number().int().min(1).default(5),
  minAmountMinor: z.number().int().min(0).default(10_000),
  alpha: z.number().gt(0).lte(1).default(0.1),
  severity: severity.default('warning'),
});

/**
 * Two located transactions of one card whose great-circle distance over the time between them
 * implies a speed above `maxSpeedKmh`. Pairs closer than `minDistanceKm` are ignored (GPS noise,
 * neighbouring terminals); the time between them counts as at least `minIntervalMs`. Only the listed
 * channels are considered (an online transaction's location is the merchant's, not the card's).
 */
const impossibleTravel = z.strictObject({
  enabled: z.boolean().default(true),
  maxSpeedKmh: z.number().positive().default(900),
  minDistanceKm: z.number().min(0).default(100),
  minIntervalMs: z.number().int().min(1).default(MINUTE_MS),
  channels: z
    .array(z.enum(['card_present', 'contactless', 'online', 'atm']))
    .min(1)
    .default(['card_present', 'contactless', 'atm']),
  severity: severity.default('critical'),
});

export const rulesConfigSchema = z
  .strictObject({
    threshold: z
      .array(thresholdRule)
      .default([])
      .superRefine((rules, ctx) => uniqueIds(rules, ctx)),
    logErrorRate: z
      .array(logErrorRateRule)
      .default([])
      .superRefine((rules, ctx) => uniqueIds(rules, ctx)),
    fraud: z
      .strictObject({
        velocity: velocity.default(velocity.parse({})),
        amountAnomaly: amountAnomaly.default(amountAnomaly.parse({})),
        impossibleTravel: impossibleTravel.default(impossibleTravel.parse({})),
      })
      .default({
        velocity: velocity.parse({}),
        amountAnomaly: amountAnomaly.parse({}),
        impossibleTravel: impossibleTravel.parse({}),
      }),
    /** Per-entity rule state expires (DynamoDB TTL) this long after the entity's last change. */
    stateTtlSeconds: z
      .number()
      .int()
      .min(60)
      .default(30 * DAY_SECONDS),
    /** Alerts and quarantined records expire (DynamoDB TTL) this long after they were raised. */
    alertTtlSeconds: z
      .number()
      .int()
      .min(60)
      .default(90 * DAY_SECONDS),
  })
  .superRefine((config, ctx) => {
    // Each list checks its own ids; a log rule may not reuse a threshold rule's id either.
    const thresholdIds = new Set(config.threshold.map((rule) => rule.id));
    config.logErrorRate.forEach((rule, index) => {
      if (thresholdIds.has(rule.id))
        ctx.addIssue({
          code: 'custom',
          path: ['logErrorRate', index, 'id'],
          input: rule.id,
          message: 'is already a threshold rule id',
        });
    });
  });

export type RulesConfig = z.output<typeof rulesConfigSchema>;
export type ThresholdRule = RulesConfig['threshold'][number];
export type LogErrorRateRule = RulesConfig['logErrorRate'][number];
export type VelocityConfig = RulesConfig['fraud']['velocity'];
export type AmountAnomalyConfig = RulesConfig['fraud']['amountAnomaly'];
export type ImpossibleTravelConfig = RulesConfig['fraud']['impossibleTravel'];
export type Severity = z.output<typeof severity>;

/** Validates a parsed rules file; every problem goes into one ConfigError naming each path. */
export function parseRulesConfig(value: unknown): RulesConfig {
  return parseOptions(rulesConfigSchema, value, { unknownKey: 'is not a rules config field' });
}
