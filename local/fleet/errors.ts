import { ConfigError } from '../../shared/errors.ts';
import { LocalCloudError } from '../errors.ts';

/** A fleet option (an `npm start` flag or a scenario field) is out of range. */
export class FleetConfigError extends ConfigError {}

/** A simulated device agent could not start or stopped unexpectedly. */
export class DeviceAgentError extends LocalCloudError {
  constructor(agent: string, reason: string, options: { cause?: unknown } = {}) {
    super('LOCAL_DEVICE_AGENT_FAILED', `device agent ${agent}: ${reason}`, options);
  }
}

/**
 * The agent refused simulated records as invalid: the simulator built a record the contract rejects.
 * Never retried (the same bytes would be refused again) and never dropped silently: counted and reported.
 */
export class FleetRecordRefusedError extends LocalCloudError {
  constructor(stream: string, detail: string, options: { cause?: unknown } = {}) {
    super(
      'LOCAL_FLEET_RECORD_REFUSED',
      `the agent refused simulated records on ${stream}: ${detail}`,
      options,
    );
  }
}
