import { readdir, readFile } from 'node:fs/promises';

/** Resident memory of the given processes and all their descendants, in bytes (Linux /proc). */
export async function processTreeRss(rootPids: readonly number[]): Promise<number> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    // Field 4 is the parent pid; the command name in field 2 may contain spaces, so cut after ')'.
    const ppid =
      stat === undefined ? Number.NaN : Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isFinite(ppid)) parents.set(Number(entry), ppid);
  }
  const tree = new Set(rootPids);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const pid of tree) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    if (kib !== undefined) total += Number(kib) * 1024;
  }
  return total;
}
