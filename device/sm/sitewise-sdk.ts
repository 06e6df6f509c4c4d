/**
 * The IoT SiteWise SDK for SiteWise exports, loaded only when a stream has one (see ./s3-sdk.ts for
 * why through this module and not shared/aws/clients.ts).
 */
import { Agent } from 'node:http';
import { IoTSiteWiseClient } from '@aws-sdk/client-iotsitewise';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialsProvider } from '../../shared/aws/clients.ts';

export { BatchPutAssetPropertyValueCommand } from '@aws-sdk/client-iotsitewise';

/** Where a client goes: AWS by region, or a local cloud's endpoint. */
export interface SdkClientTarget {
  readonly region: string;
  readonly endpoint?: string | undefined;
  readonly credentials: AwsCredentialsProvider;
}

export function makeSiteWiseClient(target: SdkClientTarget): IoTSiteWiseClient {
  if (target.endpoint === undefined) {
    return new IoTSiteWiseClient({ region: target.region, credentials: target.credentials });
  }
  return new IoTSiteWiseClient({
    region: target.region,
    endpoint: target.endpoint,
    credentials: target.credentials,
    // SiteWise's data plane is `data.<endpoint>`; a local endpoint is one host.
    disableHostPrefix: true,
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true }),
      connectionTimeout: 5_000,
    }),
  });
}
