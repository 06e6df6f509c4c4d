import { type ChildProcess, spawn } from 'node:child_process';
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardHandler } from '../../functions/dashboard/handler.ts';
import { createLocalResources } from '../../local/resources/create.ts';
import { loadStack } from '../../local/resources/stack.ts';
import { findMoto, type RunningServer, startDynamoDb, startMoto } from '../../local/servers/index.ts';
import { PROJECT_ROOT } from '../../local/servers/runtime.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';
import { type ControlPlaneClients, createControlPlaneClients } from '../../shared/aws/control-clients.ts';
import { aggregateItem } from '../helpers/dashboard.ts';
import { type FunctionUrlStandIn, Sha256, startFunctionUrlStandIn } from '../helpers/function-url.ts';

/**
 * `tributary dashboard --stage <stage>` against a deployed stack, played locally: moto holds the
 * CloudFormation stack and its outputs, a stand-in of the function URL verifies every SigV4
 * signature and runs the real dashboard handler over DynamoDB Local, and the real CLI (bin/tributary.mjs)
 * runs as a child process with nothing but environment credentials and the CloudFormation endpoint.
 */

// CI (.ci/run) installs moto into .venv, so there a missing moto fails instead of skipping.
const available = findMoto() !== undefined || process.env.CI === 'true';
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'AKIDREMOTEDASHBOARD', secretAccessKey: 'remote-dashboard-test-secret' };
const ENTITY = 'device#remote-1#temperature';
// Recent: the item expires (TTL) a week after its window, and DynamoDB Local deletes expired items.
const WINDOW_START = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;

describe.skipIf(!available)(
  `tributary dashboard --stage${available ? '' : ' [SKIPPED: no .venv/bin/moto_server; .venv/bin/pip install -r scripts/cfn-lint-requirements.txt]'}`,
  () => {
    let dynamodb: RunningServer;
    let moto: RunningServer;
    let clients: AwsClients;
    let control: ControlPlaneClients;
    let standIn: FunctionUrlStandIn;
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      [dynamodb, moto] = await Promise.all([startDynamoDb(), startMoto()]);
      clients = createAwsClients({
        kind: 'local',
        region: REGION,
        endpoints: { dynamodb: dynamodb.endpoint },
      });
      const stack = await loadStack('serverless.yml', { stage: 'remotedash' });
      const created = await createLocalResources(stack, clients, { dynamodb: dynamodb.endpoint });
      const table = (id: string) => created.find((r) => r.logicalId === id)?.physicalName ?? '';
      await clients.documents().send(
        new PutCommand({
          TableName: table('AggregatesTable'),
          Item: aggregateItem({
            entity: ENTITY,
            windowSize: '1m',
            windowStart: WINDOW_START,
            windowMs: 60_000,
            values: [1, 2, 3],
          }),
        }),
      );
      standIn = await startFunctionUrlStandIn({
        region: REGION,
        credentials: CREDENTIALS,
        handler: createDashboardHandler({
          dynamodb: clients.dynamodb(),
          alertsTable: table('AlertsTable'),
          aggregatesTable: table('AggregatesTable'),
          logger: new Logger({ serviceName: 'dashboard', logLevel: 'SILENT' }),
        }),
      });
      control = createControlPlaneClients({
        kind: 'local',
        region: REGION,
        endpoints: { cloudformation: moto.endpoint },
      });
      const template = (outputs: Record<string, { Value: string }>) =>
        JSON.stringify({
          Resources: { Marker: { Type: 'AWS::SQS::Queue' } },
          Outputs: outputs,
        });
      await control.cloudformation().send(
        new CreateStackCommand({
          StackName: 'tributary-remotedash',
          TemplateBody: template({ DashboardLambdaFunctionUrl: { Value: standIn.url } }),
        }),
      );
      await control.cloudformation().send(
        new CreateStackCommand({
          StackName: 'tributary-nourl',
          TemplateBody: template({ RecordsStreamName: { Value: 'tributary-nourl-records' } }),
        }),
      );
    }, 120_000);

    afterAll(async () => {
      for (const child of children) child.kill('SIGKILL');
      await standIn?.stop();
      control?.destroy();
      clients?.destroy();
      await Promise.all([dynamodb?.stop(), moto?.stop()]);
    });

    /** The real CLI with only these AWS settings (no profile, no instance metadata). */
    function cli(args: string[], credentials: boolean) {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_REGION: REGION,
        AWS_ENDPOINT_URL_CLOUDFORMATION: moto.endpoint,
        AWS_CONFIG_FILE: '/nonexistent/config',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
        AWS_EC2_METADATA_DISABLED: 'true',
        ...(credentials
          ? { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey }
          : {}),
      };
      const child = spawn(process.execPath, ['bin/tributary.mjs', 'dashboard', ...args], {
        cwd: PROJECT_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, exited, out: () => stdout, err: () => stderr };
    }

    it('serves the page and forwards its API requests signed; unsigned or wrongly signed requests are refused', async () => {
      const run = cli(['--stage', 'remotedash'], true);
      const deadline = Date.now() + 60_000;
      let page: URL | undefined;
      while (page === undefined) {
        const match = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(run.out());
        if (match?.[1] !== undefined) page = new URL(match[1]);
        else if (Date.now() > deadline || run.child.exitCode !== null)
          throw new Error(`the dashboard did not start: ${run.err()}`);
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(run.out()).toContain(`read API ${new URL(standIn.url).origin}`);

      const html = await fetch(page);
      expect(html.status).toBe(200);
      expect(await html.text()).toContain('<script');

      // The requests the page makes (local/dashboard/public/app.js), through the proxy.
      const api = async (path: string, query: Record<string, string> = {}) => {
        const url = new URL(path, page);
        for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
        const response = await fetch(url, { headers: { accept: 'application/json' } });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const entities = await api('/api/entities', { limit: '1000' });
      expect(entities.status).toBe(200);
      expect(JSON.stringify(entities.body)).toContain(ENTITY);
      const series = await api('/api/series', { entity: ENTITY, window: '1m', order: 'desc', limit: '60' });
      expect(series.status).toBe(200);
      expect(series.body.points).toHaveLength(1);
      expect((await api('/api/alerts/open', { limit: '100' })).status).toBe(200);
      expect((await api('/api/health')).status).toBe(200);
      // The API's own errors come back as they are.
      expect((await api('/api/series', { entity: ENTITY, window: 'nope' })).status).toBe(400);
      expect(standIn.seen.filter((s) => s.refused !== '')).toEqual([]);
      expect(standIn.seen.length).toBeGreaterThanOrEqual(5);

      // Straight to the function URL: unsigned, signed with the wrong secret, or for another service.
      const direct = new URL('/api/health', standIn.url);
      expect((await fetch(direct)).status).toBe(403);
      const forged = async (secretAccessKey: string, service: string) => {
        const signed = await new SignatureV4({
          service,
          region: REGION,
          credentials: { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey },
          sha256: Sha256,
        }).sign({
          method: 'GET',
          protocol: 'http:',
          hostname: direct.hostname,
          port: Number(direct.port),
          path: direct.pathname,
          query: {},
          headers: { host: direct.host },
        });
        const { host: _host, ...headers } = signed.headers;
        return (await fetch(direct, { headers })).status;
      };
      expect(await forged('not-the-secret', 'lambda')).toBe(403);
      expect(await forged(CREDENTIALS.secretAccessKey, 'execute-api')).toBe(403);
      expect(standIn.seen.slice(-3).map((s) => s.refused)).toEqual([
        'unsigned',
        'signature mismatch',
        'wrong scope us-east-1/execute-api',
      ]);

      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    }, 120_000);

    it('names what is missing: the stack, its function URL output, or credentials', async () => {
      const cases = [
        { args: ['--stage', 'absent'], credentials: true, code: 'DASHBOARD_STACK_NOT_FOUND' },
        { args: ['--stage', 'nourl'], credentials: true, code: 'DASHBOARD_URL_OUTPUT_MISSING' },
        { args: ['--stage', 'remotedash'], credentials: false, code: 'DASHBOARD_NO_CREDENTIALS' },
        { args: [], credentials: true, code: '--stage is required' },
      ];
      for (const c of cases) {
        const run = cli(c.args, c.credentials);
        const code = await run.exited;
        expect(run.err()).toContain(c.code);
        expect(code).toBe(c.args.length === 0 ? 2 : 1);
      }
      const nourl = cli(['--stage', 'nourl'], true);
      await nourl.exited;
      expect(nourl.err()).toMatch(/outputs: RecordsStreamName/);
    }, 120_000);
  },
);
