/**
 * The agent's MQTT status messages and commands, without the MQTT client: topic names, the JSON
 * payloads a fleet view reads, and the strict parsing of command requests. device/README.md
 * documents both shapes.
 */
import type { AgentStatus } from '../agent.ts';
import {
  MqttCommandInvalidError,
  MqttCommandMalformedError,
  MqttCommandUnknownError,
  type MqttError,
} from './errors.ts';

/** Bumped when a field changes meaning or goes away; new fields do not bump it. */
export const STATUS_VERSION = 1;
export const COMMANDS = ['status-now', 'flush'] as const;
export const DEFAULT_FLUSH_TIMEOUT_MILLIS = 10_000;
export const MAX_FLUSH_TIMEOUT_MILLIS = 60_000;
/** Larger command payloads are refused unread. */
export const MAX_COMMAND_BYTES = 4096;

export interface Topics {
  /** Retained status; the broker publishes the offline will here when the agent dies. */
  readonly status: string;
  readonly commands: string;
  /** Where answers go when a request carries no MQTT 5 response topic. */
  readonly responses: string;
}

export function topicsFor(prefix: string, thingName: string): Topics {
  const base = `${prefix}/${thingName}`;
  return { status: `${base}/status`, commands: `${base}/commands`, responses: `${base}/responses` };
}

/** Longest response topic a request may name. */
const MAX_RESPONSE_TOPIC_LENGTH = 256;

/**
 * Where an answer goes: the request's MQTT 5 response topic when it lies under this thing's
 * `responses` topic (`<prefix>/<thing>/responses/…`, the only place the device policy lets the agent
 * publish answers), else `responses` itself. No wildcards, at most 256 characters.
 */
export function responseTopicFor(topics: Topics, requested: string | undefined): string {
  if (requested === undefined || requested.length > MAX_RESPONSE_TOPIC_LENGTH) return topics.responses;
  const under =
    requested.startsWith(`${topics.responses}/`) && requested.length > topics.responses.length + 1;
  return under && !/[#+]/.test(requested) ? requested : topics.responses;
}

export type Health = 'ok' | 'degraded' | 'offline';
export type StatusReason =
  | 'connected'
  | 'periodic'
  | 'health-changed'
  | 'command'
  | 'stopped'
  | 'connection-lost';

export interface StreamStatusMessage {
  readonly name: string;
  readonly kinesisStreamName: string;
  readonly state: string;
  readonly backlog: { readonly records: number; readonly bytes: number };
  readonly lastExportedSequence: number | null;
  readonly lagMillis: number;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: string } | null;
}

export interface StatusMessage {
  readonly version: number;
  readonly agentId: string;
  readonly thingName: string;
  readonly state: AgentStatus['state'] | 'offline';
  readonly health: Health;
  readonly reason: StatusReason;
  /** ISO time the message was made (for the will: when the agent connected). */
  readonly time: string;
  readonly startedAt: string | null;
  readonly streams: readonly StreamStatusMessage[];
}

/** `degraded` while any export backs off (Kinesis unreachable, throttled as a whole, denied). */
export function healthOf(status: AgentStatus): Health {
  if (status.state !== 'running') return 'offline';
  return status.streams.some((s) => s.export?.state === 'backing-off') ? 'degraded' : 'ok';
}

export function statusMessage(
  status: AgentStatus,
  thingName: string,
  reason: StatusReason,
  now: number,
): StatusMessage {
  return {
    version: STATUS_VERSION,
    agentId: status.deviceId,
    thingName,
    state: status.state,
    health: healthOf(status),
    reason,
    time: new Date(now).toISOString(),
    startedAt: new Date(status.startedAt).toISOString(),
    streams: status.streams.flatMap((s) => {
      const e = s.export;
      if (e === undefined) return [];
      return [
        {
          name: s.name,
          kinesisStreamName: e.kinesisStreamName,
          state: e.state,
          backlog: { records: e.backlog.records, bytes: e.backlog.bytes },
          lastExportedSequence: e.lastExportedSequence ?? null,
          lagMillis: e.lagMillis,
          lastError:
            e.lastError === undefined
              ? null
              : {
                  code: e.lastError.code,
                  message: e.lastError.message,
                  at: new Date(e.lastError.at).toISOString(),
                },
        },
      ];
    }),
  };
}

/** The MQTT 5 will: what the broker publishes (retained) when the agent's connection dies unannounced. */
export function offlineMessage(agentId: string, thingName: string, now: number): StatusMessage {
  return {
    version: STATUS_VERSION,
    agentId,
    thingName,
    state: 'offline',
    health: 'offline',
    reason: 'connection-lost',
    time: new Date(now).toISOString(),
    startedAt: null,
    streams: [],
  };
}

export type Command =
  | { readonly command: 'status-now'; readonly id: string | undefined }
  | { readonly command: 'flush'; readonly id: string | undefined; readonly timeoutMillis: number };

/** `{"command":"status-now"|"flush","id"?:string,"timeoutMillis"?:int}`; throws an MqttCommandError subclass. */
export function parseCommand(payload: Uint8Array): Command {
  if (payload.byteLength > MAX_COMMAND_BYTES) {
    throw new MqttCommandMalformedError(`${payload.byteLength} bytes, more than ${MAX_COMMAND_BYTES}`);
  }
  let input: unknown;
  try {
    input = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (error) {
    throw new MqttCommandMalformedError((error as Error).message);
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new MqttCommandMalformedError(`got ${Array.isArray(input) ? 'an array' : typeof input}`);
  }
  const fields = input as Record<string, unknown>;
  const { command, id } = fields;
  if (id !== undefined && !(typeof id === 'string' && id.length >= 1 && id.length <= 128)) {
    throw new MqttCommandInvalidError('id', id, 'must be a string of 1-128 characters');
  }
  const allowed = (keys: readonly string[]) => {
    const extra = Object.keys(fields).find((key) => !keys.includes(key));
    if (extra !== undefined)
      throw new MqttCommandInvalidError(extra, fields[extra], 'is not a field of this command');
  };
  switch (command) {
    case 'status-now':
      allowed(['command', 'id']);
      return { command, id };
    case 'flush': {
      allowed(['command', 'id', 'timeoutMillis']);
      const timeout = fields.timeoutMillis ?? DEFAULT_FLUSH_TIMEOUT_MILLIS;
      if (
        !(
          Number.isInteger(timeout) &&
          (timeout as number) >= 0 &&
          (timeout as number) <= MAX_FLUSH_TIMEOUT_MILLIS
        )
      ) {
        throw new MqttCommandInvalidError(
          'timeoutMillis',
          timeout,
          `must be a whole number of milliseconds in 0-${MAX_FLUSH_TIMEOUT_MILLIS}`,
        );
      }
      return { command, id, timeoutMillis: timeout as number };
    }
    default:
      throw new MqttCommandUnknownError(command, COMMANDS);
  }
}

export type CommandResponse =
  | {
      readonly version: number;
      readonly id: string | null;
      readonly command: string | null;
      readonly ok: true;
      readonly result: unknown;
    }
  | {
      readonly version: number;
      readonly id: string | null;
      readonly command: string | null;
      readonly ok: false;
      readonly error: { readonly code: string; readonly message: string; readonly retryable: boolean };
    };

export function okResponse(command: Command, result: unknown): CommandResponse {
  return { version: STATUS_VERSION, id: command.id ?? null, command: command.command, ok: true, result };
}

/** `id` and `command` are echoed when the request had readable ones, so a caller can match the answer. */
export function errorResponse(error: MqttError, request: Uint8Array): CommandResponse {
  let id: string | null = null;
  let command: string | null = null;
  try {
    if (request.byteLength > MAX_COMMAND_BYTES) throw new RangeError('too large to echo');
    const parsed = JSON.parse(Buffer.from(request).toString('utf8')) as Record<string, unknown>;
    if (typeof parsed.id === 'string') id = parsed.id.slice(0, 128);
    if (typeof parsed.command === 'string') command = parsed.command.slice(0, 64);
  } catch {
    // Unreadable request: nothing to echo.
  }
  return {
    version: STATUS_VERSION,
    id,
    command,
    ok: false,
    error: { code: error.code, message: error.message, retryable: error.retryable },
  };
}
