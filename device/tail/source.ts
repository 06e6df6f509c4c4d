/**
 * A tail source in the agent config (`sources[]`): which files, into which log stream, and how their
 * lines become records. Names and defaults follow the Kinesis Agent's flows where it has them
 * (`filePattern`, `initialPosition`, `multiLineStartPattern`, `skipHeaderLines`,
 * `dataProcessingOptions`); device/README.md ("Tailing files") documents every field.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { parseOptions } from '../../shared/options.ts';
import * as z from '../../shared/zod.ts';
import { isValidStreamName } from '../log/index.ts';
import type { LogFormat } from './parsers.ts';
import { type LevelPattern, LOG_LEVELS, MAX_FIELD_CHARS, METADATA_FIELDS } from './process.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The Kinesis Agent's default record size limit. */
export const DEFAULT_MAX_LINE_BYTES = MiB;
export const DEFAULT_TRUNCATION_MARKER = '[truncated]';
export const DEFAULT_POLL_MILLIS = 250;
/** A pending multi-line record is sent once its file has been quiet this long. */
export const DEFAULT_MULTILINE_FLUSH_MILLIS = 1_000;

/** Parsed fields + metadata entries + device/file/offset/time + parse_error stay within the contract's 64. */
const MAX_PARSED_FIELDS = 50;
const MAX_METADATA_ENTRIES = 8;

const LOG_FORMATS = [
  'COMMONAPACHELOG',
  'COMBINEDAPACHELOG',
  'APACHEERRORLOG',
  'SYSLOG',
  'RFC3339SYSLOG',
  'RFC5424SYSLOG',
] as const satisfies readonly LogFormat[];

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

const regex = () =>
  z.string().check(z.minLength(1), z.refine(compiles, 'must be a valid regular expression'));
const fieldNames = () =>
  // Names become `log` record field keys: 1-64 chars, and with metadata at most 64 entries in all.
  z.array(z.string().check(z.minLength(1), z.maxLength(64))).check(
    z.minLength(1, 'must name at least one field'),
    z.maxLength(MAX_PARSED_FIELDS),
    z.refine((names) => new Set(names).size === names.length, 'must not repeat a name'),
  );

/** One `dataProcessingOptions` entry as the schema leaves it, defaults filled in (process.ts applies it). */
export type ProcessingOption = z.output<typeof processingOption>;

const processingOption = z.discriminatedUnion('optionName', [
  z.strictObject({ optionName: z.literal('SINGLELINE') }),
  z.strictObject({
    optionName: z.literal('CSVTOJSON'),
    customFieldNames: fieldNames(),
    delimiter: z._default(z.string().check(z.minLength(1), z.maxLength(8)), ','),
  }),
  z
    .strictObject({
      optionName: z.literal('LOGTOJSON'),
      logFormat: z.optional(z.enum(LOG_FORMATS)),
      matchPattern: z.optional(regex()),
      customFieldNames: z.optional(fieldNames()),
    })
    .check(
      z.refine((o) => o.logFormat !== undefined || o.matchPattern !== undefined, {
        message: 'needs a logFormat or a matchPattern',
        path: ['logFormat'],
      }),
      z.refine((o) => o.matchPattern === undefined || o.customFieldNames !== undefined, {
        message: 'is required with a matchPattern (one name per capture group)',
        path: ['customFieldNames'],
      }),
    ),
  z.strictObject({
    optionName: z.literal('ADDMETADATA'),
    fields: z._default(z.array(z.enum(METADATA_FIELDS)), [...METADATA_FIELDS]),
    metadata: z.optional(
      z
        .record(
          z.string().check(z.minLength(1), z.maxLength(64)),
          z.string().check(z.maxLength(MAX_FIELD_CHARS)),
        )
        .check(
          z.refine(
            (m) => Object.keys(m).length <= MAX_METADATA_ENTRIES,
            `at most ${MAX_METADATA_ENTRIES} entries`,
          ),
          z.refine((m) => !Object.hasOwn(m, '__proto__'), '"__proto__" is reserved'),
        ),
    ),
  }),
]);

const schema = z
  .strictObject({
    filePattern: z.string().check(
      z.minLength(1),
      z.refine(
        (p) => !/[*?[]/.test(p.slice(0, p.lastIndexOf('/') + 1)),
        'may have wildcards (* ?) in the file name only, not in directories',
      ),
    ),
    stream: z.string().check(z.refine(isValidStreamName, 'must be a valid log stream name')),
    initialPosition: z._default(z.enum(['START_OF_FILE', 'END_OF_FILE']), 'END_OF_FILE'),
    multiLineStartPattern: z.optional(regex()),
    skipHeaderLines: z._default(z.int().check(z.gte(0), z.lte(1_000)), 0),
    maxLineBytes: z._default(z.int().check(z.gte(64), z.lte(10 * MiB)), DEFAULT_MAX_LINE_BYTES),
    truncationMarker: z._default(z.string().check(z.maxLength(32)), DEFAULT_TRUNCATION_MARKER),
    dataProcessingOptions: z._default(z.array(processingOption), []),
    pollIntervalMillis: z._default(z.int().check(z.gte(10), z.lte(60_000)), DEFAULT_POLL_MILLIS),
    multiLineFlushMillis: z._default(z.int().check(z.gte(0), z.lte(600_000)), DEFAULT_MULTILINE_FLUSH_MILLIS),
    levelPatterns: z._default(
      z.array(z.strictObject({ pattern: regex(), level: z.enum(LOG_LEVELS) })).check(z.maxLength(16)),
      [],
    ),
    defaultLevel: z._default(z.enum(LOG_LEVELS), 'info'),
    checkpointName: z.optional(
      z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . -')),
    ),
  })
  .check(
    z.superRefine((s, ctx) => {
      const names = s.dataProcessingOptions.map((o) => o.optionName);
      const parsers = names.flatMap((n, i) => (n === 'CSVTOJSON' || n === 'LOGTOJSON' ? [i] : []));
      if (parsers.length > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['dataProcessingOptions', parsers[1] as number],
          message: 'is a second parser: a line is parsed once (CSVTOJSON or LOGTOJSON)',
        });
      }
      names.forEach((name, i) => {
        if (name === 'ADDMETADATA' && i !== names.length - 1) {
          ctx.addIssue({
            code: 'custom',
            path: ['dataProcessingOptions', i],
            message: 'must be the last option',
          });
        }
        if (name === 'SINGLELINE' && parsers.some((p) => p < i)) {
          ctx.addIssue({
            code: 'custom',
            path: ['dataProcessingOptions', i],
            message: 'must come before the parser (it works on the line text)',
          });
        }
      });
      if (s.truncationMarker.length * 4 >= s.maxLineBytes) {
        ctx.addIssue({
          code: 'custom',
          path: ['truncationMarker'],
          message: 'must be shorter than maxLineBytes',
        });
      }
    }),
  );

export type SourceInput = z.input<typeof schema>;

/** The fields as the schema gives them, before parseSource resolves paths and compiles patterns. */
type ParsedSource = z.output<typeof schema>;

/** A validated source: the schema's fields, with paths resolved and patterns compiled. */
export type SourceDefinition = Readonly<
  Omit<ParsedSource, 'multiLineStartPattern' | 'dataProcessingOptions' | 'levelPatterns' | 'checkpointName'>
> & {
  /** Absolute directory the files live in. */
  readonly directory: string;
  /** The file-name part of filePattern (`*` any run, `?` one character, not `/`); filePattern is absolute. */
  readonly fileNamePattern: string;
  readonly multiLineStartPattern: RegExp | undefined;
  readonly dataProcessingOptions: readonly ProcessingOption[];
  /** Level of lines whose format states none, by the first pattern that matches the line. */
  readonly levelPatterns: readonly LevelPattern[];
  /** Names the source's checkpoint directory; by default a digest of filePattern and stream. */
  readonly checkpointName: string;
};

/** `app.log*` as an anchored regular expression over file names. */
export function fileNameRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|\\\]]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/**
 * Validates one source (`at` is where it sits in the config, for messages); relative patterns are
 * resolved against `baseDir`. Throws ConfigError naming every bad path.
 */
export function parseSource(
  input: unknown,
  baseDir: string,
  at: readonly PropertyKey[] = [],
): SourceDefinition {
  const s = parseOptions(schema, input, { at, unknownKey: 'is not a source field' });
  const filePattern = isAbsolute(s.filePattern) ? s.filePattern : resolve(baseDir, s.filePattern);
  const slash = filePattern.lastIndexOf('/');
  return {
    ...s,
    filePattern,
    directory: filePattern.slice(0, slash) || '/',
    fileNamePattern: filePattern.slice(slash + 1),
    multiLineStartPattern:
      s.multiLineStartPattern === undefined ? undefined : new RegExp(s.multiLineStartPattern),
    levelPatterns: s.levelPatterns.map((p) => ({ pattern: new RegExp(p.pattern), level: p.level })),
    checkpointName:
      s.checkpointName ??
      createHash('sha256').update(`${filePattern}\0${s.stream}`).digest('hex').slice(0, 16),
  };
}
