import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../../../device/agent.ts';
import { EXIT, main } from '../../../../device/cli.ts';
import { parseConfig } from '../../../../device/config.ts';
import { useTempDir } from '../../../helpers/temp-dir.ts';

const tmp = useTempDir('tributary-agent-storage-');

describe('agent storage', () => {
  it('warns at start when the streams may grow past the free space', async () => {
    const lines: string[] = [];
    const config = parseConfig({
      storeRoot: join(tmp.path, 'store'),
      deviceId: 'gateway-01',
      aws: { region: 'us-east-1' },
      api: { port: 0 },
      // 2^52 bytes: no test machine has that much free.
      streams: [{ name: 'big', maxSize: 2 ** 52 }],
    });
    const agent = await Agent.start(config, { log: (line) => lines.push(line) });
    await agent.stop();
    expect(lines.join('\n')).toMatch(
      /warning: the streams' maxSize allow 4503599627\d+ more bytes but .* free/,
    );
  });

  it('exits with its own code when the agent answers 507 STORAGE_FULL', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(507, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'STORAGE_FULL', message: 'no space left on the device for /x.seg' }));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    let err = '';
    const io = { out: new PassThrough(), err: new PassThrough() };
    io.err.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    try {
      const code = await main(
        ['append', '--url', `http://127.0.0.1:${port}`, '--stream', 't', '--record', '{}'],
        io as unknown as Parameters<typeof main>[1],
      );
      expect(code).toBe(EXIT.storageFull);
      expect(EXIT.storageFull).not.toBe(EXIT.busy);
      expect(err).toContain('STORAGE_FULL');
    } finally {
      server.close();
    }
  });
});
