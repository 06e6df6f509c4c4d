import { TributaryError } from '../shared/errors.ts';
import { CliUsageError } from './errors.ts';

/**
 * The last word of a command-line tool: usage errors print the usage and exit 2, Tributary's own
 * errors print their code and message and exit 1, anything else is a bug and keeps its stack.
 */
export function exitOnCliError(error: unknown, usage: string): never {
  if (error instanceof CliUsageError) {
    console.error(`error: ${error.message}\n\n${usage}`);
    process.exit(2);
  }
  if (error instanceof TributaryError) {
    console.error(`error [${error.code}]: ${error.message}`);
    process.exit(1);
  }
  console.error('unexpected error:', error);
  process.exit(1);
}
