import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIotCredentialsProvider,
  type IotCredentialsOptions,
} from '../../../../device/iot/credentials.ts';
import {
  IotCredentialsForbiddenError,
  IotCredentialsUnavailableError,
  IotRoleAliasNotFoundError,
} from '../../../../device/iot/errors.ts';
import { createAwsClients } from '../../../../shared/aws/clients.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

/** A local stand-in for the AWS IoT credentials provider: mutual TLS on 127.0.0.1, the documented JSON. */
interface Seen {
  path: string;
  thingName: string | undefined;
  clientCn: string | undefined;
}

const tmp = useTempDir('tributary-iot-');
let server: Server;
let port: number;
const seen: Seen[] = [];
let reply: (n: number) => { status: number; body: string } = () => ({ status: 500, body: '' });

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: tmp.path, stdio: 'pipe' });
}

/** `openssl req` arguments for a new unencrypted P-256 key, written to the file that follows. */
const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout'];

/** A key and a certificate signed by `ca`, with `cn` and optional subjectAltName. */
function issue(name: string, cn: string, ca: string, san?: string): void {
  openssl('req', ...NEW_EC_KEY, `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  const ext = san === undefined ? [] : ['-extfile', `${name}.ext`];
  if (san !== undefined) writeFileSync(join(tmp.path, `${name}.ext`), `subjectAltName=${san}\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '1',
    ...ext,
  );
}

function newCa(name: string): void {
  openssl(
    'req',
    '-x509',
    ...NEW_EC_KEY,
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
  );
}

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const HOUR = 3_600_000;

function credentialsBody(n: number, expiresAt: number): string {
  return JSON.stringify({
    credentials: {
      accessKeyId: `ASIA${n}`,
      secretAccessKey: `secret-${n}`,
      sessionToken: `token-${n}`,
      expiration: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
  });
}

function options(overrides: Partial<IotCredentialsOptions> = {}): IotCredentialsOptions {
  return {
    credentialsEndpoint: `127.0.0.1:${port}`,
    thingName: 'sensor-0001',
    roleAlias: 'tributary-device',
    certificateFile: join(tmp.path, 'device.pem'),
    privateKeyFile: join(tmp.path, 'device.key'),
    caFile: join(tmp.path, 'ca.pem'),
    ...overrides,
  };
}

beforeAll(async () => {
  newCa('ca');
  newCa('rogue-ca');
  issue('server', '127.0.0.1', 'ca', 'IP:127.0.0.1');
  issue('device', 'sensor-0001', 'ca');
  issue('rogue', 'sensor-0001', 'rogue-ca');
  server = createServer(
    {
      key: await readFile(join(tmp.path, 'server.key')),
      cert: await readFile(join(tmp.path, 'server.pem')),
      ca: await readFile(join(tmp.path, 'ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push({
        path: req.url ?? '',
        thingName: req.headers['x-amzn-iot-thingname'] as string | undefined,
        clientCn: peer.subject?.CN as string | undefined,
      });
      const { status, body } = reply(seen.length);
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

describe('AWS IoT credentials provider', () => {
  it('fetches credentials over mutual TLS with the thing name header and the role alias path', async () => {
    seen.length = 0;
    reply = (n) => ({ status: 200, body: credentialsBody(n, T0 + HOUR) });
    const provider = await createIotCredentialsProvider(options({ clock: () => T0 }));
    const credentials = await provider();
    expect(credentials).toEqual({
      accessKeyId: 'ASIA1',
      secretAccessKey: 'secret-1',
      sessionToken: 'token-1',
      expiration: new Date(T0 + HOUR),
    });
    expect(seen).toEqual([
      {
        path: '/role-aliases/tributary-device/credentials',
        thingName: 'sensor-0001',
        clientCn: 'sensor-0001',
      },
    ]);
  });

  it('caches credentials and refreshes them before they expire', async () => {
    seen.length = 0;
    reply = (n) => ({ status: 200, body: credentialsBody(n, T0 + n * HOUR) });
    let now = T0;
    const provider = await createIotCredentialsProvider(
      options({ clock: () => now, refreshBeforeExpirySeconds: 300 }),
    );
    const [a, b] = await Promise.all([provider(), provider()]);
    expect(a.accessKeyId).toBe('ASIA1');
    expect(b).toBe(a);
    now = T0 + HOUR - 301_000;
    expect((await provider()).accessKeyId).toBe('ASIA1');
    now = T0 + HOUR - 299_000;
    expect((await provider()).accessKeyId).toBe('ASIA2');
    expect(seen).toHaveLength(2);
  });

  it('keeps still-valid credentials when an early refresh fails, and fails once they expire', async () => {
    seen.length = 0;
    reply = (n) =>
      n === 1
        ? { status: 200, body: credentialsBody(n, T0 + HOUR) }
        : { status: 503, body: '{"message":"busy"}' };
    let now = T0;
    const provider = await createIotCredentialsProvider(options({ clock: () => now }));
    await provider();
    now = T0 + HOUR - 60_000;
    expect((await provider()).accessKeyId).toBe('ASIA1');
    now = T0 + HOUR;
    const error = await provider().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IotCredentialsUnavailableError);
    expect(error).toMatchObject({ status: 503, retryable: true });
  });

  it('maps 403 and 404 to named errors carrying the service message', async () => {
    reply = () => ({ status: 403, body: '{"message":"Access Denied"}' });
    const forbidden = await (await createIotCredentialsProvider(options()))().catch((e: unknown) => e);
    expect(forbidden).toBeInstanceOf(IotCredentialsForbiddenError);
    expect(forbidden).toMatchObject({ code: 'IOT_CREDENTIALS_FORBIDDEN', retryable: false });
    expect((forbidden as Error).message).toMatch(/HTTP 403 Access Denied/);
    reply = () => ({ status: 404, body: '{"message":"Role alias does not exist"}' });
    await expect((await createIotCredentialsProvider(options()))()).rejects.toBeInstanceOf(
      IotRoleAliasNotFoundError,
    );
  });

  it('refuses a response that is not the documented shape', async () => {
    reply = () => ({ status: 200, body: '{"credentials":{"accessKeyId":"A"}}' });
    await expect((await createIotCredentialsProvider(options()))()).rejects.toMatchObject({
      code: 'IOT_CREDENTIALS_UNAVAILABLE',
      message: expect.stringMatching(/not the documented JSON/),
    });
  });

  it('fails the handshake with a certificate from another CA', async () => {
    const rogue = options({
      certificateFile: join(tmp.path, 'rogue.pem'),
      privateKeyFile: join(tmp.path, 'rogue.key'),
    });
    await expect((await createIotCredentialsProvider(rogue))()).rejects.toMatchObject({
      code: 'IOT_CREDENTIALS_UNAVAILABLE',
      status: 0,
    });
  });

  it('feeds AWS SDK v3 clients through the client factory', async () => {
    reply = (n) => ({ status: 200, body: credentialsBody(n, Date.now() + HOUR) });
    const provider = await createIotCredentialsProvider(options());
    const clients = createAwsClients({ kind: 'aws', region: 'eu-west-1', credentials: provider });
    try {
      const resolved = await clients.kinesis().config.credentials();
      expect(resolved).toMatchObject({
        secretAccessKey: expect.stringMatching(/^secret-/),
        sessionToken: expect.any(String),
      });
    } finally {
      clients.destroy();
    }
  });
});
