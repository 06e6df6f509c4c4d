import { describe, expect, it } from 'vitest';
import { controlError, parseAnalyticsArgs } from '../../../local/analytics/control.ts';
import { AnalyticsControlError } from '../../../local/analytics/errors.ts';
import { UsageError } from '../../../shared/errors.ts';

describe('tributary analytics: argument parsing', () => {
  it('derives the application name from the stage and the region from the environment', () => {
    expect(parseAnalyticsArgs(['status'], { AWS_REGION: 'eu-west-1' })).toEqual({
      action: 'status',
      application: 'tributary-dev-analytics',
      region: 'eu-west-1',
      restore: true,
      force: false,
    });
    expect(parseAnalyticsArgs(['start', '--stage', 'prod', '--no-restore'], {})).toMatchObject({
      application: 'tributary-prod-analytics',
      region: 'us-east-1',
      restore: false,
    });
    expect(parseAnalyticsArgs(['stop', '--app', 'x', '--force'], {})).toMatchObject({
      application: 'x',
      force: true,
    });
    expect(parseAnalyticsArgs(['update', '--file-key', 'analytics/a.jar'], {})).toMatchObject({
      fileKey: 'analytics/a.jar',
    });
    expect(parseAnalyticsArgs(['--help'], {})).toBeUndefined();
  });

  it.each([
    [[], /missing action/],
    [['launch'], /unknown action "launch"/],
    [['status', 'extra'], /unexpected argument "extra"/],
    [['update'], /--file-key/],
    [['start', '--force'], /--force only applies to stop/],
    [['stop', '--no-restore'], /--no-restore only applies to start/],
    [['status', '--file-key', 'k'], /only applies to update/],
    [['status', '--bogus'], /Unknown option '--bogus'/],
    [['status', '--stage', 'a b'], /--stage/],
  ])('rejects %j with a usage error', (argv, message) => {
    expect(() => parseAnalyticsArgs(argv, {})).toThrowError(UsageError);
    expect(() => parseAnalyticsArgs(argv, {})).toThrowError(message);
  });
});

describe('tributary analytics: error mapping', () => {
  const named = (name: string, message = 'boom') => Object.assign(new Error(message), { name });

  it('says what to do for the common failures', () => {
    const notFound = controlError('start', 'app', 'us-east-1', named('ResourceNotFoundException'));
    expect(notFound).toBeInstanceOf(AnalyticsControlError);
    expect(notFound.code).toBe('ANALYTICS_NOT_FOUND');
    expect(notFound.message).toMatch(/start app: no such application in us-east-1; deploy the stack/);
    expect(controlError('stop', 'app', 'r', named('ResourceInUseException')).retryable).toBe(true);
    expect(controlError('describe', 'app', 'r', named('CredentialsProviderError')).code).toBe(
      'ANALYTICS_NO_CREDENTIALS',
    );
    expect(controlError('update', 'app', 'r', named('InvalidArgumentException', 'bad key')).message).toBe(
      'update app: bad key',
    );
    expect(controlError('start', 'app', 'r', 'weird').code).toBe('ANALYTICS_FAILED');
  });
});
