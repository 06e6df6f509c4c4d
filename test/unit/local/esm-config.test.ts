import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadStreamMappings } from '../../../local/esm/config.ts';
import { StackDefinitionError } from '../../../local/resources/errors.ts';
import { loadStack } from '../../../local/resources/stack.ts';
import { useTempDir } from '../../helpers/temp-dir.ts';

const SERVERLESS_YML = new URL('../../../serverless.yml', import.meta.url).pathname;
const ALERTS_STREAM_EVENT = /( {10}startingPosition: TRIM_HORIZON\n)/;

describe('loadStreamMappings', () => {
  const dir = useTempDir('tributary-esm-config-');
  let edits = 0;
  beforeAll(async () => {
    // serverless.yml reads the Glue columns by a path relative to itself.
    const columns = 'shared/contract/glue-columns.json';
    await cp(new URL(`../../../${columns}`, import.meta.url), join(dir.path, columns), { recursive: true });
  });

  /** What loading `edit`'s stack rejects with. */
  const failureOf = (edit: (yaml: string) => string) =>
    mappingsOf(edit).then(
      () => expect.fail('expected the stack to be refused'),
      (error: unknown) => error as StackDefinitionError,
    );

  /** The real serverless.yml with `edit` applied to its text, loaded as the local runner loads it. */
  async function mappingsOf(edit: (yaml: string) => string) {
    const original = await readFile(SERVERLESS_YML, 'utf8');
    const edited = edit(original);
    expect(edited).not.toBe(original);
    const file = join(dir.path, `serverless-${edits++}.yml`);
    await writeFile(file, edited);
    return loadStreamMappings(await loadStack(file, { env: {} }));
  }

  it("reads the alerts function's Kinesis event with serverless.yml's settings", async () => {
    const [alerts, ...others] = await loadStreamMappings(await loadStack(SERVERLESS_YML, { env: {} }));
    expect(others).toEqual([]);
    expect(alerts).toMatchObject({
      functionName: 'alerts',
      handler: 'functions/alerts/handler.handler',
      onFailure: 'AlertsDlq',
      settings: {
        batchSize: 100,
        batchWindowSeconds: 0,
        parallelizationFactor: 1,
        startingPosition: 'TRIM_HORIZON',
        maximumRetryAttempts: 5,
        maximumRecordAgeInSeconds: 3600,
        bisectBatchOnFunctionError: true,
        reportBatchItemFailures: true,
      },
    });
  });

  it('refuses a misspelt setting at its path and line instead of ignoring it', async () => {
    const error = await failureOf((yaml) => yaml.replace(ALERTS_STREAM_EVENT, '$1          batchsize: 10\n'));
    expect(error).toBeInstanceOf(StackDefinitionError);
    expect(error.code).toBe('STACK_DEFINITION_INVALID');
    expect(error.path).toBe('functions.alerts.events.0.stream.batchsize');
    expect(error.line).toBeGreaterThan(100);
    expect(error.message).toContain('is not a stream event setting the local runner applies');
  });

  it('names every bad value, each at its path, with the limits that apply', async () => {
    const error = await failureOf((yaml) =>
      yaml
        .replace(ALERTS_STREAM_EVENT, '          startingPosition: AT_TIMESTAMP\n')
        .replace(/(batchSize: )\$\{self:custom\.alertsFunction\.batchSize\}/, '$120000'),
    );
    expect(error.path).toBe('functions.alerts.events.0.stream.batchSize');
    expect(error.message).toContain('must be an integer in [1, 10000]');
    expect(error.message).toContain(
      'functions.alerts.events.0.stream.startingPosition: must be LATEST or TRIM_HORIZON locally',
    );
  });

  it('refuses a record age between -1 and the minimum', async () => {
    const error = await failureOf((yaml) =>
      yaml.replace(
        /maximumRecordAgeInSeconds: \$\{self:custom\.alertsFunction\.maximumRecordAgeInSeconds\}/,
        'maximumRecordAgeInSeconds: 30',
      ),
    );
    expect(error.path).toBe('functions.alerts.events.0.stream.maximumRecordAgeInSeconds');
    expect(error.message).toContain('must be -1 or >= 60');
  });

  it('skips a disabled event', async () => {
    const mappings = await mappingsOf((yaml) =>
      yaml.replace(ALERTS_STREAM_EVENT, '$1          enabled: false\n'),
    );
    expect(mappings).toEqual([]);
  });
});
