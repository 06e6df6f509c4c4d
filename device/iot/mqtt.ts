/**
 * Publishes the agent's export status over MQTT 5 with aws-iot-device-sdk-v2 (aws-crt's Mqtt5Client):
 * retained JSON on `<prefix>/<thing>/status` periodically, on a change of health and on request,
 * with a retained "offline" will the broker sends when the agent dies without a goodbye. Requests on
 * `<prefix>/<thing>/commands` are answered on their MQTT 5 response topic (else `…/responses`).
 *
 * Nothing here may hurt the log or the export: the client is started without waiting for a
 * connection, publishes fail fast while offline (counted and logged, never retried or queued), and
 * a bad command is answered with an error. The SDK is imported on first use, so an agent without
 * `iot.mqtt` never loads the native aws-crt.
 */
import type { iot as IotNs, mqtt5 as Mqtt5Ns } from 'aws-iot-device-sdk-v2';
import type { AgentStatus, FlushResult } from '../agent.ts';
import type { MqttConfig } from '../config.ts';
import {
  type IotErrorCode,
  MqttCommandBusyError,
  MqttCommandFailedError,
  MqttError,
  MqttPublishError,
  MqttSdkUnavailableError,
  MqttSetupError,
} from './errors.ts';
import {
  type Command,
  type CommandResponse,
  errorResponse,
  healthOf,
  offlineMessage,
  okResponse,
  parseCommand,
  responseTopicFor,
  type StatusReason,
  statusMessage,
  type Topics,
  topicsFor,
} from './status.ts';

/** What the publisher reads and drives: the agent. */
export interface StatusSource {
  status(): AgentStatus;
  flush(timeoutMillis: number): Promise<FlushResult>;
}

export interface StatusPublisherOptions {
  readonly config: MqttConfig;
  readonly agent: StatusSource;
  readonly log: (line: string) => void;
  /** How often health is compared with the last published one. */
  readonly healthCheckMillis?: number;
  readonly clock?: () => number;
}

export interface MqttStatus {
  readonly endpoint: string;
  readonly connected: boolean;
  readonly statusTopic: string;
  readonly published: number;
  readonly publishFailures: number;
  readonly commands: number;
  readonly commandErrors: number;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: number } | undefined;
}

/** Commands answered at once; more are refused with COMMAND_BUSY rather than queued. */
const MAX_COMMANDS_IN_FLIGHT = 4;
/** How long stop() waits for the final "stopped" status to be acknowledged. */
const GOODBYE_TIMEOUT_MILLIS = 2_000;

type Sdk = { mqtt5: typeof Mqtt5Ns; iot: typeof IotNs };

async function loadSdk(): Promise<Sdk> {
  try {
    // A specifier the bundler leaves alone: the device bundle marks the SDK external.
    const sdk = await import('aws-iot-device-sdk-v2');
    return { mqtt5: sdk.mqtt5, iot: sdk.iot };
  } catch (error) {
    throw new MqttSdkUnavailableError(error);
  }
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

export class StatusPublisher {
  readonly #options: StatusPublisherOptions;
  readonly #sdk: Sdk;
  readonly #client: Mqtt5Ns.Mqtt5Client;
  readonly #topics: Topics;
  readonly #clock: () => number;
  readonly #timers: NodeJS.Timeout[] = [];
  #connected = false;
  #stopped = false;
  #lastHealth: string | undefined;
  #published = 0;
  #publishFailures = 0;
  #commands = 0;
  #commandErrors = 0;
  #commandsInFlight = 0;
  #lastError: MqttStatus['lastError'];
  /** Only the first failure after a success is logged; the rest are counted. */
  #failureLogged = false;

  constructor(options: StatusPublisherOptions, sdk: Sdk) {
    this.#options = options;
    this.#sdk = sdk;
    this.#clock = options.clock ?? Date.now;
    const { config, agent } = options;
    this.#topics = topicsFor(config.topicPrefix, config.thingName);
    const { mqtt5 } = sdk;
    const connectProperties: Mqtt5Ns.ConnectPacket = {
      clientId: config.clientId,
      keepAliveIntervalSeconds: 60,
      // Sent at once (no will delay) when the connection drops without a DISCONNECT: SIGKILL, power loss.
      will: {
        topicName: this.#topics.status,
        qos: mqtt5.QoS.AtLeastOnce,
        retain: true,
        payloadFormat: mqtt5.PayloadFormatIndicator.Utf8,
        contentType: 'application/json',
        payload: json(offlineMessage(agent.status().deviceId, config.thingName, this.#clock())),
      },
    };
    try {
      this.#client = new mqtt5.Mqtt5Client(this.#clientConfig(connectProperties));
    } catch (error) {
      throw new MqttSetupError(
        `cannot set up the MQTT client for ${this.#endpoint}: ${(error as Error).message}`,
        error,
      );
    }
    this.#client.on('error', (error) => this.#failed('MQTT_CLIENT_ERROR', crtMessage(error)));
    this.#client.on('connectionSuccess', () => {
      this.#connected = true;
      this.#options.log(`mqtt: connected to ${this.#endpoint} as ${config.clientId}`);
      this.#subscribe();
      // Replaces the retained will of an earlier life (or of a dropped connection) with "running".
      this.#publishStatus('connected');
    });
    this.#client.on('connectionFailure', (event) =>
      this.#failed('MQTT_CONNECT_FAILED', `cannot connect to ${this.#endpoint}: ${crtMessage(event.error)}`),
    );
    this.#client.on('disconnection', (event) => {
      if (!this.#connected) return;
      this.#connected = false;
      if (!this.#stopped)
        this.#failed('MQTT_DISCONNECTED', `disconnected from ${this.#endpoint}: ${crtMessage(event.error)}`);
    });
    this.#client.on('messageReceived', (event) => this.#onMessage(event.message));
  }

  get #endpoint(): string {
    const { host, port, tls } = this.#options.config;
    return `${tls ? 'mqtts' : 'mqtt'}://${host}:${port}`;
  }

  #clientConfig(connectProperties: Mqtt5Ns.ConnectPacket): Mqtt5Ns.Mqtt5ClientConfig {
    const { config } = this.#options;
    const { mqtt5, iot } = this.#sdk;
    // Fail publishes at once while offline: a status is only worth its moment, and nothing piles up.
    const offlineQueueBehavior = mqtt5.ClientOperationQueueBehavior.FailAllOnDisconnect;
    if (!config.tls) {
      return {
        hostName: config.host,
        port: config.port,
        connectProperties,
        offlineQueueBehavior,
        sessionBehavior: mqtt5.ClientSessionBehavior.Clean,
        minReconnectDelayMs: 1_000,
        maxReconnectDelayMs: 60_000,
      };
    }
    // AWS IoT Core: mutual TLS with the device certificate (the SDK's builder sets ALPN and limits).
    const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(
      config.host,
      config.certificateFile as string,
      config.privateKeyFile as string,
    )
      .withPort(config.port)
      .withConnectProperties(connectProperties)
      .withOfflineQueueBehavior(offlineQueueBehavior)
      .withSessionBehavior(mqtt5.ClientSessionBehavior.Clean)
      .withMinReconnectDelayMs(1_000)
      .withMaxReconnectDelayMs(60_000);
    if (config.caFile !== undefined) builder.withCertificateAuthorityFromPath(undefined, config.caFile);
    return builder.build();
  }

  start(): void {
    this.#client.start();
    const { statusIntervalMillis } = this.#options.config;
    const healthCheckMillis = this.#options.healthCheckMillis ?? 1_000;
    this.#timers.push(
      setInterval(() => this.#publishStatus('periodic'), statusIntervalMillis).unref(),
      setInterval(() => {
        const status = this.#options.agent.status();
        if (this.#connected && this.#health(status) !== this.#lastHealth)
          this.#publishStatus('health-changed', status);
      }, healthCheckMillis).unref(),
    );
  }

  status(): MqttStatus {
    return {
      endpoint: this.#endpoint,
      connected: this.#connected,
      statusTopic: this.#topics.status,
      published: this.#published,
      publishFailures: this.#publishFailures,
      commands: this.#commands,
      commandErrors: this.#commandErrors,
      lastError: this.#lastError,
    };
  }

  /** Publishes a last retained "stopped" status, disconnects normally (no will) and frees the client. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    for (const timer of this.#timers) clearInterval(timer);
    if (this.#connected) {
      const status = { ...this.#options.agent.status(), state: 'stopped' as const };
      await this.#publish(
        this.#topics.status,
        statusMessage(status, this.#options.config.thingName, 'stopped', this.#clock()),
        {
          retain: true,
          timeoutMillis: GOODBYE_TIMEOUT_MILLIS,
        },
      );
    }
    this.#stopped = true;
    const stopped = new Promise<void>((resolve) => {
      this.#client.once('stopped', () => resolve());
      setTimeout(resolve, GOODBYE_TIMEOUT_MILLIS).unref();
    });
    this.#client.stop({ reasonCode: this.#sdk.mqtt5.DisconnectReasonCode.NormalDisconnection });
    await stopped;
    this.#client.close();
  }

  /** Health plus the error codes in view: a new kind of failure is news for the fleet. */
  #health(status: AgentStatus): string {
    const errors = status.streams.map((s) => s.export?.lastError?.code ?? '').join(',');
    return `${healthOf(status)}|${errors}`;
  }

  #publishStatus(reason: StatusReason, status = this.#options.agent.status()): Promise<void> {
    this.#lastHealth = this.#health(status);
    const message = statusMessage(status, this.#options.config.thingName, reason, this.#clock());
    return this.#publish(this.#topics.status, message, { retain: true });
  }

  /** Resolves either way; a failure is counted, kept as lastError and logged once per outage. */
  async #publish(
    topicName: string,
    body: unknown,
    options: { retain?: boolean; timeoutMillis?: number; correlationData?: Mqtt5Ns.BinaryData } = {},
  ): Promise<void> {
    const { mqtt5 } = this.#sdk;
    if (this.#stopped) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      const publish = this.#client.publish({
        topicName,
        qos: mqtt5.QoS.AtLeastOnce,
        retain: options.retain ?? false,
        payloadFormat: mqtt5.PayloadFormatIndicator.Utf8,
        contentType: 'application/json',
        payload: json(body),
        ...(options.correlationData === undefined ? {} : { correlationData: options.correlationData }),
      });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no PUBACK within ${options.timeoutMillis} ms`)),
          options.timeoutMillis ?? 30_000,
        );
      });
      const ack = await Promise.race([publish, timeout]);
      // QoS 1 with a PUBACK reason code >= 0x80 is a refusal (not authorized, quota, ...).
      if (ack !== undefined && !mqtt5.isSuccessfulPubackReasonCode(ack.reasonCode)) {
        throw new Error(
          `PUBACK reason code ${ack.reasonCode}${ack.reasonString ? ` ${ack.reasonString}` : ''}`,
        );
      }
      this.#published++;
      this.#failureLogged = false;
    } catch (error) {
      this.#publishFailures++;
      const failure = new MqttPublishError(
        topicName,
        error instanceof Error ? error.message : String(error),
        error,
      );
      this.#failed(failure.code, failure.message);
    } finally {
      clearTimeout(timer);
    }
  }

  #failed(code: IotErrorCode, message: string): void {
    this.#lastError = { code, message, at: this.#clock() };
    if (this.#failureLogged) return;
    this.#failureLogged = true;
    this.#options.log(`mqtt: ${code}: ${message}`);
  }

  #subscribe(): void {
    const { mqtt5 } = this.#sdk;
    this.#client
      .subscribe({ subscriptions: [{ topicFilter: this.#topics.commands, qos: mqtt5.QoS.AtLeastOnce }] })
      .then(
        (suback) => {
          const code = suback.reasonCodes[0];
          if (code !== undefined && !mqtt5.isSuccessfulSubackReasonCode(code)) {
            this.#failed(
              'MQTT_SUBSCRIBE_FAILED',
              `subscribe to ${this.#topics.commands} refused: reason code ${code}`,
            );
          }
        },
        (error: Error) =>
          this.#failed(
            'MQTT_SUBSCRIBE_FAILED',
            `subscribe to ${this.#topics.commands} failed: ${error.message}`,
          ),
      );
  }

  #onMessage(message: Mqtt5Ns.PublishPacket): void {
    if (message.topicName !== this.#topics.commands) return;
    this.#commands++;
    const payload = toBytes(message.payload);
    const replyTo = responseTopicFor(this.#topics, message.responseTopic);
    const correlationData = message.correlationData;
    const answer = (response: CommandResponse) =>
      this.#publish(replyTo, response, correlationData === undefined ? {} : { correlationData });
    const refuse = (error: MqttError) => {
      this.#commandErrors++;
      return answer(errorResponse(error, payload));
    };
    let command: Command;
    try {
      command = parseCommand(payload);
    } catch (error) {
      if (error instanceof MqttError) void refuse(error);
      return;
    }
    if (this.#commandsInFlight >= MAX_COMMANDS_IN_FLIGHT) {
      void refuse(new MqttCommandBusyError(MAX_COMMANDS_IN_FLIGHT));
      return;
    }
    this.#commandsInFlight++;
    this.#run(command)
      .then(
        (result) => answer(okResponse(command, result)),
        (error: unknown) => refuse(error instanceof MqttError ? error : new MqttCommandFailedError(error)),
      )
      .finally(() => {
        this.#commandsInFlight--;
      });
  }

  async #run(command: Command): Promise<unknown> {
    switch (command.command) {
      case 'status-now': {
        const status = this.#options.agent.status();
        await this.#publishStatus('command', status);
        return statusMessage(status, this.#options.config.thingName, 'command', this.#clock());
      }
      case 'flush':
        return this.#options.agent.flush(command.timeoutMillis);
    }
  }
}

/** CRT errors are Errors at run time but typed as `{ error_name? }`. */
function crtMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return (error as { error_name?: string } | undefined)?.error_name ?? String(error);
}

function toBytes(payload: Mqtt5Ns.Payload | undefined): Uint8Array {
  if (payload === undefined) return new Uint8Array();
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload))
    return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

/** Loads the SDK, builds the client and starts connecting in the background. */
export async function startStatusPublisher(options: StatusPublisherOptions): Promise<StatusPublisher> {
  const publisher = new StatusPublisher(options, await loadSdk());
  publisher.start();
  return publisher;
}
