import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, type ConfigIssues } from '../../../shared/errors.ts';
import { describeIssues, parseOptions } from '../../../shared/options.ts';
import * as zm from '../../../shared/zod.ts';
import { thrown } from '../../helpers/thrown.ts';

const schema = z.strictObject({
  port: z.number().int().min(1),
  name: z.string().min(1),
  limits: z.strictObject({ bytes: z.number().positive() }).optional(),
});

function configErrorOf(run: () => unknown): ConfigError {
  const error = thrown(run);
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('parseOptions', () => {
  it('returns the parsed value, defaults filled in', () => {
    const withDefault = z.strictObject({ port: z.number().default(8088) });
    expect(parseOptions(withDefault, {})).toEqual({ port: 8088 });
  });

  it('lists every issue with its path and value in one ConfigError, the first as path/value', () => {
    const error = configErrorOf(() => parseOptions(schema, { port: 0, name: '', limits: { bytes: -1 } }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error).toMatchObject({ path: 'port', value: 0 });
    expect(error.issues.map(({ path, value }) => ({ path, value }))).toEqual([
      { path: 'port', value: 0 },
      { path: 'name', value: '' },
      { path: 'limits.bytes', value: -1 },
    ]);
    expect(error.message).toMatch(
      /^config port: .* \(got 0\); name: .* \(got ""\); limits\.bytes: .* \(got -1\)$/,
    );
  });

  it('refuses every unknown key at its own path (strict schemas), nested ones included', () => {
    const error = configErrorOf(() =>
      parseOptions(
        schema,
        { port: 1, name: 'a', prot: 2, limits: { bytes: 1, byts: 3 } },
        { unknownKey: 'is not an option' },
      ),
    );
    expect(error.issues).toEqual([
      { path: 'limits.byts', value: 3, reason: 'is not an option' },
      { path: 'prot', value: 2, reason: 'is not an option' },
    ]);
  });

  it('says a missing field is required and prefixes paths with where the input sits', () => {
    const list = z.array(z.strictObject({ priority: z.number().max(10) }));
    const error = configErrorOf(() =>
      parseOptions(list, [{ priority: 1 }, {}, { priority: 11 }], { at: ['exports'] }),
    );
    expect(error.issues.map(({ path, reason }) => [path, reason])).toEqual([
      ['exports[1].priority', 'is required'],
      ['exports[2].priority', expect.stringMatching(/10/)],
    ]);
    expect(configErrorOf(() => parseOptions(schema, undefined, { at: ['custom', 'app'] }))).toMatchObject({
      path: 'custom.app',
      value: undefined,
    });
  });

  it('hands every issue to the error factory and throws what it builds', () => {
    class RequestError extends Error {
      constructor(readonly issues: ConfigIssues) {
        super(describeIssues(issues));
      }
    }
    const error = thrown(() =>
      parseOptions(
        schema,
        { port: 'x', name: 'a', extra: true },
        { error: (issues) => new RequestError(issues) },
      ),
    );
    expect(error).toBeInstanceOf(RequestError);
    expect((error as RequestError).issues.map((issue) => issue.path)).toEqual(['port', 'extra']);
    expect((error as RequestError).message).toMatch(/^port: .* \(got "x"\); extra: .* \(got true\)$/);
  });

  it('renders paths with the given formatter (CLI flag names)', () => {
    const error = configErrorOf(() =>
      parseOptions(schema, { port: -1, name: 'a' }, { formatPath: ([head]) => `--${String(head)}` }),
    );
    expect(error.message).toMatch(/^config --port: /);
  });

  it('takes zod/mini schemas as well as classic ones', () => {
    const mini = zm.strictObject({ size: zm.int().check(zm.gte(1)) });
    expect(parseOptions(mini, { size: 2 })).toEqual({ size: 2 });
    const error = configErrorOf(() => parseOptions(mini, { size: 0, colour: 'red' }));
    expect(error.issues.map((issue) => issue.path)).toEqual(['size', 'colour']);
  });
});
