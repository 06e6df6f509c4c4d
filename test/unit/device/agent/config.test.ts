import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_API_PORT, loadConfig, parseConfig } from '../../../../device/config.ts';
import { ConfigFileError } from '../../../../device/errors.ts';
import { RECORD_TYPES } from '../../../../shared/contract/index.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const minimal = {
  storeRoot: '/var/lib/tributary',
  deviceId: 'sensor-0001',
  aws: { region: 'eu-west-1' },
  streams: [{ name: 'telemetry', export: { kinesisStreamName: 'tributary-dev-records' } }],
};

function failure(input: unknown, file = 'agent.yaml'): ConfigFileError {
  try {
    parseConfig(input, file);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigFileError);
    return error as ConfigFileError;
  }
  throw new Error('config was accepted');
}

const tmp = useTempDir('tributary-config-');

describe('agent config', () => {
  it('takes an S3 endpoint only for a local cloud', () => {
    expect(
      failure({ ...minimal, aws: { region: 'eu-west-1', s3Endpoint: 'http://127.0.0.1:4569' } }).message,
    ).toMatch(/aws.s3Endpoint: is for a local cloud and needs aws.endpoint too/);
    const local = parseConfig({
      ...minimal,
      aws: { region: 'eu-west-1', endpoint: 'http://127.0.0.1:4567', s3Endpoint: 'http://127.0.0.1:4569' },
    });
    expect(local.aws.s3Endpoint).toBe('http://127.0.0.1:4569');
  });

  it("takes a stream manager port of its own only with stream manager's protocol on", () => {
    expect(parseConfig({ ...minimal, api: { streamManagerPort: 8089 } }).api.streamManagerPort).toBe(8089);
    expect(failure({ ...minimal, api: { streamManager: false, streamManagerPort: 8089 } }).message).toMatch(
      /api.streamManagerPort.*needs api.streamManager: true/,
    );
    expect(failure({ ...minimal, api: { streamManagerPort: 70_000 } }).message).toMatch(
      /api.streamManagerPort/,
    );
  });

  it('fills every default', () => {
    const config = parseConfig(minimal);
    // Auth is on by default: the token file lives in the store directory.
    expect(config.api).toEqual({
      port: DEFAULT_API_PORT,
      host: '127.0.0.1',
      auth: 'token',
      authTokenFile: join(resolve(String(minimal.storeRoot)), 'api-token'),
      maxBodyBytes: 1024 * 1024,
      // Stream manager's wire protocol shares the port (device/PROTOCOL.md).
      streamManager: true,
    });
    const open = parseConfig({ ...minimal, api: { auth: 'none' } });
    expect(open.api.authTokenFile).toBeUndefined();
    expect(() => parseConfig({ ...minimal, api: { auth: 'none', authTokenFile: 't' } })).toThrow(
      /api.authTokenFile: is used only with api.auth: token/,
    );
    expect(config.aws.credentials).toEqual({ source: 'default-chain' });
    expect(config.exporter).toEqual({ maxBufferedBytesPerStream: 512 * 1024, maxInFlightRequests: 4 });
    expect(config.shutdown).toEqual({ drainTimeoutMillis: 0 });
    const [stream] = config.streams;
    expect(stream?.definition).toMatchObject({
      name: 'telemetry',
      maxSize: 256 * 1024 * 1024,
      persistence: 'File',
    });
    expect(stream?.export).toMatchObject({
      logStream: 'telemetry',
      kinesisStreamName: 'tributary-dev-records',
      batchSize: 500,
      checkpointName: 'kinesis.tributary-dev-records',
      deadLetterStream: 'telemetry.dead-letter',
    });
  });

  it('gives each stream the record types it takes: the standard streams one each, the others every type', () => {
    const config = parseConfig({
      ...minimal,
      streams: [
        { name: 'telemetry' },
        { name: 'transactions' },
        { name: 'mixed' },
        { name: 'cards', recordTypes: ['transaction'] },
        { name: 'constructor' },
      ],
    });
    expect(Object.fromEntries(config.streams.map((s) => [s.definition.name, s.recordTypes]))).toEqual({
      telemetry: ['telemetry'],
      transactions: ['transaction'],
      mixed: RECORD_TYPES,
      cards: ['transaction'],
      constructor: RECORD_TYPES,
    });
    for (const [recordTypes, path] of [
      [[], 'streams[0].recordTypes'],
      ['telemetry', 'streams[0].recordTypes'],
      [['telemetry', 'metrics'], 'streams[0].recordTypes[1]'],
      [['telemetry', 'telemetry'], 'streams[0].recordTypes[1]'],
    ] as const) {
      const error = failure({ ...minimal, streams: [{ name: 'telemetry', recordTypes }] });
      expect(error.path).toBe(path);
      expect(error.message).toContain(`agent.yaml: config ${path}`);
    }
  });

  it('names every problem of a stream at once: log fields, record types and export', () => {
    const error = failure({
      ...minimal,
      streams: [
        {
          name: 'a',
          recordTypes: ['metrics', 'log', 'log', 'audit'],
          export: { kinesisStreamName: 'k', logStream: 'x', batchSize: 0 },
        },
      ],
    });
    expect(error.issues.map((issue) => [issue.path, issue.value])).toEqual([
      ['streams[0].recordTypes[0]', 'metrics'],
      ['streams[0].recordTypes[2]', 'log'],
      ['streams[0].recordTypes[3]', 'audit'],
      ['streams[0].export.logStream', 'x'],
      ['streams[0].export.batchSize', 0],
    ]);
    // A bad log field and bad record types together; the export waits for a stream that parses.
    const both = failure({ ...minimal, streams: [{ name: 'a', maxSize: 10, recordTypes: [] }] });
    expect(both.issues.map((issue) => issue.path)).toEqual(['streams[0].maxSize', 'streams[0].recordTypes']);
    expect(failure({ ...minimal, streams: [{ name: 'a', export: ['k'] }] })).toMatchObject({
      path: 'streams[0].export',
      message: expect.stringContaining('streams[0].export: must be an export definition object'),
    });
  });

  it('names the file, the path and the value of a bad export field', () => {
    const input = {
      ...minimal,
      streams: [{ name: 'a' }, { name: 'b', export: { kinesisStreamName: 'k', batchSize: 0 } }],
    };
    const error = failure(input);
    expect(error.path).toBe('streams[1].export.batchSize');
    expect(error.value).toBe(0);
    expect(error.file).toBe('agent.yaml');
    expect(error.message).toMatch(/^agent\.yaml: config streams\[1\]\.export\.batchSize: .*\(got 0\)$/);
  });

  it('reports bad log fields, unknown keys, duplicates and cross-stream rules at their path', () => {
    expect(failure({ ...minimal, streams: [{ name: 'a', maxSize: 10 }] }).path).toBe('streams[0].maxSize');
    expect(failure({ ...minimal, streams: [{ name: 'a', flushOnWrit: true }] }).path).toBe(
      'streams[0].flushOnWrit',
    );
    // JSON.parse makes "__proto__" an own key; it is refused like any unknown key, not dropped.
    const proto = JSON.parse('{"name":"a","__proto__":{"maxSize":1}}') as Record<string, unknown>;
    expect(failure({ ...minimal, streams: [proto] }).path).toBe('streams[0].__proto__');
    const protoExport = JSON.parse('{"kinesisStreamName":"k","__proto__":{"priority":1}}') as object;
    expect(failure({ ...minimal, streams: [{ name: 'a', export: protoExport }] }).path).toBe(
      'streams[0].export.__proto__',
    );
    expect(failure({ ...minimal, apiPort: 1 }).path).toBe('apiPort');
    expect(failure({ ...minimal, api: { host: '0.0.0.0' } })).toMatchObject({
      path: 'api.host',
      value: '0.0.0.0',
    });
    expect(failure({ ...minimal, streams: [{ name: 'a' }, { name: 'a' }] }).path).toBe('streams[1].name');
    const exportsDeadLetter = {
      ...minimal,
      streams: [
        { name: 'a', export: { kinesisStreamName: 'k', deadLetterStream: 'b' } },
        { name: 'b', export: { kinesisStreamName: 'k' } },
      ],
    };
    expect(failure(exportsDeadLetter)).toMatchObject({
      path: 'streams[0].export.deadLetterStream',
      value: 'b',
    });
    expect(
      failure({ ...minimal, streams: [{ name: 'a', export: { kinesisStreamName: 'k', logStream: 'x' } }] })
        .path,
    ).toBe('streams[0].export.logStream');
  });

  it('validates IoT credentials and refuses them with a local endpoint', () => {
    const iot = {
      source: 'iot',
      credentialsEndpoint: 'c2abc.credentials.iot.eu-west-1.amazonaws.com',
      thingName: 'sensor-0001',
      roleAlias: 'tributary-device',
      certificateFile: 'certs/device.pem',
      privateKeyFile: 'certs/device.key',
    };
    const config = parseConfig(
      { ...minimal, aws: { region: 'eu-west-1', credentials: iot } },
      '/etc/tributary/agent.yaml',
    );
    expect(config.aws.credentials).toMatchObject({
      certificateFile: '/etc/tributary/certs/device.pem',
      refreshBeforeExpirySeconds: 300,
    });
    expect(
      failure({ ...minimal, aws: { region: 'eu-west-1', credentials: { ...iot, roleAlias: '' } } }).path,
    ).toBe('aws.credentials.roleAlias');
    expect(
      failure({
        ...minimal,
        aws: { region: 'eu-west-1', endpoint: 'http://127.0.0.1:4567', credentials: iot },
      }).path,
    ).toBe('aws.credentials.source');
  });

  it('puts any out-of-range value of any numeric field at its own path', () => {
    const fields = [
      {
        path: 'api.port',
        set: (v: number) => ({ ...minimal, api: { port: v } }),
        bad: fc.oneof(fc.integer({ min: 65_536 }), fc.integer({ max: -1 })),
      },
      {
        path: 'streams[0].export.priority',
        set: (v: number) => ({
          ...minimal,
          streams: [{ name: 'a', export: { kinesisStreamName: 'k', priority: v } }],
        }),
        bad: fc.oneof(
          fc.integer({ min: 11 }),
          fc.integer({ max: 0 }),
          fc.double({ min: 1.01, max: 9.99, noNaN: true }),
        ),
      },
      {
        path: 'exporter.maxInFlightRequests',
        set: (v: number) => ({ ...minimal, exporter: { maxInFlightRequests: v } }),
        bad: fc.oneof(fc.integer({ min: 65 }), fc.integer({ max: 0 })),
      },
    ];
    for (const field of fields) {
      fc.assert(
        fc.property(field.bad, (value) => {
          fc.pre(!Number.isInteger(value) || value !== 0 || field.path !== 'api.port');
          const error = failure(field.set(value));
          expect(error.path).toBe(field.path);
          expect(error.value).toBe(value);
        }),
      );
    }
  });

  it('loads YAML and JSON files, anchoring relative paths at the file', async () => {
    const yamlFile = join(tmp.path, 'agent.yaml');
    await writeFile(
      yamlFile,
      'storeRoot: ./store\ndeviceId: d-1\naws: { region: us-east-1 }\napi: { authTokenFile: token }\nstreams:\n  - name: s\n',
    );
    const config = await loadConfig(yamlFile);
    expect(config.storeRoot).toBe(join(tmp.path, 'store'));
    expect(config.api.authTokenFile).toBe(join(tmp.path, 'token'));
    const jsonFile = join(tmp.path, 'agent.json');
    await writeFile(jsonFile, JSON.stringify({ ...minimal, deviceId: '-bad' }));
    await expect(loadConfig(jsonFile)).rejects.toMatchObject({
      file: jsonFile,
      path: 'deviceId',
      value: '-bad',
    });
    await writeFile(jsonFile, '{ not json');
    await expect(loadConfig(jsonFile)).rejects.toThrow(/is not valid JSON/);
  });
});

describe('agent config iot.mqtt', () => {
  const iotCredentials = {
    source: 'iot',
    credentialsEndpoint: 'c2abc.credentials.iot.eu-west-1.amazonaws.com',
    thingName: 'gateway-0042',
    roleAlias: 'tributary-device',
    certificateFile: 'certs/device.pem.crt',
    privateKeyFile: 'certs/private.pem.key',
  };

  it('is off unless configured', () => {
    expect(parseConfig(minimal).mqtt).toBeUndefined();
  });

  it('takes the thing name and key files of the IoT credentials, TLS on 8883 by default', () => {
    const config = parseConfig(
      {
        ...minimal,
        aws: { region: 'eu-west-1', credentials: iotCredentials },
        iot: { mqtt: { endpoint: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com' } },
      },
      '/etc/tributary/agent.yaml',
    );
    expect(config.mqtt).toEqual({
      host: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com',
      port: 8883,
      tls: true,
      thingName: 'gateway-0042',
      clientId: 'gateway-0042',
      certificateFile: '/etc/tributary/certs/device.pem.crt',
      privateKeyFile: '/etc/tributary/certs/private.pem.key',
      caFile: undefined,
      topicPrefix: 'tributary',
      statusIntervalMillis: 60_000,
    });
  });

  it('allows plain TCP only to a broker on this device', () => {
    const local = parseConfig({
      ...minimal,
      iot: { mqtt: { endpoint: '127.0.0.1', tls: false, clientId: 'c-1' } },
    });
    expect(local.mqtt).toMatchObject({
      host: '127.0.0.1',
      port: 1883,
      tls: false,
      thingName: 'sensor-0001',
      clientId: 'c-1',
    });
    const remote = failure({
      ...minimal,
      iot: { mqtt: { endpoint: 'broker.example.com:1883', tls: false } },
    });
    expect(remote).toMatchObject({ path: 'iot.mqtt.tls', value: false });
    expect(remote.message).toMatch(
      /agent\.yaml: config iot\.mqtt\.tls: may be false only for a broker on this device/,
    );
  });

  it('names the path and value of a bad iot.mqtt field', () => {
    const cases: [Record<string, unknown>, string, unknown][] = [
      [{ endpoint: 'iot.example.com' }, 'iot.mqtt.certificateFile', undefined],
      [{ endpoint: 'iot.example.com', certificateFile: 'c.pem' }, 'iot.mqtt.privateKeyFile', undefined],
      [{ endpoint: 'iot.example.com:0', tls: false }, 'iot.mqtt.endpoint', 'iot.example.com:0'],
      [{ endpoint: 'http://iot.example.com' }, 'iot.mqtt.endpoint', 'http://iot.example.com'],
      [{ endpoint: '127.0.0.1', tls: false, caFile: 'ca.pem' }, 'iot.mqtt.caFile', 'ca.pem'],
      [{ endpoint: '127.0.0.1', tls: false, topicPrefix: 'fleet/#' }, 'iot.mqtt.topicPrefix', 'fleet/#'],
      [{ endpoint: '127.0.0.1', tls: false, topicPrefix: '$aws/x' }, 'iot.mqtt.topicPrefix', '$aws/x'],
      [{ endpoint: '127.0.0.1', tls: false, statusIntervalMillis: 10 }, 'iot.mqtt.statusIntervalMillis', 10],
      [{ endpoint: '127.0.0.1', tls: false, qos: 2 }, 'iot.mqtt.qos', 2],
    ];
    for (const [mqtt, path, value] of cases) {
      const error = failure({ ...minimal, iot: { mqtt } });
      expect({ path: error.path, value: error.value }).toEqual({ path, value });
    }
  });
});
