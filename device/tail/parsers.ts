/**
 * The Kinesis Agent's data processing options as pure functions of one record's text: CSV to JSON,
 * log to JSON (Apache common, combined and error logs, syslog RFC 3164, RFC 3339 and RFC 5424, a
 * custom pattern). Field names and values follow the Kinesis Agent: values are the matched strings,
 * `-` (no value in Apache logs) becomes null. Each parser also reads the line's own time where the
 * format has one; a line without a zone is taken as UTC.
 */

export type LogFormat =
  | 'COMMONAPACHELOG'
  | 'COMBINEDAPACHELOG'
  | 'APACHEERRORLOG'
  | 'SYSLOG'
  | 'RFC3339SYSLOG'
  | 'RFC5424SYSLOG';

export type Fields = Record<string, string | null>;

export interface Parsed {
  readonly fields: Fields;
  /** ms since the epoch, when the line carries a time the parser understood. */
  readonly time: number | undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const monthIndex = (name: string): number => MONTHS.indexOf(name);

// Apache stamps lines to the second: consecutive lines mostly repeat the time just read.
let lastApacheText: string | undefined;
let lastApacheTime: number | undefined;

/** `10/Oct/2000:13:55:36 -0700` */
function apacheTime(text: string): number | undefined {
  if (text !== lastApacheText) {
    lastApacheTime = readApacheTime(text);
    lastApacheText = text;
  }
  return lastApacheTime;
}

function readApacheTime(text: string): number | undefined {
  const m = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
  if (m === null) return undefined;
  const [, d, mon, y, hh, mm, ss, sign, zh, zm] = m as unknown as string[];
  const month = monthIndex(mon as string);
  if (month < 0) return undefined;
  const utc = Date.UTC(Number(y), month, Number(d), Number(hh), Number(mm), Number(ss));
  const zone = (Number(zh) * 60 + Number(zm)) * 60_000 * (sign === '-' ? -1 : 1);
  return utc - zone;
}

/** `Wed Oct 11 14:32:52 2000` or with microseconds `Fri Sep 09 10:42:29.902022 2011` (no zone: UTC). */
function apacheErrorTime(text: string): number | undefined {
  const m = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? (\d{4})$/.exec(
    text,
  );
  if (m === null) return undefined;
  const [, mon, d, hh, mm, ss, frac, y] = m as unknown as string[];
  const month = monthIndex(mon as string);
  if (month < 0) return undefined;
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  return Date.UTC(Number(y), month, Number(d), Number(hh), Number(mm), Number(ss), ms);
}

/**
 * `Mar  7 04:32:01`: RFC 3164 has no year. The year of `readTime` is taken, or the one before when
 * that would put the line more than a day in the future (a December line read in January).
 */
function syslogTime(text: string, readTime: number): number | undefined {
  const m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (m === null) return undefined;
  const [, mon, d, hh, mm, ss] = m as unknown as string[];
  const month = monthIndex(mon as string);
  if (month < 0) return undefined;
  const year = new Date(readTime).getUTCFullYear();
  const at = (y: number) => Date.UTC(y, month, Number(d), Number(hh), Number(mm), Number(ss));
  const guess = at(year);
  return guess > readTime + 86_400_000 ? at(year - 1) : guess;
}

/** RFC 3339: `2026-12-05T14:03:19.123456+01:00` (or `Z`); a zone is required. */
function rfc3339Time(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  // Date.parse takes at most millisecond precision; cut longer fractions first.
  const t = Date.parse(text.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(t) ? undefined : t;
}

const dash = (value: string | undefined): string | null =>
  value === undefined || value === '-' ? null : value;

interface Format {
  readonly pattern: RegExp;
  readonly names: readonly string[];
  /** Index into the captured groups of the time, and how to read it. */
  readonly time?: {
    readonly group: number;
    readonly read: (text: string, readTime: number) => number | undefined;
  };
  /** Apache's `-` means "no value". */
  readonly dashIsNull: boolean;
}

const COMMON = String.raw`^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\S+) (\S+)`;

export const LOG_FORMATS: Readonly<Record<LogFormat, Format>> = {
  COMMONAPACHELOG: {
    pattern: new RegExp(`${COMMON}$`),
    names: ['host', 'ident', 'authuser', 'datetime', 'request', 'response', 'bytes'],
    time: { group: 3, read: apacheTime },
    dashIsNull: true,
  },
  COMBINEDAPACHELOG: {
    pattern: new RegExp(`${COMMON} "((?:[^"\\\\]|\\\\.)*)" "((?:[^"\\\\]|\\\\.)*)"$`),
    names: ['host', 'ident', 'authuser', 'datetime', 'request', 'response', 'bytes', 'referrer', 'agent'],
    time: { group: 3, read: apacheTime },
    dashIsNull: true,
  },
  // 2.2: [time] [severity] [client ip] message; 2.4: [time] [module:severity] [pid n:tid n] [client ip:port] message
  APACHEERRORLOG: {
    pattern:
      /^\[([^\]]+)\] \[(?:(\w+):)?(\w+)\](?: \[pid (\d+)(?::tid (\d+))?\])?(?: \[client ([^\]]+)\])? (.*)$/,
    names: ['timestamp', 'module', 'severity', 'processid', 'threadid', 'client', 'message'],
    time: { group: 0, read: apacheErrorTime },
    dashIsNull: false,
  },
  // <PRI>? Mmm dd hh:mm:ss host program[pid]: message
  SYSLOG: {
    pattern:
      /^(?:<\d{1,3}>)?([A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}) (\S+) ([^\s:[]+)(?:\[(\d+)\])?: ?(.*)$/,
    names: ['timestamp', 'hostname', 'program', 'processid', 'message'],
    time: { group: 0, read: syslogTime },
    dashIsNull: false,
  },
  // rsyslog's RFC 3339 timestamps: <PRI>? 2026-12-05T14:03:19.123+01:00 host program[pid]: message
  RFC3339SYSLOG: {
    pattern:
      /^(?:<\d{1,3}>)?(\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})) (\S+) ([^\s:[]+)(?:\[(\d+)\])?: ?(.*)$/,
    names: ['timestamp', 'hostname', 'program', 'processid', 'message'],
    time: { group: 0, read: rfc3339Time },
    dashIsNull: false,
  },
  // RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD]|- MSG (`-` is the nil value)
  RFC5424SYSLOG: {
    pattern:
      /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?:\uFEFF)?(.*))?$/,
    names: ['priority', 'timestamp', 'hostname', 'appname', 'procid', 'msgid', 'structureddata', 'message'],
    time: { group: 1, read: rfc3339Time },
    dashIsNull: true,
  },
};

/** A compiled log-to-JSON parser: a known format, optionally with renamed fields, or a custom pattern. */
export interface LogParser {
  readonly name: string;
  parse(text: string, readTime: number): Parsed | undefined;
}

export function logParser(
  format: LogFormat | undefined,
  options: {
    readonly matchPattern?: RegExp | undefined;
    readonly customFieldNames?: readonly string[] | undefined;
  } = {},
): LogParser {
  const known = format === undefined ? undefined : LOG_FORMATS[format];
  const pattern = options.matchPattern ?? known?.pattern;
  if (pattern === undefined) throw new RangeError('a log parser needs a logFormat or a matchPattern');
  const names = options.customFieldNames ?? known?.names ?? [];
  // A custom pattern keeps the format's time reading only when it keeps its groups (Kinesis Agent's use).
  const time = options.matchPattern === undefined ? known?.time : undefined;
  const dashIsNull = known?.dashIsNull ?? false;
  return {
    name: format ?? 'custom pattern',
    parse(text, readTime) {
      const m = pattern.exec(text);
      if (m === null) return undefined;
      const fields: Fields = {};
      for (let i = 0; i < names.length; i++) {
        const value = m[i + 1];
        fields[names[i] as string] = dashIsNull ? dash(value) : (value ?? null);
      }
      const timeText = time === undefined ? undefined : m[time.group + 1];
      return { fields, time: timeText === undefined ? undefined : time?.read(timeText, readTime) };
    },
  };
}

/**
 * One CSV line to fields named by `names` (RFC 4180 quoting: `"a ""b"""`). Missing values are null;
 * a line with more values than names is refused (undefined), like a line a log pattern does not match.
 */
export function parseCsvLine(text: string, names: readonly string[], delimiter: string): Fields | undefined {
  const values: string[] = [];
  let i = 0;
  for (;;) {
    let value = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return undefined;
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      if (i < text.length && !text.startsWith(delimiter, i)) return undefined;
    } else {
      const d = text.indexOf(delimiter, i);
      value = d < 0 ? text.slice(i) : text.slice(i, d);
      i = d < 0 ? text.length : d;
    }
    values.push(value);
    if (i >= text.length) break;
    i += delimiter.length;
    if (i === text.length) {
      values.push('');
      break;
    }
  }
  if (values.length > names.length) return undefined;
  const fields: Fields = {};
  names.forEach((name, index) => {
    fields[name] = values[index] ?? null;
  });
  return fields;
}
