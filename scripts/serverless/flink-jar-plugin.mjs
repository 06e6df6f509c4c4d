// osls entry of the Flink JAR plugin (flink-jar.ts). osls loads plugins with require() (or import()),
// not through tsx, so this file registers tsx and loads the TypeScript on first use. No top-level
// await: require() of an ES module refuses one.
import { register } from 'tsx/esm/api';

register();

/** Same hook names as flink-jar.ts's HOOKS (a test compares them). */
export const HOOKS = [
  'before:aws:package:finalize:saveServiceState',
  'after:aws:deploy:deploy:uploadArtifacts',
  'before:remove:remove',
];

export default class FlinkJarPluginEntry {
  constructor(serverless, options, utils) {
    const plugin = import('./flink-jar.ts').then(
      ({ FlinkJarPlugin }) => new FlinkJarPlugin(serverless, options, utils),
    );
    // A load failure surfaces from the first hook that runs, as that command's error.
    plugin.catch(() => undefined);
    this.hooks = Object.fromEntries(HOOKS.map((hook) => [hook, async () => (await plugin).hooks[hook]()]));
  }
}
