// biome-ignore-all lint/suspicious/noTemplateCurlyInString: serverless.yml variables are literal text here
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStack } from '../../../local/resources/stack.ts';
import { parseStackYaml } from '../../../local/resources/yaml.ts';
import { PROJECT_ROOT } from '../../../local/servers/runtime.ts';
import { GLUE_COLUMNS_FILE, glueColumnsJson } from '../../../scripts/glue-columns.ts';
import {
  EVENT_TIME_MAX_MS,
  EVENT_TIME_MIN_MS,
  glueColumns,
  RECORD_TYPES,
} from '../../../shared/contract/index.ts';
import { glueColumnsTemplate, partitionValues } from '../../../shared/lake/table.ts';

describe('Glue columns in serverless.yml', () => {
  it('the committed JSON is exactly what the contract derives (run `npm run glue-columns` after a contract change)', async () => {
    expect(await readFile(GLUE_COLUMNS_FILE, 'utf8')).toBe(glueColumnsJson());
  });

  it('serverless.yml takes the table columns from that file, and ${file(...)} resolves to the derived columns', async () => {
    const template = await readFile('serverless.yml', 'utf8');
    expect(template).toContain('Columns: ${file(./shared/contract/glue-columns.json)}');
    // Resolved by the same variable resolver the local stack uses, relative to the stack file.
    const stack = parseStack(
      'service: t\ncustom:\n  columns: ${file(./shared/contract/glue-columns.json)}\n',
      join(PROJECT_ROOT, 'inline.yml'),
    );
    expect(stack.custom.columns).toEqual(glueColumnsTemplate());
    expect(glueColumnsTemplate().map((c) => [c.Name, c.Type])).toEqual(
      glueColumns().map((c) => [c.name, c.type]),
    );
  });
});

describe('partitioning', () => {
  it('puts a record in the UTC date and hour of its event time', () => {
    expect(
      partitionValues({ type: 'telemetry', event_time: Date.UTC(2026, 10, 23, 5, 59, 59, 999) }),
    ).toEqual({
      record_type: 'telemetry',
      dt: '2026-11-23',
      hour: '05',
    });
  });
});

describe('partition projection of the records table', () => {
  it('covers every event date the contract accepts, and no other', async () => {
    const template = parseStackYaml(await readFile('serverless.yml', 'utf8'), 'serverless.yml').value as {
      resources: {
        Resources: { RecordsTable: { Properties: { TableInput: { Parameters: Record<string, string> } } } };
      };
    };
    const parameters = template.resources.Resources.RecordsTable.Properties.TableInput.Parameters;
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    expect(parameters['projection.dt.format']).toBe('yyyy-MM-dd');
    expect(parameters['projection.dt.range']).toBe(`${day(EVENT_TIME_MIN_MS)},${day(EVENT_TIME_MAX_MS)}`);
    // Both ends are partitions a valid record can land in (the contract's bounds are inclusive).
    expect(partitionValues({ type: 'telemetry', event_time: EVENT_TIME_MIN_MS }).dt).toBe(
      day(EVENT_TIME_MIN_MS),
    );
    expect(partitionValues({ type: 'telemetry', event_time: EVENT_TIME_MAX_MS }).dt).toBe(
      day(EVENT_TIME_MAX_MS),
    );
    expect(parameters['projection.record_type.values']?.split(',')).toEqual(RECORD_TYPES);
  });
});
