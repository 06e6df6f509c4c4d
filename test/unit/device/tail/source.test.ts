import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../device/config.ts';
import { ConfigFileError } from '../../../../device/errors.ts';
import { fileNameRegExp } from '../../../../device/tail/source.ts';
import { thrown } from '../../../helpers/thrown.ts';

const base = {
  storeRoot: '/var/lib/tributary',
  deviceId: 'gw-1',
  aws: { region: 'eu-west-1' },
  streams: [{ name: 'logs' }, { name: 'fast', persistence: 'Memory' }],
};

const withSources = (sources: unknown[]) => parseConfig({ ...base, sources }, '/etc/tributary/agent.json');

describe('sources in the agent config', () => {
  it('fills the Kinesis Agent defaults and resolves a relative pattern against the config file', () => {
    const [source] = withSources([{ filePattern: 'logs/app.log*', stream: 'logs' }]).sources;
    expect(source).toMatchObject({
      filePattern: '/etc/tributary/logs/app.log*',
      directory: '/etc/tributary/logs',
      fileNamePattern: 'app.log*',
      stream: 'logs',
      initialPosition: 'END_OF_FILE',
      skipHeaderLines: 0,
      maxLineBytes: 1_048_576,
      truncationMarker: '[truncated]',
      dataProcessingOptions: [],
      multiLineStartPattern: undefined,
    });
    expect(source?.checkpointName).toMatch(/^[0-9a-f]{16}$/);
    expect(withSources([]).sources).toEqual([]);
    expect(parseConfig(base).sources).toEqual([]);
  });

  it('parses processing options with their defaults', () => {
    const [source] = withSources([
      {
        filePattern: '/var/log/apache2/access.log',
        stream: 'logs',
        initialPosition: 'START_OF_FILE',
        multiLineStartPattern: '^\\[',
        dataProcessingOptions: [
          { optionName: 'LOGTOJSON', logFormat: 'COMBINEDAPACHELOG' },
          { optionName: 'ADDMETADATA' },
        ],
      },
    ]).sources;
    expect(source?.multiLineStartPattern).toEqual(/^\[/);
    expect(source?.dataProcessingOptions).toEqual([
      { optionName: 'LOGTOJSON', logFormat: 'COMBINEDAPACHELOG' },
      { optionName: 'ADDMETADATA', fields: ['device', 'file', 'offset', 'time'] },
    ]);
  });

  it.each([
    [{ filePattern: '/var/log/*.log', stream: 'nope' }, 'sources[0].stream', 'must name one of streams[]'],
    [{ filePattern: '/var/log/*.log', stream: 'fast' }, 'sources[0].stream', 'must be a File stream'],
    [{ filePattern: '/var/*/app.log', stream: 'logs' }, 'sources[0].filePattern', 'in the file name only'],
    [{ filePattern: '/a.log', stream: 'logs', initialPosition: 'MIDDLE' }, 'sources[0].initialPosition', ''],
    [
      { filePattern: '/a.log', stream: 'logs', multiLineStartPattern: '([' },
      'sources[0].multiLineStartPattern',
      'valid regular expression',
    ],
    [{ filePattern: '/a.log', stream: 'logs', skipHeaderLines: -1 }, 'sources[0].skipHeaderLines', ''],
    [{ filePattern: '/a.log', stream: 'logs', maxLineBytes: 10 }, 'sources[0].maxLineBytes', ''],
    [{ filePattern: '/a.log', stream: 'logs', tail: true }, 'sources[0].tail', 'is not a source field'],
    [
      { filePattern: '/a.log', stream: 'logs', dataProcessingOptions: [{ optionName: 'LOGTOJSON' }] },
      'sources[0].dataProcessingOptions[0].logFormat',
      'needs a logFormat or a matchPattern',
    ],
    [
      {
        filePattern: '/a.log',
        stream: 'logs',
        dataProcessingOptions: [{ optionName: 'LOGTOJSON', logFormat: 'IIS' }],
      },
      'sources[0].dataProcessingOptions[0].logFormat',
      '',
    ],
    [
      {
        filePattern: '/a.log',
        stream: 'logs',
        dataProcessingOptions: [{ optionName: 'LOGTOJSON', matchPattern: '(a)' }],
      },
      'sources[0].dataProcessingOptions[0].customFieldNames',
      'is required with a matchPattern',
    ],
    [
      {
        filePattern: '/a.log',
        stream: 'logs',
        dataProcessingOptions: [{ optionName: 'ADDMETADATA' }, { optionName: 'SINGLELINE' }],
      },
      'sources[0].dataProcessingOptions[0]',
      'must be the last option',
    ],
    [
      {
        filePattern: '/a.log',
        stream: 'logs',
        dataProcessingOptions: [
          { optionName: 'CSVTOJSON', customFieldNames: ['a'] },
          { optionName: 'LOGTOJSON', logFormat: 'SYSLOG' },
        ],
      },
      'sources[0].dataProcessingOptions[1]',
      'second parser',
    ],
  ])('refuses %j at its path', (source, path, reason) => {
    const error = thrown(() => withSources([source]));
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as ConfigFileError).path).toBe(path);
    expect((error as ConfigFileError).message).toContain('/etc/tributary/agent.json: config sources[0]');
    expect((error as ConfigFileError).message).toContain(reason);
  });

  it('refuses two sources sharing a checkpoint', () => {
    const error = thrown(() =>
      withSources([
        { filePattern: '/a.log', stream: 'logs' },
        { filePattern: '/a.log', stream: 'logs' },
      ]),
    ) as ConfigFileError;
    expect(error.path).toBe('sources[1].checkpointName');
  });

  it('matches file names with * and ? only', () => {
    const re = fileNameRegExp('app.log*');
    expect(['app.log', 'app.log.1', 'app.log.2.gz'].every((n) => re.test(n))).toBe(true);
    expect(re.test('xapp.log')).toBe(false);
    expect(fileNameRegExp('a?.log').test('ab.log')).toBe(true);
    expect(fileNameRegExp('a?.log').test('a.log')).toBe(false);
    expect(fileNameRegExp('(x).log').test('(x).log')).toBe(true);
  });
});
