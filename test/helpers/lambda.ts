import type { Context } from 'aws-lambda';
import { lambdaContext } from '../../local/esm/event.ts';

type ContextOptions = Parameters<typeof lambdaContext>[0];

/** A Lambda context for calling a handler in-process: the local runner's own, with test defaults. */
export function testContext(
  functionName: string,
  overrides: Partial<Omit<ContextOptions, 'functionName'>> = {},
): Context {
  return lambdaContext({
    functionName,
    region: 'us-east-1',
    accountId: '000000000000',
    memoryLimitInMB: 256,
    timeoutMs: 60_000,
    requestId: 'test',
    ...overrides,
  });
}
