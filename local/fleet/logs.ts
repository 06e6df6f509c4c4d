import type { RulesConfig } from '../../functions/alerts/rules/config.ts';
import { countsForRule } from '../../functions/alerts/rules/error-rate.ts';
import { LOG_LEVELS, type LogLevel } from '../../shared/contract/index.ts';
import { seededRandom } from '../../shared/seeded-random.ts';

/**
 * A gateway's own syslog as a pure, seeded model of simulated time: its daemons (the sensor radio
 * bridge, the payment-terminal bridge, sshd, chronyd, systemd, the kernel) write RFC 5424 lines
 * that name the fleet's devices the gateway serves, and the file is rotated on a fixed simulated
 * schedule. The device agent tails the file into its `logs` stream, so these lines reach the lake,
 * the Flink job and the alert function as `log` records of the gateway.
 *
 * Normal operation never trips a log error-rate rule: lines a rule counts are spaced so that no
 * rule's window ever holds more of them than the rule's clear level (and always fewer than it
 * raises at); a template that would break the spacing is swapped for a harmless one.
 */

export interface GatewayLogOptions {
  /** The fleet's seed; each gateway draws from its own generator derived from it and its name. */
  readonly seed: number;
  /** The gateway's device id: the syslog HOSTNAME, and the device its lines are recorded for. */
  readonly gateway: string;
  /** The fleet's devices this gateway serves; its daemons' lines name them. */
  readonly devices: readonly string[];
  /** Simulated epoch ms the log starts at. */
  readonly startTime: number;
  /** No line or rotation after this simulated time (a bounded run). */
  readonly endTime?: number;
  /** Mean simulated ms between lines (exponential gaps). */
  readonly meanGapMs: number;
  /** The file is rotated every this many simulated ms. */
  readonly rotateEveryMs: number;
}

export interface LogLine {
  readonly kind: 'line';
  /** Simulated epoch ms: the line's RFC 5424 TIMESTAMP, so the record's event time. */
  readonly at: number;
  readonly level: LogLevel;
  readonly program: string;
  /** The MSG part (what the tailer makes the record's message). */
  readonly message: string;
  /** The whole line as written, without its newline. */
  readonly text: string;
}

export interface LogRotation {
  readonly kind: 'rotate';
  readonly at: number;
}

export type LogWrite = LogLine | LogRotation;

/** 20 lines per simulated minute on average, rotated every 3 simulated minutes. */
export const DEFAULT_GATEWAY_LOG = { meanGapMs: 3_000, rotateEveryMs: 3 * 60_000 } as const;

/** RFC 5424 facility codes the templates use. */
const FACILITY = { kern: 0, daemon: 3, authpriv: 10, local0: 16 } as const;
/** RFC 5612's documentation enterprise number, for the structured data ids. */
const PEN = 32473;

interface Draw {
  readonly random: () => number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

interface Template {
  readonly program: keyof typeof PROGRAMS;
  readonly level: LogLevel;
  readonly weight: number;
  readonly msgid?: string;
  /** Which of the gateway's devices the line names, if any. */
  readonly needs?: 'sensor' | 'terminal';
  readonly make: (d: Draw, device: string) => { message: string; sd?: string };
}

const PROGRAMS = {
  kernel: FACILITY.kern,
  sensord: FACILITY.daemon,
  'payterm-bridge': FACILITY.local0,
  sshd: FACILITY.authpriv,
  chronyd: FACILITY.daemon,
  systemd: FACILITY.daemon,
} as const;

const TEMPLATES: readonly Template[] = [
  {
    program: 'sensord',
    level: 'debug',
    weight: 6,
    msgid: 'POLL',
    needs: 'sensor',
    make: (d) => ({ message: `polled sensors on channel ${d.int(11, 26)} in ${d.int(8, 90)} ms` }),
  },
  {
    program: 'sensord',
    level: 'info',
    weight: 4,
    msgid: 'LINK',
    needs: 'sensor',
    make: (d, device) => {
      const rssi = -d.int(55, 85);
      return {
        message: `${device} reconnected after ${(d.random() * 9 + 0.5).toFixed(1)} s`,
        sd: `[link@${PEN} device="${device}" rssi="${rssi}"]`,
      };
    },
  },
  {
    program: 'sensord',
    level: 'warning',
    weight: 1.5,
    msgid: 'LINK',
    needs: 'sensor',
    make: (d, device) => ({ message: `${device}: weak signal (rssi -${d.int(90, 99)} dBm), retrying` }),
  },
  {
    program: 'sensord',
    level: 'error',
    weight: 0.5,
    msgid: 'CRC',
    needs: 'sensor',
    make: (d, device) => ({
      message: `${device}: frame 0x${d.int(0, 0xffff).toString(16).padStart(4, '0')} failed its CRC check, reading dropped`,
    }),
  },
  {
    program: 'payterm-bridge',
    level: 'info',
    weight: 3,
    msgid: 'SETTLE',
    needs: 'terminal',
    make: (d, device) => ({
      message: `${device}: batch settled, ${d.int(1, 40)} transactions`,
      sd: `[settle@${PEN} device="${device}" batch="${d.int(1000, 99999)}"]`,
    }),
  },
  {
    program: 'payterm-bridge',
    level: 'notice',
    weight: 1,
    msgid: 'KEYS',
    needs: 'terminal',
    make: (_d, device) => ({ message: `${device}: session keys rotated` }),
  },
  {
    program: 'payterm-bridge',
    level: 'warning',
    weight: 1,
    msgid: 'LATENCY',
    needs: 'terminal',
    make: (d, device) => ({
      message: `${device}: acquirer answered in ${d.int(501, 2500)} ms (over 500 ms)`,
    }),
  },
  {
    program: 'payterm-bridge',
    level: 'error',
    weight: 0.5,
    msgid: 'TLS',
    needs: 'terminal',
    make: (_d, device) => ({
      message: `${device}: TLS handshake with the acquirer failed (certificate verify failed), will retry`,
    }),
  },
  {
    program: 'sshd',
    level: 'info',
    weight: 0.5,
    make: (d) => ({
      message: `Accepted publickey for maint from 10.20.${d.int(0, 9)}.${d.int(2, 250)} port ${d.int(32768, 60999)} ssh2: ED25519`,
    }),
  },
  {
    program: 'chronyd',
    level: 'info',
    weight: 1,
    make: (d) => ({
      message: `Selected source 10.20.0.1 (offset ${d.random() < 0.5 ? '-' : '+'}${(d.random() * 4).toFixed(3)} ms)`,
    }),
  },
  {
    program: 'systemd',
    level: 'info',
    weight: 1,
    make: (d) => ({
      message: d.pick([
        'Starting Daily apt download activities...',
        'Finished Daily apt download activities.',
        'logrotate.service: Deactivated successfully.',
        'Started Session of user maint.',
      ]),
    }),
  },
  {
    program: 'kernel',
    level: 'warning',
    weight: 0.3,
    make: (d) => ({
      message: `usb 1-1.${d.int(1, 4)}: reset high-speed USB device number ${d.int(2, 9)} using dwc_otg`,
    }),
  },
];

/** One RFC 5424 line: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG` (`-` is the nil value). */
export function rfc5424Line(fields: {
  readonly facility: number;
  readonly level: LogLevel;
  readonly at: number;
  readonly hostname: string;
  readonly program: string;
  readonly pid: number | undefined;
  readonly msgid: string | undefined;
  readonly sd: string | undefined;
  readonly message: string;
}): string {
  const pri = fields.facility * 8 + LOG_LEVELS.indexOf(fields.level);
  return [
    `<${pri}>1`,
    new Date(fields.at).toISOString(),
    fields.hostname,
    fields.program,
    fields.pid === undefined ? '-' : String(fields.pid),
    fields.msgid ?? '-',
    fields.sd ?? '-',
    fields.message,
  ].join(' ');
}

/**
 * The least simulated time between two lines any of `rules` counts, so that a rule's window never
 * holds more than min(clear, raise - 1) of them (at least one); undefined when no such line may be
 * written at all (a rule raising at one line).
 */
export function countedLineSpacingMs(rules: RulesConfig['logErrorRate']): number | undefined {
  let spacing = 0;
  for (const rule of rules) {
    const allowed = Math.min(Math.max(rule.clear, 1), rule.raise - 1);
    if (allowed < 1) return undefined;
    // k+1 lines this far apart span more than the window, which holds only k.
    spacing = Math.max(spacing, Math.floor(rule.windowMs / allowed) + 1);
  }
  return spacing;
}

export class GatewayLog {
  readonly options: GatewayLogOptions;
  readonly #rules: RulesConfig['logErrorRate'];
  readonly #random: () => number;
  readonly #draw: Draw;
  readonly #sensors: readonly string[];
  readonly #terminals: readonly string[];
  readonly #pids: Readonly<Record<string, number | undefined>>;
  readonly #spacing: number | undefined;
  #nextLineAt: number;
  #nextRotationAt: number;
  #lastCountedAt = Number.NEGATIVE_INFINITY;
  #now: number;

  constructor(options: GatewayLogOptions, rules: RulesConfig) {
    this.options = options;
    this.#rules = rules.logErrorRate;
    this.#random = seededRandom(mixSeed(options.seed, options.gateway));
    const random = this.#random;
    this.#draw = {
      random,
      int: (min, max) => min + Math.floor(random() * (max - min + 1)),
      pick: (items) => items[Math.floor(random() * items.length)] as (typeof items)[number],
    };
    this.#sensors = options.devices.filter((d) => d.startsWith('sensor-'));
    this.#terminals = options.devices.filter((d) => d.startsWith('terminal-'));
    // The kernel logs without a PID; the daemons keep theirs for the whole run.
    this.#pids = Object.fromEntries(
      Object.keys(PROGRAMS).map((p) => [p, p === 'kernel' ? undefined : this.#draw.int(300, 4000)]),
    );
    this.#spacing = countedLineSpacingMs(this.#rules);
    this.#now = options.startTime;
    this.#nextLineAt = options.startTime + this.#gap();
    this.#nextRotationAt = options.startTime + options.rotateEveryMs;
  }

  /** Simulated time up to which the log has been written. */
  get now(): number {
    return this.#now;
  }

  /** Every line and rotation up to `until` (inclusive), in time order; a rotation goes before a line of its time. */
  advanceTo(until: number): LogWrite[] {
    const end = Math.min(until, this.options.endTime ?? until);
    const out: LogWrite[] = [];
    for (;;) {
      const rotate = this.#nextRotationAt <= this.#nextLineAt;
      const at = rotate ? this.#nextRotationAt : this.#nextLineAt;
      if (at > end) break;
      if (rotate) {
        out.push({ kind: 'rotate', at });
        this.#nextRotationAt += this.options.rotateEveryMs;
      } else {
        const line = this.#line(at);
        if (line !== undefined) out.push(line);
        this.#nextLineAt += this.#gap();
      }
    }
    this.#now = Math.max(this.#now, end);
    return out;
  }

  /** Undefined when every template would be counted by a rule too soon (no line in this slot). */
  #line(at: number): LogLine | undefined {
    let template = this.#pickTemplate();
    if (template !== undefined && this.#counts(template.level)) {
      if (this.#spacing !== undefined && at - this.#lastCountedAt >= this.#spacing) this.#lastCountedAt = at;
      else template = this.#pickTemplate(true);
    }
    if (template === undefined) return undefined;
    const device =
      template.needs === 'sensor'
        ? this.#draw.pick(this.#sensors)
        : template.needs === 'terminal'
          ? this.#draw.pick(this.#terminals)
          : '';
    const { message, sd } = template.make(this.#draw, device);
    const text = rfc5424Line({
      facility: PROGRAMS[template.program],
      level: template.level,
      at,
      hostname: this.options.gateway,
      program: template.program,
      pid: this.#pids[template.program],
      msgid: template.msgid,
      sd,
      message,
    });
    return { kind: 'line', at, level: template.level, program: template.program, message, text };
  }

  /** A weighted template whose devices this gateway has; `harmless`: only ones no rule counts. */
  #pickTemplate(harmless = false): Template | undefined {
    const usable = TEMPLATES.filter(
      (t) =>
        (t.needs !== 'sensor' || this.#sensors.length > 0) &&
        (t.needs !== 'terminal' || this.#terminals.length > 0) &&
        !(harmless && this.#counts(t.level)),
    );
    const total = usable.reduce((n, t) => n + t.weight, 0);
    let x = this.#random() * total;
    for (const t of usable) {
      x -= t.weight;
      if (x < 0) return t;
    }
    return usable.at(-1);
  }

  #counts(level: LogLevel): boolean {
    return this.#rules.some((rule) => countsForRule(rule, level));
  }

  #gap(): number {
    return Math.max(1, Math.round(-Math.log(1 - this.#random()) * this.options.meanGapMs));
  }
}

/** The fleet's seed mixed with a gateway's name (FNV-1a): each gateway's log has its own generator. */
function mixSeed(seed: number, name: string): number {
  let hash = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}
