/**
 * The S3 SDK for S3 export tasks, loaded only when a stream has one. Imported through this ESM
 * module for the same reason as ../yaml.ts: a CommonJS package in a lazy chunk of the device bundle
 * has only a default export. Local clients use NodeHttpHandler, as shared/aws/clients.ts's do
 * (that factory is not used here: it loads every service's SDK, and Kinesis' is not in the bundle).
 */
import { Agent } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { SdkClientTarget } from './sitewise-sdk.ts';

export {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

export function makeS3Client(target: SdkClientTarget): S3Client {
  if (target.endpoint === undefined)
    return new S3Client({ region: target.region, credentials: target.credentials });
  return new S3Client({
    region: target.region,
    endpoint: target.endpoint,
    credentials: target.credentials,
    // Path-style addressing: a local S3 has no wildcard DNS for bucket subdomains.
    forcePathStyle: true,
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true }),
      connectionTimeout: 5_000,
    }),
  });
}
