import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LAUNCH_ENV, nodeFlags } from '../../../device/service/launch.ts';

const RECIPE = new URL('../../../device/greengrass/recipe.yaml', import.meta.url);

describe('Greengrass v2 component recipe', () => {
  it('has the required fields, a Run lifecycle with the launch line, and a zipped artifact', async () => {
    const recipe = parse(await readFile(RECIPE, 'utf8'));
    expect(recipe.RecipeFormatVersion).toBe('2020-01-25');
    expect(recipe.ComponentName).toMatch(/^[A-Za-z0-9.-]+$/);
    expect(recipe.ComponentVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(recipe.ComponentDependencies['aws.greengrass.TokenExchangeService'].DependencyType).toBe('HARD');
    const defaults = recipe.ComponentConfiguration.DefaultConfiguration;
    const [manifest] = recipe.Manifests;
    expect(manifest.Platform.os).toBe('linux');
    expect(manifest.Lifecycle.Setenv).toEqual(LAUNCH_ENV);
    const run: string = manifest.Lifecycle.Run.Script;
    // The same flags as the systemd unit, the heap size from the component's configuration.
    const flags = nodeFlags(defaults.MaxOldSpaceSizeMb).map((f) =>
      f.startsWith('--max-old-space-size=') ? '--max-old-space-size={configuration:/MaxOldSpaceSizeMb}' : f,
    );
    expect(run.startsWith(`node ${flags.join(' ')} `)).toBe(true);
    expect(run).toContain('{artifacts:decompressedPath}/tributary/tributary.mjs agent run');
    // Every configuration key the lifecycle reads has a default.
    for (const [, key] of run.matchAll(/\{configuration:\/([A-Za-z]+)\}/g))
      expect(defaults).toHaveProperty(key as string);
    expect(manifest.Artifacts).toEqual([expect.objectContaining({ Unarchive: 'ZIP' })]);
    expect(manifest.Artifacts[0].URI).toMatch(/^s3:\/\/[^/]+\/.+\.zip$/);
  });
});
