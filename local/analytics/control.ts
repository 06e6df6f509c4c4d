import { parseArgs } from 'node:util';
import {
  DescribeApplicationCommand,
  type DescribeApplicationCommandOutput,
  KinesisAnalyticsV2Client,
  StartApplicationCommand,
  StopApplicationCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { exitCodes } from '../../shared/error-codes.ts';
import { exitCodeFor, SharedErrorCodes, UsageError } from '../../shared/errors.ts';
import { AnalyticsControlError, AnalyticsErrorCodes } from './errors.ts';

/**
 * `tributary analytics start|stop|status|update`: controls the Managed Service for Apache Flink
 * application the stack declares (serverless.yml AnalyticsApplication). The stack creates the
 * application but never starts it. Parsing and error mapping are pure; the client calls are thin.
 */

export const ANALYTICS_USAGE = `usage: tributary analytics <start|stop|status|update> [options]

  start    start the application (restores the latest snapshot unless --no-restore)
  stop     stop it, taking a snapshot first (--force stops without one)
  status   print status, version and runtime
  update   point the application at new code: --file-key <key in the code bucket>

options:
  --app <name>        application name (default tributary-<stage>-analytics)
  --stage <name>      serverless stage (default dev)
  --region <region>   AWS region (default AWS_REGION, else us-east-1)
  --no-restore        start without restoring from the latest snapshot
  --force             stop without a snapshot
  --file-key <key>    update: S3 key of the new application JAR
  -h, --help          show this help`;

export type AnalyticsAction = 'start' | 'stop' | 'status' | 'update';

export interface AnalyticsCommand {
  action: AnalyticsAction;
  application: string;
  region: string;
  restore: boolean;
  force: boolean;
  fileKey?: string;
}

const ACTIONS: readonly AnalyticsAction[] = ['start', 'stop', 'status', 'update'];

/** Parses the arguments after `analytics`. Returns undefined for --help. */
export function parseAnalyticsArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): AnalyticsCommand | undefined {
  let parsed: ReturnType<typeof parseArgsStrict>;
  try {
    parsed = parseArgsStrict(argv);
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${ANALYTICS_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  const [action, ...rest] = positionals;
  if (action === undefined) throw new UsageError(`missing action\n\n${ANALYTICS_USAGE}`);
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new UsageError(`unknown action ${JSON.stringify(action)}; expected ${ACTIONS.join(', ')}`);
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const stage = values.stage ?? 'dev';
  if (!/^[a-zA-Z0-9-]+$/.test(stage)) throw new UsageError(`--stage must be letters, digits and -`);
  if (action === 'update' && values['file-key'] === undefined) {
    throw new UsageError('update needs --file-key <S3 key of the application JAR>');
  }
  if (action !== 'update' && values['file-key'] !== undefined) {
    throw new UsageError('--file-key only applies to update');
  }
  if (action !== 'stop' && values.force) throw new UsageError('--force only applies to stop');
  if (action !== 'start' && !values.restore) throw new UsageError('--no-restore only applies to start');
  const command: AnalyticsCommand = {
    action: action as AnalyticsAction,
    application: values.app ?? `tributary-${stage}-analytics`,
    region: values.region ?? (env.AWS_REGION || 'us-east-1'),
    restore: values.restore,
    force: values.force,
  };
  if (values['file-key'] !== undefined) command.fileKey = values['file-key'];
  return command;
}

function parseArgsStrict(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    allowNegative: true,
    options: {
      app: { type: 'string' },
      stage: { type: 'string' },
      region: { type: 'string' },
      restore: { type: 'boolean', default: true },
      force: { type: 'boolean', default: false },
      'file-key': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

/** Turns an SDK failure into an error that says what to do. */
export function controlError(operation: string, application: string, region: string, error: unknown) {
  const name = error instanceof Error ? error.name : '';
  const detail = error instanceof Error ? error.message : String(error);
  switch (name) {
    case 'ResourceNotFoundException':
      return new AnalyticsControlError(
        'ANALYTICS_NOT_FOUND',
        operation,
        application,
        `no such application in ${region}; deploy the stack (npm run deploy -- --stage <stage>) or pass --app/--stage/--region`,
        { cause: error },
      );
    case 'ResourceInUseException':
      return new AnalyticsControlError(
        'ANALYTICS_BUSY',
        operation,
        application,
        `the application is busy with another operation (${detail}); check \`tributary analytics status\` and retry`,
        { retryable: true, cause: error },
      );
    case 'InvalidApplicationConfigurationException':
    case 'InvalidArgumentException':
    case 'InvalidRequestException':
      return new AnalyticsControlError('ANALYTICS_REJECTED', operation, application, detail, {
        cause: error,
      });
    case 'ConcurrentModificationException':
      return new AnalyticsControlError(
        'ANALYTICS_CONCURRENT_UPDATE',
        operation,
        application,
        'the application changed meanwhile; retry',
        { retryable: true, cause: error },
      );
    case 'CredentialsProviderError':
      return new AnalyticsControlError(
        'ANALYTICS_NO_CREDENTIALS',
        operation,
        application,
        'no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)',
        { cause: error },
      );
    default:
      return new AnalyticsControlError(
        'ANALYTICS_FAILED',
        operation,
        application,
        `${name || 'error'}: ${detail}`,
        {
          retryable: true,
          cause: error,
        },
      );
  }
}

export interface ApplicationSummary {
  name: string;
  status: string;
  version: number | undefined;
  runtime: string | undefined;
  lastUpdate: Date | undefined;
}

export function summarize(output: DescribeApplicationCommandOutput): ApplicationSummary {
  const detail = output.ApplicationDetail;
  return {
    name: detail?.ApplicationName ?? '?',
    status: detail?.ApplicationStatus ?? 'UNKNOWN',
    version: detail?.ApplicationVersionId,
    runtime: detail?.RuntimeEnvironment,
    lastUpdate: detail?.LastUpdateTimestamp,
  };
}

export function formatSummary(s: ApplicationSummary): string {
  return `${s.name}: ${s.status} (version ${s.version ?? '?'}, ${s.runtime ?? '?'}${
    s.lastUpdate === undefined ? '' : `, updated ${s.lastUpdate.toISOString()}`
  })`;
}

type Client = Pick<KinesisAnalyticsV2Client, 'send'>;

async function describe(client: Client, cmd: AnalyticsCommand): Promise<ApplicationSummary> {
  try {
    return summarize(await client.send(new DescribeApplicationCommand({ ApplicationName: cmd.application })));
  } catch (error) {
    throw controlError('describe', cmd.application, cmd.region, error);
  }
}

/** Runs one command; returns the lines to print. */
export async function runAnalyticsCommand(cmd: AnalyticsCommand, client: Client): Promise<string[]> {
  const current = await describe(client, cmd);
  switch (cmd.action) {
    case 'status':
      return [formatSummary(current)];
    case 'start': {
      if (current.status === 'RUNNING' || current.status === 'STARTING') {
        return [`${cmd.application} is already ${current.status}`];
      }
      if (current.status !== 'READY') {
        throw new AnalyticsControlError(
          'ANALYTICS_NOT_READY',
          'start',
          cmd.application,
          `status is ${current.status}; it can start only from READY`,
          { retryable: true },
        );
      }
      try {
        await client.send(
          new StartApplicationCommand({
            ApplicationName: cmd.application,
            RunConfiguration: {
              ApplicationRestoreConfiguration: {
                ApplicationRestoreType: cmd.restore
                  ? 'RESTORE_FROM_LATEST_SNAPSHOT'
                  : 'SKIP_RESTORE_FROM_SNAPSHOT',
              },
              FlinkRunConfiguration: { AllowNonRestoredState: false },
            },
          }),
        );
      } catch (error) {
        throw controlError('start', cmd.application, cmd.region, error);
      }
      return [`starting ${cmd.application}; follow with \`tributary analytics status\``];
    }
    case 'stop': {
      if (current.status === 'READY' || current.status === 'STOPPING') {
        return [`${cmd.application} is already ${current.status}`];
      }
      try {
        await client.send(new StopApplicationCommand({ ApplicationName: cmd.application, Force: cmd.force }));
      } catch (error) {
        throw controlError('stop', cmd.application, cmd.region, error);
      }
      return [`stopping ${cmd.application}${cmd.force ? ' (forced, no snapshot)' : ' (snapshot first)'}`];
    }
    case 'update': {
      if (current.version === undefined) {
        throw new AnalyticsControlError(
          'ANALYTICS_FAILED',
          'update',
          cmd.application,
          'no application version',
        );
      }
      try {
        await client.send(
          new UpdateApplicationCommand({
            ApplicationName: cmd.application,
            CurrentApplicationVersionId: current.version,
            ApplicationConfigurationUpdate: {
              ApplicationCodeConfigurationUpdate: {
                CodeContentTypeUpdate: 'ZIPFILE',
                CodeContentUpdate: { S3ContentLocationUpdate: { FileKeyUpdate: cmd.fileKey } },
              },
            },
          }),
        );
      } catch (error) {
        throw controlError('update', cmd.application, cmd.region, error);
      }
      return [`updated ${cmd.application} to code ${cmd.fileKey} (was version ${current.version})`];
    }
  }
}

const EXIT_BY_CODE = exitCodes([SharedErrorCodes, AnalyticsErrorCodes]);

/** Entry point for `tributary analytics ...`; returns the process exit code. */
export async function analyticsMain(argv: readonly string[]): Promise<number> {
  let cmd: AnalyticsCommand | undefined;
  try {
    cmd = parseAnalyticsArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      return exitCodeFor(error, EXIT_BY_CODE);
    }
    throw error;
  }
  if (cmd === undefined) {
    console.log(ANALYTICS_USAGE);
    return 0;
  }
  const client = new KinesisAnalyticsV2Client({ region: cmd.region });
  try {
    for (const line of await runAnalyticsCommand(cmd, client)) console.log(line);
    return 0;
  } catch (error) {
    if (error instanceof AnalyticsControlError) {
      console.error(`error [${error.code}]: ${error.message}`);
      return exitCodeFor(error, EXIT_BY_CODE);
    }
    throw error;
  } finally {
    client.destroy();
  }
}
