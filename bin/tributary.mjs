#!/usr/bin/env node
// Runs the TypeScript CLIs through tsx's loader, so no build step is needed in the project. Devices run
// the bundle from `npm run build:device` instead.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on every run under Node 20 that its releases after January 2027 need Node 22: nine
// lines before any output, about a future upgrade, that no command here can act on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
const argv = process.argv.slice(2);

/** Commands of the project checkout on top of the device agent's (the device bundle has only those). */
const PROJECT_USAGE = `
project commands (this checkout; not in the device bundle):
  tributary analytics <start|stop|status|update> [--stage <stage>] [--region <region>] [...]
      the Managed Flink application of a deployed stack (tributary analytics --help)
  tributary dashboard --stage <stage> [--region <region>] [--port <port>]
      the dashboard page on 127.0.0.1 over a deployed stack (tributary dashboard --help)
  tributary plan [options]
      shards, consumers, Lambda, Firehose, Flink and DynamoDB sized for a load, with a cost (tributary plan --help)
  tributary scale --stage <stage> --shards <n>
      reshards a deployed stack's stream (tributary scale --help)
  npm start [-- --help]
      the whole pipeline on this machine (local cloud, an agent, the fleet, the dashboard)
`;

// `tributary analytics ...` controls the Managed Flink application, `tributary dashboard ...` serves the
// dashboard over a deployed stack, `tributary plan ...` sizes a deployment and
// `tributary scale ...` reshards its stream; everything else is the device agent.
const PROJECT_COMMANDS = {
  analytics: async (args) => (await import('../local/analytics/control.ts')).analyticsMain(args),
  dashboard: async (args) => (await import('../local/dashboard/remote.ts')).dashboardMain(args),
  plan: async (args) => (await import('../local/plan/cli.ts')).planMain(args),
  scale: async (args) => (await import('../local/scale/cli.ts')).scaleMain(args),
};
const project = Object.hasOwn(PROJECT_COMMANDS, argv[0] ?? '') ? PROJECT_COMMANDS[argv[0]] : undefined;
let code;
if (project !== undefined) {
  code = await project(argv.slice(1));
} else {
  code = await (await import('../device/cli.ts')).main(argv);
  if (argv.length === 1 && ['help', '--help', '-h'].includes(argv[0])) process.stdout.write(PROJECT_USAGE);
}
// Linux writes to pipes and files synchronously, so exiting here loses no output.
process.exit(code);
