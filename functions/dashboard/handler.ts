import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { LambdaFunctionUrlSchema } from '@aws-lambda-powertools/parser/schemas/lambda';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { createAwsClients } from '../../shared/aws/clients.ts';
import { requiredEnv } from '../../shared/errors.ts';
import type { HealthProvider } from './health.ts';
import { DashboardReader } from './reader.ts';
import { createDashboardRouter } from './router.ts';

/**
 * The dashboard read API as a Lambda function URL (AuthType AWS_IAM, serverless.yml
 * functions.dashboard): a thin middy stack around the shared router. Powertools parses the event
 * (payload format 2.0) and logs with the Lambda context; 5xx errors are logged with their cause.
 */

export type FunctionUrlEvent = z.output<typeof LambdaFunctionUrlSchema>;
/** The structured form of a function URL response (payload format 2.0). */
export type FunctionUrlResult = APIGatewayProxyStructuredResultV2;
export type DashboardHandler = (event: unknown, context: Context) => Promise<FunctionUrlResult>;

export interface DashboardHandlerDeps {
  dynamodb: DynamoDBClient;
  alertsTable: string;
  aggregatesTable: string;
  /** Defaults to probing both tables: the pipeline's own figures live in CloudWatch in AWS. */
  health?: HealthProvider;
  logger?: Logger;
}

/** Builds the handler around explicit dependencies (tests call this directly). */
export function createDashboardHandler(deps: DashboardHandlerDeps): DashboardHandler {
  const logger = deps.logger ?? new Logger({ serviceName: 'dashboard' });
  const reader = new DashboardReader(deps.dynamodb, {
    alertsTable: deps.alertsTable,
    aggregatesTable: deps.aggregatesTable,
  });
  const route = createDashboardRouter({
    reader,
    health:
      deps.health ??
      (async () => ({
        stores: await reader.probeStores(),
        notes: [
          'Stream consumer and export figures are CloudWatch metrics in AWS: AWS/Lambda IteratorAge, ' +
            'AWS/Kinesis GetRecords.IteratorAgeMilliseconds, AWS/Firehose DeliveryToS3.*, namespace Tributary.',
        ],
      })),
    onError: (error, request) =>
      logger.error('request failed', { error: error as Error, method: request.method, path: request.path }),
  });

  const serve = async (event: FunctionUrlEvent): Promise<FunctionUrlResult> => {
    const method = event.requestContext.http.method;
    const response = await route({ method, path: event.rawPath, query: event.queryStringParameters ?? {} });
    logger.info('request', { method, path: event.rawPath, status: response.status });
    return {
      statusCode: response.status,
      headers: response.headers,
      body: response.body,
      isBase64Encoded: false,
    };
  };

  return middy(serve)
    .use(injectLambdaContext(logger))
    .use(parser({ schema: LambdaFunctionUrlSchema })) as unknown as DashboardHandler;
}

let deployed: DashboardHandler | undefined;

/** The Lambda entry point (serverless.yml `functions/dashboard/handler.handler`); wired on the first invocation. */
export const handler: DashboardHandler = (event, context) => {
  deployed ??= createDashboardHandler({
    dynamodb: createAwsClients({ kind: 'aws', region: requiredEnv('AWS_REGION', 'dashboard') }).dynamodb(),
    alertsTable: requiredEnv('ALERTS_TABLE', 'dashboard'),
    aggregatesTable: requiredEnv('AGGREGATES_TABLE', 'dashboard'),
  });
  return deployed(event, context);
};
