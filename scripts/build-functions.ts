/**
 * Bundles every functions/<name>/handler.ts with esbuild into one ESM file (dependencies included,
 * the AWS SDK too: the function then runs the SDK version we tested, not the runtime's) and zips it
 * as dist/<name>.zip, the `package.artifact` serverless.yml points at. Inside the zip the bundle sits
 * at functions/<name>/handler.mjs, so the handler string `functions/<name>/handler.handler` is the
 * same for Lambda and for the local event source runner (which imports the .ts source).
 *
 *   node --import tsx scripts/build-functions.ts      # `npm run package` runs this, then `osls package`
 *
 * The zip is reproducible: fixed entry order and timestamps, so an unchanged function keeps its hash.
 */
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = join(root, 'dist');

interface ZipEntry {
  name: string;
  data: Buffer;
}

/** DOS date/time 1980-01-01 00:00: the earliest a zip can say, and the same on every build. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/** A plain zip (deflate, no zip64: bundles are far below 4 GiB), files readable by everyone. */
function zip(entries: readonly ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const compressed = deflateRawSync(entry.data, { level: 9 });
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, compressed);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so the mode below is honoured
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((0o100644 << 16) >>> 0) as number, 38); // regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + compressed.length;
  }
  const centralSize = centrals.reduce((sum, b) => sum + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

async function functionNames(): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(join(root, 'functions'), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const handler = join(root, 'functions', entry.name, 'handler.ts');
    if (
      await stat(handler).then(
        () => true,
        () => false,
      )
    )
      names.push(entry.name);
  }
  return names.sort();
}

async function bundle(name: string): Promise<{ zipPath: string; bytes: number }> {
  const outfile = `functions/${name}/handler.mjs`;
  const result = await build({
    entryPoints: [join(root, 'functions', name, 'handler.ts')],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    outfile: join(dist, name, outfile),
    sourcemap: 'linked',
    sourcesContent: false,
    minify: true,
    keepNames: true,
    legalComments: 'none',
    write: false,
    metafile: false,
    logLevel: 'warning',
    // CommonJS dependencies inside an ESM bundle still call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  const entries = result.outputFiles
    .map((file) => ({
      name: relative(join(dist, name), file.path).split('\\').join('/'),
      data: Buffer.from(file.contents),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const zipPath = join(dist, `${name}.zip`);
  const archive = zip(entries);
  // Written aside, then renamed over the old zip: a reader (osls, a test in another worker building
  // the same bytes) never sees a half-written or missing artifact.
  const partial = `${zipPath}.${process.pid}.partial`;
  await writeFile(partial, archive);
  await rename(partial, zipPath);
  return { zipPath, bytes: archive.length };
}

await mkdir(dist, { recursive: true });
const names = await functionNames();
for (const name of names) {
  const { zipPath, bytes } = await bundle(name);
  console.log(`built ${relative(root, zipPath)} (${(bytes / 1024).toFixed(0)} KiB)`);
}
// Zips of functions that no longer exist go.
for (const file of await readdir(dist)) {
  if (file.endsWith('.zip') && !names.includes(file.slice(0, -'.zip'.length))) await rm(join(dist, file));
}
