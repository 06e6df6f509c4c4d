#!/usr/bin/env node
// Runs the TypeScript CLIs through tsx's loader, so no build step is needed in the project. Devices run
// the bundle from `npm run build:device` instead.
import { register } from 'tsx/esm/api';

register();
const argv = process.argv.slice(2);
// `tributary analytics ...` controls the Managed Flink application, `tributary dashboard ...` serves the
// dashboard over a deployed stack, `tributary plan ...` sizes a deployment and
// `tributary scale ...` reshards its stream; everything else is the device agent.
const code =
  argv[0] === 'analytics'
    ? await (await import('../local/analytics/control.ts')).analyticsMain(argv.slice(1))
    : argv[0] === 'dashboard'
      ? await (await import('../local/dashboard/remote.ts')).dashboardMain(argv.slice(1))
      : argv[0] === 'plan'
        ? await (await import('../local/plan/cli.ts')).planMain(argv.slice(1))
        : argv[0] === 'scale'
          ? await (await import('../local/scale/cli.ts')).scaleMain(argv.slice(1))
          : await (await import('../device/cli.ts')).main(argv);
// Linux writes to pipes and files synchronously, so exiting here loses no output.
process.exit(code);
