import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackResourceCommand,
} from '@aws-sdk/client-cloudformation';
import {
  AttachPolicyCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  IoTClient,
  ListTargetsForPolicyCommand,
} from '@aws-sdk/client-iot';
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findMoto, type RunningServer, startMoto } from '../../local/servers/index.ts';
import {
  DELETE_OBJECTS_MAX_KEYS,
  detachPolicy,
  FlinkJarPlugin,
  HOOKS,
  type ServerlessLike,
} from '../../scripts/serverless/flink-jar.ts';
import { clientConfig } from '../../shared/aws/clients.ts';
import { buildFunctions, ROOT, serviceCopy, standInJar } from '../helpers/osls.ts';

const run = promisify(execFile);

/**
 * The Flink JAR plugin against moto (CloudFormation, S3, IoT in one local server):
 * - real `osls deploy` into an empty account: the plugin's upload runs after osls created the stack
 *   with the deployment bucket and uploaded its artifacts, before the update that creates the
 *   application. (moto cannot run the whole stack, so the update's own outcome is not asserted.)
 * - `npm run remove`'s first step (before:remove:remove) on a stack with a bucket CloudFormation
 *   deletes and one it retains: the first is emptied, every version and delete marker, past one
 *   DeleteObjects page; the retained one keeps its objects.
 */

// CI (.ci/run) installs moto into .venv, so there a missing moto fails instead of skipping.
const available = findMoto() !== undefined || process.env.CI === 'true';

const STACK = 'tributary-removetest';
const TEMPLATE = {
  Resources: {
    LakeBucket: {
      Type: 'AWS::S3::Bucket',
      DeletionPolicy: 'Delete',
      Properties: { BucketName: 'tributary-removetest-lake' },
    },
    ArchiveBucket: {
      Type: 'AWS::S3::Bucket',
      DeletionPolicy: 'Retain',
      Properties: { BucketName: 'tributary-removetest-archive' },
    },
  },
};

describe.skipIf(!available)(
  `remove with the Flink JAR plugin${available ? '' : ' [SKIPPED: no .venv/bin/moto_server; .venv/bin/pip install -r scripts/cfn-lint-requirements.txt]'}`,
  () => {
    let moto: RunningServer;
    let config: ReturnType<typeof awsConfig>;
    let s3: S3Client;
    const awsConfig = () => ({
      ...clientConfig({ kind: 'local', region: 'us-east-1', endpoints: { s3: moto.endpoint } }, 's3'),
      endpoint: moto.endpoint,
      forcePathStyle: true,
    });

    const versionsIn = async (bucket: string) => {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
      return (page.Versions?.length ?? 0) + (page.DeleteMarkers?.length ?? 0);
    };

    beforeAll(async () => {
      moto = await startMoto();
      config = awsConfig();
      s3 = new S3Client(config);
    }, 60_000);

    afterAll(async () => {
      s3?.destroy();
      await moto?.stop();
    });

    it('osls deploy into an empty account uploads the JAR after the bucket exists and before the stack update', async () => {
      await buildFunctions();
      const service = await serviceCopy();
      try {
        const jar = await standInJar(join(service, 'jar'), 'first deploy');
        const hash = createHash('sha256')
          .update(await readFile(jar))
          .digest('hex');
        const output = await run(
          join(ROOT, 'node_modules', '.bin', 'osls'),
          ['deploy', '--stage', 'firstdeploy', '--verbose'],
          {
            cwd: service,
            timeout: 180_000,
            env: {
              ...process.env,
              SLS_DEPRECATION_DISABLE: '*',
              TRIBUTARY_ANALYTICS_JAR: jar,
              // Every SDK client of osls and of the plugin goes to moto.
              AWS_ENDPOINT_URL: moto.endpoint,
              AWS_ACCESS_KEY_ID: 'local',
              AWS_SECRET_ACCESS_KEY: 'local',
              AWS_REGION: 'us-east-1',
            },
          },
        ).then(
          (r) => `${r.stderr}${r.stdout}`,
          (e: { stderr?: string; stdout?: string }) => `${e.stderr ?? ''}${e.stdout ?? ''}`,
        );
        const at = (text: string) => {
          const i = output.indexOf(text);
          expect(i, `osls output has ${JSON.stringify(text)}:\n${output}`).toBeGreaterThanOrEqual(0);
          return i;
        };
        const key = `analytics/tributary-analytics-0.1.0-${hash}.jar`;
        const bucketCreated = at('CREATE_COMPLETE - AWS::CloudFormation::Stack - tributary-firstdeploy');
        const artifacts = at('Uploading service alerts.zip file to S3');
        const jarUploaded = at(`Uploaded the Flink application JAR to s3://`);
        const update = output.indexOf('Creating new change set', jarUploaded);
        expect(bucketCreated).toBeLessThan(artifacts);
        expect(artifacts).toBeLessThan(jarUploaded);
        expect(update, 'the stack update (second change set) starts after the upload').toBeGreaterThan(
          jarUploaded,
        );

        const cloudFormation = new CloudFormationClient(config);
        try {
          const bucket = await cloudFormation.send(
            new DescribeStackResourceCommand({
              StackName: 'tributary-firstdeploy',
              LogicalResourceId: 'ServerlessDeploymentBucket',
            }),
          );
          const object = await s3.send(
            new HeadObjectCommand({ Bucket: bucket.StackResourceDetail?.PhysicalResourceId, Key: key }),
          );
          expect(object.Metadata?.sha256).toBe(hash);
        } finally {
          cloudFormation.destroy();
        }
      } finally {
        await rm(service, { recursive: true, force: true });
      }
    }, 240_000);

    it('empties the buckets CloudFormation deletes, versions included, and leaves retained ones', async () => {
      const cloudFormation = new CloudFormationClient(config);
      try {
        await cloudFormation.send(
          new CreateStackCommand({ StackName: STACK, TemplateBody: JSON.stringify(TEMPLATE) }),
        );
        const lake = 'tributary-removetest-lake';
        await s3.send(
          new PutBucketVersioningCommand({ Bucket: lake, VersioningConfiguration: { Status: 'Enabled' } }),
        );
        // More versions than one DeleteObjects request takes, and a delete marker.
        const keys = Array.from({ length: DELETE_OBJECTS_MAX_KEYS + 5 }, (_, i) => `data/part-${i}.parquet`);
        for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: lake, Key: key, Body: 'x' }));
        await s3.send(new PutObjectCommand({ Bucket: lake, Key: keys[0], Body: 'second version' }));
        await s3.send(new DeleteObjectCommand({ Bucket: lake, Key: keys[1] }));
        await s3.send(
          new PutObjectCommand({ Bucket: 'tributary-removetest-archive', Key: 'keep.txt', Body: 'kept' }),
        );
        expect(await versionsIn(lake)).toBeGreaterThan(0);

        const notices: string[] = [];
        const serverless: ServerlessLike = {
          serviceDir: '/nonexistent',
          service: {
            provider: { compiledCloudFormationTemplate: { Resources: {} } },
            resources: TEMPLATE,
          },
          getProvider: () => ({
            getAwsSdkV3Config: async () => awsConfig(),
            getServerlessDeploymentBucketName: async () => 'unused',
            naming: { getStackName: () => STACK },
          }),
        };
        const log = { notice: (m: string) => notices.push(m), info: () => undefined };
        await new FlinkJarPlugin(serverless, {}, { log }).hooks[HOOKS.remove]();

        expect(await versionsIn(lake)).toBe(0);
        expect(await versionsIn('tributary-removetest-archive')).toBe(1);
        expect(notices).toContain(`Emptied s3://${lake} (LakeBucket): ${keys.length + 2} objects`);
        expect(notices.join('\n')).toMatch(/Keeping s3:\/\/tributary-removetest-archive .*Retain/);
        await cloudFormation.send(new DeleteStackCommand({ StackName: STACK }));
      } finally {
        cloudFormation.destroy();
      }
    });

    it('does nothing when the stack does not exist (osls remove reports it)', async () => {
      const serverless: ServerlessLike = {
        serviceDir: '/nonexistent',
        service: { provider: { compiledCloudFormationTemplate: { Resources: {} } } },
        getProvider: () => ({
          getAwsSdkV3Config: async () => awsConfig(),
          getServerlessDeploymentBucketName: async () => 'unused',
          naming: { getStackName: () => 'tributary-never-deployed' },
        }),
      };
      await expect(
        new FlinkJarPlugin(serverless, {}, { log: { notice: () => undefined, info: () => undefined } }).hooks[
          HOOKS.remove
        ](),
      ).resolves.toBeUndefined();
    });

    it('detaches the device policy from the certificates holding it', async () => {
      const iot = new IoTClient(config);
      try {
        const policyName = 'tributary-removetest-device';
        await iot.send(
          new CreatePolicyCommand({
            policyName,
            policyDocument: JSON.stringify({
              Version: '2012-10-17',
              Statement: [{ Effect: 'Allow', Action: 'iot:AssumeRoleWithCertificate', Resource: '*' }],
            }),
          }),
        );
        const cert = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
        await iot.send(new AttachPolicyCommand({ policyName, target: cert.certificateArn }));
        expect(await detachPolicy(iot, policyName)).toEqual([cert.certificateArn]);
        const after = await iot.send(new ListTargetsForPolicyCommand({ policyName }));
        expect(after.targets ?? []).toEqual([]);
      } finally {
        iot.destroy();
      }
    });
  },
);
