import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../../../device/agent.ts';
import {
  MqttCommandInvalidError,
  MqttCommandMalformedError,
  MqttCommandUnknownError,
} from '../../../../device/iot/errors.ts';
import {
  errorResponse,
  healthOf,
  offlineMessage,
  parseCommand,
  responseTopicFor,
  statusMessage,
  topicsFor,
} from '../../../../device/iot/status.ts';

const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

function agentStatus(
  exportState: string,
  lastError?: { code: string; message: string; at: number },
): AgentStatus {
  return {
    deviceId: 'gw-1',
    state: 'running',
    startedAt: Date.UTC(2025, 0, 1),
    streams: [
      { name: 'local-only', export: undefined },
      {
        name: 'telemetry',
        export: {
          kinesisStreamName: 'records',
          state: exportState,
          backlog: { records: 12, bytes: 3400 },
          lastExportedSequence: 41,
          lagMillis: 250,
          lastError,
        },
      },
    ],
  } as unknown as AgentStatus;
}

describe('MQTT status messages', () => {
  it('names the topics under the prefix and thing', () => {
    expect(topicsFor('fleet/site-1', 'gw-1')).toEqual({
      status: 'fleet/site-1/gw-1/status',
      commands: 'fleet/site-1/gw-1/commands',
      responses: 'fleet/site-1/gw-1/responses',
    });
  });

  it("answers on a request's response topic only under the thing's own responses topic", () => {
    const topics = topicsFor('fleet', 'gw-1');
    expect(responseTopicFor(topics, 'fleet/gw-1/responses/view-7')).toBe('fleet/gw-1/responses/view-7');
    for (const other of [
      undefined,
      'replies/view-7',
      'fleet/gw-2/responses/x',
      'fleet/gw-1/responses/',
      'fleet/gw-1/responsesX',
      'fleet/gw-1/responses/#',
      'fleet/gw-1/responses/+/x',
      `fleet/gw-1/responses/${'x'.repeat(250)}`,
    ]) {
      expect(responseTopicFor(topics, other), String(other)).toBe('fleet/gw-1/responses');
    }
  });

  it('reports the exported streams only, with their export figures', () => {
    const at = Date.UTC(2025, 0, 1, 0, 1);
    const message = statusMessage(
      agentStatus('backing-off', { code: 'ECONNREFUSED', message: 'down', at }),
      'thing-1',
      'periodic',
      at,
    );
    expect(message).toEqual({
      version: 1,
      agentId: 'gw-1',
      thingName: 'thing-1',
      state: 'running',
      health: 'degraded',
      reason: 'periodic',
      time: '2025-01-01T00:01:00.000Z',
      startedAt: '2025-01-01T00:00:00.000Z',
      streams: [
        {
          name: 'telemetry',
          kinesisStreamName: 'records',
          state: 'backing-off',
          backlog: { records: 12, bytes: 3400 },
          lastExportedSequence: 41,
          lagMillis: 250,
          lastError: { code: 'ECONNREFUSED', message: 'down', at: '2025-01-01T00:01:00.000Z' },
        },
      ],
    });
    expect(healthOf(agentStatus('exporting'))).toBe('ok');
    expect(offlineMessage('gw-1', 'thing-1', at)).toMatchObject({
      state: 'offline',
      health: 'offline',
      streams: [],
    });
  });
});

describe('MQTT commands', () => {
  it('parses the known commands with their defaults', () => {
    expect(parseCommand(bytes({ command: 'status-now' }))).toEqual({ command: 'status-now', id: undefined });
    expect(parseCommand(bytes({ command: 'flush', id: 'r-1' }))).toEqual({
      command: 'flush',
      id: 'r-1',
      timeoutMillis: 10_000,
    });
  });

  it('refuses bad commands with named errors', () => {
    expect(() => parseCommand(bytes('{nope'))).toThrow(MqttCommandMalformedError);
    expect(() => parseCommand(bytes('[1]'))).toThrow(MqttCommandMalformedError);
    expect(() => parseCommand(Buffer.from([0xff, 0xfe]))).toThrow(MqttCommandMalformedError);
    expect(() => parseCommand(bytes({ command: 'x'.repeat(5000) }))).toThrow(MqttCommandMalformedError);
    expect(() => parseCommand(bytes({ command: 'reboot' }))).toThrow(MqttCommandUnknownError);
    expect(() => parseCommand(bytes({}))).toThrow(MqttCommandUnknownError);
    const cases: [unknown, string][] = [
      [{ command: 'flush', timeoutMillis: 1.5 }, 'timeoutMillis'],
      [{ command: 'flush', timeoutMillis: 60_001 }, 'timeoutMillis'],
      [{ command: 'status-now', timeoutMillis: 5 }, 'timeoutMillis'],
      [{ command: 'status-now', id: '' }, 'id'],
      [{ command: 'status-now', id: 7 }, 'id'],
    ];
    for (const [input, path] of cases) {
      try {
        parseCommand(bytes(input));
        throw new Error('accepted');
      } catch (error) {
        expect(error).toBeInstanceOf(MqttCommandInvalidError);
        expect((error as MqttCommandInvalidError).path).toBe(path);
      }
    }
  });

  it('echoes what it can read of a refused request', () => {
    const request = bytes({ command: 'reboot', id: 'r-9' });
    expect(errorResponse(new MqttCommandUnknownError('reboot', ['flush']), request)).toMatchObject({
      id: 'r-9',
      command: 'reboot',
      ok: false,
      error: { code: 'COMMAND_UNKNOWN', retryable: false },
    });
    expect(errorResponse(new MqttCommandMalformedError('x'), bytes('{'))).toMatchObject({
      id: null,
      command: null,
    });
  });
});
