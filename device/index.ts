/** Public API for code running on the device: embed the agent, or talk to a running one. */
export {
  Agent,
  type AgentOptions,
  type AgentStatus,
  type FlushResult,
  type StopOptions,
  type StopResult,
  type StreamStatus,
} from './agent.ts';
export { ApiClient, type ApiClientOptions } from './api/client.ts';
export { type ApiServer, type AppendResponse, type ErrorBody, startApiServer } from './api/server.ts';
export { type AgentConfig, loadConfig, parseConfig, type StreamConfig } from './config.ts';
export * from './errors.ts';
export type { ExportStatus } from './export/index.ts';
export type { MqttStatus } from './iot/mqtt.ts';
export type { LogRecord, ReadOptions, StreamDefinition } from './log/index.ts';
