import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import {
  KinesisFirehoseRecordSchema,
  KinesisFirehoseSchema,
} from '@aws-lambda-powertools/parser/schemas/kinesis-firehose';
import middy from '@middy/core';
import type { Context, FirehoseTransformationResult } from 'aws-lambda';
import { z } from 'zod';
import { transformRecords } from './processor.ts';

/**
 * The lake's Firehose data-transformation processor (serverless.yml functions.lakeProcessor, wired
 * as LakeDeliveryStream's Lambda processor): a thin middy stack around processor.ts. Powertools
 * parses the event (with `data` kept as base64: the stock schema decodes it as UTF-8, which would
 * mend bytes the contract must see broken), logs every refused record with its reason (Firehose's
 * processing-failed document has no room for it) and flushes EMF metrics.
 */

export const lakeProcessorEventSchema = KinesisFirehoseSchema.extend({
  records: z.array(KinesisFirehoseRecordSchema.extend({ data: z.base64() })),
});
export type LakeProcessorEvent = z.output<typeof lakeProcessorEventSchema>;
export type LakeProcessorHandler = (
  event: unknown,
  context: Context,
) => Promise<FirehoseTransformationResult>;

export interface LakeProcessorDeps {
  logger?: Logger;
  metrics?: Metrics;
}

export function createLakeProcessorHandler(deps: LakeProcessorDeps = {}): LakeProcessorHandler {
  const logger = deps.logger ?? new Logger({ serviceName: 'lake-processor' });
  const metrics = deps.metrics ?? new Metrics({ namespace: 'Tributary', serviceName: 'lake-processor' });

  const transform = async (event: LakeProcessorEvent): Promise<FirehoseTransformationResult> => {
    const { records, rejected } = transformRecords(event.records);
    const metadata = new Map(event.records.map((r) => [r.recordId, r.kinesisRecordMetadata]));
    for (const rejection of rejected) {
      const single = metrics.singleMetric();
      single.addDimension('reason', rejection.code);
      single.addMetric('RecordsRefused', MetricUnit.Count, 1);
      const source = metadata.get(rejection.recordId);
      logger.warn('record refused by the contract', {
        ...rejection,
        ...(source == null
          ? {}
          : {
              shardId: source.shardId,
              sequenceNumber: source.sequenceNumber,
              subsequenceNumber: source.subsequenceNumber,
            }),
      });
    }
    metrics.addMetric('RecordsAccepted', MetricUnit.Count, records.length - rejected.length);
    metrics.addMetric('RecordsRefused', MetricUnit.Count, rejected.length);
    return { records };
  };

  return middy(transform)
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(parser({ schema: lakeProcessorEventSchema })) as unknown as LakeProcessorHandler;
}

let deployed: LakeProcessorHandler | undefined;

/** The Lambda entry point (serverless.yml `functions/lake-processor/handler.handler`). */
export const handler: LakeProcessorHandler = (event, context) => {
  deployed ??= createLakeProcessorHandler();
  return deployed(event, context);
};
