import { type CodeOf, errorCodes } from '../../shared/error-codes.ts';
import { ConfigError } from '../../shared/errors.ts';
import { LocalCloudError } from '../errors.ts';

/** Codes of the simulated device fleet; a bad fleet option is a CONFIG_INVALID (FleetConfigError). */
export const FleetErrorCodes = errorCodes('local/fleet', {
  LOCAL_DEVICE_AGENT_FAILED: {
    class: 'DeviceAgentError',
    retryable: false,
    meaning: 'a simulated device agent could not start or stopped unexpectedly',
  },
  LOCAL_FLEET_RECORD_REFUSED: {
    class: 'FleetRecordRefusedError',
    retryable: false,
    meaning: 'the agent refused simulated records as invalid (a simulator bug); counted and reported',
  },
});
export type FleetErrorCode = CodeOf<typeof FleetErrorCodes>;

/** A fleet option (an `npm start` flag or a scenario field) is out of range. */
export class FleetConfigError extends ConfigError {}

/** A simulated device agent could not start or stopped unexpectedly. */
export class DeviceAgentError extends LocalCloudError<FleetErrorCode> {
  constructor(agent: string, reason: string, options: { cause?: unknown } = {}) {
    super('LOCAL_DEVICE_AGENT_FAILED', `device agent ${agent}: ${reason}`, options);
  }
}

/**
 * The agent refused simulated records as invalid: the simulator built a record the contract rejects.
 * Never retried (the same bytes would be refused again) and never dropped silently: counted and reported.
 */
export class FleetRecordRefusedError extends LocalCloudError<FleetErrorCode> {
  constructor(stream: string, detail: string, options: { cause?: unknown } = {}) {
    super(
      'LOCAL_FLEET_RECORD_REFUSED',
      `the agent refused simulated records on ${stream}: ${detail}`,
      options,
    );
  }
}
