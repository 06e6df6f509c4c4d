import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telemetryRecord, transactionRecord } from '../../../helpers/records.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const ROOT = join(import.meta.dirname, '../../../..');

/** The CLI as developers run it (tsx), and as devices run it: the bundle of `npm run build:device`. */
const LAUNCHERS = [
  {
    name: 'tsx launcher',
    nodeArgs: [],
    prepare: async (_dir: string) => join(ROOT, 'bin', 'tributary.mjs'),
  },
  {
    name: 'device bundle',
    // The launch line of device/README.md.
    nodeArgs: ['--max-semi-space-size=1', '--max-old-space-size=48', '--optimize-for-size'],
    // Built outside the project, so nothing can be resolved from node_modules: the YAML config
    // below must come from the bundle's own lazily loaded chunk.
    prepare: async (dir: string) => {
      const out = join(dir, 'bundle');
      const build = spawn(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'scripts', 'build-device.ts'), out],
        {
          stdio: 'inherit',
        },
      );
      const [code] = (await once(build, 'close')) as [number | null];
      if (code !== 0) throw new Error(`build-device.ts exited with ${code}`);
      return join(out, 'tributary.mjs');
    },
  },
];

describe.each(LAUNCHERS)('tributary CLI ($name)', ({ nodeArgs, prepare }) => {
  let BIN: string;

  interface Run {
    code: number | null;
    stdout: string;
    stderr: string;
  }

  async function tributary(
    args: string[],
    stdin?: string,
    where: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<Run> {
    const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...where,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdin.end(stdin ?? '');
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stdout, stderr };
  }

  const tmp = useTempDir('tributary-cli-');
  let agent: ChildProcess;
  let url: string;
  let config: string;
  const agentOutput: string[] = [];

  beforeAll(async () => {
    BIN = await prepare(tmp.path);
    config = join(tmp.path, 'agent.yaml');
    // No token configured: the agent generates one in its store, and the CLI finds it through --config.
    await writeFile(
      config,
      [
        'storeRoot: ./store',
        'deviceId: sensor-0001',
        'aws: { region: us-east-1 }',
        'api: { port: 0 }',
        'streams:',
        '  - name: telemetry',
        '',
      ].join('\n'),
    );
    agent = spawn(process.execPath, [...nodeArgs, BIN, 'agent', 'run', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = createInterface({ input: agent.stdout as NodeJS.ReadableStream });
    for await (const line of lines) {
      agentOutput.push(line);
      const match = / API (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (match?.[1] !== undefined) {
        url = match[1];
        break;
      }
    }
    lines.on('line', (line) => agentOutput.push(line));
  });

  afterAll(async () => {
    if (agent.exitCode === null) {
      agent.kill('SIGKILL');
      await once(agent, 'close');
    }
  });

  it('prints usage and exits 2 on a bad flag or command', async () => {
    const flag = await tributary(['status', '--jsn']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/Unknown option '--jsn'/);
    expect(flag.stderr).toMatch(/Usage:/);
    expect((await tributary(['launch'])).code).toBe(2);
    expect((await tributary(['append', '--record', '{}'])).code).toBe(2);
  });

  it('exits 3 when no agent answers', async () => {
    const run = await tributary(['status', '--url', 'http://127.0.0.1:9']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/AGENT_UNREACHABLE/);
  });

  it('exits 2 for a broken config file, naming file, path and value', async () => {
    const bad = join(tmp.path, 'bad.yaml');
    await writeFile(bad, 'storeRoot: x\ndeviceId: d\naws: { region: nowhere }\nstreams: [{ name: a }]\n');
    const run = await tributary(['agent', 'run', '--config', bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${bad}: config aws.region:`);
    expect(run.stderr).toContain('(got "nowhere")');
  });

  it('appends a record and an NDJSON file, then shows them in status', async () => {
    const auth = ['--url', url, '--config', config];
    const one = await tributary([
      'append',
      '--stream',
      'telemetry',
      '--record',
      JSON.stringify(telemetryRecord()),
      ...auth,
    ]);
    expect(one).toMatchObject({ code: 0, stdout: 'appended 1 record to telemetry (sequence 0)\n' });
    const ndjson = join(tmp.path, 'records.ndjson');
    await writeFile(
      ndjson,
      `${[telemetryRecord(), telemetryRecord()].map((r) => JSON.stringify(r)).join('\n')}\n`,
    );
    const file = await tributary(['append', '--stream', 'telemetry', '--file', ndjson, ...auth]);
    expect(file).toMatchObject({ code: 0, stdout: 'appended 2 records to telemetry (sequences 1..2)\n' });
    const stdin = await tributary(
      ['append', '--stream', 'telemetry', ...auth],
      `${JSON.stringify(telemetryRecord())}\n`,
    );
    expect(stdin.code).toBe(0);

    const invalid = await tributary([
      'append',
      '--stream',
      'telemetry',
      '--record',
      '{"type":"telemetry"}',
      ...auth,
    ]);
    expect(invalid.code).toBe(4);
    expect(invalid.stderr).toMatch(/RECORD_INVALID/);
    // A valid transaction in the telemetry stream: refused by its line, the type field named.
    const wrongType = await tributary(
      ['append', '--stream', 'telemetry', ...auth],
      `${JSON.stringify(telemetryRecord())}\n${JSON.stringify(transactionRecord())}\n`,
    );
    expect(wrongType.code).toBe(4);
    expect(wrongType.stderr).toMatch(/RECORD_TYPE_NOT_ACCEPTED/);
    expect(wrongType.stderr).toMatch(
      /line 2: type: stream "telemetry" takes telemetry records, not transaction/,
    );
    expect(wrongType.stderr).toMatch(/nothing was stored in telemetry/);
    expect((await tributary(['status', '--url', url])).code).toBe(4);

    const status = await tributary(['status', '--json', ...auth]);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as { streams: { name: string; log: { records: number } }[] };
    expect(parsed.streams).toEqual([
      expect.objectContaining({ name: 'telemetry', log: expect.objectContaining({ records: 4 }) }),
    ]);
    const text = await tributary(['streams', ...auth]);
    expect(text.stdout).toMatch(/^telemetry\t4 records\t[^\t]+\ttakes telemetry\b/);
  });

  it('generated the token into a file only its user can read, and refuses requests without it', async () => {
    const token = join(tmp.path, 'store', 'api-token');
    expect((await stat(token)).mode & 0o777).toBe(0o600);
    expect((await readFile(token, 'utf8')).trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const run = await tributary(['status', '--url', url]);
    expect(run).toMatchObject({ code: 4 });
    expect(run.stderr).toMatch(/UNAUTHORIZED/);
    expect((await tributary(['status', '--url', url, '--token-file', token])).code).toBe(0);
  });

  it('finds the agent with no flags: api.json in $TRIBUTARY_AGENT_DIR or in .tributary/ of the working directory or a parent', async () => {
    const { TRIBUTARY_AGENT_DIR: _unset, ...env } = process.env;
    const store = join(tmp.path, 'store');
    const discovery = JSON.parse(await readFile(join(store, 'api.json'), 'utf8')) as Record<string, unknown>;
    expect(discovery).toMatchObject({ url, tokenFile: join(store, 'api-token'), deviceId: 'sensor-0001' });
    expect((await stat(join(store, 'api.json'))).mode & 0o777).toBe(0o600);

    const record = JSON.stringify(telemetryRecord());
    const viaEnv = await tributary(['append', '--stream', 'telemetry', '--record', record], undefined, {
      env: { ...env, TRIBUTARY_AGENT_DIR: store },
    });
    expect(viaEnv).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^appended 1 record to telemetry/),
    });

    // The layout `npm start` leaves: <project>/.tributary/api.json, the CLI run from a subdirectory.
    const project = join(tmp.path, 'project');
    await mkdir(join(project, '.tributary'), { recursive: true });
    await mkdir(join(project, 'src', 'deep'), { recursive: true });
    await copyFile(join(store, 'api.json'), join(project, '.tributary', 'api.json'));
    const viaCwd = await tributary(['status', '--json'], undefined, {
      env,
      cwd: join(project, 'src', 'deep'),
    });
    expect(viaCwd.code).toBe(0);
    expect(JSON.parse(viaCwd.stdout)).toMatchObject({ deviceId: 'sensor-0001' });

    const nowhere = join(tmp.path, 'nowhere');
    await mkdir(nowhere);
    const none = await tributary(['status'], undefined, { env, cwd: nowhere });
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('AGENT_NOT_FOUND: found no running agent; looked in: ');
    expect(none.stderr).toContain('/var/lib/tributary/api.json');
    expect(none.stderr).toContain(`${join(nowhere, '.tributary', 'api.json')} and the same in every parent`);

    const empty = await tributary(['status'], undefined, { env: { ...env, TRIBUTARY_AGENT_DIR: nowhere } });
    expect(empty.code).toBe(3);
    expect(empty.stderr).toContain(`${join(nowhere, 'api.json')} ($TRIBUTARY_AGENT_DIR)`);
  });

  it('names the line and byte offset of invalid UTF-8 or JSON in a file, and sends none of its batch', async () => {
    const auth = ['--url', url, '--config', config];
    const before = JSON.parse((await tributary(['streams', '--json', ...auth])).stdout) as {
      log: { records: number };
    }[];
    const good = JSON.stringify(telemetryRecord());
    const bad = join(tmp.path, 'bad.ndjson');
    await writeFile(
      bad,
      Buffer.concat([Buffer.from(`${good}\n{"a":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]),
    );
    const utf8 = await tributary(['append', '--stream', 'telemetry', '--file', bad, ...auth]);
    expect(utf8.code).toBe(4);
    expect(utf8.stderr).toContain(
      `RECORD_MALFORMED: line 2 (byte ${good.length + 1 + 6}): record is not valid JSON: invalid UTF-8 sequence at byte 6`,
    );
    await writeFile(bad, `${good}\n{"a":${'['.repeat(100_000)}\n`);
    const deep = await tributary(['append', '--stream', 'telemetry', '--file', bad, ...auth]);
    expect(deep.code).toBe(4);
    expect(deep.stderr).toContain('RECORD_TOO_COMPLEX: line 2');
    const after = JSON.parse((await tributary(['streams', '--json', ...auth])).stdout) as typeof before;
    expect(after[0]?.log.records).toBe(before[0]?.log.records);

    // A record the agent refuses: every problem with its path, the line numbered from 1 like the
    // input, and what was and was not stored (the batch is refused whole).
    const broken = { ...telemetryRecord(), payload: { metric: 'temperature', value: 'hot' } };
    await writeFile(bad, `${good}\n\n${JSON.stringify(broken)}\n`);
    const invalid = await tributary(['append', '--stream', 'telemetry', '--file', bad, ...auth]);
    expect(invalid.code).toBe(4);
    expect(invalid.stderr).toContain('RECORD_INVALID: line 3 refused (2 problems):');
    expect(invalid.stderr).toMatch(/ {2}line 3: payload\.value: .*\(got "hot"\)/);
    expect(invalid.stderr).toMatch(/ {2}line 3: payload\.unit: /);
    expect(invalid.stderr).toContain(
      'not stored: lines 1-3 (this batch, refused whole) and every line after; nothing was stored in telemetry.',
    );
    expect(invalid.stderr).not.toMatch(/more\)|record 2|index/);
    // Several refused lines of one batch: every one is listed with its own line and path.
    const sale = { ...transactionRecord(), type: 'transaction' };
    const typo = { ...telemetryRecord(), devise_id: 'x' };
    await writeFile(
      bad,
      `${[good, JSON.stringify(broken), '', JSON.stringify(typo), JSON.stringify(sale)].join('\n')}\n`,
    );
    const several = await tributary(['append', '--stream', 'telemetry', '--file', bad, ...auth]);
    expect(several.code).toBe(4);
    expect(several.stderr).toContain('RECORD_INVALID: 3 lines refused (4 problems):');
    expect(several.stderr).toMatch(/ {2}line 2: payload\.value: .*\(got "hot"\)/);
    expect(several.stderr).toMatch(/ {2}line 2: payload\.unit: /);
    expect(several.stderr).toMatch(/ {2}line 4: devise_id: /);
    expect(several.stderr).toMatch(
      / {2}line 5: RECORD_TYPE_NOT_ACCEPTED: type: stream "telemetry" takes telemetry records, not transaction/,
    );
    expect(several.stderr).toContain(
      'not stored: lines 1-5 (this batch, refused whole) and every line after; nothing was stored in telemetry.',
    );
    expect(several.stderr).not.toMatch(/index/);
    const unchanged = JSON.parse((await tributary(['streams', '--json', ...auth])).stdout) as typeof before;
    expect(unchanged[0]?.log.records).toBe(before[0]?.log.records);
  });

  it('refuses to start with a token file that others can read', async () => {
    const token = join(tmp.path, 'open-token');
    await writeFile(token, 'readable-by-all\n', { mode: 0o644 });
    await chmod(token, 0o644);
    const insecure = join(tmp.path, 'insecure.yaml');
    await writeFile(
      insecure,
      [
        'storeRoot: ./store2',
        'deviceId: d-1',
        'aws: { region: us-east-1 }',
        `api: { port: 0, authTokenFile: ${token} }`,
        'streams: [{ name: a }]',
        '',
      ].join('\n'),
    );
    const run = await tributary(['agent', 'run', '--config', insecure]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `TOKEN_FILE_INSECURE: ${token}: the API token file is readable by group or others (mode 0644)`,
    );
  });

  it('stops cleanly on SIGTERM', async () => {
    agent.kill('SIGTERM');
    const [code] = (await once(agent, 'close')) as [number | null];
    expect(code).toBe(0);
    expect(agentOutput.join('\n')).toMatch(/SIGTERM: stopping/);
    // A stopped agent is not described as running.
    await expect(stat(join(tmp.path, 'store', 'api.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
