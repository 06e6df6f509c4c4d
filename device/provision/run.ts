/**
 * `tributary device provision|deprovision`: observes AWS IoT, the stack and the device's files, asks
 * plan.ts what to do, and does it, saying each thing it did or reused. Both are idempotent: a second
 * run finds everything in place and changes nothing, and a run interrupted anywhere is finished by
 * the next one.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CertificateStatus,
  CreateCertificateFromCsrCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteThingCommand,
  DescribeCertificateCommand,
  DescribeEndpointCommand,
  DescribeThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  ListAttachedPoliciesCommand,
  ListPrincipalThingsCommand,
  ListThingPrincipalsCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import type { ControlPlaneClients } from '../../shared/aws/control-clients.ts';
import { parseConfig } from '../config.ts';
import { certificateId, certificateMatchesKey, createCsr, generateDeviceKey } from './csr.ts';
import {
  CertificateKeyMismatchError,
  ProvisionAwsError,
  ProvisionFileError,
  ProvisionInputError,
  StackNotFoundError,
  StackOutputMissingError,
} from './errors.ts';
import {
  type AttachedPrincipal,
  type DeprovisionPlan,
  type ProvisionPlan,
  planDeprovision,
  planProvision,
  type RegisteredCertificate,
  type StackDevice,
} from './plan.ts';

/** AWS IoT thing names ([a-zA-Z0-9:_-]+, at most 128). */
const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
/** osls stage names. */
const STAGE = /^[a-zA-Z0-9-]{1,64}$/;
const HOST_PORT = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;
/** DeleteThing right after DetachThingPrincipal can fail while the detach propagates (it is asynchronous). */
const DELETE_THING_ATTEMPTS = 6;

/** Where provisioning puts the device's identity; paths in the config are relative to `dir`. */
export function deviceFiles(dir: string) {
  return {
    dir,
    config: join(dir, 'agent.json'),
    certsDir: join(dir, 'certs'),
    certificate: join(dir, 'certs', 'device.pem.crt'),
    privateKey: join(dir, 'certs', 'private.pem.key'),
    ca: join(dir, 'certs', 'ca.pem'),
  } as const;
}

export interface ProvisionOptions {
  readonly stage: string;
  readonly thingName: string;
  readonly region: string;
  /** Default `tributary-<stage>` (osls names stacks `<service>-<stage>`). */
  readonly stackName?: string;
  /** Config and certificates; default /etc/tributary. */
  readonly dir: string;
  /** The agent's log store (the service's StateDirectory); default /var/lib/tributary. */
  readonly storeRoot: string;
  /** Configure status over MQTT (needs aws-crt: 64-bit devices only). */
  readonly mqtt: boolean;
  /** Use these instead of DescribeEndpoint's (a VPC endpoint, a custom domain, a test server). */
  readonly credentialsEndpoint?: string;
  readonly dataEndpoint?: string;
  /** A CA bundle to trust for the endpoints, copied beside the certificate (Amazon Root CA 1 is built in). */
  readonly caFile?: string;
}

export interface DeprovisionOptions {
  readonly thingName: string;
  readonly dir: string;
}

export interface ProvisionDeps {
  readonly clients: ControlPlaneClients;
  readonly log: (line: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface ProvisionResult {
  readonly plan: ProvisionPlan;
  readonly certificateId: string;
  readonly configFile: string;
}

async function aws<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new ProvisionAwsError(operation, error);
  }
}

/** The call's result, or undefined when AWS answers ResourceNotFoundException. */
async function unlessMissing<T>(operation: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    throw new ProvisionAwsError(operation, error);
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProvisionFileError(path, `cannot be read: ${(error as Error).message}`, error);
  }
}

/** Writes through a temporary file and a rename, so a crash leaves the old file or the new, whole. */
async function writePrivate(path: string, content: string): Promise<'written' | 'unchanged'> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await chmod(dirname(path), 0o700);
  if ((await readIfExists(path)) === content) {
    await chmod(path, 0o600);
    return 'unchanged';
  }
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, content, { mode: 0o600 });
  await rename(temporary, path);
  await chmod(path, 0o600);
  return 'written';
}

function validate(options: { thingName: string; stage?: string; endpoints?: Record<string, unknown> }) {
  if (!THING_NAME.test(options.thingName)) {
    throw new ProvisionInputError('--thing', options.thingName, 'must be 1-128 of A-Z a-z 0-9 : _ -');
  }
  if (options.stage !== undefined && !STAGE.test(options.stage)) {
    throw new ProvisionInputError('--stage', options.stage, 'must be 1-64 of A-Z a-z 0-9 -');
  }
  for (const [flag, value] of Object.entries(options.endpoints ?? {})) {
    if (value !== undefined && !(typeof value === 'string' && HOST_PORT.test(value))) {
      throw new ProvisionInputError(flag, value, 'must be a host name, optionally with :port');
    }
  }
}

/** The thing whose identity the config in `dir` holds, if there is one. */
async function configuredThing(file: string): Promise<{ thing: string | undefined; config: unknown }> {
  const text = await readIfExists(file);
  if (text === undefined) return { thing: undefined, config: undefined };
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new ProvisionFileError(file, `is not JSON: ${(error as Error).message}`, error);
  }
  const thing = (config as { aws?: { credentials?: { thingName?: unknown } } })?.aws?.credentials?.thingName;
  return { thing: typeof thing === 'string' ? thing : undefined, config };
}

async function stackDevice(
  clients: ControlPlaneClients,
  stackName: string,
  region: string,
): Promise<StackDevice> {
  let outputs: Map<string, string>;
  try {
    const answer = await clients.cloudformation().send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = answer.Stacks?.[0];
    if (stack === undefined) throw new StackNotFoundError(stackName, region);
    outputs = new Map((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } catch (error) {
    if (error instanceof StackNotFoundError) throw error;
    if (/does not exist/.test((error as Error).message ?? ''))
      throw new StackNotFoundError(stackName, region, error);
    throw new ProvisionAwsError('cloudformation:DescribeStacks', error);
  }
  const output = (key: string) => {
    const value = outputs.get(key);
    if (value === undefined || value === '') throw new StackOutputMissingError(stackName, key);
    return value;
  };
  return {
    stackName,
    policyName: output('DevicePolicyName'),
    roleAlias: output('DeviceRoleAlias'),
    recordsStreamName: output('RecordsStreamName'),
  };
}

async function listAll<T>(
  page: (token: string | undefined) => Promise<{ items: T[]; next: string | undefined }>,
) {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const { items, next } = await page(token);
    out.push(...items);
    token = next;
  } while (token !== undefined);
  return out;
}

function thingPrincipals(clients: ControlPlaneClients, thingName: string): Promise<string[]> {
  return aws('iot:ListThingPrincipals', () =>
    listAll(async (nextToken) => {
      const answer = await clients.iot().send(new ListThingPrincipalsCommand({ thingName, nextToken }));
      return { items: answer.principals ?? [], next: answer.nextToken };
    }),
  );
}

function principalThings(clients: ControlPlaneClients, principal: string): Promise<string[]> {
  return aws('iot:ListPrincipalThings', () =>
    listAll(async (nextToken) => {
      const answer = await clients.iot().send(new ListPrincipalThingsCommand({ principal, nextToken }));
      return { items: answer.things ?? [], next: answer.nextToken };
    }),
  );
}

async function registeredCertificate(
  clients: ControlPlaneClients,
  id: string,
): Promise<RegisteredCertificate | undefined> {
  const answer = await unlessMissing('iot:DescribeCertificate', () =>
    clients.iot().send(new DescribeCertificateCommand({ certificateId: id })),
  );
  const description = answer?.certificateDescription;
  if (description?.certificateArn === undefined) return undefined;
  const arn = description.certificateArn;
  const policies = await aws('iot:ListAttachedPolicies', () =>
    listAll(async (marker) => {
      const page = await clients.iot().send(new ListAttachedPoliciesCommand({ target: arn, marker }));
      return { items: (page.policies ?? []).map((p) => p.policyName ?? ''), next: page.nextMarker };
    }),
  );
  return { id, arn, status: description.status ?? 'UNKNOWN', policies };
}

async function endpoint(clients: ControlPlaneClients, type: string, override: string | undefined) {
  if (override !== undefined) return override;
  const answer = await aws('iot:DescribeEndpoint', () =>
    clients.iot().send(new DescribeEndpointCommand({ endpointType: type })),
  );
  if (answer.endpointAddress === undefined) {
    throw new ProvisionAwsError('iot:DescribeEndpoint', new Error(`no ${type} endpoint in the answer`));
  }
  return answer.endpointAddress;
}

/** The agent's config: the identity fields set, anything else an earlier config had kept. */
function agentConfig(
  existing: unknown,
  options: ProvisionOptions,
  stack: StackDevice,
  endpoints: { credentials: string; data: string | undefined },
  withCa: boolean,
): Record<string, unknown> {
  const base =
    existing !== null && typeof existing === 'object'
      ? (existing as Record<string, unknown>)
      : {
          storeRoot: options.storeRoot,
          deviceId: options.thingName,
          streams: [{ name: 'telemetry', export: { kinesisStreamName: stack.recordsStreamName } }],
        };
  const oldIot = (base.iot ?? {}) as Record<string, unknown>;
  const oldMqtt = (oldIot.mqtt ?? {}) as Record<string, unknown>;
  const { mqtt: _mqtt, ...otherIot } = oldIot;
  const iot =
    endpoints.data === undefined ? otherIot : { ...otherIot, mqtt: { ...oldMqtt, endpoint: endpoints.data } };
  const { iot: _iot, ...rest } = base;
  return {
    ...rest,
    aws: {
      ...((base.aws ?? {}) as Record<string, unknown>),
      region: options.region,
      credentials: {
        source: 'iot',
        credentialsEndpoint: endpoints.credentials,
        thingName: options.thingName,
        roleAlias: stack.roleAlias,
        certificateFile: 'certs/device.pem.crt',
        privateKeyFile: 'certs/private.pem.key',
        ...(withCa ? { caFile: 'certs/ca.pem' } : {}),
      },
    },
    ...(Object.keys(iot).length === 0 ? {} : { iot }),
  };
}

export async function provisionDevice(
  options: ProvisionOptions,
  deps: ProvisionDeps,
): Promise<ProvisionResult> {
  validate({
    thingName: options.thingName,
    stage: options.stage,
    endpoints: {
      '--credentials-endpoint': options.credentialsEndpoint,
      '--data-endpoint': options.dataEndpoint,
    },
  });
  const { clients, log } = deps;
  const iot = clients.iot();
  const files = deviceFiles(options.dir);
  const { thing: configured, config: existingConfig } = await configuredThing(files.config);
  if (configured !== undefined && configured !== options.thingName) {
    throw new ProvisionInputError(
      '--thing',
      options.thingName,
      `${files.config} holds the identity of thing ${configured}: deprovision it first or give another --dir`,
    );
  }
  const ca = options.caFile === undefined ? undefined : await readIfExists(options.caFile);
  if (options.caFile !== undefined && ca === undefined) {
    throw new ProvisionFileError(options.caFile, 'does not exist');
  }

  const stack = await stackDevice(clients, options.stackName ?? `tributary-${options.stage}`, options.region);
  const thing = await unlessMissing('iot:DescribeThing', () =>
    iot.send(new DescribeThingCommand({ thingName: options.thingName })),
  );
  let key = await readIfExists(files.privateKey);
  const certificatePem = await readIfExists(files.certificate);
  let onDisk: { id: string; matchesKey: boolean } | undefined;
  if (certificatePem !== undefined) {
    try {
      onDisk = {
        id: certificateId(certificatePem),
        matchesKey: key !== undefined && certificateMatchesKey(certificatePem, key),
      };
    } catch (error) {
      throw new ProvisionFileError(
        files.certificate,
        `is not a PEM certificate or its key is unreadable`,
        error,
      );
    }
  }
  const registered = onDisk === undefined ? undefined : await registeredCertificate(clients, onDisk.id);
  const principals = thing === undefined ? [] : await thingPrincipals(clients, options.thingName);
  const plan = planProvision(options.thingName, {
    stack,
    thingExists: thing !== undefined,
    thingPrincipals: principals,
    keyOnDisk: key !== undefined,
    certificateOnDisk: onDisk,
    registered,
  });
  for (const what of plan.reused) log(`reused ${what}`);

  let certificate = registered ?? { id: '', arn: '', status: '', policies: [] };
  for (const step of plan.steps) {
    switch (step.kind) {
      case 'create-thing':
        await aws('iot:CreateThing', () =>
          iot.send(new CreateThingCommand({ thingName: options.thingName })),
        );
        log(`created thing ${options.thingName}`);
        break;
      case 'generate-key':
        key = generateDeviceKey();
        // Written before the certificate is requested, so an interrupted run certifies this key next time.
        await rm(files.certificate, { force: true });
        await writePrivate(files.privateKey, key);
        log(`generated a new device key (${step.reason}): ${files.privateKey}`);
        break;
      case 'create-certificate': {
        const devKey = key as string;
        const answer = await aws('iot:CreateCertificateFromCsr', () =>
          iot.send(
            new CreateCertificateFromCsrCommand({
              certificateSigningRequest: createCsr(devKey, options.thingName),
              setAsActive: true,
            }),
          ),
        );
        const pem = answer.certificatePem ?? '';
        const id = answer.certificateId ?? '';
        if (!certificateMatchesKey(pem, devKey)) {
          await aws('iot:UpdateCertificate', () =>
            iot.send(
              new UpdateCertificateCommand({ certificateId: id, newStatus: CertificateStatus.INACTIVE }),
            ),
          );
          await aws('iot:DeleteCertificate', () =>
            iot.send(new DeleteCertificateCommand({ certificateId: id })),
          );
          throw new CertificateKeyMismatchError(id);
        }
        await writePrivate(files.certificate, pem);
        certificate = { id, arn: answer.certificateArn ?? '', status: 'ACTIVE', policies: [] };
        log(
          `created certificate ${id} from a CSR (the private key never left this device): ${files.certificate}`,
        );
        break;
      }
      case 'activate-certificate':
        await aws('iot:UpdateCertificate', () =>
          iot.send(
            new UpdateCertificateCommand({
              certificateId: certificate.id,
              newStatus: CertificateStatus.ACTIVE,
            }),
          ),
        );
        log(`activated certificate ${certificate.id}`);
        break;
      case 'attach-policy':
        await aws('iot:AttachPolicy', () =>
          iot.send(new AttachPolicyCommand({ policyName: step.policyName, target: certificate.arn })),
        );
        log(`attached policy ${step.policyName} to certificate ${certificate.id}`);
        break;
      case 'attach-thing-principal':
        await aws('iot:AttachThingPrincipal', () =>
          iot.send(
            new AttachThingPrincipalCommand({ thingName: options.thingName, principal: certificate.arn }),
          ),
        );
        log(`attached certificate ${certificate.id} to thing ${options.thingName}`);
        break;
      case 'write-files': {
        const credentials = await endpoint(clients, 'iot:CredentialProvider', options.credentialsEndpoint);
        const data = options.mqtt ? await endpoint(clients, 'iot:Data-ATS', options.dataEndpoint) : undefined;
        log(
          `credentials endpoint ${credentials}, role alias ${stack.roleAlias}${data === undefined ? ', no MQTT' : `, MQTT endpoint ${data}`}, Kinesis stream ${stack.recordsStreamName}`,
        );
        if (ca !== undefined) log(`CA bundle ${files.ca}: ${await writePrivate(files.ca, ca)}`);
        const config = agentConfig(existingConfig, options, stack, { credentials, data }, ca !== undefined);
        // The agent must accept what is written; a config it would refuse is never left behind.
        parseConfig(config, files.config);
        const state = await writePrivate(files.config, `${JSON.stringify(config, null, 2)}\n`);
        log(`${state === 'written' ? 'wrote' : 'unchanged:'} ${files.config}`);
        break;
      }
    }
  }
  return { plan, certificateId: certificate.id, configFile: files.config };
}

export async function deprovisionDevice(
  options: DeprovisionOptions,
  deps: ProvisionDeps,
): Promise<DeprovisionPlan> {
  validate({ thingName: options.thingName });
  const { clients, log } = deps;
  const iot = clients.iot();
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const files = deviceFiles(options.dir);
  const { thing: configured } = await configuredThing(files.config);
  if (configured !== undefined && configured !== options.thingName) {
    throw new ProvisionInputError(
      '--thing',
      options.thingName,
      `${files.config} holds the identity of thing ${configured}, not this one`,
    );
  }
  const thing = await unlessMissing('iot:DescribeThing', () =>
    iot.send(new DescribeThingCommand({ thingName: options.thingName })),
  );
  const principals: AttachedPrincipal[] = [];
  for (const arn of thing === undefined ? [] : await thingPrincipals(clients, options.thingName)) {
    const others = (await principalThings(clients, arn)).filter((t) => t !== options.thingName);
    const id = /:cert\/([0-9a-f]+)$/.exec(arn)?.[1];
    principals.push({
      arn,
      otherThings: others,
      certificate: id === undefined ? undefined : await registeredCertificate(clients, id),
    });
  }
  const certificatePem = await readIfExists(files.certificate);
  let detachedLocal: RegisteredCertificate | undefined;
  if (certificatePem !== undefined) {
    const local = await registeredCertificate(clients, certificateId(certificatePem));
    if (local !== undefined && (await principalThings(clients, local.arn)).length === 0)
      detachedLocal = local;
  }
  const present = [files.config, files.certificate, files.privateKey, files.ca].filter((f) => existsSync(f));
  const plan = planDeprovision({
    thingExists: thing !== undefined,
    principals,
    detachedLocal,
    files: present,
  });

  for (const step of plan.steps) {
    switch (step.kind) {
      case 'detach-thing-principal':
        await aws('iot:DetachThingPrincipal', () =>
          iot.send(new DetachThingPrincipalCommand({ thingName: options.thingName, principal: step.arn })),
        );
        log(`detached ${step.arn} from thing ${options.thingName}`);
        break;
      case 'detach-policy':
        await aws('iot:DetachPolicy', () =>
          iot.send(new DetachPolicyCommand({ policyName: step.policyName, target: step.arn })),
        );
        log(`detached policy ${step.policyName} from ${step.arn}`);
        break;
      case 'deactivate-certificate':
        await aws('iot:UpdateCertificate', () =>
          iot.send(
            new UpdateCertificateCommand({ certificateId: step.id, newStatus: CertificateStatus.INACTIVE }),
          ),
        );
        log(`deactivated certificate ${step.id}`);
        break;
      case 'delete-certificate':
        await aws('iot:DeleteCertificate', () =>
          iot.send(new DeleteCertificateCommand({ certificateId: step.id })),
        );
        log(`deleted certificate ${step.id}`);
        break;
      case 'delete-thing':
        for (let attempt = 1; ; attempt++) {
          try {
            await iot.send(new DeleteThingCommand({ thingName: options.thingName }));
            break;
          } catch (error) {
            const stillAttached = /attached/i.test((error as Error).message ?? '');
            if (!stillAttached || attempt >= DELETE_THING_ATTEMPTS) {
              throw new ProvisionAwsError('iot:DeleteThing', error);
            }
            await sleep(500 * 2 ** attempt);
          }
        }
        log(`deleted thing ${options.thingName}`);
        break;
      case 'remove-file':
        await rm(step.path, { force: true });
        log(`removed ${step.path}`);
        break;
    }
  }
  for (const path of plan.kept) log(`kept ${path}: other things still use it`);
  // The folders provisioning made go too when nothing else is in them.
  for (const dir of [files.certsDir, files.dir]) {
    try {
      await rmdir(dir);
      log(`removed ${dir}`);
    } catch {
      // Not empty (the operator's own files) or already gone.
    }
  }
  if (plan.steps.length === 0)
    log(`nothing to do: thing ${options.thingName} is not provisioned here or in AWS IoT`);
  return plan;
}
