import { analyticsMain } from './control.ts';

// The SDK's Node 22 upgrade notice is noise for a control command (local/cli.ts does the same).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `npm run analytics -- ...`; `tributary analytics ...` (bin/tributary.mjs) runs the same command.
process.exitCode = await analyticsMain(process.argv.slice(2));
