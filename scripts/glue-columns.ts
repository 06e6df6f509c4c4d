/**
 * Writes shared/contract/glue-columns.json: the lake table's Glue columns in CloudFormation's
 * `Column` shape, derived from the record contract. serverless.yml reads it with
 * `${file(./shared/contract/glue-columns.json)}`; test/unit/lake/glue-columns.test.ts fails when it is
 * stale. Run after changing the contract: `npm run glue-columns`.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { glueColumnsTemplate } from '../shared/lake/table.ts';

export const GLUE_COLUMNS_FILE = fileURLToPath(
  new URL('../shared/contract/glue-columns.json', import.meta.url),
);

/** The file's exact text, so the test can compare bytes, not just values. */
export function glueColumnsJson(): string {
  return `${JSON.stringify(glueColumnsTemplate(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(GLUE_COLUMNS_FILE, glueColumnsJson());
  console.log(`wrote ${GLUE_COLUMNS_FILE}`);
}
