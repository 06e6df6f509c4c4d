import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Bundles the device agent and CLI into one ESM entry file plus lazily loaded chunks for edge
 * hardware: no tsx loader and no node_modules tree on the device, which keeps the agent's resident memory small.
 * Run on the device with the launch line of device/README.md ("On the device").
 * Usage: build-device.ts [outdir], default dist/device.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = resolve(process.argv[2] ?? join(root, 'dist', 'device'));

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const result = await build({
  entryPoints: [{ in: join(root, 'device', 'main.ts'), out: 'tributary' }],
  outdir,
  // What is imported lazily (YAML parser, the default credential chain, IoT credentials) goes to
  // chunks beside tributary.mjs that a device loads only when its config needs them.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Node keeps the whole bundle's source in the heap (as UTF-16 when any comment is non-ASCII):
  // minified it is a third of the size and ASCII. keepNames keeps class names, which error names use.
  minify: true,
  keepNames: true,
  charset: 'ascii',
  sourcemap: 'linked',
  // The MQTT status publisher's SDK rests on aws-crt, a native addon that cannot be bundled. It is
  // imported only when iot.mqtt is configured; such devices install it beside the bundle.
  // The SDK's Kinesis client is only for callers that pass their own clients (tests, embedding);
  // the agent talks to Kinesis through shared/aws/json-client.ts.
  external: ['aws-iot-device-sdk-v2', 'aws-crt', '@aws-sdk/client-kinesis'],
  // Some dependencies are CommonJS and call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __tributaryRequire } from 'node:module'; const require = __tributaryRequire(import.meta.url);",
  },
  logLevel: 'warning',
  metafile: true,
});
// A CommonJS package imported with import() becomes a chunk that exports only `default`, so its
// named exports would be undefined at run time. Such imports go through a module of ours that
// re-exports the names (device/yaml.ts, device/credential-chain.ts).
const defaultOnly = Object.values(result.metafile.outputs)
  .filter((output) => output.entryPoint !== undefined && output.exports.join() === 'default')
  .map((output) => output.entryPoint);
if (defaultOnly.length > 0) {
  throw new Error(
    `import() these through an ESM module that re-exports their names: ${defaultOnly.join(', ')}`,
  );
}
const outfile = join(outdir, 'tributary.mjs');
const chunks = (await readdir(join(outdir, 'chunks'))).filter((name) => name.endsWith('.mjs'));
const { size } = await stat(outfile);
console.log(
  `built ${outfile} (${(size / 1024 / 1024).toFixed(2)} MiB) and ${chunks.length} lazily loaded chunks`,
);
