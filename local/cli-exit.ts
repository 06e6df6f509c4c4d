import { ContractErrorCodes } from '../shared/contract/errors.ts';
import { exitCodes } from '../shared/error-codes.ts';
import { exitCodeFor, SharedErrorCodes, TributaryError, UsageError } from '../shared/errors.ts';
import { LakeErrorCodes } from '../shared/lake/errors.ts';
import { DeliveryErrorCodes } from './delivery/errors.ts';
import { LocalErrorCodes } from './errors.ts';
import { EsmErrorCodes } from './esm/errors.ts';
import { FleetErrorCodes } from './fleet/errors.ts';
import { KinesisLimitsErrorCodes } from './kinesis-limits/errors.ts';
import { ResourcesErrorCodes } from './resources/errors.ts';

/** Exit code of every code the local cloud's commands (`npm start`, `npm run query`) can end with. */
const EXIT_BY_CODE = exitCodes([
  SharedErrorCodes,
  ContractErrorCodes,
  LakeErrorCodes,
  LocalErrorCodes,
  DeliveryErrorCodes,
  EsmErrorCodes,
  FleetErrorCodes,
  KinesisLimitsErrorCodes,
  ResourcesErrorCodes,
]);

/**
 * The last word of a command-line tool: usage errors print the usage, Tributary's own errors print
 * their code and message, anything else is a bug and keeps its stack. The exit code is the error
 * code's (ERRORS.md): 2 for usage, 1 for a runtime error.
 */
export function exitOnCliError(error: unknown, usage: string): never {
  if (error instanceof UsageError) console.error(`error: ${error.message}\n\n${usage}`);
  else if (error instanceof TributaryError) console.error(`error [${error.code}]: ${error.message}`);
  else console.error('unexpected error:', error);
  process.exit(exitCodeFor(error, EXIT_BY_CODE));
}
