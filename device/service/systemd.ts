/**
 * The agent's systemd unit, rendered from options (pure), for `tributary agent install-service`.
 * A dedicated user, the log store as the StateDirectory, restarts with a start limit, a memory cap,
 * and the sandboxing systemd offers that a Node.js network daemon can live with.
 */
import { posix } from 'node:path';
import { LAUNCH_ENV, nodeFlags } from './launch.ts';

export interface UnitOptions {
  /** Absolute path of node (20 or newer). */
  readonly node: string;
  /** Absolute path of the bundle's tributary.mjs. */
  readonly bundle: string;
  /** Absolute path of the agent's config. */
  readonly config: string;
  /** The agent's storeRoot: under /var/lib it becomes the StateDirectory, elsewhere a ReadWritePaths. */
  readonly storeRoot: string;
  readonly user: string;
  /** systemd's MemoryMax (the kernel kills the agent above it; it restarts). */
  readonly memoryMax: string;
  /** The agent's drain on stop; systemd waits this long plus a margin before SIGKILL. */
  readonly drainTimeoutMillis: number;
}

export const DEFAULT_UNIT_NAME = 'tributary-agent.service';
export const DEFAULT_MEMORY_MAX = '128M';
/** Exit code 2 is a usage or config error: restarting cannot help. */
const CONFIG_ERROR_EXIT = 2;

/** systemd quoting for one ExecStart argument. */
function quote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)
    ? arg
    : `"${arg.replace(/[\\"$%]/g, (c) => (c === '%' ? '%%' : c === '$' ? '$$' : `\\${c}`))}"`;
}

export function renderUnit(o: UnitOptions): string {
  const relative = posix.relative('/var/lib', o.storeRoot);
  const underVarLib = relative !== '' && !relative.startsWith('..') && !posix.isAbsolute(relative);
  const store = underVarLib
    ? [`StateDirectory=${relative}`, 'StateDirectoryMode=0700']
    : [`ReadWritePaths=${o.storeRoot}`];
  const exec = [o.node, ...nodeFlags(), o.bundle, 'agent', 'run', '--config', o.config].map(quote).join(' ');
  const stopSeconds = Math.ceil(o.drainTimeoutMillis / 1000) + 15;
  return `# Written by \`tributary agent install-service\`. See device/README.md ("Running unattended").
[Unit]
Description=Tributary device agent (durable log, export to Kinesis)
Wants=network-online.target
After=network-online.target
# At most 10 starts in 10 minutes; past that systemd stops trying until \`systemctl reset-failed\`.
StartLimitIntervalSec=600
StartLimitBurst=10

[Service]
Type=exec
User=${o.user}
Group=${o.user}
${store.join('\n')}
Environment=${Object.entries(LAUNCH_ENV)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}
ExecStart=${exec}
Restart=on-failure
RestartSec=5s
RestartPreventExitStatus=${CONFIG_ERROR_EXIT}
# SIGTERM drains (shutdown.drainTimeoutMillis) and writes the final checkpoint; SIGKILL only after this.
TimeoutStopSec=${stopSeconds}s
MemoryHigh=${o.memoryMax === 'infinity' ? 'infinity' : `${Math.floor(parseSize(o.memoryMax) * 0.85)}`}
MemoryMax=${o.memoryMax}
TasksMax=64
UMask=0077

# Sandboxing: read-only system, no home, private /tmp and /dev, no privileges or capabilities.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
# Not MemoryDenyWriteExecute: V8's JIT needs writable executable memory.

[Install]
WantedBy=multi-user.target
`;
}

/** Bytes of a systemd size (`128M`, `1G`, `65536`). */
export function parseSize(text: string): number {
  const match = /^(\d+)([KMGT]?)$/.exec(text);
  if (match === null) return Number.NaN;
  const power = { '': 0, K: 1, M: 2, G: 3, T: 4 }[match[2] as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(match[1]) * 1024 ** power;
}
