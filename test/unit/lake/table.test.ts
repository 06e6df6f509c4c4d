// biome-ignore-all lint/suspicious/noTemplateCurlyInString: serverless.yml variables are literal text here
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveDeliveryStream } from '../../../local/delivery/delivery.ts';
import { loadStack, parseStack } from '../../../local/resources/stack.ts';
import { PROJECT_ROOT } from '../../../local/servers/runtime.ts';
import { GLUE_COLUMNS_FILE, glueColumnsJson } from '../../../scripts/glue-columns.ts';
import { glueColumns } from '../../../shared/contract/index.ts';
import { glueColumnsTemplate, partitionValues } from '../../../shared/lake/table.ts';
import { recordArb } from '../../helpers/records.ts';

const hasJq = spawnSync('jq', ['--version']).status === 0;

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

  it.skipIf(!hasJq)('matches what the delivery stream JQ 1.6 query yields (property, real jq)', async () => {
    const stack = await loadStack('serverless.yml');
    const query = resolveDeliveryStream(stack).metadataExtractionQuery;
    expect(query).toBeDefined();
    const records = fc.sample(recordArb, 200);
    // One jq run over all records: jq -c applies the query to each input document.
    const out = spawnSync('jq', ['-c', query as string], {
      input: records.map((r) => JSON.stringify(r)).join('\n'),
      encoding: 'utf8',
    });
    expect(out.stderr).toBe('');
    const fromJq = out.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(fromJq).toEqual(records.map((r) => partitionValues(r)));
  });
});
