/**
 * `npm run query -- "SQL"`: DuckDB over the lake. Mirrors the lake bucket of the local cloud (or reads
 * a directory you synced from the real bucket) and runs one statement against the `records` view.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exitOnCliError } from '../local/cli-exit.ts';
import { resolveDeliveryStream } from '../local/delivery/delivery.ts';
import { EXAMPLE_QUERIES, openLake, type QueryResult, syncLake } from '../local/delivery/lake-query.ts';
import { loadStack } from '../local/resources/stack.ts';
import { PROJECT_ROOT, TRIBUTARY_DIR } from '../local/servers/runtime.ts';
import { createAwsClients } from '../shared/aws/clients.ts';
import { UsageError } from '../shared/errors.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const USAGE = `usage: npm run query -- [options] "SQL"

Runs SQL with DuckDB over the Parquet lake. Tables:
  records      one row per delivered record: the contract's columns plus record_type, dt, hour
  lake_errors  one row per Firehose error document (errors/processing-failed/: records the lake
               processor refused; errors/format-conversion-failed/) with the reason; empty when
               nothing failed
Both tables always exist: on a lake with nothing delivered yet they answer no rows (a note on stderr
says the lake is empty).

source (one of):
  --s3-endpoint <url>  local S3 endpoint printed by \`npm start\` (or env TRIBUTARY_S3_ENDPOINT);
                       the lake bucket is mirrored into --cache-dir first
  --dir <dir>          query a directory as is (e.g. \`aws s3 sync s3://<lake bucket>/ <dir>\` of the
                       deployed lake: the same tables and answers as locally)

options:
  --bucket <name>      lake bucket (default: the delivery stream's bucket in serverless.yml)
  --stage <name>       serverless stage used to name the bucket (default dev)
  --cache-dir <dir>    where the bucket is mirrored (default .tributary/lake)
  --json               print rows as JSON lines instead of a table
  --examples           print example queries
  -h, --help           show this help`;

function parse() {
  try {
    const { values, positionals } = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        's3-endpoint': { type: 'string' },
        dir: { type: 'string' },
        bucket: { type: 'string' },
        stage: { type: 'string' },
        'cache-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        examples: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (positionals.length > 1) throw new UsageError('pass the SQL as one quoted argument');
    return { ...values, sql: positionals[0] };
  } catch (error) {
    throw error instanceof UsageError
      ? error
      : new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function printTable(result: QueryResult): void {
  const names = result.columns.map((c) => c.name);
  const cells = result.rows.map((row) =>
    names.map((name) => {
      const value = row[name];
      return value === null || value === undefined
        ? 'NULL'
        : typeof value === 'string'
          ? value
          : JSON.stringify(value);
    }),
  );
  const widths = names.map((name, i) =>
    Math.min(60, Math.max(name.length, ...cells.map((r) => (r[i] ?? '').length))),
  );
  const line = (values: readonly string[]) =>
    values
      .map((v, i) =>
        v.length > (widths[i] ?? 0) ? `${v.slice(0, (widths[i] ?? 1) - 1)}…` : v.padEnd(widths[i] ?? 0),
      )
      .join('  ');
  console.log(line(names));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of cells) console.log(line(row));
  console.log(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`);
}

async function main(): Promise<void> {
  const args = parse();
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (args.examples) {
    for (const example of EXAMPLE_QUERIES) console.log(`-- ${example.title}\n${example.sql};\n`);
    return;
  }
  if (args.sql === undefined || args.sql.trim() === '') throw new UsageError('no SQL given');

  let dir: string;
  if (args.dir !== undefined) {
    dir = resolve(args.dir);
  } else {
    const endpoint = args['s3-endpoint'] ?? process.env.TRIBUTARY_S3_ENDPOINT;
    if (endpoint === undefined)
      throw new UsageError('say where the lake is: --s3-endpoint <url> or --dir <dir>');
    const stack = await loadStack(
      join(PROJECT_ROOT, 'serverless.yml'),
      args.stage === undefined ? {} : { stage: args.stage },
    );
    const bucket = args.bucket ?? resolveDeliveryStream(stack).bucketName;
    dir = resolve(args['cache-dir'] ?? join(TRIBUTARY_DIR, 'lake'), bucket);
    const clients = createAwsClients({ kind: 'local', region: stack.region, endpoints: { s3: endpoint } });
    try {
      const synced = await syncLake(clients.s3(), bucket, dir);
      console.error(
        `lake s3://${bucket}: ${synced.objects} objects, ${synced.downloaded} downloaded to ${dir}`,
      );
    } finally {
      clients.destroy();
    }
  }
  const lake = await openLake(dir);
  if (lake.dataFiles === 0 && lake.errorFiles === 0) {
    // Not an error: the tables exist and answer no rows. Said, so an empty answer is not a puzzle.
    console.error(
      `note: the lake at ${dir} is empty (no objects under data/ or errors/ yet): is the delivery running (npm start), and has its buffer interval passed since records were put?`,
    );
  }
  try {
    const result = await lake.query(args.sql);
    if (args.json) for (const row of result.rows) console.log(JSON.stringify(row));
    else printTable(result);
  } finally {
    lake.close();
  }
}

main().catch((error: unknown) => exitOnCliError(error, USAGE));
