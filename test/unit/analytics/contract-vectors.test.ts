import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  CURRENCIES_FILE,
  currenciesText,
  KPL_VECTORS_FILE,
  kplVectorsJson,
  VECTORS_FILE,
  vectorsJson,
} from '../../../scripts/contract-vectors.ts';
import { RECORD_TYPES } from '../../../shared/contract/index.ts';

// The Java Flink job is tested against these files (analytics/, `npm run test:analytics`); they must be
// what the TypeScript contract produces today. Regenerate with `npm run contract-vectors`.
describe('contract vectors for the Flink job', () => {
  it('records.json is current', async () => {
    expect(JSON.parse(await readFile(VECTORS_FILE, 'utf8'))).toEqual(JSON.parse(vectorsJson()));
  });

  it('kpl.json is current', async () => {
    expect(JSON.parse(await readFile(KPL_VECTORS_FILE, 'utf8'))).toEqual(JSON.parse(kplVectorsJson()));
  });

  it("the Java module's currency list is current", async () => {
    expect(await readFile(CURRENCIES_FILE, 'utf8')).toBe(currenciesText());
  });

  it('covers valid and invalid records of every type and both error codes', () => {
    const doc = JSON.parse(vectorsJson()) as {
      vectors: { name: string; valid: boolean; code?: string; expected?: { type: string } }[];
    };
    const valid = doc.vectors.filter((v) => v.valid);
    expect(new Set(valid.map((v) => v.expected?.type))).toEqual(new Set(RECORD_TYPES));
    expect(new Set(doc.vectors.filter((v) => !v.valid).map((v) => v.code))).toEqual(
      new Set(['RECORD_INVALID', 'RECORD_MALFORMED']),
    );
  });
});
