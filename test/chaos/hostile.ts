/**
 * Hostile input against the agent's local API: every case of issue 17 and more. Each case states
 * what a user running the agent unattended should get (status, error code); after each one the agent
 * must still be running and answer /v1/status, and the agent's peak RSS must stay under the limit.
 * A case that kills the agent counts as a crash; the agent is started again for the next case.
 */
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_MAX_BODY_BYTES } from '../../device/config.ts';
import {
  AgentProcess,
  AgentStartError,
  type ChaosKinesis,
  type LaunchLine,
  Ledger,
  mb,
  prepareScenario,
  REGION,
  type Reply,
  type RequestOptions,
  RSS_LIMIT_BYTES,
  request,
  type ScenarioResult,
  STREAM,
  sleep,
  statusAnswers,
  streamState,
  waitDrained,
  writeScenarioConfig,
} from './harness.ts';

/** A stalled request must be cut off within this long (the issue: it stayed open 300 s). */
export const STALL_LIMIT_MILLIS = 60_000;
/** A bound for the whole corpus on a loaded machine: the stall case's limit and the other cases' own waits. */
export const HOSTILE_BUDGET_MILLIS = STALL_LIMIT_MILLIS + 180_000;
const PAN = '4111111111111111';
const KiB = 1024;
const MiB = 1024 * KiB;

export interface HostileContext {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly ledger: Ledger;
  /** A directory for the case's own files. */
  readonly dir: string;
  /** POST to the stream's records with the token and `content-type` (JSON by default). */
  post(body: string | Buffer, headers?: Record<string, string>, path?: string): Promise<Reply>;
  send(options: RequestOptions): Promise<Reply>;
  /**
   * Starts another agent in a directory of its own with `api` as its config's api section (no token
   * file unless given) and runs `use` against it; the agent is stopped afterwards. Rejects with
   * AgentStartError when it does not start.
   */
  withAgent<T>(
    name: string,
    api: Record<string, unknown>,
    use: (agent: AgentProcess, storeRoot: string) => Promise<T>,
  ): Promise<T>;
}

export interface HostileCase {
  readonly name: string;
  /** What a user should get, as printed in the report. */
  readonly expected: string;
  /** A failure message, or undefined when the answer is the expected one. */
  run(context: HostileContext): Promise<string | undefined>;
  /** Runs alongside the other cases (it mostly waits), checked at the end. */
  readonly background?: boolean;
}

/** undefined when `reply` has one of `statuses` and (if given) one of `codes`; otherwise what it got. */
export function answer(
  reply: Reply,
  statuses: readonly number[],
  codes?: readonly string[],
): string | undefined {
  const statusOk = statuses.includes(reply.status);
  const codeOk = codes === undefined || (reply.code !== undefined && codes.includes(reply.code));
  if (statusOk && codeOk) return undefined;
  return `got ${reply.status} ${reply.code ?? ''} ${reply.text.slice(0, 160).replace(/\s+/g, ' ')}`.trim();
}

function validRecord(ledger: Ledger, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...ledger.record('hostile'), ...overrides };
}

/** A valid record's JSON with `extra` spliced in as its last member's text. */
function recordWith(ledger: Ledger, member: string): string {
  return `${JSON.stringify(validRecord(ledger)).slice(0, -1)},${member}}`;
}

/** A valid record's JSON whose payload.value is the literal `number`. */
function withValue(ledger: Ledger, number: string): string {
  return JSON.stringify(validRecord(ledger)).replace(/"value":[0-9]+/, `"value":${number}`);
}

/** A JSON array text of `bytes` bytes: `[0,0,…,0]`. */
function zeroArray(bytes: number): string {
  const count = Math.max(1, Math.floor((bytes - 2) / 2));
  return `[${'0,'.repeat(count - 1)}0]`;
}

function transaction(ledger: Ledger, payload: Record<string, unknown>): Record<string, unknown> {
  const base = validRecord(ledger);
  return {
    ...base,
    type: 'transaction',
    partition_key: 'tok_4f9a1c2b7d',
    payload: {
      card_token: 'tok_4f9a1c2b7d',
      merchant_id: 'merchant-42',
      amount_minor: 1299,
      currency: 'EUR',
      channel: 'contactless',
      ...payload,
    },
  };
}

/** Opens a socket, writes `head`, and reports when the server closes it. */
export class StalledSocket {
  readonly opened = Date.now();
  closedAfterMillis: number | undefined;
  response = '';
  private readonly socket: Socket;

  constructor(port: number, head: string) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.response += chunk.toString('latin1');
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closedAfterMillis = Date.now() - this.opened;
    });
    this.socket.write(head);
  }

  /** Waits until the server closed it or `limitMillis` passed since it was opened. */
  async closedWithin(limitMillis: number): Promise<boolean> {
    while (this.closedAfterMillis === undefined && Date.now() - this.opened < limitMillis) await sleep(100);
    return this.closedAfterMillis !== undefined;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** One raw exchange: writes `data`, collects what comes back until the server closes or `waitMillis`. */
function raw(port: number, data: string | Buffer, waitMillis = 5_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    const timer = setTimeout(done, waitMillis);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(data);
  });
}

function rawStatus(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

function stalled(name: string, expected: string, head: (context: HostileContext) => string): HostileCase {
  return {
    name,
    expected,
    background: true,
    async run(context) {
      const socket = new StalledSocket(context.port, head(context));
      try {
        if (await socket.closedWithin(STALL_LIMIT_MILLIS)) return undefined;
        return `still open after ${STALL_LIMIT_MILLIS / 1000} s`;
      } finally {
        socket.destroy();
      }
    },
  };
}

const STREAM_PATH = `/v1/streams/${STREAM}/records`;

/** The corpus. Sizes follow the agent's body limit where the case is about it. */
export function hostileCases(bodyLimit = DEFAULT_MAX_BODY_BYTES): HostileCase[] {
  const bad400 = ['RECORD_MALFORMED', 'RECORD_INVALID'];
  return [
    {
      name: 'JSON array of empty objects, 3 MB',
      expected: '400 RECORD_MALFORMED (or 413 BODY_TOO_LARGE)',
      run: async (c) =>
        answer(
          await c.post(`[${'{},'.repeat(MiB - 1)}{}]`),
          [400, 413],
          ['RECORD_MALFORMED', 'BODY_TOO_LARGE'],
        ),
    },
    {
      name: '1M nested arrays',
      expected: '400 RECORD_MALFORMED (or 413 BODY_TOO_LARGE)',
      run: async (c) =>
        answer(
          await c.post(`${'['.repeat(1e6)}${']'.repeat(1e6)}`),
          [400, 413],
          ['RECORD_MALFORMED', 'BODY_TOO_LARGE'],
        ),
    },
    {
      name: 'nested objects, 100k deep',
      expected: '413 RECORD_TOO_COMPLEX (depth)',
      run: async (c) =>
        answer(await c.post(`${'{"a":'.repeat(1e5)}1${'}'.repeat(1e5)}`), [413], ['RECORD_TOO_COMPLEX']),
    },
    {
      name: 'valid record + unknown key holding an 8 MB array',
      expected: '400 RECORD_INVALID (or 413 BODY_TOO_LARGE)',
      run: async (c) =>
        answer(
          await c.post(recordWith(c.ledger, `"extra":${zeroArray(8 * MiB - 1 * KiB)}`)),
          [400, 413],
          ['RECORD_INVALID', 'RECORD_MALFORMED', 'BODY_TOO_LARGE'],
        ),
    },
    {
      name: 'valid record + unknown key holding an array up to the body limit',
      expected: '413 RECORD_TOO_COMPLEX (values)',
      run: async (c) =>
        answer(
          await c.post(recordWith(c.ledger, `"extra":${zeroArray(bodyLimit - 1 * KiB)}`)),
          [413],
          ['RECORD_TOO_COMPLEX'],
        ),
    },
    {
      name: 'valid record + unknown key holding a string up to the body limit',
      expected: '413 RECORD_TOO_COMPLEX (string bytes)',
      run: async (c) =>
        answer(
          await c.post(recordWith(c.ledger, `"extra":"${'x'.repeat(bodyLimit - 1 * KiB)}"`)),
          [413],
          ['RECORD_TOO_COMPLEX'],
        ),
    },
    {
      name: 'NDJSON, one 10 MB line',
      expected: '413 BODY_TOO_LARGE',
      run: async (c) =>
        answer(
          await c.post(recordWith(c.ledger, `"extra":"${'x'.repeat(10 * MiB)}"`), {
            'content-type': 'application/x-ndjson',
          }),
          [413],
          ['BODY_TOO_LARGE'],
        ),
    },
    {
      name: 'body of 64 MB',
      expected: '413 BODY_TOO_LARGE',
      run: async (c) => answer(await c.post(Buffer.alloc(64 * MiB, 0x20)), [413], ['BODY_TOO_LARGE']),
    },
    {
      name: 'NDJSON of empty objects up to the body limit',
      expected: '400 RECORD_INVALID (index 0)',
      run: async (c) =>
        answer(
          await c.post('{}\n'.repeat(Math.floor((bodyLimit - 1) / 3)), {
            'content-type': 'application/x-ndjson',
          }),
          [400],
          ['RECORD_INVALID'],
        ),
    },
    {
      name: 'NDJSON of valid records up to the body limit',
      expected: '202 (or 413 if over a batch cap)',
      run: async (c) => {
        const lines: string[] = [];
        let bytes = 0;
        for (;;) {
          const line = JSON.stringify(validRecord(c.ledger));
          if (bytes + line.length + 1 > bodyLimit - 1 * KiB) break;
          lines.push(line);
          bytes += line.length + 1;
        }
        return answer(await c.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' }), [202, 413]);
      },
    },
    {
      name: 'number literal of 1M digits',
      expected: '413 RECORD_TOO_COMPLEX (string bytes)',
      run: async (c) =>
        answer(await c.post(withValue(c.ledger, `1${'0'.repeat(1e6)}`)), [413], ['RECORD_TOO_COMPLEX']),
    },
    {
      name: 'number literal past the double range (1e400)',
      expected: '400 RECORD_INVALID or RECORD_MALFORMED',
      run: async (c) => answer(await c.post(withValue(c.ledger, '1e400')), [400], bad400),
    },
    {
      name: '__proto__ key and duplicate keys',
      expected: '400 RECORD_INVALID',
      run: async (c) => {
        const record = validRecord(c.ledger);
        const text = `{"__proto__":{"polluted":true},"id":"x",${JSON.stringify(record).slice(1)}`;
        return answer(await c.post(text), [400], ['RECORD_INVALID']);
      },
    },
    {
      name: 'partition key with a lone surrogate',
      expected: '400 RECORD_INVALID',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger, { partition_key: 'key-\ud800-x' }))),
          [400],
          ['RECORD_INVALID'],
        ),
    },
    {
      name: 'partition key of 200 emoji',
      expected: '400 RECORD_INVALID',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger, { partition_key: '\u{1f600}'.repeat(200) }))),
          [400],
          ['RECORD_INVALID'],
        ),
    },
    {
      name: 'partition key of 128 emoji (256 UTF-16 units)',
      expected: '202, then exported (not dead-lettered)',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger, { partition_key: '\u{1f600}'.repeat(128) }))),
          [202],
        ),
    },
    {
      name: 'invalid UTF-8 in a JSON body',
      expected: '400 RECORD_MALFORMED',
      run: async (c) => {
        const text = JSON.stringify(validRecord(c.ledger, { partition_key: 'bad-XX-key' }));
        const body = Buffer.from(text, 'utf8');
        const at = body.indexOf('XX');
        body[at] = 0xff;
        body[at + 1] = 0xfe;
        return answer(await c.post(body), [400], ['RECORD_MALFORMED']);
      },
    },
    {
      name: 'invalid UTF-8 in an NDJSON body',
      expected: '400 RECORD_MALFORMED',
      run: async (c) => {
        const body = Buffer.from(
          `${JSON.stringify(validRecord(c.ledger))}\n${JSON.stringify(validRecord(c.ledger, { partition_key: 'k-\u00e9' }))}`,
          'utf8',
        );
        body[body.lastIndexOf(0xc3)] = 0xc0; // an overlong, never valid lead byte
        return answer(
          await c.post(body, { 'content-type': 'application/x-ndjson' }),
          [400],
          ['RECORD_MALFORMED'],
        );
      },
    },
    {
      name: 'text/plain POST (a browser form, no preflight)',
      expected: '415 UNSUPPORTED_MEDIA_TYPE',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), { 'content-type': 'text/plain' }),
          [415],
          ['UNSUPPORTED_MEDIA_TYPE'],
        ),
    },
    {
      name: 'form POST (application/x-www-form-urlencoded)',
      expected: '415 UNSUPPORTED_MEDIA_TYPE',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), {
            'content-type': 'application/x-www-form-urlencoded',
          }),
          [415],
          ['UNSUPPORTED_MEDIA_TYPE'],
        ),
    },
    {
      name: 'multipart form POST',
      expected: '415 UNSUPPORTED_MEDIA_TYPE',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), {
            'content-type': 'multipart/form-data; boundary=x',
          }),
          [415],
          ['UNSUPPORTED_MEDIA_TYPE'],
        ),
    },
    {
      name: 'no token',
      expected: '401 UNAUTHORIZED',
      run: async (c) =>
        answer(
          await c.send({
            method: 'POST',
            path: STREAM_PATH,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(validRecord(c.ledger)),
          }),
          [401],
          ['UNAUTHORIZED'],
        ),
    },
    {
      name: 'wrong token',
      expected: '401 UNAUTHORIZED',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), {
            authorization: `Bearer ${c.token.slice(0, -1)}x`,
          }),
          [401],
          ['UNAUTHORIZED'],
        ),
    },
    {
      name: 'token as a prefix of the right one',
      expected: '401 UNAUTHORIZED',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), {
            authorization: `Bearer ${c.token.slice(0, 4)}`,
          }),
          [401],
          ['UNAUTHORIZED'],
        ),
    },
    {
      name: 'lowercase "bearer" scheme, right token',
      expected: '202',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), { authorization: `bearer ${c.token}` }),
          [202],
        ),
    },
    {
      name: 'Host: attacker name (DNS rebinding)',
      expected: '403 HOST_NOT_ALLOWED, no status leaked',
      run: async (c) => {
        const reply = await c.send({
          path: '/v1/status',
          headers: { authorization: `Bearer ${c.token}`, host: `rebind.attacker.example:${c.port}` },
        });
        if (reply.text.includes('chaos-gateway'))
          return `status leaked: ${reply.status} ${reply.text.slice(0, 80)}`;
        return answer(reply, [403], ['HOST_NOT_ALLOWED']);
      },
    },
    {
      name: 'Origin: another site (a page posting from a browser)',
      expected: '403 ORIGIN_NOT_ALLOWED',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), { origin: 'http://attacker.example' }),
          [403],
          ['ORIGIN_NOT_ALLOWED'],
        ),
    },
    {
      name: 'Host: localhost (allowed)',
      expected: '200',
      run: async (c) =>
        answer(
          await c.send({
            path: '/v1/status',
            headers: { authorization: `Bearer ${c.token}`, host: `localhost:${c.port}` },
          }),
          [200],
        ),
    },
    {
      name: 'malformed percent-encoding in the path',
      expected: '400 PATH_MALFORMED',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), {}, '/v1/streams/%E0%A4%A/records'),
          [400],
          ['PATH_MALFORMED'],
        ),
    },
    {
      name: 'path traversal in the stream name',
      expected: '400 or 404',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), {}, '/v1/streams/..%2F..%2Fetc/records'),
          [400, 404],
        ),
    },
    {
      name: 'raw card number as card_token',
      expected: '400 RECORD_INVALID, number masked in the message',
      run: async (c) => {
        const reply = await c.post(JSON.stringify(transaction(c.ledger, { card_token: PAN })));
        if (reply.text.includes(PAN)) return `the card number is echoed: ${reply.text.slice(0, 200)}`;
        return answer(reply, [400], ['RECORD_INVALID']);
      },
    },
    {
      name: 'raw card number in another field (merchant_category)',
      expected: '400 RECORD_INVALID, number masked in the message',
      run: async (c) => {
        const reply = await c.post(JSON.stringify(transaction(c.ledger, { merchant_category: PAN })));
        if (reply.text.includes(PAN)) return `the card number is echoed: ${reply.text.slice(0, 200)}`;
        return answer(reply, [400], ['RECORD_INVALID']);
      },
    },
    {
      name: 'raw card number under an unknown key',
      expected: '400 RECORD_INVALID, number masked in the message',
      run: async (c) => {
        const reply = await c.post(recordWith(c.ledger, `"pan":"${PAN}"`));
        if (reply.text.includes(PAN)) return `the card number is echoed: ${reply.text.slice(0, 200)}`;
        return answer(reply, [400], ['RECORD_INVALID']);
      },
    },
    {
      name: 'empty body',
      expected: '400 RECORD_MALFORMED',
      run: async (c) => answer(await c.post(''), [400], ['RECORD_MALFORMED']),
    },
    {
      name: 'unknown stream',
      expected: '404 STREAM_NOT_FOUND',
      run: async (c) =>
        answer(
          await c.post(JSON.stringify(validRecord(c.ledger)), {}, '/v1/streams/no-such-stream/records'),
          [404],
          ['STREAM_NOT_FOUND'],
        ),
    },
    {
      name: 'header of 100 KB',
      expected: '431, or the connection closed (the client may still be writing when the 431 comes)',
      run: async (c) => {
        const response = await raw(
          c.port,
          `GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ${'x'.repeat(100 * KiB)}\r\n\r\n`,
        );
        return response === '' || rawStatus(response) === 431 ? undefined : `got ${response.slice(0, 80)}`;
      },
    },
    {
      name: 'Content-Length and Transfer-Encoding together (smuggling)',
      expected: '400, connection closed',
      run: async (c) => {
        const response = await raw(
          c.port,
          `POST ${STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${c.token}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        );
        return rawStatus(response) === 400 ? undefined : `got ${response.slice(0, 80) || 'nothing'}`;
      },
    },
    stalled(
      'stalled body (slowloris)',
      `connection closed within ${STALL_LIMIT_MILLIS / 1000} s`,
      (c) =>
        `POST ${STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${c.token}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"id":',
    ),
    stalled(
      'chunked body that never ends',
      `connection closed within ${STALL_LIMIT_MILLIS / 1000} s`,
      (c) =>
        `POST ${STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${c.token}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{"id":\r\n',
    ),
    stalled(
      'stalled headers',
      `connection closed within ${STALL_LIMIT_MILLIS / 1000} s`,
      () => 'GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ',
    ),
    {
      name: 'token file readable by others',
      expected: 'the agent refuses to start, naming the file',
      run: async (c) => {
        const file = join(c.dir, 'world-readable-token');
        await writeFile(file, 'a-token-anyone-can-read\n', { mode: 0o644 });
        await chmod(file, 0o644);
        try {
          return await c.withAgent(
            'world-readable',
            { authTokenFile: file },
            async () => 'the agent started',
          );
        } catch (error) {
          if (!(error instanceof AgentStartError)) throw error;
          return error.message.includes(file)
            ? undefined
            : `refused without naming the file: ${error.message}`;
        }
      },
    },
    {
      name: 'no token file configured',
      expected: 'a token generated into a 0600 file in the store; requests without it get 401',
      run: async (c) =>
        c.withAgent('generated-token', {}, async (agent, storeRoot) => {
          const reply = await request(agent.url, { path: '/v1/status' });
          if (reply.status !== 401) return `a request without a token got ${reply.status}`;
          const mode = await stat(join(storeRoot, 'api-token')).then(
            (s) => s.mode & 0o777,
            () => undefined,
          );
          return mode === 0o600
            ? undefined
            : `token file ${join(storeRoot, 'api-token')}: mode ${mode?.toString(8) ?? 'missing'}`;
        }),
    },
    {
      name: '2000 idle connections',
      expected: 'connections past a cap closed; status answers afterwards',
      run: async (c) => {
        const sockets = Array.from({ length: 2000 }, () => new StalledSocket(c.port, ''));
        await sleep(3_000);
        const refused = sockets.filter((s) => s.closedAfterMillis !== undefined).length;
        for (const socket of sockets) socket.destroy();
        await sleep(500);
        if (refused < 1000) return `${2000 - refused} of 2000 connections held open: no connection cap`;
        return undefined;
      },
    },
  ];
}

export interface HostileOptions {
  readonly bundle: string;
  readonly launch: LaunchLine;
  readonly kinesis: ChaosKinesis;
  readonly dir: string;
  readonly log: (line: string) => void;
  /** Case names to run (all by default). */
  readonly only?: (name: string) => boolean;
}

export interface CaseOutcome {
  readonly name: string;
  readonly expected: string;
  readonly failure: string | undefined;
  readonly crashed: boolean;
  /** VmHWM after the case (the agent's peak so far). */
  readonly peakRssBytes: number;
}

export interface HostileRun {
  readonly result: ScenarioResult;
  readonly cases: readonly CaseOutcome[];
}

/** Runs the corpus against one agent (restarted after a crash) and reports each case. */
export async function runHostile(options: HostileOptions): Promise<HostileRun> {
  const { bundle, launch, kinesis, log } = options;
  const scenarioAgent = await prepareScenario(kinesis, options.dir, 'hostile', 1);
  const { dir, token, port, url } = scenarioAgent;
  const config = await writeScenarioConfig(scenarioAgent, kinesis);
  const ledger = new Ledger();
  const send = (o: RequestOptions) => request(url, { timeoutMillis: 120_000, ...o });
  const context: HostileContext = {
    url,
    port,
    token,
    ledger,
    dir,
    send,
    post: (body, headers = {}, path = STREAM_PATH) =>
      send({
        method: 'POST',
        path,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
        body,
      }),
    withAgent: async (name, api, use) => {
      const own = join(dir, name);
      await mkdir(own, { recursive: true });
      const file = join(own, 'agent.json');
      const storeRoot = join(own, 'store');
      await writeFile(
        file,
        JSON.stringify({
          storeRoot,
          deviceId: 'chaos-gateway',
          aws: { region: REGION, endpoint: kinesis.endpoint },
          api: { port: 0, ...api },
          streams: [{ name: STREAM }],
        }),
      );
      const other = await AgentProcess.start(bundle, file, launch);
      try {
        return await use(other, storeRoot);
      } finally {
        await other.stop();
      }
    },
  };
  const findings: string[] = [];
  const outcomes: CaseOutcome[] = [];
  let crashes = 0;
  let peak = 0;
  let agent = await AgentProcess.start(bundle, config, launch);
  const cases = hostileCases().filter((c) => options.only?.(c.name) ?? true);
  const attempt = (hostile: HostileCase) =>
    hostile.run(context).catch((error: unknown) => `request failed: ${(error as Error).message}`);
  // Stalled requests mostly wait: they run together, after the others (a crash would close them early).
  const foreground = cases.filter((c) => !c.background);
  let background: Map<HostileCase, Promise<string | undefined>> | undefined;
  for (const [i, hostile] of [...foreground, ...cases.filter((c) => c.background)].entries()) {
    if (i === foreground.length)
      background = new Map(cases.filter((c) => c.background).map((c) => [c, attempt(c)]));
    let failure = await (background?.get(hostile) ?? attempt(hostile));
    const rss = await agent.peakRss();
    peak = Math.max(peak, rss);
    const crashed = !agent.alive || !(await statusAnswers(url, token));
    if (crashed) {
      crashes++;
      await sleep(200);
      failure = `agent ${agent.alive ? 'stopped answering' : `died (${agent.unexpectedExit ?? 'killed'})`}: ${agent.tail(300)}${failure === undefined ? '' : `; ${failure}`}`;
      if (agent.alive) agent.kill('SIGKILL');
      await agent.exited;
      agent = await AgentProcess.start(bundle, config, launch);
    }
    outcomes.push({ name: hostile.name, expected: hostile.expected, failure, crashed, peakRssBytes: rss });
    log(
      `  ${failure === undefined ? 'ok  ' : 'FAIL'} ${hostile.name} (peak ${mb(rss)})${failure === undefined ? '' : `: ${failure}`}`,
    );
    if (failure !== undefined) findings.push(`${hostile.name}: expected ${hostile.expected}; ${failure}`);
  }
  // Whatever was accepted must be exportable: nothing dead-lettered for a reason append could see.
  if (!(await waitDrained(url, token, STREAM, 60_000)))
    findings.push('accepted records not exported within 60 s');
  const state = await streamState(url, token, STREAM);
  if (state.deadLettered > 0)
    findings.push(
      `${state.deadLettered} accepted records dead-lettered (${state.lastError ?? 'no lastError'})`,
    );
  peak = Math.max(peak, await agent.peakRss());
  const code = await agent.stop();
  if (code !== 0) {
    crashes++;
    findings.push(`clean stop exited ${code}: ${agent.tail(300)}`);
  }
  if (peak > RSS_LIMIT_BYTES) findings.push(`peak RSS ${mb(peak)} over ${mb(RSS_LIMIT_BYTES)}`);
  const passed = outcomes.filter((o) => o.failure === undefined).length;
  return {
    cases: outcomes,
    result: {
      scenario: `hostile input (${passed}/${outcomes.length} cases as expected)`,
      crashes,
      peakRssBytes: peak,
      outcome: findings.length === 0 ? 'pass' : 'FAIL',
      findings,
    },
  };
}

export async function hostileCorpus(options: HostileOptions): Promise<ScenarioResult> {
  return (await runHostile(options)).result;
}
