import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import dns from 'node:dns';
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { CreateStackCommand } from '@aws-sdk/client-cloudformation';
import {
  CreatePolicyCommand,
  CreateRoleAliasCommand,
  DescribeCertificateCommand,
  DescribeThingCommand,
  GetPolicyCommand,
  ListAttachedPoliciesCommand,
  ListCertificatesCommand,
  ListPrincipalThingsCommand,
  ListTargetsForPolicyCommand,
  ListThingsCommand,
} from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../device/agent.ts';
import { main } from '../../device/cli.ts';
import { loadConfig } from '../../device/config.ts';
import { parseStackYaml } from '../../local/resources/yaml.ts';
import { findMoto, type RunningServer, startMoto } from '../../local/servers/index.ts';
import { type ControlPlaneClients, createControlPlaneClients } from '../../shared/aws/control-clients.ts';
import { type IotPolicyDocument, iotAllows, resolveTemplateValue } from '../helpers/iot-policy.ts';
import { useTempDir } from '../helpers/temp-dir.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const REGION = 'eu-west-1';
const THING = 'gw-provision-01';
const ROLE_ALIAS = 'tributary-dev-device';
const POLICY = 'tributary-dev-device';

// CI (.ci/run) installs moto into .venv, so there a missing moto fails instead of skipping.
const available = findMoto() !== undefined || process.env.CI === 'true';

interface Presented {
  path: string;
  thingName: string | undefined;
  certificateDer: Buffer;
  status: number;
}

/**
 * The AWS IoT credentials provider over moto's registry: mutual TLS on 127.0.0.1 that, like the real
 * endpoint, accepts any client certificate at the handshake and then answers 200 only when AWS IoT
 * (moto) has it registered and ACTIVE, attached to the thing the header names, with a policy that
 * allows iot:AssumeRoleWithCertificate on the role alias; else 403.
 */
async function credentialsEndpoint(dir: string, clients: ControlPlaneClients, presented: Presented[]) {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=test-ca');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'server.ext',
  );
  const iot = clients.iot();
  const authorized = async (der: Buffer, thingName: string | undefined, path: string): Promise<boolean> => {
    const id = createHash('sha256').update(der).digest('hex');
    const cert = await iot.send(new DescribeCertificateCommand({ certificateId: id })).catch(() => undefined);
    const arn = cert?.certificateDescription?.certificateArn;
    if (arn === undefined || cert?.certificateDescription?.status !== 'ACTIVE' || thingName === undefined)
      return false;
    const things = await iot.send(new ListPrincipalThingsCommand({ principal: arn }));
    if (!(things.things ?? []).includes(thingName)) return false;
    const attached = await iot.send(new ListAttachedPoliciesCommand({ target: arn }));
    const documents = await Promise.all(
      (attached.policies ?? []).map(async (p) => {
        const policy = await iot.send(new GetPolicyCommand({ policyName: p.policyName }));
        return JSON.parse(policy.policyDocument ?? '{}') as IotPolicyDocument;
      }),
    );
    const alias = /^\/role-aliases\/([^/]+)\/credentials$/.exec(path)?.[1] ?? '';
    const aliasArn = `arn:aws:iot:${REGION}:123456789012:rolealias/${alias}`;
    return iotAllows(documents, 'iot:AssumeRoleWithCertificate', aliasArn, {
      clientId: thingName,
      thingName,
    });
  };
  const server: Server = createServer(
    {
      key: await readFile(join(dir, 'server.key')),
      cert: await readFile(join(dir, 'server.pem')),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const der = (req.socket as TLSSocket).getPeerCertificate().raw;
      const thingName = req.headers['x-amzn-iot-thingname'] as string | undefined;
      void (der === undefined ? Promise.resolve(false) : authorized(der, thingName, req.url ?? '')).then(
        (ok) => {
          presented.push({ path: req.url ?? '', thingName, certificateDer: der, status: ok ? 200 : 403 });
          const body = ok
            ? {
                credentials: {
                  accessKeyId: 'ASIAPROVISIONTEST',
                  secretAccessKey: 'secret',
                  sessionToken: 'token',
                  expiration: new Date(Date.now() + 3_600_000).toISOString(),
                },
              }
            : { message: 'Access Denied' };
          res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        },
      );
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, ca: join(dir, 'ca.pem') };
}

/** The stack's DevicePolicy document from serverless.yml, with the stack's names filled in. */
async function devicePolicy(accountId: string): Promise<IotPolicyDocument> {
  const parsed = parseStackYaml(await readFile(join(ROOT, 'serverless.yml'), 'utf8'), 'serverless.yml');
  const resources = (
    parsed.value as { resources: { Resources: Record<string, { Properties: Record<string, unknown> }> } }
  ).resources.Resources;
  return resolveTemplateValue(resources.DevicePolicy?.Properties.PolicyDocument, {
    partition: 'aws',
    region: REGION,
    accountId,
    resources: { DeviceRoleAlias: { Type: 'AWS::IoT::RoleAlias', Properties: { RoleAlias: ROLE_ALIAS } } },
  }) as IotPolicyDocument;
}

function output() {
  const chunks: string[] = [];
  const stream = { write: (chunk: string) => chunks.push(chunk) > 0 } as unknown as NodeJS.WritableStream;
  return { io: { out: stream, err: stream }, text: () => chunks.join('') };
}

describe.skipIf(!available)(
  `device provision / deprovision against moto${available ? '' : ' [SKIPPED: no .venv/bin/moto_server; .venv/bin/pip install -r scripts/cfn-lint-requirements.txt]'}`,
  () => {
    let moto: RunningServer;
    let clients: ControlPlaneClients;
    const tmp = useTempDir('tributary-provision-');
    let endpoint: Awaited<ReturnType<typeof credentialsEndpoint>>;
    const presented: Presented[] = [];
    const deps = {
      controlPlane: () =>
        createControlPlaneClients({
          kind: 'local',
          region: REGION,
          endpoints: { iot: moto.endpoint, cloudformation: moto.endpoint },
        }),
    };

    beforeAll(async () => {
      moto = await startMoto();
      clients = deps.controlPlane();
      endpoint = await credentialsEndpoint(tmp.path, clients, presented);
      // What `osls deploy` makes for devices: the role alias, and the stack with DevicePolicy and outputs.
      await clients.iot().send(
        new CreateRoleAliasCommand({
          roleAlias: ROLE_ALIAS,
          roleArn: 'arn:aws:iam::123456789012:role/tributary-dev-DeviceRole',
          credentialDurationSeconds: 3600,
        }),
      );
      // The policy through the IoT API: moto's CloudFormation stores a policy document as Python text.
      await clients.iot().send(
        new CreatePolicyCommand({
          policyName: POLICY,
          policyDocument: JSON.stringify(await devicePolicy('123456789012')),
        }),
      );
      const template = {
        Resources: { Placeholder: { Type: 'AWS::CloudFormation::WaitConditionHandle' } },
        Outputs: {
          DevicePolicyName: { Value: POLICY },
          DeviceRoleAlias: { Value: ROLE_ALIAS },
          RecordsStreamName: { Value: 'tributary-dev-records' },
        },
      };
      await clients
        .cloudformation()
        .send(new CreateStackCommand({ StackName: 'tributary-dev', TemplateBody: JSON.stringify(template) }));
    }, 120_000);

    afterAll(async () => {
      clients?.destroy();
      await new Promise((resolve) => endpoint?.server.close(resolve));
      await moto?.stop();
    });

    it('provisions, the agent presents the written certificate for credentials, and deprovision removes it all', async () => {
      const dir = join(tmp.path, 'etc-tributary');
      const store = join(tmp.path, 'store');
      const provision = [
        'device',
        'provision',
        '--stage',
        'dev',
        '--thing',
        THING,
        '--region',
        REGION,
        '--dir',
        dir,
        '--store-root',
        store,
        '--no-mqtt',
        '--credentials-endpoint',
        `127.0.0.1:${endpoint.port}`,
        '--ca-file',
        endpoint.ca,
      ];

      // No stack for the stage: a named error, nothing created.
      const missing = output();
      expect(
        await main(
          provision.map((a) => (a === 'dev' ? 'prod' : a)),
          missing.io,
          deps,
        ),
      ).toBe(1);
      expect(missing.text()).toContain('PROVISION_STACK_NOT_FOUND');
      expect((await clients.iot().send(new ListThingsCommand({}))).things ?? []).toEqual([]);

      const first = output();
      expect(await main(provision, first.io, deps), first.text()).toBe(0);
      expect(first.text()).toContain(`created thing ${THING}`);
      expect(first.text()).toContain('from a CSR (the private key never left this device)');
      expect(first.text()).toContain(`attached policy ${POLICY}`);

      // Files: the directory 0700, the key, certificate and config 0600.
      const config = join(dir, 'agent.json');
      const certificate = join(dir, 'certs', 'device.pem.crt');
      for (const path of [dir, join(dir, 'certs')]) expect(statSync(path).mode & 0o777, path).toBe(0o700);
      for (const path of [
        config,
        certificate,
        join(dir, 'certs', 'private.pem.key'),
        join(dir, 'certs', 'ca.pem'),
      ]) {
        expect(statSync(path).mode & 0o777, path).toBe(0o600);
      }
      const written = JSON.parse(await readFile(config, 'utf8'));
      expect(written).toMatchObject({
        deviceId: THING,
        storeRoot: store,
        aws: { region: REGION, credentials: { source: 'iot', thingName: THING, roleAlias: ROLE_ALIAS } },
        streams: [{ name: 'telemetry', export: { kinesisStreamName: 'tributary-dev-records' } }],
      });
      expect(written.iot).toBeUndefined();

      // In moto: the certificate is active, attached to the thing, with the stack's policy.
      const pem = await readFile(certificate, 'utf8');
      const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      const id = createHash('sha256').update(der).digest('hex');
      const described = await clients.iot().send(new DescribeCertificateCommand({ certificateId: id }));
      expect(described.certificateDescription?.status).toBe('ACTIVE');
      const arn = described.certificateDescription?.certificateArn;
      expect((await clients.iot().send(new ListPrincipalThingsCommand({ principal: arn }))).things).toEqual([
        THING,
      ]);

      // Again: everything is reused, nothing changes.
      const again = output();
      expect(await main(provision, again.io, deps), again.text()).toBe(0);
      expect(again.text()).toContain(`reused thing ${THING}`);
      expect(again.text()).toContain(`reused certificate ${id}`);
      expect(again.text()).toContain(`unchanged: ${config}`);
      expect(again.text()).not.toMatch(/created|generated|attached/);
      expect((await clients.iot().send(new ListCertificatesCommand({}))).certificates).toHaveLength(1);

      // The agent with the written config: its credentials provider presents the written certificate.
      // Every name resolves to 127.0.0.1 meanwhile, so its Kinesis calls cannot leave this machine.
      const lookup = dns.lookup;
      (dns as { lookup: unknown }).lookup = (_host: string, options: unknown, callback?: unknown) => {
        const done = (typeof options === 'function' ? options : callback) as (...args: unknown[]) => void;
        const all = typeof options === 'object' && (options as { all?: boolean }).all === true;
        process.nextTick(() =>
          all ? done(null, [{ address: '127.0.0.1', family: 4 }]) : done(null, '127.0.0.1', 4),
        );
      };
      const agent = await Agent.start(await loadConfig(config));
      try {
        for (let i = 0; i < 600 && presented.length === 0; i++) await sleep(50);
      } finally {
        await agent.stop({ drainTimeoutMillis: 0 });
        (dns as { lookup: unknown }).lookup = lookup;
      }
      expect(presented[0]).toMatchObject({
        path: `/role-aliases/${ROLE_ALIAS}/credentials`,
        thingName: THING,
        status: 200,
      });
      expect(presented[0]?.certificateDer.equals(der)).toBe(true);

      // Deprovision: nothing left in moto or on disk; a second run has nothing to do.
      const gone = output();
      expect(
        await main(
          ['device', 'deprovision', '--thing', THING, '--region', REGION, '--dir', dir],
          gone.io,
          deps,
        ),
        gone.text(),
      ).toBe(0);
      expect(gone.text()).toContain(`deleted certificate ${id}`);
      expect(gone.text()).toContain(`deleted thing ${THING}`);
      await expect(clients.iot().send(new DescribeThingCommand({ thingName: THING }))).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
      expect((await clients.iot().send(new ListCertificatesCommand({}))).certificates ?? []).toEqual([]);
      expect(
        (await clients.iot().send(new ListTargetsForPolicyCommand({ policyName: POLICY }))).targets ?? [],
      ).toEqual([]);
      expect(existsSync(dir)).toBe(false);
      const twice = output();
      expect(
        await main(
          ['device', 'deprovision', '--thing', THING, '--region', REGION, '--dir', dir],
          twice.io,
          deps,
        ),
      ).toBe(0);
      expect(twice.text()).toContain('nothing to do');
    }, 120_000);
  },
);
