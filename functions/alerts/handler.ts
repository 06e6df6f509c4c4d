import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import {
  KinesisDataStreamRecord,
  KinesisDataStreamRecordPayload,
  KinesisDataStreamSchema,
} from '@aws-lambda-powertools/parser/schemas/kinesis';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse } from 'aws-lambda';
import { z } from 'zod';
import { createAwsClients } from '../../shared/aws/clients.ts';
import { requiredEnv } from '../../shared/errors.ts';
import { BatchPipeline, type BatchReport, type StreamRecord } from './pipeline.ts';
import { bundledRules } from './rules/bundled.ts';
import type { RulesConfig } from './rules/config.ts';
import { type DocumentSender, DynamoAlertStore, DynamoStateStore } from './store/dynamodb.ts';

/**
 * The alert function: a thin middy stack around the pipeline. Powertools parses the event (the stock
 * Kinesis schema, with `data` kept as base64 because KPL aggregates are binary, not JSON), runs the
 * batch with partial failure reporting, logs with the Lambda context and flushes EMF metrics.
 */

export const alertsEventSchema = KinesisDataStreamSchema.extend({
  Records: z
    .array(
      KinesisDataStreamRecord.extend({
        kinesis: KinesisDataStreamRecordPayload.extend({ data: z.base64() }),
      }),
    )
    .min(1),
});
export type AlertsEvent = z.output<typeof alertsEventSchema>;
type ParsedKinesisRecord = AlertsEvent['Records'][number];

export interface AlertsHandlerDeps {
  config: RulesConfig;
  documents: DocumentSender;
  alertsTable: string;
  stateTable: string;
  logger?: Logger;
  metrics?: Metrics;
  /** Wall clock for TTLs. */
  now?: () => number;
}

export type AlertsHandler = (event: unknown, context: Context) => Promise<KinesisStreamBatchResponse>;

/** `shardId-000000000001:4959...` → `shardId-000000000001` (Lambda's eventID format). */
function shardOf(record: ParsedKinesisRecord): string {
  const colon = record.eventID.lastIndexOf(':');
  return colon < 0 ? record.eventID : record.eventID.slice(0, colon);
}

function toStreamRecord(record: ParsedKinesisRecord): StreamRecord {
  return {
    shardId: shardOf(record),
    sequenceNumber: record.kinesis.sequenceNumber,
    partitionKey: record.kinesis.partitionKey,
    data: Buffer.from(record.kinesis.data, 'base64'),
    arrivedAt: Math.round(record.kinesis.approximateArrivalTimestamp * 1000),
  };
}

function publish(report: BatchReport, failed: number, logger: Logger, metrics: Metrics): void {
  metrics.addMetric('KinesisRecords', MetricUnit.Count, report.kinesisRecords);
  metrics.addMetric('UserRecords', MetricUnit.Count, report.userRecords);
  metrics.addMetric('RecordsApplied', MetricUnit.Count, report.applied);
  metrics.addMetric('RecordsReplayed', MetricUnit.Count, report.replayed);
  metrics.addMetric('RecordsQuarantined', MetricUnit.Count, report.quarantined.length);
  metrics.addMetric('KinesisRecordsFailed', MetricUnit.Count, failed);
  metrics.addMetric('AlertsRaised', MetricUnit.Count, report.raised);
  metrics.addMetric('AlertsDuplicate', MetricUnit.Count, report.duplicateRaises);
  metrics.addMetric('AlertsCleared', MetricUnit.Count, report.cleared);
  metrics.addMetric('StateConflicts', MetricUnit.Count, report.stateConflicts);
  for (const note of report.quarantined) {
    // Reason as a dimension in its own EMF blob, so dashboards can split bad data by cause.
    const single = metrics.singleMetric();
    single.addDimension('reason', note.reasonCode);
    single.addMetric('RecordsQuarantined', MetricUnit.Count, 1);
    logger.warn('record quarantined', {
      reasonCode: note.reasonCode,
      reason: note.reason,
      partitionKey: note.partitionKey,
      ...note.position,
    });
  }
  logger.info('batch processed', { ...report, quarantined: report.quarantined.length, failed });
}

/** Builds the handler around explicit dependencies (the local runner and tests call this directly). */
export function createAlertsHandler(deps: AlertsHandlerDeps): AlertsHandler {
  const logger = deps.logger ?? new Logger({ serviceName: 'alerts' });
  const metrics = deps.metrics ?? new Metrics({ namespace: 'Tributary', serviceName: 'alerts' });
  const storeOptions = (ttlSeconds: number) =>
    deps.now === undefined ? { ttlSeconds } : { ttlSeconds, now: deps.now };
  const pipelineDeps = {
    config: deps.config,
    states: new DynamoStateStore(deps.documents, deps.stateTable, storeOptions(deps.config.stateTtlSeconds)),
    alerts: new DynamoAlertStore(deps.documents, deps.alertsTable, storeOptions(deps.config.alertTtlSeconds)),
  };

  const processBatch = async (event: AlertsEvent, context: Context): Promise<KinesisStreamBatchResponse> => {
    const pipeline = new BatchPipeline(pipelineDeps, event.Records.map(toStreamRecord));
    // One processor per invocation: Powertools processors keep per-batch state.
    const processor = new BatchProcessor(EventType.KinesisDataStreams);
    let failed = event.Records.length;
    try {
      const response = await processPartialResponse(
        event,
        (record: ParsedKinesisRecord) => pipeline.outcome(record.kinesis.sequenceNumber),
        processor,
        { context },
      );
      failed = response.batchItemFailures.length;
      return response;
    } finally {
      await pipeline.settled();
      publish(pipeline.report, failed, logger, metrics);
    }
  };

  return middy(processBatch)
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(parser({ schema: alertsEventSchema })) as unknown as AlertsHandler;
}

let deployed: AlertsHandler | undefined;

/** The Lambda entry point (serverless.yml `functions/alerts/handler.handler`); wired on the first invocation. */
export const handler: AlertsHandler = (event, context) => {
  deployed ??= createAlertsHandler({
    config: bundledRules,
    documents: createAwsClients({ kind: 'aws', region: requiredEnv('AWS_REGION', 'alerts') }).documents(),
    alertsTable: requiredEnv('ALERTS_TABLE', 'alerts'),
    stateTable: requiredEnv('CARD_STATE_TABLE', 'alerts'),
  });
  return deployed(event, context);
};
