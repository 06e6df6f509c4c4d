/** Entry point of the device bundle (`npm run build:device`): runs the CLI and exits with its code. */
import { main } from './cli.ts';

// As in bin/tributary.mjs: the AWS SDK warns on every run under Node 20 that its releases after
// January 2027 need Node 22, nine lines before any output (`device provision` builds IoT and
// CloudFormation clients) about an upgrade no command here can act on. The SDK reads the variable
// when a client is built, so setting it after the imports above but before main() is in time.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.exit(await main(process.argv.slice(2)));
