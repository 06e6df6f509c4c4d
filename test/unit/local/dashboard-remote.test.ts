import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { describe, expect, it } from 'vitest';
import { RemoteDashboardError } from '../../../local/dashboard/errors.ts';
import {
  FUNCTION_URL_OUTPUT,
  findFunctionUrl,
  parseDashboardArgs,
  regionOfFunctionUrl,
} from '../../../local/dashboard/remote.ts';

describe('tributary dashboard arguments', () => {
  it('derive the stack from the stage and the region from the environment', () => {
    expect(parseDashboardArgs(['--stage', 'prod'], { AWS_REGION: 'eu-west-1' })).toEqual({
      stackName: 'tributary-prod',
      region: 'eu-west-1',
      port: 0,
    });
    expect(
      parseDashboardArgs(
        ['--stage', 'prod', '--stack', 'other', '--region', 'us-west-2', '--port', '8080'],
        {},
      ),
    ).toEqual({ stackName: 'other', region: 'us-west-2', port: 8080 });
    expect(parseDashboardArgs(['--help'], {})).toBeUndefined();
  });

  it('are refused with the reason', () => {
    expect(() => parseDashboardArgs([], {})).toThrow(/--stage is required/);
    expect(() => parseDashboardArgs(['--stage', 'a b'], {})).toThrow(/--stage must be/);
    expect(() => parseDashboardArgs(['--stage', 'x', '--port', '70000'], {})).toThrow(/--port/);
    expect(() => parseDashboardArgs(['--stage', 'x', '--bogus'], {})).toThrow(/bogus/);
    expect(() => parseDashboardArgs(['--stage', 'a b', '--port', '1.5'], {})).toThrow(
      '--stage must be letters, digits and - (got "a b"); --port must be an integer from 0 to 65535 (got "1.5")',
    );
  });
});

describe('the read API URL', () => {
  it('carries its region in the function URL host', () => {
    expect(regionOfFunctionUrl(new URL('https://abcdef123.lambda-url.eu-central-1.on.aws/'))).toBe(
      'eu-central-1',
    );
    expect(regionOfFunctionUrl(new URL('http://127.0.0.1:9000/'))).toBeUndefined();
  });

  const stackWith = (value: string | undefined) =>
    ({
      send: async () => ({
        Stacks: [
          { Outputs: value === undefined ? [] : [{ OutputKey: FUNCTION_URL_OUTPUT, OutputValue: value }] },
        ],
      }),
    }) as unknown as Pick<CloudFormationClient, 'send'>;

  it('must be https, unless it is on this machine', async () => {
    await expect(
      findFunctionUrl(stackWith('https://x.lambda-url.us-east-1.on.aws/'), 's'),
    ).resolves.toBeInstanceOf(URL);
    await expect(findFunctionUrl(stackWith('http://127.0.0.1:9/'), 's')).resolves.toBeInstanceOf(URL);
    await expect(findFunctionUrl(stackWith('http://example.com/'), 's')).rejects.toThrow(
      /must be an https URL/,
    );
    await expect(findFunctionUrl(stackWith('not a url'), 's')).rejects.toMatchObject({
      code: 'DASHBOARD_URL_OUTPUT_MISSING',
    });
    await expect(findFunctionUrl(stackWith(undefined), 's')).rejects.toBeInstanceOf(RemoteDashboardError);
  });
});
