#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so no build step is needed on the device.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../device/cli.ts');
const code = await main(process.argv.slice(2));
// Linux writes to pipes and files synchronously, so exiting here loses no output.
process.exit(code);
