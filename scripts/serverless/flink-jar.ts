/**
 * osls plugin (loaded through flink-jar-plugin.mjs): ships the Flink application JAR with the stack,
 * and lets `osls remove` delete a stack whose buckets hold objects.
 *
 * Package (`osls package`, and the packaging step of `osls deploy`): hashes the JAR named by
 * `custom.analyticsCode.jar` and writes `<prefix><name>-<sha256>.jar` as the application's FileKey
 * in the compiled template, then copies the JAR next to the template (so `osls deploy --package`
 * deploys what was packaged). A changed JAR gets a new key, so CloudFormation updates the running
 * application; an unchanged one keeps its key, and the template (and the application) stays as is.
 *
 * Deploy: after osls has uploaded its own artifacts and before it updates the stack, the JAR is put
 * into the deployment bucket under that key, unless an object is already there. On a first deploy
 * osls creates a stack holding only the deployment bucket (createStack), uploads (uploadArtifacts),
 * then updates the stack with everything else (updateStack): the bucket exists by then, and the
 * application is created after its code is in place. Managed Flink refuses a missing object.
 *
 * Remove: before osls deletes the stack, every bucket of the stack that CloudFormation will delete
 * (DeletionPolicy not Retain) is emptied, versions included, and IoT policies of the stack are
 * detached from the device certificates they were attached to (CloudFormation cannot delete an
 * attached policy). Retained buckets keep their objects.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import {
  CloudFormationClient,
  type CloudFormationClientConfig,
  paginateListStackResources,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import {
  DetachPolicyCommand,
  IoTClient,
  type IoTClientConfig,
  paginateListTargetsForPolicy,
} from '@aws-sdk/client-iot';
import {
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type ObjectIdentifier,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { formatPath, valueAtPath } from '../../shared/errors.ts';
import { parseOptions } from '../../shared/options.ts';
import {
  AnalyticsJarMissingError,
  BucketNotEmptiedError,
  DeployAwsError,
  DeployError,
  JarKeyMismatchError,
  TemplateShapeError,
} from './errors.ts';

/** DeleteObjects takes at most 1,000 keys per request (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html). */
export const DELETE_OBJECTS_MAX_KEYS = 1000;

/** Hooks of the osls lifecycle the plugin runs in, in the order osls reaches them. */
export const HOOKS = {
  /** After the custom resources are merged into the compiled template, before it is written. */
  package: 'before:aws:package:finalize:saveServiceState',
  /** After osls's artifact upload (the bucket exists, even on a first deploy), before validate/update. */
  deploy: 'after:aws:deploy:deploy:uploadArtifacts',
  /** Before osls empties its own deployment prefix and deletes the stack. */
  remove: 'before:remove:remove',
} as const;

const settingsSchema = z.strictObject({
  /** The shaded application JAR, relative to the service directory. */
  jar: z.string().min(1).endsWith('.jar'),
  /** Logical id of the AWS::KinesisAnalyticsV2::Application whose code the JAR is. */
  application: z.string().min(1),
  /** Key prefix in the deployment bucket; the application's role may read only under it. */
  keyPrefix: z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, 'a folder path ending in "/" (or empty)'),
});

export type AnalyticsCodeSettings = z.output<typeof settingsSchema>;

export function parseSettings(custom: unknown): AnalyticsCodeSettings {
  const input = (custom as { analyticsCode?: unknown } | undefined)?.analyticsCode;
  return parseOptions(settingsSchema, input, {
    at: ['custom', 'analyticsCode'],
    unknownKey: 'is not an analyticsCode setting',
  });
}

/** sha256 of a file, hex, streamed (the JAR is tens of MB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new AnalyticsJarMissingError(path);
    throw error;
  }
  return hash.digest('hex');
}

/** `analytics/tributary-analytics-0.1.0-<sha256>.jar`: the content decides the key. */
export function jarKey(settings: AnalyticsCodeSettings, sha256: string): string {
  return `${settings.keyPrefix}${basename(settings.jar, '.jar')}-${sha256}.jar`;
}

/** The hex sha256 a key made by jarKey carries. */
export function hashOfKey(key: string): string | undefined {
  return /-([0-9a-f]{64})\.jar$/.exec(key)?.[1];
}

type Json = Record<string, unknown>;

export interface Template {
  Resources: Record<string, Json>;
}

/** The S3ContentLocation of the application's code in the template. */
function contentLocation(template: Template, application: string): Json {
  const segments = [
    'Resources',
    application,
    'Properties',
    'ApplicationConfiguration',
    'ApplicationCodeConfiguration',
    'CodeContent',
    'S3ContentLocation',
  ];
  const location = valueAtPath(template, segments);
  if (typeof location !== 'object' || location === null) {
    throw new TemplateShapeError(formatPath(segments), 'missing; the JAR has nowhere to go');
  }
  const bucket = JSON.stringify((location as Json).BucketARN);
  // The plugin uploads into the deployment bucket only.
  if (bucket !== JSON.stringify({ 'Fn::GetAtt': ['ServerlessDeploymentBucket', 'Arn'] })) {
    throw new TemplateShapeError(
      `${formatPath(segments)}.BucketARN`,
      `must be !GetAtt ServerlessDeploymentBucket.Arn (got ${bucket})`,
    );
  }
  return location as Json;
}

/** Writes the JAR's key into the template as the application's FileKey. */
export function setApplicationCodeKey(template: Template, application: string, key: string): void {
  contentLocation(template, application).FileKey = key;
}

export function applicationCodeKey(template: Template, application: string): string {
  const key = contentLocation(template, application).FileKey;
  if (typeof key !== 'string' || hashOfKey(key) === undefined) {
    throw new TemplateShapeError(
      `Resources.${application}...S3ContentLocation.FileKey`,
      `not a content-hashed key (got ${JSON.stringify(key)}); package with this plugin`,
    );
  }
  return key;
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/**
 * Puts the JAR at `key` unless an object is there already (same key, same content: the key is the
 * content's hash). Returns what it did.
 */
export async function uploadJar(
  s3: S3Client,
  bucket: string,
  key: string,
  file: string,
): Promise<'uploaded' | 'present'> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return 'present';
  } catch (error) {
    if (!isNotFound(error)) throw new DeployAwsError('HeadObject', `s3://${bucket}/${key}`, error);
  }
  const body = await readFile(file);
  const actual = createHash('sha256').update(body).digest('hex');
  if (actual !== hashOfKey(key)) throw new JarKeyMismatchError(key, file, actual);
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: 'application/java-archive',
        Metadata: { sha256: actual },
      }),
    );
  } catch (error) {
    throw new DeployAwsError('PutObject', `s3://${bucket}/${key}`, error);
  }
  return 'uploaded';
}

/** Deletes every object version and delete marker in `bucket`; returns how many. Missing bucket: 0. */
export async function emptyBucket(s3: S3Client, bucket: string): Promise<number> {
  let deleted = 0;
  try {
    // Each round lists from the start and deletes all it got, until nothing is listed: no markers to
    // follow past objects that are gone meanwhile.
    for (;;) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
      const ids: ObjectIdentifier[] = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].flatMap(
        (v) =>
          v.Key === undefined
            ? []
            : [
                {
                  Key: v.Key,
                  // Unversioned buckets list version "null", which DeleteObjects takes as no version.
                  ...(v.VersionId === undefined || v.VersionId === 'null' ? {} : { VersionId: v.VersionId }),
                },
              ],
      );
      if (ids.length === 0) return deleted;
      for (let i = 0; i < ids.length; i += DELETE_OBJECTS_MAX_KEYS) {
        const batch = ids.slice(i, i + DELETE_OBJECTS_MAX_KEYS);
        const result = await s3.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }),
        );
        const failed = result.Errors ?? [];
        if (failed.length > 0) {
          throw new BucketNotEmptiedError(bucket, failed);
        }
        deleted += batch.length;
      }
    }
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchBucket') return deleted;
    if (error instanceof DeployError) throw error;
    throw new DeployAwsError('empty', `s3://${bucket}`, error);
  }
}

/** Minimal view of the osls objects the plugin uses (so a test can drive the hooks too). */
export interface AwsProviderLike {
  getAwsSdkV3Config(): Promise<S3ClientConfig & CloudFormationClientConfig & IoTClientConfig>;
  getServerlessDeploymentBucketName(): Promise<string>;
  naming: { getStackName(): string };
}

export interface ServerlessLike {
  serviceDir: string;
  service: {
    custom?: unknown;
    provider: { compiledCloudFormationTemplate: Template };
    resources?: { Resources?: Record<string, Json> } | undefined;
  };
  getProvider(name: 'aws'): AwsProviderLike;
}

export interface PluginLog {
  notice(message: string): void;
  info(message: string): void;
}

/** CloudFormation keeps resources with these deletion policies when the stack goes. */
const KEPT = new Set(['Retain', 'RetainExceptOnCreate']);

export class FlinkJarPlugin {
  readonly hooks: Record<(typeof HOOKS)[keyof typeof HOOKS], () => Promise<void>>;
  readonly #serverless: ServerlessLike;
  readonly #log: PluginLog;

  constructor(serverless: ServerlessLike, _options: unknown, utils?: { log?: PluginLog }) {
    this.#serverless = serverless;
    this.#log = utils?.log ?? { notice: console.log, info: () => undefined };
    this.hooks = {
      [HOOKS.package]: () => this.package(),
      [HOOKS.deploy]: () => this.deploy(),
      [HOOKS.remove]: () => this.remove(),
    };
  }

  /** Where osls keeps the packaged artifacts during a command (it moves `--package` dirs there and back). */
  get #artifactsDir(): string {
    return join(this.#serverless.serviceDir, '.serverless');
  }

  async package(): Promise<void> {
    const settings = parseSettings(this.#serverless.service.custom);
    const jar = resolve(this.#serverless.serviceDir, settings.jar);
    const key = jarKey(settings, await sha256File(jar));
    setApplicationCodeKey(
      this.#serverless.service.provider.compiledCloudFormationTemplate,
      settings.application,
      key,
    );
    await mkdir(this.#artifactsDir, { recursive: true });
    await copyFile(jar, join(this.#artifactsDir, basename(key)));
    this.#log.info(`Flink application code: ${key}`);
  }

  async deploy(): Promise<void> {
    const settings = parseSettings(this.#serverless.service.custom);
    const key = applicationCodeKey(
      this.#serverless.service.provider.compiledCloudFormationTemplate,
      settings.application,
    );
    const provider = this.#serverless.getProvider('aws');
    const bucket = await provider.getServerlessDeploymentBucketName();
    const s3 = new S3Client(await provider.getAwsSdkV3Config());
    try {
      const file = join(this.#artifactsDir, basename(key));
      const done = await uploadJar(s3, bucket, key, file);
      this.#log.notice(
        done === 'uploaded'
          ? `Uploaded the Flink application JAR to s3://${bucket}/${key}`
          : `Flink application JAR unchanged (s3://${bucket}/${key})`,
      );
    } finally {
      s3.destroy();
    }
  }

  async remove(): Promise<void> {
    const provider = this.#serverless.getProvider('aws');
    const stackName = provider.naming.getStackName();
    const config = await provider.getAwsSdkV3Config();
    const cloudFormation = new CloudFormationClient(config);
    const s3 = new S3Client(config);
    const iot = new IoTClient(config);
    try {
      let resources: StackResourceSummary[] = [];
      try {
        for await (const page of paginateListStackResources(
          { client: cloudFormation },
          { StackName: stackName },
        )) {
          resources = resources.concat(page.StackResourceSummaries ?? []);
        }
      } catch (error) {
        // No stack: nothing of ours to empty; osls remove reports the missing stack itself.
        if (/does not exist/.test((error as Error).message ?? '')) return;
        throw new DeployAwsError('ListStackResources', stackName, error);
      }
      const declared = this.#serverless.service.resources?.Resources ?? {};
      for (const resource of resources) {
        const id = resource.PhysicalResourceId;
        const logicalId = resource.LogicalResourceId ?? '';
        if (id === undefined || id === '' || resource.ResourceStatus === 'DELETE_COMPLETE') continue;
        if (resource.ResourceType === 'AWS::S3::Bucket') {
          const policy = declared[logicalId]?.DeletionPolicy;
          if (typeof policy === 'string' && KEPT.has(policy)) {
            this.#log.notice(`Keeping s3://${id} (${logicalId}: DeletionPolicy ${policy})`);
            continue;
          }
          const count = await emptyBucket(s3, id);
          this.#log.notice(`Emptied s3://${id} (${logicalId}): ${count} objects`);
        } else if (resource.ResourceType === 'AWS::IoT::Policy') {
          const detached = await detachPolicy(iot, id);
          if (detached.length > 0) {
            this.#log.notice(
              `Detached IoT policy ${id} from ${detached.length} certificates (they stay; delete them in AWS IoT if retired): ${detached.join(', ')}`,
            );
          }
        }
      }
    } finally {
      cloudFormation.destroy();
      s3.destroy();
      iot.destroy();
    }
  }
}

/** Detaches an IoT policy from every target (device certificates); returns the targets. */
export async function detachPolicy(iot: IoTClient, policyName: string): Promise<string[]> {
  const targets: string[] = [];
  try {
    for await (const page of paginateListTargetsForPolicy({ client: iot }, { policyName })) {
      targets.push(...(page.targets ?? []));
    }
    for (const target of targets) await iot.send(new DetachPolicyCommand({ policyName, target }));
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return [];
    throw new DeployAwsError('detach', `IoT policy ${policyName}`, error);
  }
  return targets;
}
