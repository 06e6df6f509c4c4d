/**
 * Stream manager's S3 key placeholders. The SDKs document an S3ExportTaskDefinition key as holding
 * placeholder expressions "resolved at upload time", whose patterns are Java DateTimeFormatter
 * strings (`myKeyNamePrefix/!{timestamp:yyyy/MM/dd}/myKeyNameSuffix`), and both SDKs validate the
 * key with one rule (S3_TASK_KEY below): a placeholder is `!{name:pattern}` with a pattern of
 * letters and `/` only, and no other `{ } [ ] ' " # % ^ ? | ~ < > \` backquote or space in the key.
 * So the pattern is DateTimeFormatter letters separated by slashes; each run of one letter is
 * formatted as DateTimeFormatter does in the English locale, in UTC. Pure: the caller passes the
 * instant. Week-based fields (Y w W e c F), whose values depend on a locale's week rules, and zone
 * names (V z v) are refused, as are letters DateTimeFormatter does not know and placeholders other
 * than `timestamp`, so a file never lands under a key the user did not mean.
 */
import { S3KeyPatternError } from './errors.ts';

/** The SDKs' rule for S3ExportTaskDefinition.key (`_validations_map` / `validationsMap`), 1-1024 long. */
export const S3_TASK_KEY = /^([^\\{ }%`[\]"'><~#^?|]|!\{[a-zA-Z]+:[a-zA-Z/]+\})*$/;
const PLACEHOLDER = /!\{([a-zA-Z]+):([a-zA-Z/]+)\}/g;
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const QUARTERS = ['1st quarter', '2nd quarter', '3rd quarter', '4th quarter'];
const REFUSED: Record<string, string> = {
  Y: 'week-based year',
  w: 'week of week-based year',
  W: 'week of month',
  e: 'localized day of week',
  c: 'localized day of week',
  F: 'aligned week of month',
  V: 'zone id',
  v: 'generic zone name',
  z: 'zone name',
};

const pad = (value: number, width: number) => String(value).padStart(width, '0');

/** Formats one run of `count` letters `letter`, as DateTimeFormatter.ofPattern does. */
function field(letter: string, count: number, t: Date, pattern: string): string {
  const tooMany = (max: number) => {
    if (count > max) {
      throw new S3KeyPatternError(pattern, `too many pattern letters: ${letter.repeat(count)}`);
    }
  };
  /** Numeric field of up to two letters: one unpadded, two zero-padded to 2. */
  const number2 = (value: number) => {
    tooMany(2);
    return count === 1 ? String(value) : pad(value, 2);
  };
  const year = t.getUTCFullYear();
  const month = t.getUTCMonth();
  const hour = t.getUTCHours();
  const millis = t.getUTCMilliseconds();
  const text = (full: string, short: string) => {
    tooMany(5);
    if (count === 4) return full;
    if (count === 5) return full.slice(0, 1);
    return short;
  };
  switch (letter) {
    case 'G':
      tooMany(5);
      return count === 4 ? 'Anno Domini' : count === 5 ? 'A' : 'AD';
    case 'u':
    case 'y':
      // Two letters: the last two digits; otherwise at least `count` digits.
      return count === 2 ? pad(year % 100, 2) : pad(year, count);
    case 'D': {
      tooMany(3);
      const dayOfYear =
        Math.floor((Date.UTC(year, month, t.getUTCDate()) - Date.UTC(year, 0, 1)) / 86_400_000) + 1;
      return pad(dayOfYear, count);
    }
    case 'M':
    case 'L':
      if (count <= 2) return number2(month + 1);
      return text(MONTHS[month] as string, (MONTHS[month] as string).slice(0, 3));
    case 'd':
      return number2(t.getUTCDate());
    case 'Q':
    case 'q': {
      const quarter = Math.floor(month / 3);
      if (count <= 2) return pad(quarter + 1, count);
      return text(QUARTERS[quarter] as string, `Q${quarter + 1}`);
    }
    case 'E': {
      const day = DAYS[t.getUTCDay()] as string;
      return text(day, day.slice(0, 3));
    }
    case 'a':
      tooMany(1);
      return hour < 12 ? 'AM' : 'PM';
    case 'h':
      return number2(hour % 12 === 0 ? 12 : hour % 12);
    case 'K':
      return number2(hour % 12);
    case 'k':
      return number2(hour === 0 ? 24 : hour);
    case 'H':
      return number2(hour);
    case 'm':
      return number2(t.getUTCMinutes());
    case 's':
      return number2(t.getUTCSeconds());
    case 'S':
      // Fraction of the second, truncated or zero-filled to `count` digits (the clock has ms).
      tooMany(9);
      return pad(millis, 3).padEnd(9, '0').slice(0, count);
    case 'A':
      return pad(t.getTime() - Date.UTC(year, month, t.getUTCDate()), count);
    case 'n':
      return pad(millis * 1_000_000, count);
    case 'N':
      return pad((t.getTime() - Date.UTC(year, month, t.getUTCDate())) * 1_000_000, count);
    case 'O':
      // Localized offset: UTC is "GMT" in both the short (O) and the full (OOOO) form.
      if (count !== 1 && count !== 4)
        throw new S3KeyPatternError(pattern, 'pattern letter O takes 1 or 4 letters');
      return 'GMT';
    case 'X':
      tooMany(5);
      return 'Z';
    case 'x':
      tooMany(5);
      return ['+00', '+0000', '+00:00', '+0000', '+00:00'][count - 1] as string;
    case 'Z':
      tooMany(5);
      return count === 4 ? 'GMT' : count === 5 ? 'Z' : '+0000';
    default: {
      const refused = REFUSED[letter];
      throw new S3KeyPatternError(
        pattern,
        refused === undefined
          ? `unknown pattern letter ${letter}`
          : `pattern letter ${letter} (${refused}) is not supported: it depends on a locale's week or zone rules`,
      );
    }
  }
}

/** Formats `t` (UTC) with a placeholder's pattern: DateTimeFormatter letters and `/`. */
export function formatTimestamp(pattern: string, t: Date): string {
  return pattern.replace(/([A-Za-z])\1*/g, (run, letter: string) => field(letter, run.length, t, pattern));
}

/** Resolves every `!{timestamp:PATTERN}` of an S3 key at `t`; any other placeholder is refused. */
export function expandKey(key: string, t: Date): string {
  return key.replace(PLACEHOLDER, (whole, name: string, pattern: string) => {
    if (name !== 'timestamp') {
      throw new S3KeyPatternError(
        whole,
        'is not a placeholder stream manager knows; use !{timestamp:<DateTimeFormatter letters and />}',
      );
    }
    return formatTimestamp(pattern, t);
  });
}
