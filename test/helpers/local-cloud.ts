import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud.ts';

export interface TestCloud {
  /** The running cloud; started in beforeAll, so read it in hooks and tests. */
  readonly cloud: LocalCloud;
  /** `.tributary/test-<name>-<pid>`: the cloud keeps its data in `cloud/` below it; tests may add more. */
  readonly root: string;
}

/**
 * The local cloud for the tests of the enclosing file: started fresh before them, stopped and its root
 * removed after them. Call it before the file's own hooks, so they see it started and stop their
 * runners before it stops (Vitest runs after-hooks in reverse order of registration).
 */
export function useLocalCloud(name: string): TestCloud {
  const root = `.tributary/test-${name}-${process.pid}`;
  let cloud: LocalCloud | undefined;
  beforeAll(async () => {
    cloud = await startLocalCloud({ dataDir: join(root, 'cloud'), fresh: true });
  });
  afterAll(async () => {
    await cloud?.stop();
    await rm(root, { recursive: true, force: true });
  });
  return {
    get cloud() {
      if (cloud === undefined) throw new Error(`useLocalCloud('${name}'): read before its beforeAll ran`);
      return cloud;
    },
    root,
  };
}
