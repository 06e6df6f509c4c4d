import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { alertIdFor } from '../functions/alerts/rules/model.ts';
import { deviceEntityId } from '../functions/alerts/rules/threshold.ts';
import { alertKey } from '../functions/alerts/store/layout.ts';
import { startLocalCloud } from '../local/cloud.ts';
import { LOCAL_HANDLERS, loadStreamMappings, startEventSourceRunner } from '../local/esm/index.ts';
import { encodeRecord } from '../shared/contract/index.ts';
import { telemetryRecord } from '../test/helpers/records.ts';

/**
 * End-to-end latency on the local cloud: PutRecords of one record that must raise an alert (a fresh
 * device reporting battery below the `battery-low` rule) until the alert item is readable in
 * DynamoDB Local, through the limit proxy, the Kinesis emulator's EFO push, the event source runner
 * (serverless.yml settings: batch window 0) and the real handler. Sequential samples, polled every 2 ms.
 */
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const SAMPLES = 200;
const dataDir = `.tributary/bench-alerts-latency-${process.pid}`;
const cloud = await startLocalCloud({ dataDir: join(dataDir, 'cloud'), fresh: true });
// The real handler, wrapped only to note when each device's record reached the function.
const invokedAt = new Map<string, number>();
const alerts = LOCAL_HANDLERS.alerts;
if (alerts === undefined) throw new Error('no local alerts handler');
const definition = (await loadStreamMappings(cloud.stack)).find((m) => m.functionName === 'alerts');
const real = alerts(definition?.environment ?? {}, cloud.clients);
const runner = await startEventSourceRunner({
  cloud,
  dataDir: join(dataDir, 'esm'),
  log: () => undefined,
  handlers: {
    alerts: (event, context) => {
      const now = performance.now();
      for (const record of event.Records) invokedAt.set(record.kinesis.partitionKey, now);
      return real(event, context);
    },
  },
});
const name = (id: string) => cloud.resources.find((r) => r.logicalId === id)?.physicalName ?? '';
const streamName = name('RecordsStream');
const alertsTable = name('AlertsTable');
const documents = cloud.clients.documents();
const kinesis = cloud.clients.kinesis();

const latencies: number[] = [];
const toInvoke: number[] = [];
const inFunction: number[] = [];
try {
  for (let i = 0; i < SAMPLES + 20; i++) {
    const device = `bench-device-${process.pid}-${i}`;
    const record = telemetryRecord({
      device_id: device,
      partition_key: device,
      event_time: Date.now(),
      payload: { metric: 'battery', value: 5, unit: '%' },
    });
    const key = alertKey(alertIdFor('battery-low', deviceEntityId(device), [record.id]));
    const began = performance.now();
    await kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: [{ PartitionKey: device, Data: encodeRecord(record) }],
      }),
    );
    for (;;) {
      const { Item } = await documents.send(new GetCommand({ TableName: alertsTable, Key: key }));
      if (Item !== undefined) break;
      if (performance.now() - began > 30_000) throw new Error(`alert for ${device} never appeared`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    // The first records warm up the JIT and connection pools.
    if (i >= 20) {
      const done = performance.now();
      const invoked = invokedAt.get(device) ?? done;
      latencies.push(done - began);
      toInvoke.push(invoked - began);
      inFunction.push(done - invoked);
    }
  }
} finally {
  await runner.stop();
  await cloud.stop();
  await rm(dataDir, { recursive: true, force: true });
}

function line(label: string, values: number[]): void {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const ms = (q: number) => `${at(q).toFixed(0).padStart(5)} ms`;
  console.log(`  ${label.padEnd(46)} p50 ${ms(0.5)}  p90 ${ms(0.9)}  p99 ${ms(0.99)}  max ${ms(1)}`);
}
console.log(`${latencies.length} sequential samples (target: end to end p99 <= 1000 ms)`);
line('PutRecords -> alert item in DynamoDB Local', latencies);
line('  of which PutRecords -> function invoked', toInvoke);
line('  of which function invoked -> item readable', inFunction);
console.log(
  '  (the Kinesis emulator pushes SubscribeToShard events on a fixed 1 s tick; AWS pushes in ~70 ms)',
);
