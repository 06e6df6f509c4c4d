import { request } from 'node:http';
import { connect } from 'node:net';

/*
 * Readiness probes: one real, cheap API call per server. The emulators check that a SigV4
 * Authorization header is present but not its signature, so a fixed dummy header suffices.
 */

const PROBE_TIMEOUT_MS = 2_000;

function dummyAuthorization(service: string): string {
  return (
    `AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/${service}/aws4_request, ` +
    'SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000'
  );
}

/** Sends one HTTP request to 127.0.0.1:port and resolves with status and body. */
function httpCall(
  port: number,
  method: string,
  headers: Record<string, string>,
  body: string,
  path = '/',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        agent: false,
        timeout: PROBE_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

async function jsonRpcProbe(port: number, target: string, contentType: string, service: string) {
  const { status, body } = await httpCall(
    port,
    'POST',
    {
      'content-type': contentType,
      'x-amz-target': target,
      'x-amz-date': '20240101T000000Z',
      authorization: dummyAuthorization(service),
    },
    '{}',
  );
  return status === 200 && body.includes('Names');
}

/** Kinesis ListStreams answers 200 with a StreamNames list. */
export function kinesisReady(port: number): Promise<boolean> {
  return jsonRpcProbe(port, 'Kinesis_20131202.ListStreams', 'application/x-amz-json-1.1', 'kinesis');
}

/** DynamoDB ListTables answers 200 with a TableNames list. */
export function dynamoDbReady(port: number): Promise<boolean> {
  return jsonRpcProbe(port, 'DynamoDB_20120810.ListTables', 'application/x-amz-json-1.0', 'dynamodb');
}

/** moto: IoT ListThings (GET /things) answers 200 with a things list. */
export async function motoReady(port: number): Promise<boolean> {
  const { status, body } = await httpCall(
    port,
    'GET',
    { 'x-amz-date': '20240101T000000Z', authorization: dummyAuthorization('iot') },
    '',
    '/things',
  );
  return status === 200 && body.includes('things');
}

/** S3 ListBuckets (anonymous GET /) answers with a ListAllMyBucketsResult document. */
export async function s3Ready(port: number): Promise<boolean> {
  const { status, body } = await httpCall(port, 'GET', {}, '');
  return status === 200 && body.includes('ListAllMyBucketsResult');
}

/** MQTT 3.1.1 CONNECT with a clean session; ready when the broker accepts it with CONNACK 0. */
export function mqttReady(port: number): Promise<boolean> {
  const clientId = 'tributary-probe';
  const variableHeader = [0x00, 0x04, ...Buffer.from('MQTT'), 0x04, 0x02, 0x00, 0x0a];
  const payload = [0x00, clientId.length, ...Buffer.from(clientId)];
  const connect_ = Buffer.from([0x10, variableHeader.length + payload.length, ...variableHeader, ...payload]);
  const disconnect = Buffer.from([0xe0, 0x00]);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    socket.setTimeout(PROBE_TIMEOUT_MS, () => socket.destroy(new Error('probe timed out')));
    socket.on('connect', () => socket.write(connect_));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const accepted = received[0] === 0x20 && received[3] === 0x00;
      socket.end(disconnect);
      resolve(accepted);
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(false));
  });
}
