/** What the benches that spawn a device agent share: waiting for its API to come up. */
import type { ChildProcess } from 'node:child_process';

/** The agent's API URL, from the line it prints once listening; rejects if it exits first. */
export function agentApiUrl(child: ChildProcess): Promise<string> {
  let output = '';
  return new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = / API (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (found !== undefined) resolve(found);
    });
    child.once('exit', () => reject(new Error(`agent exited before its API came up:\n${output}`)));
  });
}
