import { Agent } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * Where clients point. `aws` uses the SDK's default credential chain and endpoints; `local` points
 * every service at the embedded cloud on loopback.
 */
export type AwsEnvironment =
  | {
      kind: 'aws';
      region: string;
      /** Replaces the default credential chain (e.g. AWS IoT role-alias credentials on a device). */
      credentials?: AwsCredentialsProvider;
    }
  | {
      kind: 'local';
      region: string;
      endpoints: {
        kinesis?: string;
        dynamodb?: string;
        s3?: string;
        sqs?: string;
        /** IoT SiteWise's data plane (the device agent's stream manager export; local/servers/sitewise.ts). */
        sitewise?: string;
        /** AWS IoT control plane and CloudFormation (moto in tests; see control-clients.ts). */
        iot?: string;
        cloudformation?: string;
      };
    };

export interface AwsClients {
  kinesis(): KinesisClient;
  dynamodb(): DynamoDBClient;
  documents(): DynamoDBDocumentClient;
  s3(): S3Client;
  sqs(): SQSClient;
  destroy(): void;
}

/** Temporary or static credentials; the SDK calls this again once `expiration` draws near. */
export type AwsCredentialsProvider = () => Promise<{
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}>;

/** Static credentials the local emulators accept; never used against AWS. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/**
 * The one client factory of the project. Local clients use NodeHttpHandler (HTTP/1.1): the SDK's
 * HTTP/2 handler, which SubscribeToShard picks by default, fails against the Kinesis emulator.
 * Clients are created lazily and cached, so a process holds one connection pool per service.
 */
export function createAwsClients(env: AwsEnvironment): AwsClients {
  const cache = new Map<string, { destroy(): void }>();
  const cached = <T extends { destroy(): void }>(key: string, make: () => T): T => {
    let client = cache.get(key) as T | undefined;
    if (client === undefined) {
      client = make();
      cache.set(key, client);
    }
    return client;
  };

  const base = (service: AwsService) => clientConfig(env, service);

  return {
    kinesis: () => cached('kinesis', () => new KinesisClient(base('kinesis'))),
    dynamodb: () => cached('dynamodb', () => new DynamoDBClient(base('dynamodb'))),
    documents: () =>
      cached('documents', () =>
        DynamoDBDocumentClient.from(new DynamoDBClient(base('dynamodb')), {
          marshallOptions: { removeUndefinedValues: true },
        }),
      ),
    // Path-style addressing: local S3 has no wildcard DNS for bucket subdomains.
    s3: () => cached('s3', () => new S3Client({ ...base('s3'), forcePathStyle: env.kind === 'local' })),
    sqs: () => cached('sqs', () => new SQSClient(base('sqs'))),
    destroy: () => {
      for (const client of cache.values()) client.destroy();
      cache.clear();
    },
  };
}

export type AwsService = keyof Extract<AwsEnvironment, { kind: 'local' }>['endpoints'];

/**
 * Constructor options of a client for `service`: on AWS the region (and the given credentials); locally
 * the emulator's endpoint, static credentials and NodeHttpHandler.
 */
export function clientConfig(env: AwsEnvironment, service: AwsService) {
  if (env.kind === 'aws') {
    return env.credentials === undefined
      ? { region: env.region }
      : { region: env.region, credentials: env.credentials };
  }
  const endpoint = env.endpoints[service];
  return {
    region: env.region,
    credentials: LOCAL_CREDENTIALS,
    ...(endpoint === undefined ? {} : { endpoint }),
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }),
      connectionTimeout: 5_000,
    }),
    maxAttempts: 3,
  };
}
