import { z } from 'zod';
import { parseOptions } from '../../shared/options.ts';
import { seededRandom } from '../../shared/seeded-random.ts';
import { limitsOptionError } from './errors.ts';

const fraction = z.number().min(0).max(1);

/**
 * Faults the proxy injects on PutRecords/PutRecord, independent of the rate limits. Fractions are
 * drawn from a seeded generator so a fault run repeats exactly. Strict: a misspelt key is refused,
 * never silently a plan that injects nothing.
 */
export const faultPlanSchema = z
  .strictObject({
    /** Fraction [0, 1] of records answered ProvisionedThroughputExceededException whatever the capacity. */
    throttleFraction: fraction.optional(),
    /** Fraction [0, 1] of records answered InternalFailure. */
    internalFailureFraction: fraction.optional(),
    /** The next N put requests fail whole with HTTP 500 InternalFailure. */
    failNextRequests: z.number().int().min(0).optional(),
    /** Fraction [0, 1] of put requests failing whole with HTTP 500 InternalFailure. */
    failRequestFraction: fraction.optional(),
    /** Seed of the generator behind the fractions; default 1. */
    seed: z.number().int().optional(),
  })
  .refine((plan) => (plan.throttleFraction ?? 0) + (plan.internalFailureFraction ?? 0) <= 1, {
    message: 'throttleFraction + internalFailureFraction must not exceed 1',
  });

export type FaultPlan = z.input<typeof faultPlanSchema>;

export type RecordFault = 'throttle' | 'internal';

/** The plan, validated; a LimitsOptionError names every bad path under `faults`. */
export function validateFaultPlan(plan: FaultPlan): FaultPlan {
  return parseOptions(faultPlanSchema, plan, {
    at: ['faults'],
    unknownKey: 'is not a fault plan field',
    error: limitsOptionError,
  });
}

export class FaultInjector {
  private plan: FaultPlan = {};
  private remainingFailures = 0;
  private random: () => number = seededRandom(1);

  constructor(plan: FaultPlan = {}) {
    this.set(plan);
  }

  /** Replaces the whole plan; `{}` clears every fault. */
  set(plan: FaultPlan): void {
    this.plan = validateFaultPlan(plan);
    this.remainingFailures = plan.failNextRequests ?? 0;
    this.random = seededRandom(plan.seed ?? 1);
  }

  /** The plan in force, with failNextRequests counting down as requests fail. */
  current(): FaultPlan {
    const { failNextRequests: _, ...rest } = this.plan;
    return this.remainingFailures > 0 ? { ...rest, failNextRequests: this.remainingFailures } : rest;
  }

  /** Whether records may get a fault, so callers can skip routing work when none can. */
  get affectsRecords(): boolean {
    return (this.plan.throttleFraction ?? 0) > 0 || (this.plan.internalFailureFraction ?? 0) > 0;
  }

  /** Decides whether the put request at hand fails whole. */
  failRequest(): boolean {
    if (this.remainingFailures > 0) {
      this.remainingFailures -= 1;
      return true;
    }
    const fraction = this.plan.failRequestFraction ?? 0;
    return fraction > 0 && this.random() < fraction;
  }

  /** Decides the injected fault of one record, if any. */
  recordFault(): RecordFault | undefined {
    if (!this.affectsRecords) return undefined;
    const draw = this.random();
    const throttle = this.plan.throttleFraction ?? 0;
    if (draw < throttle) return 'throttle';
    if (draw < throttle + (this.plan.internalFailureFraction ?? 0)) return 'internal';
    return undefined;
  }
}
