import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyDataDir } from '../../../local/cloud.ts';
import { DATA_DIR_MARKER, ForeignDataDirError } from '../../../local/errors.ts';
import { useTempDir } from '../../helpers/temp-dir.ts';

/** A start without --persist empties the data dir: only one Tributary made, never someone's files. */
describe('emptying the data dir', () => {
  const tmp = useTempDir('tributary-data-dir-');

  it('empties a dir with the marker: lake, agent logs and checkpoints all go', async () => {
    const dir = join(tmp.path, 'ours');
    await mkdir(join(dir, 's3', 'lake'), { recursive: true });
    await mkdir(join(dir, 'fleet', 'gateway-01', 'store'), { recursive: true });
    await writeFile(join(dir, DATA_DIR_MARKER), '');
    await emptyDataDir(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it('takes a missing or empty dir', async () => {
    await emptyDataDir(join(tmp.path, 'missing'));
    const empty = join(tmp.path, 'empty');
    await mkdir(empty);
    await emptyDataDir(empty);
    expect(existsSync(empty)).toBe(false);
  });

  it('refuses a dir with files and no marker, and leaves it alone', async () => {
    const dir = join(tmp.path, 'home');
    await mkdir(dir);
    await writeFile(join(dir, 'thesis.tex'), 'years of work');
    await expect(emptyDataDir(dir)).rejects.toBeInstanceOf(ForeignDataDirError);
    expect(existsSync(join(dir, 'thesis.tex'))).toBe(true);
  });
});
