/**
 * A source's data processing options applied to one split record, in the configured order (the
 * Kinesis Agent's `dataProcessingOptions`), giving what a `log` record carries: the message, its
 * level, string fields (parsed and metadata) and the line's own time where it has one. A line a
 * parser cannot read is not dropped: it is kept whole as the message, with the reason in
 * `fields.parse_error`, and counted. Pure: the same text and context always give the same entry,
 * which is what lets a restart re-create a batch byte for byte (device/FORMAT.md "Tail checkpoint").
 */
import { LOG_FIELD_VALUE_MAX_CHARS, LOG_LEVELS, type LogLevel } from '../../shared/contract/index.ts';
import { type Fields, type LogFormat, logParser, parseCsvLine } from './parsers.ts';
import type { ProcessingOption } from './source.ts';

export const METADATA_FIELDS = ['device', 'file', 'offset', 'time'] as const;
export type MetadataField = (typeof METADATA_FIELDS)[number];

// The contract's levels, most severe first: index = RFC 5424 severity number.
export { LOG_LEVELS, type LogLevel };

/** The contract's limit on one field value (shared/CONTRACT.md, `log` payload). */
export const MAX_FIELD_CHARS = LOG_FIELD_VALUE_MAX_CHARS;

export interface LevelPattern {
  readonly pattern: RegExp;
  readonly level: LogLevel;
}

export interface ProcessorOptions {
  /** Tried in order on lines whose format gives no level (unparsed, single-line, CSV, custom). */
  readonly levelPatterns?: readonly LevelPattern[] | undefined;
  /** Level when neither the format nor a pattern gives one. */
  readonly defaultLevel?: LogLevel | undefined;
  /** Appended to a field value cut at MAX_FIELD_CHARS. */
  readonly truncationMarker?: string | undefined;
}

export interface RecordContext {
  readonly deviceId: string;
  readonly file: string;
  /** Byte offset of the record in its file. */
  readonly offset: number;
  /** ms since the epoch when the record was read. */
  readonly readTime: number;
}

export interface TailEntry {
  readonly message: string;
  readonly level: LogLevel;
  /** Parsed fields (null values left out), then metadata; `parse_error` when unparsed. */
  readonly fields: Readonly<Record<string, string>>;
  /** ms since the epoch: the line's own time, else the read time. */
  readonly time: number;
  /** A parser was configured and could not read the line. */
  readonly unparsed: boolean;
  /** A field value was cut at MAX_FIELD_CHARS. */
  readonly fieldTruncated: boolean;
}

/** Level names as programs write them (Apache's `crit`, log4j's `FATAL`, `WARN`, `TRACE`…). */
const LEVEL_ALIASES: Readonly<Record<string, LogLevel>> = {
  emerg: 'emergency',
  emergency: 'emergency',
  panic: 'emergency',
  alert: 'alert',
  crit: 'critical',
  critical: 'critical',
  fatal: 'critical',
  err: 'error',
  error: 'error',
  severe: 'error',
  warn: 'warning',
  warning: 'warning',
  notice: 'notice',
  info: 'info',
  informational: 'info',
  debug: 'debug',
  fine: 'debug',
  finer: 'debug',
  finest: 'debug',
  trace: 'debug',
};

/** A level name in any case (`WARN`, `crit`, `trace3` → debug), or undefined. */
export function levelNamed(name: string | null | undefined): LogLevel | undefined {
  if (name === null || name === undefined) return undefined;
  const lower = name.toLowerCase();
  return LEVEL_ALIASES[lower] ?? (/^trace\d$/.test(lower) ? 'debug' : undefined);
}

/** A syslog PRI (`<34>`): severity = PRI mod 8. */
function levelOfPriority(pri: string | null | undefined): LogLevel | undefined {
  if (pri === null || pri === undefined) return undefined;
  const n = Number(pri);
  return Number.isInteger(n) && n >= 0 && n <= 191 ? LOG_LEVELS[n % 8] : undefined;
}

const PRI = /^<(\d{1,3})>/;

/** The level a parsed line of a known format states, if it states one. */
function formatLevel(format: LogFormat | undefined, text: string, fields: Fields): LogLevel | undefined {
  switch (format) {
    case 'COMMONAPACHELOG':
    case 'COMBINEDAPACHELOG': {
      // A user reads a 5xx as a server error and a 4xx as a client's mistake worth a look.
      const status = Number(fields.response);
      if (status >= 500 && status <= 599) return 'error';
      if (status >= 400 && status <= 499) return 'warning';
      return 'info';
    }
    case 'APACHEERRORLOG':
      return levelNamed(fields.severity);
    case 'SYSLOG':
    case 'RFC3339SYSLOG':
      return levelOfPriority(PRI.exec(text)?.[1]);
    case 'RFC5424SYSLOG':
      return levelOfPriority(fields.priority);
    default:
      // CSV and custom patterns: a `level` or `severity` column, when it names a level.
      return levelNamed(fields.level ?? fields.severity);
  }
}

interface State {
  message: string;
  fields: Record<string, string>;
  time: number | undefined;
  level: LogLevel | undefined;
  unparsed: boolean;
  fieldTruncated: boolean;
}

type Step = (state: State, ctx: RecordContext) => void;

export function processor(options: readonly ProcessingOption[], config: ProcessorOptions = {}): Processor {
  const marker = config.truncationMarker ?? '';
  const put = (state: State, name: string, value: string): void => {
    if (value.length > MAX_FIELD_CHARS) {
      state.fieldTruncated = true;
      state.fields[name] = value.slice(0, MAX_FIELD_CHARS - marker.length) + marker;
    } else state.fields[name] = value;
  };
  const putAll = (state: State, fields: Fields, except?: string): void => {
    for (const name in fields) {
      const value = fields[name];
      if (value !== null && value !== undefined && name !== except) put(state, name, value);
    }
  };
  const step = (option: ProcessingOption): Step => {
    switch (option.optionName) {
      case 'SINGLELINE':
        // Kinesis Agent: newlines removed, each line's leading and trailing spaces trimmed.
        return (state) => {
          const text = state.message;
          // A record of one line (no multiLineStartPattern) needs no split.
          state.message = text.includes('\n')
            ? text
                .split('\n')
                .map((line) => line.trim())
                .join('')
            : text.trim();
        };
      case 'CSVTOJSON': {
        const { customFieldNames, delimiter } = option;
        return (state) => {
          const fields = parseCsvLine(state.message, customFieldNames, delimiter);
          if (fields === undefined) {
            state.unparsed = true;
            put(state, 'parse_error', `more than ${customFieldNames.length} fields or a broken quote`);
            return;
          }
          putAll(state, fields);
          state.level = formatLevel(undefined, state.message, fields);
        };
      }
      case 'LOGTOJSON': {
        const format = option.matchPattern === undefined ? option.logFormat : undefined;
        const parser = logParser(option.logFormat, {
          matchPattern: option.matchPattern === undefined ? undefined : new RegExp(option.matchPattern),
          customFieldNames: option.customFieldNames,
        });
        return (state, ctx) => {
          const parsed = parser.parse(state.message, ctx.readTime);
          if (parsed === undefined) {
            state.unparsed = true;
            put(state, 'parse_error', `does not match ${parser.name}`);
            return;
          }
          state.time = parsed.time;
          state.level = formatLevel(format, state.message, parsed.fields);
          // Formats with a message part (syslog, Apache error) make it the record's message.
          const message = parsed.fields.message;
          if (typeof message === 'string') {
            state.message = message;
            putAll(state, parsed.fields, 'message');
          } else putAll(state, parsed.fields);
        };
      }
      case 'ADDMETADATA': {
        const { fields, metadata } = option;
        return (state, ctx) => {
          for (const [name, value] of Object.entries(metadata ?? {})) put(state, name, value);
          for (const field of fields) {
            if (field === 'device') put(state, 'device', ctx.deviceId);
            else if (field === 'file') put(state, 'file', ctx.file);
            else if (field === 'offset') put(state, 'offset', String(ctx.offset));
            else put(state, 'time', String(state.time ?? ctx.readTime));
          }
        };
      }
    }
  };
  const steps = options.map(step);
  const patterns = config.levelPatterns ?? [];
  const defaultLevel = config.defaultLevel ?? 'info';
  return (text, ctx) => {
    const state: State = {
      message: text,
      fields: {},
      time: undefined,
      level: undefined,
      unparsed: false,
      fieldTruncated: false,
    };
    for (const s of steps) s(state, ctx);
    let level = state.level;
    if (level === undefined) {
      for (const p of patterns) {
        if (p.pattern.test(text)) {
          level = p.level;
          break;
        }
      }
    }
    return {
      message: state.message,
      level: level ?? defaultLevel,
      fields: state.fields,
      time: state.time ?? ctx.readTime,
      unparsed: state.unparsed,
      fieldTruncated: state.fieldTruncated,
    };
  };
}

export type Processor = (text: string, ctx: RecordContext) => TailEntry;
