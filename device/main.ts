/** Entry point of the device bundle (`npm run build:device`): runs the CLI and exits with its code. */
import { main } from './cli.ts';

process.exit(await main(process.argv.slice(2)));
