import { fmt, type Plan } from './plan.ts';

/** The plan as a table: what to deploy, the number, and why. */
export function formatPlan(plan: Plan): string {
  const rows: [string, string, string][] = [];
  const row = (what: string, value: string, reasons: readonly string[]) => {
    const [first = '', ...rest] = reasons;
    rows.push([what, value, first]);
    for (const reason of rest) rows.push(['', '', reason]);
  };
  const { shards } = plan;
  row('load', `${fmt(plan.load.recordsPerSecond)} rec/s`, [
    `${fmt(plan.load.userBytesPerSecond / 1024 / 1024)} MiB/s of record data; busiest key ${fmt(plan.load.hottestKeyRecordsPerSecond)} rec/s`,
  ]);
  row('shards (aggregated, deploy this)', String(shards.recommended), shards.withAggregation.reasons);
  row(
    'shards without aggregation',
    String(shards.withoutAggregation.shards),
    shards.withoutAggregation.reasons,
  );
  row('EFO consumers', `${plan.consumers.efo} of ${plan.consumers.efoLimit}`, plan.consumers.reasons);
  row('Lambda concurrency', String(plan.lambda.concurrency), plan.lambda.reasons);
  row('Lambda BatchSize', String(plan.lambda.batchSize), [
    `~${fmt(plan.lambda.userRecordsPerBatch)} user records per batch once deaggregated`,
  ]);
  row('Firehose objects/hour', String(plan.firehose.objectsPerHour), plan.firehose.reasons);
  row('Flink parallelism / KPUs', `${plan.flink.parallelism} / ${plan.flink.kpus} (+1)`, plan.flink.reasons);
  row('DynamoDB WRU/s', fmt(plan.dynamodb.writeUnitsPerSecond), plan.dynamodb.reasons);
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
  const line = (r: readonly string[]) =>
    `${(r[0] ?? '').padEnd(widths[0] ?? 0)}  ${(r[1] ?? '').padStart(widths[1] ?? 0)}  ${r[2] ?? ''}`.trimEnd();
  const out = [line(['', 'value', 'why']), ...rows.map(line)];

  out.push(
    '',
    `monthly cost estimate (${plan.cost.region} list prices of ${plan.cost.priceDate}; see local/plan/prices.ts):`,
  );
  const costRows = plan.cost.lines.map((l) => [
    l.service,
    `${fmt(l.quantity)} ${l.unit}`,
    `$${l.usd.toFixed(2)}`,
    l.basis === 'assumed' ? 'assumed price' : 'your price',
  ]);
  const cw = [0, 1, 2].map((i) => Math.max(...costRows.map((r) => r[i]?.length ?? 0)));
  for (const r of costRows)
    out.push(
      `  ${(r[0] ?? '').padEnd(cw[0] ?? 0)}  ${(r[1] ?? '').padEnd(cw[1] ?? 0)}  ${(r[2] ?? '').padStart(cw[2] ?? 0)}  ${r[3]}`,
    );
  out.push(`  total ≈ $${plan.cost.monthlyUsd.toFixed(2)} a month`);
  if (plan.cost.lines.some((l) => l.basis === 'assumed'))
    out.push(
      '  (assumed prices were not checked against the AWS pricing pages: give yours under `prices:` in a plan file)',
    );
  if (plan.warnings.length > 0) out.push('', 'warnings:', ...plan.warnings.map((w) => `  ! ${w}`));
  return out.join('\n');
}
