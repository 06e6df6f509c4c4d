/**
 * The schema library for the record contract and the device agent: zod's tree-shakable `zod/mini`
 * API with zod's English messages. The classic `zod` API builds a dozen method closures into every
 * schema and cannot be tree-shaken; on the device that cost ~7 MB of resident memory per process
 * (measured in bench/agent.bench.ts), against ~2 MB for mini. Same core, same issues and paths.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

// Import as a namespace (`import * as z`): a re-exported namespace object would defeat tree-shaking.
export * from 'zod/mini';
