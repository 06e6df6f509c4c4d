/**
 * A source's data processing options applied to one split record, in the configured order (the
 * Kinesis Agent's `dataProcessingOptions`), giving the payload appended to the log and the record's
 * time: the parsed line's own time where it has one, else the read time. A line a parser cannot read
 * is not dropped: it is sent as `{"raw": line, "error": why}` and counted.
 */
import { type Fields, type LogFormat, logParser, parseCsvLine } from './parsers.ts';

export const METADATA_FIELDS = ['device', 'file', 'offset', 'time'] as const;
export type MetadataField = (typeof METADATA_FIELDS)[number];

export type ProcessingOption =
  | { readonly optionName: 'SINGLELINE' }
  | {
      readonly optionName: 'CSVTOJSON';
      readonly customFieldNames: readonly string[];
      readonly delimiter: string;
    }
  | {
      readonly optionName: 'LOGTOJSON';
      readonly logFormat?: LogFormat | undefined;
      readonly matchPattern?: string | undefined;
      readonly customFieldNames?: readonly string[] | undefined;
    }
  | {
      readonly optionName: 'ADDMETADATA';
      readonly fields: readonly MetadataField[];
      readonly metadata?: Readonly<Record<string, string>> | undefined;
    };

export interface RecordContext {
  readonly deviceId: string;
  readonly file: string;
  /** Byte offset of the record in its file. */
  readonly offset: number;
  /** ms since the epoch when the record was read. */
  readonly readTime: number;
}

export interface Processed {
  readonly payload: Buffer;
  /** ms since the epoch: the line's own time, else the read time. */
  readonly time: number;
  /** A parser was configured and could not read the line. */
  readonly unparsed: boolean;
}

type Value = string | Fields | Record<string, unknown>;
type Step = (
  value: Value,
  ctx: RecordContext,
  state: { time: number | undefined; unparsed: boolean },
) => Value;

function step(option: ProcessingOption): Step {
  switch (option.optionName) {
    case 'SINGLELINE':
      // Kinesis Agent: newlines removed, each line's leading and trailing spaces trimmed.
      return (value) =>
        typeof value === 'string'
          ? value
              .split('\n')
              .map((line) => line.trim())
              .join('')
          : value;
    case 'CSVTOJSON': {
      const { customFieldNames, delimiter } = option;
      return (value, _ctx, state) => {
        if (typeof value !== 'string') return value;
        const fields = parseCsvLine(value, customFieldNames, delimiter);
        if (fields !== undefined) return fields;
        state.unparsed = true;
        return { raw: value, error: `more than ${customFieldNames.length} fields or a broken quote` };
      };
    }
    case 'LOGTOJSON': {
      const parser = logParser(option.logFormat, {
        matchPattern: option.matchPattern === undefined ? undefined : new RegExp(option.matchPattern),
        customFieldNames: option.customFieldNames,
      });
      return (value, ctx, state) => {
        if (typeof value !== 'string') return value;
        const parsed = parser.parse(value, ctx.readTime);
        if (parsed === undefined) {
          state.unparsed = true;
          return { raw: value, error: `does not match ${parser.name}` };
        }
        state.time = parsed.time;
        return parsed.fields;
      };
    }
    case 'ADDMETADATA': {
      const { fields, metadata } = option;
      return (value, ctx, state) => {
        const out: Record<string, unknown> = { ...metadata };
        for (const field of fields) {
          if (field === 'device') out.device = ctx.deviceId;
          else if (field === 'file') out.file = ctx.file;
          else if (field === 'offset') out.offset = ctx.offset;
          else out.time = state.time ?? ctx.readTime;
        }
        out.data = value;
        return out;
      };
    }
  }
}

export type Processor = (text: string, ctx: RecordContext) => Processed;

/** Compiles a source's options once; the result runs per record. */
export function processor(options: readonly ProcessingOption[]): Processor {
  const steps = options.map(step);
  return (text, ctx) => {
    const state: { time: number | undefined; unparsed: boolean } = { time: undefined, unparsed: false };
    let value: Value = text;
    for (const s of steps) value = s(value, ctx, state);
    return {
      payload: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8'),
      time: state.time ?? ctx.readTime,
      unparsed: state.unparsed,
    };
  };
}
