import { Logger } from '@aws-lambda-powertools/logger';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createAlertsHandler } from '../functions/alerts/handler.ts';
import { bundledRules } from '../functions/alerts/rules/bundled.ts';
import { applyRecord, type EntityState, emptyState, routeRecord } from '../functions/alerts/rules/engine.ts';
import type { Effects } from '../functions/alerts/rules/model.ts';
import type { DocumentSender } from '../functions/alerts/store/dynamodb.ts';
import { lambdaContext } from '../local/esm/event.ts';
import { decodeRecord, encodeRecord, type TributaryRecord } from '../shared/contract/index.ts';
import { aggregatedShardRecord, eventOf, shardRecords } from '../test/helpers/kinesis-events.ts';
import { telemetryRecord, transactionRecord } from '../test/helpers/records.ts';

/**
 * 1. Rule evaluation throughput on one core: a mixed telemetry/transaction stream through the pure
 *    rule core with state in memory. Baseline: JSON.parse of the same records.
 * 2. Handler cost per 100-record batch: the whole middy stack (parser, batch processor, deaggregation,
 *    contract validation, rules), storage answered instantly in-process so only our CPU is measured.
 */
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const COUNT = 200_000;
const T0 = Date.UTC(2026, 10, 23, 12);
const records: TributaryRecord[] = Array.from({ length: COUNT }, (_, i) => {
  const t = T0 + i * 50;
  if (i % 2 === 0) {
    const device = `sensor-${i % 500}`;
    return telemetryRecord({
      device_id: device,
      partition_key: device,
      event_time: t,
      // Every 4th device reading a metric no rule watches, the rest around the temperature thresholds.
      payload:
        i % 8 === 0
          ? { metric: 'humidity', value: 40, unit: '%' }
          : { metric: 'temperature', value: 20 + ((i * 7) % 15), unit: 'Cel' },
    });
  }
  const cardIndex = i % 2000;
  const token = `tok_bench_${cardIndex}`;
  return transactionRecord({
    partition_key: token,
    event_time: t,
    payload: {
      card_token: token,
      merchant_id: 'm-1',
      amount_minor: 500 + ((i * 37) % 5000) + (i % 997 === 1 ? 900_000 : 0),
      currency: 'EUR',
      // Each card shops around its home town; a few amounts are far above its profile.
      location: { lat: 40 + (cardIndex % 10), lon: (cardIndex % 50) - 10 },
      channel: 'card_present',
    },
  });
});
const encoded = records.map((r) => encodeRecord(r));

function timed(run: () => void, rounds = 3): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round++) {
    const began = performance.now();
    run();
    best = Math.min(best, performance.now() - began);
  }
  return best;
}

let alerts = 0;
const rulesOnly = () => {
  const states = new Map<string, EntityState>();
  alerts = 0;
  for (const record of records) {
    const route = routeRecord(bundledRules, record);
    if (route === undefined) continue;
    const effects: Effects = { raised: [], cleared: [] };
    const next = applyRecord(
      bundledRules,
      states.get(route.entityId) ?? emptyState(route.kind),
      record,
      effects,
    );
    states.set(route.entityId, next);
    alerts += effects.raised.length;
  }
};
const parseBaseline = () => {
  const decoder = new TextDecoder();
  for (const bytes of encoded) JSON.parse(decoder.decode(bytes));
};
const decodeAndRules = () => {
  const states = new Map<string, EntityState>();
  for (const bytes of encoded) {
    const record = decodeRecord(bytes);
    const route = routeRecord(bundledRules, record);
    if (route === undefined) continue;
    const next = applyRecord(bundledRules, states.get(route.entityId) ?? emptyState(route.kind), record, {
      raised: [],
      cleared: [],
    });
    states.set(route.entityId, next);
  }
};

console.log(
  `rule evaluation, ${COUNT} records (50% telemetry over 500 devices, 50% transactions over 2000 cards), one core, best of 3`,
);
const rows: [string, number][] = [
  ['JSON.parse only (baseline)', timed(parseBaseline)],
  ['rules only (records already decoded)', timed(rulesOnly)],
  ['decode + validate + rules', timed(decodeAndRules)],
];
for (const [name, ms] of rows) {
  console.log(
    `  ${name.padEnd(40)} ${Math.round(COUNT / (ms / 1000))
      .toLocaleString('en-US')
      .padStart(12)} records/s`,
  );
}
console.log(`  (${alerts} alerts raised by the rules in one pass)`);

// Storage that answers at once: GetItem finds nothing, writes succeed. Only our CPU is left.
const instant: DocumentSender = {
  send: (async (command: unknown) =>
    command instanceof GetCommand ? { Item: undefined } : {}) as DocumentSender['send'],
};
const handler = createAlertsHandler({
  config: bundledRules,
  documents: instant,
  alertsTable: 'alerts',
  stateTable: 'state',
  logger: new Logger({ serviceName: 'alerts', logLevel: 'SILENT' }),
});
const context = lambdaContext({
  functionName: 'alerts',
  region: 'us-east-1',
  accountId: '000000000000',
  memoryLimitInMB: 512,
  timeoutMs: 60_000,
  requestId: 'bench',
});
const BATCHES = 500;
const plainEvents = Array.from({ length: BATCHES }, (_, b) =>
  eventOf(shardRecords(records.slice(b * 100, b * 100 + 100), { firstIndex: b * 100 })),
);
const aggregatedEvents = Array.from({ length: BATCHES }, (_, b) =>
  eventOf([aggregatedShardRecord(records.slice(b * 100, b * 100 + 100), { firstIndex: b })]),
);

async function perBatch(events: unknown[]): Promise<number> {
  for (const event of events.slice(0, 50)) await handler(event, context);
  const began = performance.now();
  for (const event of events) await handler(event, context);
  return (performance.now() - began) / events.length;
}

console.log(
  '\nhandler cost per 100-record batch (middy + Powertools parser/batch + deaggregation + validation + rules)',
);
const plain = await perBatch(plainEvents);
const aggregated = await perBatch(aggregatedEvents);
console.log(
  `  100 Kinesis records, one user record each   ${plain.toFixed(2).padStart(7)} ms/batch  (${(plain * 10).toFixed(1)} µs/record)`,
);
console.log(
  `  1 KPL aggregate carrying 100 user records    ${aggregated.toFixed(2).padStart(7)} ms/batch  (${(aggregated * 10).toFixed(1)} µs/record)`,
);
