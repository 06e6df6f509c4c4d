import { ConfigError } from '../../shared/errors.ts';
import { LocalCloudError } from '../errors.ts';

/** A `tributary plan` input (a flag or a field of the YAML file) is missing or out of range. */
export class PlanInputError extends ConfigError {}

/** The plan's command line or its input file cannot be used; the message says why. */
export class PlanUsageError extends LocalCloudError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('PLAN_USAGE', message, options);
  }
}
