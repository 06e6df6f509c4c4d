import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startS3 } from '../../local/servers/index.ts';
import {
  FlinkJarPlugin,
  HOOKS,
  jarKey,
  parseSettings,
  type ServerlessLike,
  type Template,
} from '../../scripts/serverless/flink-jar.ts';
import { clientConfig } from '../../shared/aws/clients.ts';
import { buildFunctions, oslsPackage, ROOT, serviceCopy, standInJar } from '../helpers/osls.ts';
import { useTempDir } from '../helpers/temp-dir.ts';

/**
 * The Flink JAR plugin with real `osls package` (the template it writes) and real S3 (s3rver): a first
 * deploy in osls's order, where the application is created only after its code object is in place.
 */

const APPLICATION = 'AnalyticsApplication';
const DEPLOYMENT_BUCKET = 'tributary-dev-serverlessdeploymentbucket-1a2b3c';

const tmp = useTempDir('tributary-deploy-plugin-');
let service: string;
let s3Server: RunningServer;
let s3: S3Client;
const templates: Record<'a' | 'again' | 'b', Template> = {} as Record<'a' | 'again' | 'b', Template>;
const packages: Record<'a' | 'b', string> = { a: '', b: '' };
const jars: Record<'a' | 'b', string> = { a: '', b: '' };

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const s3Config = () => ({
  ...clientConfig({ kind: 'local', region: 'us-east-1', endpoints: { s3: s3Server.endpoint } }, 's3'),
  forcePathStyle: true,
});

function fileKey(template: Template): unknown {
  const app = template.Resources[APPLICATION] as {
    Properties: {
      ApplicationConfiguration: {
        ApplicationCodeConfiguration: { CodeContent: { S3ContentLocation: { FileKey: unknown } } };
      };
    };
  };
  return app.Properties.ApplicationConfiguration.ApplicationCodeConfiguration.CodeContent.S3ContentLocation
    .FileKey;
}

async function packaged(name: string, jar: string): Promise<{ dir: string; template: Template }> {
  const dir = join(tmp.path, `package-${name}`);
  await oslsPackage(service, dir, jar);
  const template = JSON.parse(
    await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
  return { dir, template };
}

/**
 * What CloudFormation does when it reaches the application: Managed Flink reads the code object and
 * refuses a missing one ("unable to get the specified fileKey").
 */
async function createApplication(template: Template, bucket: string): Promise<string> {
  const key = fileKey(template) as string;
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return sha256(
    Buffer.from(
      await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    ),
  );
}

/** osls as far as the plugin sees it during `osls deploy`, the artifacts of `packageDir` in `.serverless`. */
async function deployingServerless(template: Template, packageDir: string): Promise<ServerlessLike> {
  const serviceDir = await mkdtemp(join(tmp.path, 'deploying-'));
  // What osls's aws:common:moveArtifactsToTemp does with `osls deploy --package <dir>`.
  await cp(packageDir, join(serviceDir, '.serverless'), { recursive: true });
  return {
    serviceDir,
    service: {
      custom: {
        analyticsCode: {
          jar: 'analytics/target/tributary-analytics-0.1.0.jar',
          application: APPLICATION,
          keyPrefix: 'analytics/',
        },
      },
      provider: { compiledCloudFormationTemplate: template },
    },
    getProvider: () => ({
      getAwsSdkV3Config: async () => s3Config(),
      getServerlessDeploymentBucketName: async () => DEPLOYMENT_BUCKET,
      naming: { getStackName: () => 'tributary-dev' },
    }),
  };
}

beforeAll(async () => {
  await buildFunctions();
  service = await serviceCopy();
  jars.a = await standInJar(join(tmp.path, 'jar-a'), 'version A');
  jars.b = await standInJar(join(tmp.path, 'jar-b'), 'version B');
  // One after another: osls packages in the service's own .serverless folder.
  const a = await packaged('a', jars.a);
  // Same bytes from another build folder: the key depends on the content only.
  const again = await packaged('again', await standInJar(join(tmp.path, 'jar-a-again'), 'version A'));
  const b = await packaged('b', jars.b);
  templates.a = a.template;
  templates.again = again.template;
  templates.b = b.template;
  packages.a = a.dir;
  packages.b = b.dir;
  s3Server = await startS3({ dataDir: join(tmp.path, 's3') });
  s3 = new S3Client(s3Config());
}, 240_000);

afterAll(async () => {
  s3?.destroy();
  await s3Server?.stop();
  if (service !== undefined) await rm(service, { recursive: true, force: true });
});

describe('osls package with the Flink JAR plugin', () => {
  it('writes the content-hashed key into the template and ships the JAR with the package', async () => {
    const settings = parseSettings({
      analyticsCode: { jar: jars.a, application: APPLICATION, keyPrefix: 'analytics/' },
    });
    const bytes = await readFile(jars.a);
    const key = jarKey(settings, sha256(bytes));
    expect(key).toBe(`analytics/tributary-analytics-0.1.0-${sha256(bytes)}.jar`);
    expect(fileKey(templates.a)).toBe(key);
    expect(await readdir(packages.a)).toContain(key.slice('analytics/'.length));
  });

  it('an unchanged JAR keeps its key, a changed one gets a new key', () => {
    expect(fileKey(templates.again)).toBe(fileKey(templates.a));
    expect(fileKey(templates.b)).not.toBe(fileKey(templates.a));
    expect(fileKey(templates.b)).toMatch(/^analytics\/tributary-analytics-0\.1\.0-[0-9a-f]{64}\.jar$/);
  });
});

describe('a first deploy, in osls order', () => {
  it('runs the upload after osls uploads its artifacts (bucket created) and before it updates the stack', () => {
    // osls's own lifecycle, read from the installed osls.
    const AwsDeploy = createRequire(join(ROOT, 'package.json'))(
      'osls/lib/plugins/aws/deploy/index.js',
    ) as new (
      serverless: unknown,
      options: unknown,
    ) => {
      commands: { aws: { commands: { deploy: { commands: { deploy: { lifecycleEvents: string[] } } } } } };
    };
    const fakeServerless = { getProvider: () => ({}), service: { package: {} }, serviceDir: ROOT };
    const events = new AwsDeploy(fakeServerless, {}).commands.aws.commands.deploy.commands.deploy
      .lifecycleEvents;
    expect(HOOKS.deploy).toBe('after:aws:deploy:deploy:uploadArtifacts');
    expect(events.indexOf('createStack')).toBeLessThan(events.indexOf('uploadArtifacts'));
    expect(events.indexOf('uploadArtifacts')).toBeLessThan(events.indexOf('updateStack'));
  });

  it('puts the code object in the empty deployment bucket before the application is created', async () => {
    // createStack: the first stack has only the (empty) deployment bucket.
    await s3.send(new CreateBucketCommand({ Bucket: DEPLOYMENT_BUCKET }));
    // Without the plugin, the application's code is missing: the failure of the issue.
    await expect(createApplication(templates.a, DEPLOYMENT_BUCKET)).rejects.toMatchObject({
      name: 'NoSuchKey',
    });

    // uploadArtifacts, then the plugin's hook, then updateStack creates the application.
    const plugin = new FlinkJarPlugin(
      await deployingServerless(templates.a, packages.a),
      {},
      {
        log: { notice: () => undefined, info: () => undefined },
      },
    );
    await plugin.hooks[HOOKS.deploy]();
    expect(await createApplication(templates.a, DEPLOYMENT_BUCKET)).toBe(sha256(await readFile(jars.a)));
  });

  it('a redeploy with the same JAR uploads nothing; a changed JAR goes up under its new key', async () => {
    const key = fileKey(templates.a) as string;
    const before = await s3.send(new HeadObjectCommand({ Bucket: DEPLOYMENT_BUCKET, Key: key }));
    const notices: string[] = [];
    const log = { notice: (m: string) => notices.push(m), info: () => undefined };
    await new FlinkJarPlugin(await deployingServerless(templates.again, packages.a), {}, { log }).hooks[
      HOOKS.deploy
    ]();
    expect(notices.at(-1)).toMatch(/unchanged/);
    const after = await s3.send(new HeadObjectCommand({ Bucket: DEPLOYMENT_BUCKET, Key: key }));
    expect(after.ETag).toBe(before.ETag);

    await new FlinkJarPlugin(await deployingServerless(templates.b, packages.b), {}, { log }).hooks[
      HOOKS.deploy
    ]();
    expect(notices.at(-1)).toMatch(/^Uploaded/);
    expect(await createApplication(templates.b, DEPLOYMENT_BUCKET)).toBe(sha256(await readFile(jars.b)));
    // The previous version stays where the running application (until updated) reads it.
    expect(await createApplication(templates.a, DEPLOYMENT_BUCKET)).toBe(sha256(await readFile(jars.a)));
  });
});

describe('deploy/iam-policy.json', () => {
  /** IAM service prefix of each CloudFormation namespace the stack uses. */
  const SERVICE: Record<string, string> = {
    CloudFormation: 'cloudformation',
    DynamoDB: 'dynamodb',
    Glue: 'glue',
    IAM: 'iam',
    IoT: 'iot',
    KMS: 'kms',
    Kinesis: 'kinesis',
    KinesisAnalyticsV2: 'kinesisanalytics',
    KinesisFirehose: 'firehose',
    Lambda: 'lambda',
    Logs: 'logs',
    S3: 's3',
    SQS: 'sqs',
  };

  it('grants every service whose resources the packaged stack creates, and fits a managed policy', async () => {
    const text = await readFile(join(ROOT, 'deploy', 'iam-policy.json'), 'utf8');
    const policy = JSON.parse(text) as { Statement: { Effect: string; Action: string | string[] }[] };
    // IAM's limit for a customer managed policy, whitespace not counted:
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
    expect(JSON.stringify(policy).length).toBeLessThanOrEqual(6144);
    const granted = new Set(
      policy.Statement.filter((s) => s.Effect === 'Allow')
        .flatMap((s) => [s.Action].flat())
        .map((action) => action.split(':')[0]),
    );
    const namespaces = new Set(
      Object.values(templates.a.Resources).map((r) => String(r.Type).split('::')[1] ?? String(r.Type)),
    );
    for (const namespace of [...namespaces, 'CloudFormation']) {
      expect(SERVICE[namespace], `IAM prefix of AWS::${namespace}`).toBeDefined();
      expect(granted.has(SERVICE[namespace] as string), `policy grants ${SERVICE[namespace]}`).toBe(true);
    }
  });
});
