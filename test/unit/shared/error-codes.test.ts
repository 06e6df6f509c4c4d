import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ERROR_REGISTRIES,
  ERRORS_FILE,
  errorsTable,
  TABLE_END,
  TABLE_START,
  withCurrentTable,
} from '../../../scripts/errors-table.ts';
import type { ErrorRegistry } from '../../../shared/error-codes.ts';
import { TributaryError } from '../../../shared/errors.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SOURCE_DIRS = ['shared', 'device', 'functions', 'local', 'scripts'];

async function errorsFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await errorsFiles(path)));
    else if (entry.name === 'errors.ts') found.push(path);
  }
  return found;
}

function isRegistry(value: unknown): value is ErrorRegistry {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { module?: unknown }).module === 'string' &&
    typeof (value as { codes?: unknown }).codes === 'object'
  );
}

/** Codes in ERRORS.md's generated table, read back from the markdown. */
function documentedCodes(markdown: string): string[] {
  const table = markdown.slice(markdown.indexOf(TABLE_START), markdown.indexOf(TABLE_END));
  return [...table.matchAll(/^\| [^|]+ \| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1] ?? '');
}

const registeredCodes = ERROR_REGISTRIES.flatMap((r) => Object.keys(r.codes));

describe('error codes', () => {
  it('ERRORS.md lists exactly the registered codes, as the generator writes them', async () => {
    const markdown = await readFile(ERRORS_FILE, 'utf8');
    const documented = documentedCodes(markdown);
    expect(
      documented.filter((code) => !registeredCodes.includes(code)),
      'in ERRORS.md only',
    ).toEqual([]);
    expect(
      registeredCodes.filter((code) => !documented.includes(code)),
      'not in ERRORS.md',
    ).toEqual([]);
    expect(markdown, 'ERRORS.md is stale: npm run errors:table').toBe(withCurrentTable(markdown));
  });

  it('the table has a row per code', () => {
    expect(errorsTable().trimEnd().split('\n')).toHaveLength(registeredCodes.length + 2);
  });

  it('every registry of every errors.ts is in the table, under its own directory', async () => {
    const files = (await Promise.all(SOURCE_DIRS.map((d) => errorsFiles(join(ROOT, d))))).flat();
    for (const file of files) {
      const module = (await import(file)) as Record<string, unknown>;
      const dir = relative(ROOT, file).replace(/\/?errors\.ts$/, '');
      for (const [name, value] of Object.entries(module)) {
        if (!isRegistry(value)) continue;
        expect(ERROR_REGISTRIES, `${dir}/errors.ts ${name} is not in scripts/errors-table.ts`).toContain(
          value,
        );
        expect(value.module, `${name}`).toBe(dir);
      }
    }
  });

  it('a code belongs to one module only', () => {
    const seen = new Map<string, string>();
    for (const registry of ERROR_REGISTRIES) {
      for (const code of Object.keys(registry.codes)) {
        expect(seen.get(code), `${code} in ${registry.module}`).toBeUndefined();
        seen.set(code, registry.module);
      }
    }
  });

  it("each named class is a TributaryError exported by the module's errors.ts", async () => {
    for (const registry of ERROR_REGISTRIES) {
      const module = (await import(join(ROOT, registry.module, 'errors.ts'))) as Record<string, unknown>;
      for (const [code, spec] of Object.entries(registry.codes)) {
        if (spec.class === '') continue;
        const cls = module[spec.class];
        expect(typeof cls, `${code}: ${spec.class}`).toBe('function');
        expect((cls as { prototype: unknown }).prototype, `${code}: ${spec.class}`).toBeInstanceOf(
          TributaryError,
        );
      }
    }
  });
});
