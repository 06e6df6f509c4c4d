/**
 * The export module's public surface: what the agent, its config, the stream manager and the CLI
 * use. The planner, the state machine, pacing and the wire encoding are internals (their tests
 * import their files).
 */
export { acquireBandwidth, type BandwidthShare, SharedBandwidth } from './bandwidth.ts';
export { type ExportDefinition, type ExportDefinitionInput, parseExportDefinitions } from './definition.ts';
export * from './errors.ts';
export { KinesisExporter } from './exporter.ts';
export { httpKinesisApi, KINESIS_TARGET, type KinesisApi } from './kinesis.ts';
export {
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_IN_FLIGHT_REQUESTS,
  exporterLimitFields,
  type KinesisExporterOptions,
} from './options.ts';
export { partitionKeyOf, type Route, type RouteFunction } from './routing.ts';
export type { ExportStatus } from './status.ts';
