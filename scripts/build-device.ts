import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Bundles the device agent and CLI into one ESM file for edge hardware: no tsx loader and no
 * node_modules tree on the device, which keeps the agent's resident memory small.
 * Run on the device: node --max-semi-space-size=1 tributary.mjs agent run --config agent.yaml
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist', 'device', 'tributary.mjs');

await mkdir(dirname(outfile), { recursive: true });
await build({
  stdin: {
    contents: [
      "import { main } from './device/cli.ts';",
      'process.exit(await main(process.argv.slice(2)));',
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'tributary-entry.ts',
    loader: 'ts',
  },
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minifySyntax: true,
  sourcemap: 'linked',
  // Some dependencies are CommonJS and call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __tributaryRequire } from 'node:module'; const require = __tributaryRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
const { size } = await stat(outfile);
console.log(`built ${outfile} (${(size / 1024 / 1024).toFixed(1)} MiB)`);
