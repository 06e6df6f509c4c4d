/**
 * The agent's one config file (JSON or YAML), validated once here; everything past this module works
 * with the typed result. Every field and default is documented in device/README.md.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { RECORD_TYPES, type RecordType } from '../shared/contract/index.ts';
import { ConfigError, type ConfigIssue, formatPath } from '../shared/errors.ts';
import { DEFAULT_MAX_RECORD_BYTES } from '../shared/kinesis/limits.ts';
import { parseOptions } from '../shared/options.ts';
import * as z from '../shared/zod.ts';
import { ConfigFileError } from './errors.ts';
import {
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_IN_FLIGHT_REQUESTS,
  type ExportDefinition,
  exporterLimitFields,
  parseExportDefinitions,
} from './export/index.ts';
import { parseStreamDefinition, type StreamDefinition } from './log/index.ts';
import { parseSource, type SourceDefinition } from './tail/source.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Stream manager's SERVER_PORT default. */
export const DEFAULT_API_PORT = 8088;
/**
 * 1 MiB: a Kinesis record's default size limit (a bigger JSON record could not be exported anyway)
 * and the CLI's batch size. The agent runs with a 48 MB heap (device/README.md's launch line); a body
 * is held once as bytes and its records once parsed and once encoded, and up to four bodies are read at
 * once (device/api/server.ts), which leaves most of the heap to the log and the exporter.
 */
export const DEFAULT_MAX_BODY_BYTES = DEFAULT_MAX_RECORD_BYTES;
/** A stream's raised Kinesis MaxRecordSize tops out at 10 MiB; larger bodies only risk the heap. */
const MAX_BODY_BYTES_CEILING = 16 * MiB;
/** The token file's name in the store directory when `api.authTokenFile` is not given. */
export const DEFAULT_TOKEN_FILE_NAME = 'api-token';
/** The local API never listens on another interface. */
export const API_HOST = '127.0.0.1';

/** The contract's device_id rule, so the id can double as the default partition key. */
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
/** AWS IoT credentials endpoint host, with an optional port (tests use a local server). */
const HOST_PORT = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;
/** AWS IoT thing names and role aliases. */
const IOT_NAME = /^[A-Za-z0-9:_=,@.-]{1,128}$/;

const path = z.string().check(z.minLength(1, 'must be a non-empty path'));
/** Topic levels without MQTT wildcards or a leading `$` (reserved for broker topics). */
const TOPIC_PREFIX = /^[A-Za-z0-9_.:-][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+){0,3}$/;
/** AWS IoT client ids: up to 128 bytes. */
const CLIENT_ID = /^[A-Za-z0-9:_=,@.-]{1,128}$/;
/** Hosts a plain-TCP (no TLS) broker may have: this device only. */
const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3})$/;

export const DEFAULT_MQTT_TOPIC_PREFIX = 'tributary';
export const DEFAULT_MQTT_STATUS_INTERVAL_MILLIS = 60_000;

const iotName = () => z.string().check(z.regex(IOT_NAME, 'must be 1-128 of A-Z a-z 0-9 : _ = , @ . -'));
const hostPort = () => z.string().check(z.regex(HOST_PORT, 'must be a host name, optionally with :port'));

const mqtt = z.strictObject({
  endpoint: hostPort(),
  clientId: z.optional(z.string().check(z.regex(CLIENT_ID, 'must be 1-128 of A-Z a-z 0-9 : _ = , @ . -'))),
  thingName: z.optional(iotName()),
  tls: z._default(z.boolean(), true),
  certificateFile: z.optional(path),
  privateKeyFile: z.optional(path),
  caFile: z.optional(path),
  topicPrefix: z._default(
    z
      .string()
      .check(
        z.regex(
          TOPIC_PREFIX,
          'must be 1-4 topic levels of A-Z a-z 0-9 _ . : - (no wildcards, no leading $ or /)',
        ),
      ),
    DEFAULT_MQTT_TOPIC_PREFIX,
  ),
  statusIntervalMillis: z._default(
    z.int().check(z.gte(1_000), z.lte(86_400_000)),
    DEFAULT_MQTT_STATUS_INTERVAL_MILLIS,
  ),
});

const credentials = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('default-chain') }),
  z.strictObject({
    source: z.literal('iot'),
    credentialsEndpoint: hostPort(),
    thingName: iotName(),
    roleAlias: iotName(),
    certificateFile: path,
    privateKeyFile: path,
    caFile: z.optional(path),
    refreshBeforeExpirySeconds: z._default(z.int().check(z.gte(0), z.lte(3_000)), 300),
  }),
]);

const schema = z.strictObject({
  storeRoot: path,
  deviceId: z
    .string()
    .check(z.regex(DEVICE_ID, 'must be 1-128 of A-Z a-z 0-9 . _ : - starting with a letter or digit')),
  aws: z.strictObject({
    region: z.string().check(z.regex(REGION, 'must be an AWS region like eu-west-1')),
    endpoint: z.optional(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
    /** S3 endpoint of a local cloud, for stream manager's S3 export tasks (with `endpoint` only). */
    s3Endpoint: z.optional(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
    /** IoT SiteWise endpoint of a local cloud, for stream manager's SiteWise export (with `endpoint` only). */
    siteWiseEndpoint: z.optional(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
    credentials: z._default(credentials, { source: 'default-chain' }),
  }),
  api: z._default(
    z
      .strictObject({
        port: z._default(z.int().check(z.gte(0), z.lte(65_535)), DEFAULT_API_PORT),
        host: z._default(
          z.literal(API_HOST, 'must be 127.0.0.1: the API never listens on other interfaces'),
          API_HOST,
        ),
        auth: z._default(z.enum(['token', 'none']), 'token'),
        authTokenFile: z.optional(path),
        maxBodyBytes: z._default(
          z.int().check(z.gte(64 * KiB), z.lte(MAX_BODY_BYTES_CEILING)),
          DEFAULT_MAX_BODY_BYTES,
        ),
        /** Greengrass stream manager's wire protocol on the same port (device/PROTOCOL.md). */
        streamManager: z._default(z.boolean(), true),
        /**
         * A port of stream manager's protocol alone, beside the API port (stream manager's
         * STREAM_MANAGER_SERVER_PORT): for components whose environment names another port than the API's.
         */
        streamManagerPort: z.optional(z.int().check(z.gte(0), z.lte(65_535))),
      })
      .check(
        z.superRefine((api, ctx) => {
          if (api.streamManagerPort !== undefined && !api.streamManager) {
            ctx.addIssue({
              code: 'custom',
              path: ['streamManagerPort'],
              message: 'needs api.streamManager: true (the protocol is off)',
            });
          }
        }),
      ),
    {
      port: DEFAULT_API_PORT,
      host: API_HOST,
      auth: 'token',
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      streamManager: true,
    },
  ),
  exporter: z._default(
    z.strictObject({
      maxBandwidthBytesPerSecond: exporterLimitFields.maxBandwidthBytesPerSecond,
      maxBufferedBytesPerStream: exporterLimitFields.maxBufferedBytes,
      maxInFlightRequests: exporterLimitFields.maxInFlightRequests,
    }),
    {
      maxBufferedBytesPerStream: DEFAULT_MAX_BUFFERED_BYTES,
      maxInFlightRequests: DEFAULT_MAX_IN_FLIGHT_REQUESTS,
    },
  ),
  shutdown: z._default(
    z.strictObject({
      drainTimeoutMillis: z._default(z.int().check(z.gte(0), z.lte(3_600_000)), 0),
    }),
    { drainTimeoutMillis: 0 },
  ),
  iot: z.optional(z.strictObject({ mqtt: z.optional(mqtt) })),
  // Passed through unparsed (z.record would drop a "__proto__" key without a word); each stream is
  // validated field by field in parseStreams.
  streams: z
    .array(
      z.custom<Record<string, unknown>>(
        (item) => item !== null && typeof item === 'object' && !Array.isArray(item),
        'must be a stream definition object',
      ),
    )
    .check(z.minLength(1, 'must list at least one stream')),
  // Files tailed into streams (device/tail); each is validated in parseSources.
  sources: z._default(
    z.array(
      z.custom<Record<string, unknown>>(
        (item) => item !== null && typeof item === 'object' && !Array.isArray(item),
        'must be a source definition object',
      ),
    ),
    [],
  ),
});

type Parsed = z.output<typeof schema>;

export type CredentialsConfig = Parsed['aws']['credentials'];
export type IotCredentialsConfig = Extract<CredentialsConfig, { source: 'iot' }>;

export interface StreamConfig {
  readonly definition: StreamDefinition;
  readonly export?: ExportDefinition;
  /** The contract record types appends to this stream may carry (`streams[].recordTypes`, else the default). */
  readonly recordTypes: readonly RecordType[];
}

/**
 * What the standard streams take when `recordTypes` is not given: the streams `npm start`'s fleet
 * and device/README.md's examples use, one record type each. Any other stream takes every type.
 */
export const DEFAULT_STREAM_RECORD_TYPES: Readonly<Record<string, readonly RecordType[]>> = {
  telemetry: ['telemetry'],
  transactions: ['transaction'],
};

/** The record types a stream named `name` takes without a `recordTypes` field. */
export function defaultRecordTypes(name: string): readonly RecordType[] {
  return (
    (Object.hasOwn(DEFAULT_STREAM_RECORD_TYPES, name) ? DEFAULT_STREAM_RECORD_TYPES[name] : undefined) ??
    RECORD_TYPES
  );
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const RECORD_TYPE_LIST = `(${RECORD_TYPES.join(', ')})`;

/** `streams[i].recordTypes`: a non-empty list of contract record types, each once; every bad item is named. */
const recordTypesSchema = z
  .array(z.unknown(), `must be a non-empty list of record types ${RECORD_TYPE_LIST}`)
  .check(
    z.minLength(1, `must be a non-empty list of record types ${RECORD_TYPE_LIST}`),
    z.superRefine((types, ctx) => {
      types.forEach((type, i) => {
        const message = !(RECORD_TYPES as readonly unknown[]).includes(type)
          ? `is not a record type ${RECORD_TYPE_LIST}`
          : types.indexOf(type) !== i
            ? 'is listed twice'
            : undefined;
        if (message !== undefined) ctx.addIssue({ code: 'custom', path: [i], input: type, message });
      });
    }),
  );

/** The record types of a list recordTypesSchema accepted. */
const asRecordTypes = (types: readonly unknown[]) => types as readonly RecordType[];

/** `streams[i].export` before the export parser reads it. */
const streamExportSchema = z.custom<Record<string, unknown>>(isObject, 'must be an export definition object');

/** `iot.mqtt` resolved: host and port split, thing name, client id and key files filled in. */
export interface MqttConfig {
  readonly host: string;
  readonly port: number;
  /** mTLS (AWS IoT Core) when true; plain TCP, loopback brokers only, when false. */
  readonly tls: boolean;
  readonly thingName: string;
  readonly clientId: string;
  readonly certificateFile: string | undefined;
  readonly privateKeyFile: string | undefined;
  readonly caFile: string | undefined;
  readonly topicPrefix: string;
  readonly statusIntervalMillis: number;
}

/** `api` resolved: the token file is absolute, and undefined exactly when `auth` is `none`. */
export interface ApiConfig extends Omit<Parsed['api'], 'authTokenFile'> {
  readonly authTokenFile: string | undefined;
}

/** The validated config: defaults filled in, file paths absolute. */
export interface AgentConfig extends Omit<Parsed, 'streams' | 'iot' | 'api' | 'sources'> {
  readonly api: ApiConfig;
  /** The file it came from, for messages; undefined for configs built in code. */
  readonly file: string | undefined;
  /** Status publishing over MQTT; undefined when `iot.mqtt` is not configured. */
  readonly mqtt: MqttConfig | undefined;
  readonly streams: readonly StreamConfig[];
  /** Files tailed into streams; empty when none are configured. */
  readonly sources: readonly SourceDefinition[];
}

/**
 * Fills in `iot.mqtt`: the thing name and key files default to the IoT credentials' (one device
 * identity), plain TCP is refused off this device, and TLS needs a certificate and key.
 */
function resolveMqtt(parsed: Parsed, label: string, abs: (p: string) => string): MqttConfig | undefined {
  const input = parsed.iot?.mqtt;
  if (input === undefined) return undefined;
  const creds = parsed.aws.credentials.source === 'iot' ? parsed.aws.credentials : undefined;
  const [host = '', portText] = input.endpoint.split(':');
  const port = portText === undefined ? (input.tls ? 8883 : 1883) : Number(portText);
  if (!(port >= 1 && port <= 65_535)) {
    throw new ConfigFileError(label, 'iot.mqtt.endpoint', input.endpoint, 'has a port outside 1-65535');
  }
  const fail = (key: string, value: unknown, reason: string): never => {
    throw new ConfigFileError(label, `iot.mqtt.${key}`, value, reason);
  };
  if (!input.tls) {
    if (!LOOPBACK_HOST.test(host)) {
      fail('tls', false, `may be false only for a broker on this device (127.0.0.1, localhost), not ${host}`);
    }
    for (const key of ['certificateFile', 'privateKeyFile', 'caFile'] as const) {
      if (input[key] !== undefined) fail(key, input[key], 'is used only with tls: true');
    }
  }
  const certificateFile = input.tls ? (input.certificateFile ?? creds?.certificateFile) : undefined;
  const privateKeyFile = input.tls ? (input.privateKeyFile ?? creds?.privateKeyFile) : undefined;
  if (input.tls && certificateFile === undefined) {
    fail(
      'certificateFile',
      undefined,
      'is required with tls (AWS IoT Core authenticates the device certificate)',
    );
  }
  if (input.tls && privateKeyFile === undefined) {
    fail('privateKeyFile', undefined, 'is required with tls (the key of the device certificate)');
  }
  const caFile = input.tls ? (input.caFile ?? creds?.caFile) : undefined;
  const thingName = input.thingName ?? creds?.thingName ?? parsed.deviceId;
  return {
    host,
    port,
    tls: input.tls,
    thingName,
    clientId: input.clientId ?? thingName,
    certificateFile: certificateFile === undefined ? undefined : abs(certificateFile),
    privateKeyFile: privateKeyFile === undefined ? undefined : abs(privateKeyFile),
    caFile: caFile === undefined ? undefined : abs(caFile),
    topicPrefix: input.topicPrefix,
    statusIntervalMillis: input.statusIntervalMillis,
  };
}

/**
 * `api.auth: token` (the default) takes the token file from `api.authTokenFile` or the store
 * directory; `none` turns auth off, explicitly, and then takes no token file.
 */
function resolveApi(
  api: Parsed['api'],
  storeRoot: string,
  label: string,
  abs: (p: string) => string,
): ApiConfig {
  const { authTokenFile, ...rest } = api;
  if (api.auth === 'none') {
    if (authTokenFile !== undefined) {
      throw new ConfigFileError(
        label,
        'api.authTokenFile',
        authTokenFile,
        'is used only with api.auth: token',
      );
    }
    return { ...rest, authTokenFile: undefined };
  }
  return {
    ...rest,
    authTokenFile:
      authTokenFile === undefined ? join(storeRoot, DEFAULT_TOKEN_FILE_NAME) : abs(authTokenFile),
  };
}

/** The same error for the config file, every issue's path rewritten by `move`. */
function inFile(error: ConfigError, file: string, move: (path: string) => string): ConfigFileError {
  const [first, ...rest] = error.issues;
  const moved = (issue: ConfigIssue) => ({ ...issue, path: move(issue.path) });
  return new ConfigFileError(file, move(first.path), first.value, first.reason, {
    cause: error,
    also: rest.map(moved),
  });
}

/** A path of a nested parser moved under `prefix` (e.g. `streams[1].export`), `innerRoot` dropped. */
function under(prefix: string, innerRoot = ''): (path: string) => string {
  return (path) => {
    let inner = path;
    if (innerRoot !== '' && inner.startsWith(innerRoot))
      inner = inner.slice(innerRoot.length).replace(/^\./, '');
    return inner === '' ? prefix : inner.startsWith('[') ? `${prefix}${inner}` : `${prefix}.${inner}`;
  };
}

/**
 * Each stream validated at `streams[i]`: its log fields, record types and export are all checked,
 * and one ConfigFileError names every problem of the first stream that has any.
 */
function parseStreams(items: readonly Record<string, unknown>[], file: string): StreamConfig[] {
  const out: StreamConfig[] = [];
  const names = new Map<string, number>();
  items.forEach((item, index) => {
    const at = formatPath(['streams', index]);
    const { export: exportInput, recordTypes: typesInput, ...logInput } = item;
    const issues: ConfigIssue[] = [];
    /** Runs `parse`; on a ConfigError keeps its issues (paths moved by `move`) and returns undefined. */
    const collect = <T>(parse: () => T, move: (path: string) => string = (path) => path): T | undefined => {
      try {
        return parse();
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        issues.push(...error.issues.map((issue) => ({ ...issue, path: move(issue.path) })));
        return undefined;
      }
    };
    const definition = collect(() => parseStreamDefinition(logInput), under(at));
    if (definition !== undefined && names.has(definition.name)) {
      issues.push({
        path: `${at}.name`,
        value: definition.name,
        reason: `is already defined by streams[${names.get(definition.name)}]`,
      });
    }
    if (definition !== undefined) names.set(definition.name, index);
    const recordTypes = collect(() =>
      typesInput === undefined
        ? defaultRecordTypes(definition?.name ?? '')
        : asRecordTypes(
            parseOptions(recordTypesSchema, typesInput, { at: ['streams', index, 'recordTypes'] }),
          ),
    );
    const exportFields = collect(() =>
      exportInput === undefined
        ? undefined
        : parseOptions(streamExportSchema, exportInput, { at: ['streams', index, 'export'] }),
    );
    if (exportFields !== undefined && Object.hasOwn(exportFields, 'logStream')) {
      const value = exportFields.logStream;
      issues.push({ path: `${at}.export.logStream`, value, reason: 'is implied by the stream; remove it' });
    }
    let exported: ExportDefinition | undefined;
    // The export's fields are checked against the stream's name, so only once the stream parsed.
    if (exportFields !== undefined && definition !== undefined) {
      const { logStream: _implied, ...fields } = exportFields;
      exported = collect(
        () => parseExportDefinitions([{ ...fields, logStream: definition.name }], 'export')[0],
        under(`${at}.export`, 'export[0]'),
      );
    }
    const [first, ...rest] = issues;
    if (first !== undefined) {
      throw new ConfigFileError(file, first.path, first.value, first.reason, { also: rest });
    }
    if (definition === undefined || recordTypes === undefined) return;
    out.push(
      exported === undefined ? { definition, recordTypes } : { definition, export: exported, recordTypes },
    );
  });
  // Rules across exports (a dead-letter stream must not itself be exported, ...).
  const exported = out.flatMap((s, index) =>
    s.export === undefined ? [] : [{ index, definition: s.export }],
  );
  try {
    parseExportDefinitions(exported.map((e) => e.definition));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw inFile(error, file, (path) => {
      const match = /^exports\[(\d+)\]\.?(.*)$/.exec(path);
      const index = exported[Number(match?.[1])]?.index ?? 0;
      return `streams[${index}].export${match?.[2] ? `.${match[2]}` : ''}`;
    });
  }
  return out;
}

/** Each source validated at `sources[i]`, its stream one of the config's File streams. */
function parseSources(
  items: readonly Record<string, unknown>[],
  streams: readonly StreamConfig[],
  file: string,
  base: string,
): SourceDefinition[] {
  const names = new Map<string, number>();
  return items.map((item, index) => {
    let source: SourceDefinition;
    try {
      source = parseSource(item, base, ['sources', index]);
    } catch (error) {
      // parseSource already names the full path (`sources[i].…`).
      if (error instanceof ConfigError) throw inFile(error, file, (path) => path);
      throw error;
    }
    const stream = streams.find((s) => s.definition.name === source.stream);
    if (stream === undefined) {
      throw new ConfigFileError(
        file,
        `sources[${index}].stream`,
        source.stream,
        'must name one of streams[]',
      );
    }
    if (stream.definition.persistence !== 'File') {
      throw new ConfigFileError(
        file,
        `sources[${index}].stream`,
        source.stream,
        'must be a File stream: a tailed line is checkpointed as sent once it is durable',
      );
    }
    if (!(stream.recordTypes as readonly string[]).includes('log')) {
      throw new ConfigFileError(
        file,
        `sources[${index}].stream`,
        source.stream,
        `must take log records (its recordTypes are ${stream.recordTypes.join(', ')})`,
      );
    }
    const same = names.get(source.checkpointName);
    if (same !== undefined) {
      throw new ConfigFileError(
        file,
        `sources[${index}].checkpointName`,
        source.checkpointName,
        `is already used by sources[${same}] (same filePattern and stream?)`,
      );
    }
    names.set(source.checkpointName, index);
    return source;
  });
}

/**
 * Validates a config object. `file` names it in errors and anchors relative paths (storeRoot, key
 * files, token file) at the file's directory; without it they resolve against the working directory.
 */
export function parseConfig(input: unknown, file?: string): AgentConfig {
  const label = file ?? '<config>';
  const data = parseOptions(schema, input, {
    unknownKey: 'is not a config field',
    error: ([first, ...rest]) =>
      new ConfigFileError(label, first.path, first.value, first.reason, { also: rest }),
  });
  if (data.aws.endpoint !== undefined && data.aws.credentials.source !== 'default-chain') {
    throw new ConfigFileError(
      label,
      'aws.credentials.source',
      data.aws.credentials.source,
      'must be default-chain when aws.endpoint points at a local cloud (it takes static local credentials)',
    );
  }
  for (const key of ['s3Endpoint', 'siteWiseEndpoint'] as const) {
    if (data.aws[key] !== undefined && data.aws.endpoint === undefined) {
      throw new ConfigFileError(
        label,
        `aws.${key}`,
        data.aws[key],
        'is for a local cloud and needs aws.endpoint too (on AWS, the service is found by region)',
      );
    }
  }
  const base = file === undefined ? process.cwd() : dirname(resolve(file));
  const abs = (p: string) => resolve(base, p);
  const { streams, sources, iot: _iot, ...rest } = data;
  const streamConfigs = parseStreams(streams, label);
  const creds = rest.aws.credentials;
  return {
    ...rest,
    file,
    mqtt: resolveMqtt(data, label, abs),
    storeRoot: abs(rest.storeRoot),
    aws: {
      ...rest.aws,
      credentials:
        creds.source === 'iot'
          ? {
              ...creds,
              certificateFile: abs(creds.certificateFile),
              privateKeyFile: abs(creds.privateKeyFile),
              ...(creds.caFile === undefined ? {} : { caFile: abs(creds.caFile) }),
            }
          : creds,
    },
    api: resolveApi(rest.api, abs(rest.storeRoot), label, abs),
    streams: streamConfigs,
    sources: parseSources(sources, streamConfigs, label, base),
  };
}

/** Reads and validates a config file: `.json` as JSON, anything else as YAML (a superset of JSON). */
export async function loadConfig(file: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, '', undefined, `cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let input: unknown;
  try {
    // The YAML parser costs several MB of resident memory; devices configured in JSON never load it.
    input = file.endsWith('.json') ? JSON.parse(text) : (await import('./yaml.ts')).parse(text);
  } catch (error) {
    throw new ConfigFileError(
      file,
      '',
      undefined,
      `is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return parseConfig(input, file);
}
