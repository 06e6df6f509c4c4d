import { ConfigError } from '../../shared/errors.ts';

/** A `tributary plan` input (a flag or a field of the YAML file) is missing or out of range. */
export class PlanInputError extends ConfigError {}
