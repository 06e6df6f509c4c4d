import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LogFormat, logParser, parseCsvLine } from '../../../../device/tail/parsers.ts';
import { processor } from '../../../../device/tail/process.ts';

const fixture = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../../../fixtures/tail/${name}`, import.meta.url)), 'utf8')
    .split('\n')
    .filter((l) => l !== '');

const READ_TIME = Date.UTC(2026, 11, 5, 14, 10, 0);
const parse = (format: LogFormat, line: string) => logParser(format).parse(line, READ_TIME);

describe('log parsers on real lines', () => {
  it.each([
    ['COMMONAPACHELOG', 'apache-common.log'],
    ['COMBINEDAPACHELOG', 'apache-combined.log'],
    ['APACHEERRORLOG', 'apache-error.log'],
    ['SYSLOG', 'syslog-rfc3164.log'],
    ['RFC3339SYSLOG', 'syslog-rfc3339.log'],
    ['RFC5424SYSLOG', 'syslog-rfc5424.log'],
  ] as const)('%s reads every line of %s, with its time', (format, file) => {
    for (const line of fixture(file)) {
      const parsed = parse(format, line);
      expect(parsed, line).toBeDefined();
      expect(parsed?.time, line).toBeTypeOf('number');
    }
  });

  it('Apache common and combined: Kinesis Agent field names, - as null, the zone applied', () => {
    const [first, , third] = fixture('apache-combined.log');
    expect(parse('COMBINEDAPACHELOG', first as string)).toEqual({
      fields: {
        host: '127.0.0.1',
        ident: null,
        authuser: 'frank',
        datetime: '10/Oct/2000:13:55:36 -0700',
        request: 'GET /apache_pb.gif HTTP/1.0',
        response: '200',
        bytes: '2326',
        referrer: 'http://www.example.com/start.html',
        agent: 'Mozilla/4.08 [en] (Win98; I ;Nav)',
      },
      time: Date.UTC(2000, 9, 10, 20, 55, 36),
    });
    expect(parse('COMBINEDAPACHELOG', third as string)?.fields.request).toBe(
      'GET /search?q=\\"edge logs\\" HTTP/2.0',
    );
    expect(parse('COMMONAPACHELOG', fixture('apache-common.log')[2] as string)?.fields.bytes).toBeNull();
    // A combined line is not a common line and vice versa: the patterns are anchored.
    expect(parse('COMMONAPACHELOG', first as string)).toBeUndefined();
  });

  it('Apache error log 2.2 and 2.4', () => {
    const [old, current] = fixture('apache-error.log');
    expect(parse('APACHEERRORLOG', old as string)).toEqual({
      fields: {
        timestamp: 'Wed Oct 11 14:32:52 2000',
        module: null,
        severity: 'error',
        processid: null,
        threadid: null,
        client: '127.0.0.1',
        message: 'client denied by server configuration: /export/home/live/ap/htdocs/test',
      },
      time: Date.UTC(2000, 9, 11, 14, 32, 52),
    });
    expect(parse('APACHEERRORLOG', current as string)).toEqual({
      fields: {
        timestamp: 'Fri Sep 09 10:42:29.902022 2011',
        module: 'core',
        severity: 'error',
        processid: '35708',
        threadid: '4328636416',
        client: '72.15.99.187',
        message: 'File does not exist: /usr/local/apache2/htdocs/favicon.ico',
      },
      time: Date.UTC(2011, 8, 9, 10, 42, 29, 902),
    });
  });

  it('syslog RFC 3164: no year in the line, so the read year (or the one before for a future date)', () => {
    const [cron, kernel, withPri] = fixture('syslog-rfc3164.log');
    expect(parse('SYSLOG', cron as string)).toEqual({
      fields: {
        timestamp: 'Mar  7 04:32:01',
        hostname: 'raspberrypi',
        program: 'CRON',
        processid: '12345',
        message: '(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)',
      },
      time: Date.UTC(2026, 2, 7, 4, 32, 1),
    });
    expect(parse('SYSLOG', kernel as string)?.fields).toMatchObject({ program: 'kernel', processid: null });
    const january = Date.UTC(2027, 0, 1, 0, 5);
    expect(logParser('SYSLOG').parse(withPri as string, january)?.time).toBe(
      Date.UTC(2026, 9, 11, 22, 14, 15),
    );
  });

  it('syslog RFC 3339 and RFC 5424 (nil values as null, structured data kept)', () => {
    const [systemd] = fixture('syslog-rfc3339.log');
    expect(parse('RFC3339SYSLOG', systemd as string)?.time).toBe(Date.UTC(2026, 11, 5, 14, 3, 19, 123));
    const [su, donuts, sd] = fixture('syslog-rfc5424.log');
    expect(parse('RFC5424SYSLOG', su as string)).toEqual({
      fields: {
        priority: '34',
        timestamp: '2003-10-11T22:14:15.003Z',
        hostname: 'mymachine.example.com',
        appname: 'su',
        procid: null,
        msgid: 'ID47',
        structureddata: null,
        message: "'su root' failed for lonvick on /dev/pts/8",
      },
      time: Date.UTC(2003, 9, 11, 22, 14, 15, 3),
    });
    expect(parse('RFC5424SYSLOG', donuts as string)?.time).toBe(Date.UTC(2003, 7, 24, 12, 14, 15, 0));
    expect(parse('RFC5424SYSLOG', sd as string)?.fields.structureddata).toBe(
      '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]',
    );
  });
});

const token = fc.stringMatching(/^[A-Za-z0-9._:/?=&%-]{1,20}$/);
/** `-` is Apache's "no value": it reads back as null, so generated values avoid it. */
const value = token.filter((t) => t !== '-');
const quoted = fc.stringMatching(/^[A-Za-z0-9 ._:/?=&;()[\]-]{0,30}$/);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

describe('log parsers round-trip generated lines', () => {
  it('Apache combined: every field back, and the time with its zone', () => {
    fc.assert(
      fc.property(
        fc.record({
          host: value,
          ident: fc.option(value, { nil: null }),
          authuser: fc.option(value, { nil: null }),
          request: quoted,
          response: fc.stringMatching(/^[1-5]\d\d$/),
          bytes: fc.option(fc.nat().map(String), { nil: null }),
          referrer: fc.option(
            quoted.filter((q) => q !== '-'),
            { nil: null },
          ),
          agent: quoted.filter((q) => q !== '-'),
        }),
        fc.date({
          min: new Date('2001-01-01T00:00:00Z'),
          max: new Date('2099-01-01T00:00:00Z'),
          noInvalidDate: true,
        }),
        fc.integer({ min: -12 * 60, max: 14 * 60 }),
        (f, date, zoneMinutes) => {
          const t = Math.floor(date.getTime() / 1000) * 1000;
          const local = new Date(t + zoneMinutes * 60_000);
          const zone = `${zoneMinutes < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(zoneMinutes) / 60))}${pad(Math.abs(zoneMinutes) % 60)}`;
          const datetime = `${pad(local.getUTCDate())}/${MONTHS[local.getUTCMonth()]}/${local.getUTCFullYear()}:${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())} ${zone}`;
          const d = (v: string | null) => v ?? '-';
          const line = `${f.host} ${d(f.ident)} ${d(f.authuser)} [${datetime}] "${f.request}" ${f.response} ${d(f.bytes)} "${d(f.referrer)}" "${f.agent}"`;
          const parsed = parse('COMBINEDAPACHELOG', line);
          expect(parsed?.fields).toEqual({ ...f, datetime, request: f.request === '-' ? null : f.request });
          expect(parsed?.time).toBe(t);
        },
      ),
    );
  });

  it('syslog RFC 5424: every header field and the message back', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 191 }),
        fc.date({
          min: new Date('2001-01-01T00:00:00Z'),
          max: new Date('2099-01-01T00:00:00Z'),
          noInvalidDate: true,
        }),
        token,
        token,
        fc.option(fc.stringMatching(/^[0-9]{1,6}$/), { nil: null }),
        fc.option(token, { nil: null }),
        fc.string({ maxLength: 40 }).map((s) => s.replace(/[\n\r]/g, ' ')),
        (pri, date, host, app, procid, msgid, message) => {
          const ts = date.toISOString();
          const line = `<${pri}>1 ${ts} ${host} ${app} ${procid ?? '-'} ${msgid ?? '-'} - ${message}`;
          const parsed = parse('RFC5424SYSLOG', line);
          expect(parsed).toEqual({
            fields: {
              priority: String(pri),
              timestamp: ts,
              hostname: host === '-' ? null : host,
              appname: app === '-' ? null : app,
              procid,
              msgid: msgid === '-' ? null : msgid,
              structureddata: null,
              message: message === '-' ? null : message,
            },
            time: date.getTime(),
          });
        },
      ),
    );
  });

  it('CSV: quoted fields with delimiters and quotes inside come back whole', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ maxLength: 12 }).map((s) => s.replace(/[\n\r]/g, '')),
          { minLength: 1, maxLength: 8 },
        ),
        fc.constantFrom(',', ';', '\t', '||'),
        (values, delimiter) => {
          const line = values.map((v) => `"${v.replace(/"/g, '""')}"`).join(delimiter);
          const names = values.map((_, i) => `f${i}`);
          expect(parseCsvLine(line, [...names, 'extra'], delimiter)).toEqual({
            ...Object.fromEntries(values.map((v, i) => [`f${i}`, v])),
            extra: null,
          });
          if (values.length > 1) expect(parseCsvLine(line, names.slice(1), delimiter)).toBeUndefined();
        },
      ),
    );
  });
});

describe('processing options', () => {
  const ctx = { deviceId: 'gw-1', file: '/var/log/app.log', offset: 120, readTime: READ_TIME };

  it('single-line, then metadata with the read time (no parser); level info by default', () => {
    const run = processor([
      { optionName: 'SINGLELINE' },
      { optionName: 'ADDMETADATA', fields: ['device', 'file', 'offset', 'time'], metadata: { site: 'A' } },
    ]);
    // Kinesis Agent's SINGLELINE: newlines out, each line trimmed, nothing put between them.
    expect(run('Exception: boom\n   at a()\n   at b()', ctx)).toEqual({
      message: 'Exception: boomat a()at b()',
      level: 'info',
      fields: { site: 'A', device: 'gw-1', file: '/var/log/app.log', offset: '120', time: String(READ_TIME) },
      time: READ_TIME,
      unparsed: false,
      fieldTruncated: false,
    });
  });

  it('log to JSON takes the line time; an unreadable line is kept whole with the reason, never dropped', () => {
    const run = processor([{ optionName: 'LOGTOJSON', logFormat: 'COMMONAPACHELOG' }]);
    const ok = run(fixture('apache-common.log')[0] as string, ctx);
    expect(ok.time).toBe(Date.UTC(2000, 9, 10, 20, 55, 36));
    expect(ok.message).toBe(fixture('apache-common.log')[0]);
    expect(ok.fields).toMatchObject({ host: '127.0.0.1', response: '200' });
    expect('ident' in ok.fields).toBe(false); // `-` is no value
    const bad = run('not an access log line', ctx);
    expect(bad).toEqual({
      message: 'not an access log line',
      level: 'info',
      fields: { parse_error: 'does not match COMMONAPACHELOG' },
      time: READ_TIME,
      unparsed: true,
      fieldTruncated: false,
    });
  });

  it('CSV to JSON with field names and delimiter; custom pattern with names', () => {
    const csv = processor([
      { optionName: 'CSVTOJSON', customFieldNames: ['ts', 'level', 'msg'], delimiter: ';' },
    ]);
    const row = csv('2026-12-05;WARN;"disk; 91% full"', ctx);
    expect(row.fields).toEqual({ ts: '2026-12-05', level: 'WARN', msg: 'disk; 91% full' });
    expect(row.level).toBe('warning');
    const custom = processor([
      { optionName: 'LOGTOJSON', matchPattern: '^(\\w+) (\\d+)$', customFieldNames: ['word', 'number'] },
    ]);
    expect(custom('hello 42', ctx).fields).toEqual({ word: 'hello', number: '42' });
  });

  it('levels: access status, Apache error severity, syslog PRI, patterns for the rest', () => {
    const access = processor([{ optionName: 'LOGTOJSON', logFormat: 'COMMONAPACHELOG' }]);
    const line = (status: number) => `1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" ${status} 12`;
    expect([200, 304, 404, 503].map((s) => access(line(s), ctx).level)).toEqual([
      'info',
      'info',
      'warning',
      'error',
    ]);
    const error = processor([{ optionName: 'LOGTOJSON', logFormat: 'APACHEERRORLOG' }]);
    const e = error('[Wed Oct 11 14:32:52 2000] [crit] [client 127.0.0.1] client denied by server', ctx);
    expect(e).toMatchObject({ level: 'critical', message: 'client denied by server' });
    const syslog = processor([{ optionName: 'LOGTOJSON', logFormat: 'SYSLOG' }]);
    // PRI 11 = facility 1 (user), severity 3 (error); without a PRI the line states no level.
    expect(syslog('<11>Mar  7 04:32:01 host app[12]: disk failed', ctx)).toMatchObject({
      level: 'error',
      message: 'disk failed',
    });
    expect(syslog('Mar  7 04:32:01 host app[12]: started', ctx).level).toBe('info');
    const plain = processor([], {
      levelPatterns: [
        { pattern: /\bERROR\b/, level: 'error' },
        { pattern: /\bWARN/, level: 'warning' },
      ],
      defaultLevel: 'notice',
    });
    expect(['x ERROR y', 'WARNING z', 'hello'].map((t) => plain(t, ctx).level)).toEqual([
      'error',
      'warning',
      'notice',
    ]);
  });

  it('a field value over the contract limit is cut with the marker and flagged', () => {
    const run = processor([{ optionName: 'LOGTOJSON', matchPattern: '^(.*)$', customFieldNames: ['all'] }], {
      truncationMarker: '[cut]',
    });
    const out = run('x'.repeat(10_000), ctx);
    expect(out.fields.all).toHaveLength(8192);
    expect(out.fields.all?.endsWith('[cut]')).toBe(true);
    expect(out.fieldTruncated).toBe(true);
  });
});
