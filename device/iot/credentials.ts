/**
 * AWS IoT credentials provider: the device's X.509 certificate buys temporary AWS credentials for the
 * IAM role behind a role alias, over mutual TLS:
 *
 *   GET https://<credentialsEndpoint>/role-aliases/<roleAlias>/credentials
 *   x-amzn-iot-thingname: <thingName>
 *   → {"credentials":{"accessKeyId","secretAccessKey","sessionToken","expiration"}}
 *
 * aws-crt (under aws-iot-device-sdk-v2) has `AwsCredentialsProvider.newX509`, but its Node binding
 * exposes no way to read the credentials back into JavaScript (the class is documented "We don't
 * currently expose an interface for fetching credentials from Javascript"); it can only feed CRT's own
 * signer, not AWS SDK v3 clients. So this is the documented HTTPS call with node:https, which also
 * keeps ~44 MB of native code out of the agent.
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import type { AwsCredentialsProvider } from '../../shared/aws/clients.ts';
import * as z from '../../shared/zod.ts';
import {
  IotCredentialsError,
  IotCredentialsForbiddenError,
  IotCredentialsThrottledError,
  IotCredentialsUnauthorizedError,
  IotCredentialsUnavailableError,
  IotRoleAliasNotFoundError,
} from './errors.ts';

export interface IotCredentialsOptions {
  /** `<prefix>.credentials.iot.<region>.amazonaws.com`, optionally `:port`. */
  readonly credentialsEndpoint: string;
  readonly thingName: string;
  readonly roleAlias: string;
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  /** PEM of the CA to trust for the endpoint; Node's bundled roots (Amazon Root CA 1 among them) by default. */
  readonly caFile?: string;
  /** Fetch new credentials this long before the current ones expire. */
  readonly refreshBeforeExpirySeconds?: number;
  readonly requestTimeoutMillis?: number;
  /** ms since the epoch. */
  readonly clock?: () => number;
}

export interface IotCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

const responseSchema = z.object({
  credentials: z.object({
    accessKeyId: z.string().check(z.minLength(1)),
    secretAccessKey: z.string().check(z.minLength(1)),
    sessionToken: z.string().check(z.minLength(1)),
    expiration: z.iso.datetime({ offset: true }),
  }),
});

function errorFor(status: number, body: string, what: string): IotCredentialsError {
  let detail = body.slice(0, 200);
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') detail = parsed.message;
  } catch {
    // Not JSON: keep the raw text.
  }
  const message = `${what}: HTTP ${status}${detail === '' ? '' : ` ${detail}`}`;
  switch (status) {
    case 401:
      return new IotCredentialsUnauthorizedError(message);
    case 403:
      return new IotCredentialsForbiddenError(message);
    case 404:
      return new IotRoleAliasNotFoundError(message);
    case 429:
      return new IotCredentialsThrottledError(message);
    default:
      return status >= 500
        ? new IotCredentialsUnavailableError(status, message)
        : new IotCredentialsError('IOT_CREDENTIALS_REJECTED', status, message);
  }
}

/** A provider for AWS SDK v3 clients: caches the credentials and fetches new ones ahead of expiry. */
export async function createIotCredentialsProvider(
  options: IotCredentialsOptions,
): Promise<AwsCredentialsProvider> {
  const [cert, key, ca] = await Promise.all([
    readFile(options.certificateFile),
    readFile(options.privateKeyFile),
    options.caFile === undefined ? undefined : readFile(options.caFile),
  ]);
  const agent = new Agent({ cert, key, ...(ca === undefined ? {} : { ca }), keepAlive: false });
  const clock = options.clock ?? Date.now;
  const marginMillis = (options.refreshBeforeExpirySeconds ?? 300) * 1000;
  const timeout = options.requestTimeoutMillis ?? 10_000;
  const url = new URL(
    `https://${options.credentialsEndpoint}/role-aliases/${encodeURIComponent(options.roleAlias)}/credentials`,
  );
  const what = `AWS IoT credentials for thing ${JSON.stringify(options.thingName)} via role alias ${JSON.stringify(options.roleAlias)}`;

  const fetchOnce = () =>
    new Promise<IotCredentials>((resolve, reject) => {
      const req = request(
        url,
        { method: 'GET', agent, headers: { 'x-amzn-iot-thingname': options.thingName }, timeout },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) =>
            reject(new IotCredentialsUnavailableError(0, `${what}: ${error.message}`, error)),
          );
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status !== 200) return reject(errorFor(status, body, what));
            let parsed: z.output<typeof responseSchema>;
            try {
              parsed = responseSchema.parse(JSON.parse(body));
            } catch (error) {
              return reject(
                new IotCredentialsUnavailableError(
                  status,
                  `${what}: response is not the documented JSON`,
                  error,
                ),
              );
            }
            const c = parsed.credentials;
            resolve({
              accessKeyId: c.accessKeyId,
              secretAccessKey: c.secretAccessKey,
              sessionToken: c.sessionToken,
              expiration: new Date(c.expiration),
            });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no response within ${timeout} ms`)));
      req.on('error', (error) =>
        reject(new IotCredentialsUnavailableError(0, `${what}: ${error.message}`, error)),
      );
      req.end();
    });

  let current: IotCredentials | undefined;
  let inFlight: Promise<IotCredentials> | undefined;
  return async () => {
    const now = clock();
    if (current !== undefined && now < current.expiration.getTime() - marginMillis) return current;
    inFlight ??= fetchOnce().finally(() => {
      inFlight = undefined;
    });
    try {
      current = await inFlight;
      return current;
    } catch (error) {
      // A failed early refresh is not fatal while the old credentials are still valid.
      if (current !== undefined && clock() < current.expiration.getTime()) return current;
      throw error;
    }
  };
}
