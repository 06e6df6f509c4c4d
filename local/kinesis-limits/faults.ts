import { seededRandom } from '../../shared/seeded-random.ts';
import { LimitsOptionError } from './errors.ts';

/**
 * Faults the proxy injects on PutRecords/PutRecord, independent of the rate limits. Fractions are
 * drawn from a seeded generator so a fault run repeats exactly.
 */
export interface FaultPlan {
  /** Fraction [0, 1] of records answered ProvisionedThroughputExceededException whatever the capacity. */
  throttleFraction?: number;
  /** Fraction [0, 1] of records answered InternalFailure. */
  internalFailureFraction?: number;
  /** The next N put requests fail whole with HTTP 500 InternalFailure. */
  failNextRequests?: number;
  /** Fraction [0, 1] of put requests failing whole with HTTP 500 InternalFailure. */
  failRequestFraction?: number;
  /** Seed of the generator behind the fractions; default 1. */
  seed?: number;
}

export type RecordFault = 'throttle' | 'internal';

export function validateFaultPlan(plan: FaultPlan): FaultPlan {
  for (const key of ['throttleFraction', 'internalFailureFraction', 'failRequestFraction'] as const) {
    const value = plan[key];
    if (value !== undefined && !(value >= 0 && value <= 1)) {
      throw new LimitsOptionError(`faults.${key}`, `must be within [0, 1] (got ${value})`);
    }
  }
  const { throttleFraction = 0, internalFailureFraction = 0 } = plan;
  if (throttleFraction + internalFailureFraction > 1) {
    throw new LimitsOptionError('faults', 'throttleFraction + internalFailureFraction must not exceed 1');
  }
  if (
    plan.failNextRequests !== undefined &&
    !(Number.isInteger(plan.failNextRequests) && plan.failNextRequests >= 0)
  ) {
    throw new LimitsOptionError(
      'faults.failNextRequests',
      `must be a non-negative integer (got ${plan.failNextRequests})`,
    );
  }
  if (plan.seed !== undefined && !Number.isInteger(plan.seed)) {
    throw new LimitsOptionError('faults.seed', `must be an integer (got ${plan.seed})`);
  }
  return { ...plan };
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
