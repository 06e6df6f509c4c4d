import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GatewayLog, LogLine } from './logs.ts';

/** The syslog file each gateway writes under its home (`<home>/var/log/messages`), rotated beside it. */
export const GATEWAY_LOG_DIR = join('var', 'log');
export const GATEWAY_LOG_FILE = 'messages';

export interface WrittenLogLines {
  readonly gateway: string;
  /** The path the lines were appended to. */
  readonly file: string;
  readonly lines: readonly LogLine[];
}

export interface LogFileStats {
  readonly linesWritten: number;
  readonly rotations: number;
}

export interface GatewayLogFile {
  /** Directory of the live file and its rotated predecessors. */
  readonly dir: string;
  readonly model: GatewayLog;
}

export interface FleetLogFilesOptions {
  readonly gateways: readonly GatewayLogFile[];
  /** Called after lines are appended (tests collect what was written). */
  readonly onWritten?: (written: WrittenLogLines) => void;
}

/**
 * Writes the gateways' simulated syslogs to disk as their models advance: lines appended to
 * `messages`, rotation by rename to `messages-<yyyymmddhhmmss>` (logrotate's dateext, uncompressed)
 * with a new `messages` started by the next line. Counts only lines whose append succeeded.
 */
export class FleetLogFiles {
  readonly #options: FleetLogFilesOptions;
  #linesWritten = 0;
  #rotations = 0;

  constructor(options: FleetLogFilesOptions) {
    this.#options = options;
  }

  stats(): LogFileStats {
    return { linesWritten: this.#linesWritten, rotations: this.#rotations };
  }

  /** Writes every gateway's log up to simulated time `until`; gateways in parallel, each in order. */
  async advanceTo(until: number): Promise<void> {
    await Promise.all(this.#options.gateways.map((gateway) => this.#advance(gateway, until)));
  }

  async #advance({ dir, model }: GatewayLogFile, until: number): Promise<void> {
    const writes = model.advanceTo(until);
    if (writes.length === 0) return;
    await mkdir(dir, { recursive: true });
    const file = join(dir, GATEWAY_LOG_FILE);
    let pending: LogLine[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      const lines = pending;
      pending = [];
      await appendFile(file, `${lines.map((line) => line.text).join('\n')}\n`);
      this.#linesWritten += lines.length;
      this.#options.onWritten?.({ gateway: model.options.gateway, file, lines });
    };
    for (const write of writes) {
      if (write.kind === 'line') {
        pending.push(write);
        continue;
      }
      await flush();
      // Nothing written since the last rotation: nothing to rotate (logrotate's notifempty).
      if ((await stat(file).catch(() => undefined)) === undefined) continue;
      await rename(file, join(dir, `${GATEWAY_LOG_FILE}-${rotationStamp(write.at)}`));
      this.#rotations++;
    }
    await flush();
  }
}

/** `20261206021524` from the rotation's simulated time (UTC). */
function rotationStamp(at: number): string {
  return new Date(at).toISOString().slice(0, 19).replace(/\D/g, '');
}
