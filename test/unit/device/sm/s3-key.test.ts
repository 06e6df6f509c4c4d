import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { S3KeyPatternError } from '../../../../device/sm/errors.ts';
import { expandKey, formatTimestamp, S3_TASK_KEY } from '../../../../device/sm/s3-key.ts';

/** A Thursday, 64th day of the year, in the morning (UTC). */
const T = new Date('2026-03-05T07:08:09.012Z');

describe('S3 key placeholders (!{timestamp:DateTimeFormatter letters})', () => {
  it("formats DateTimeFormatter's letters as Java does in the English locale, in UTC", () => {
    const cases: [string, string][] = [
      ['yyyy/MM/dd', '2026/03/05'],
      ['yy-M-d', '26-3-5'],
      ['uuuu', '2026'],
      ['yyyyyy', '002026'],
      ['HH:mm:ss.SSS', '07:08:09.012'],
      ['SSSSSS', '012000'],
      ['S', '0'],
      ['h a', '7 AM'],
      ['D DDD', '64 064'],
      ['EEE EEEE EEEEE', 'Thu Thursday T'],
      ['MMM MMMM MMMMM LL', 'Mar March M 03'],
      ['Q QQ QQQ QQQQ', '1 01 Q1 1st quarter'],
      ['G GGGG', 'AD Anno Domini'],
      ['X x xx xxx Z ZZZZ ZZZZZ O', 'Z +00 +0000 +00:00 +0000 GMT Z GMT'],
      ['A', String(7 * 3_600_000 + 8 * 60_000 + 9_012)],
      ['n', '12000000'],
    ];
    for (const [pattern, expected] of cases) expect(formatTimestamp(pattern, T), pattern).toBe(expected);
  });

  it('counts hours of the clock as Java does around midnight and noon', () => {
    const midnight = new Date('2026-03-05T00:30:00Z');
    const noon = new Date('2026-03-05T12:30:00Z');
    expect(formatTimestamp('H k K h a', midnight)).toBe('0 24 0 12 AM');
    expect(formatTimestamp('H k K h a', noon)).toBe('12 12 0 12 PM');
  });

  it("takes the keys the SDKs' own rule takes: placeholders of letters and /, none of the reserved characters", () => {
    for (const key of [
      'myKeyNamePrefix/!{timestamp:yyyy/MM/dd}/myKeyNameSuffix',
      'a/b-c_d.e!f(g)',
      'x/!{timestamp:HH}',
    ]) {
      expect(S3_TASK_KEY.test(key), key).toBe(true);
    }
    for (const key of [
      'a b',
      'x/!{timestamp:yyyy-MM}',
      'x/!{timestamp}',
      'x{',
      "it's",
      'a#b',
      'a\\b',
      'q?',
    ]) {
      expect(S3_TASK_KEY.test(key), key).toBe(false);
    }
  });

  it('resolves every placeholder of a key and leaves the rest as written', () => {
    expect(expandKey('myKeyNamePrefix/!{timestamp:yyyy/MM/dd}/myKeyNameSuffix', T)).toBe(
      'myKeyNamePrefix/2026/03/05/myKeyNameSuffix',
    );
    expect(expandKey('a/!{timestamp:yyyy}/b/!{timestamp:HHmm}.bin', T)).toBe('a/2026/b/0708.bin');
  });

  it('refuses what it would not format as stream manager does, naming the placeholder and why', () => {
    const refused = (key: string) => {
      try {
        expandKey(key, T);
      } catch (error) {
        expect(error).toBeInstanceOf(S3KeyPatternError);
        expect((error as S3KeyPatternError).code).toBe('SM_S3_KEY_PATTERN');
        return (error as Error).message;
      }
      return 'expanded';
    };
    expect(refused('x/!{date:yyyy}')).toMatch(/"!\{date:yyyy\}": is not a placeholder .*!\{timestamp:/);
    expect(refused('x/!{timestamp:YYYY/ww}')).toMatch(/letter Y \(week-based year\) is not supported/);
    expect(refused('x/!{timestamp:ddd}')).toMatch(/too many pattern letters: ddd/);
    expect(refused('x/!{timestamp:yyyy/bb}')).toMatch(/unknown pattern letter b/);
  });

  it('agrees with the ISO-8601 form of any instant (property)', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('1000-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        (t) => {
          const iso = t.toISOString();
          expect(formatTimestamp('yyyy-MM-dd HH:mm:ss.SSS', t)).toBe(iso.slice(0, 23).replace('T', ' '));
          expect(expandKey('k/!{timestamp:yyyy/MM/dd}/!{timestamp:HH/mm/ss/SSS}.bin', t)).toBe(
            `k/${iso.slice(0, 10).replaceAll('-', '/')}/${iso.slice(11, 23).replaceAll(/[:.]/g, '/')}.bin`,
          );
          const dayOfYear = Math.floor((t.getTime() - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
          expect(formatTimestamp('D', t)).toBe(String(dayOfYear));
        },
      ),
    );
  });

  it('leaves a key without placeholders unchanged (property)', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('!{')),
        (key) => {
          expect(expandKey(key, T)).toBe(key);
        },
      ),
    );
  });
});
