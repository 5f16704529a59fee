import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@atelier/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SentenceEmbedder } from './embedder.js';

const FIXTURE = new URL('../../../tools/reference/fixtures/bert-tiny/', import.meta.url).pathname;

// A loopback stand-in for the Hugging Face hub: GET/HEAD {endpoint}/{repo}/resolve/{revision}/{file}.
describe('SentenceEmbedder.load from a hub id (loopback server)', () => {
  let server: Server;
  let endpoint: string;
  let cacheDir: string;
  const requested: string[] = [];

  beforeAll(async () => {
    await initBackend('cpu');
    cacheDir = await mkdtemp(join(tmpdir(), 'atelier-hub-'));
    server = createServer(async (req, res) => {
      const m = /^\/test-org\/bert-tiny\/resolve\/([^/]+)\/(.+)$/.exec(decodeURIComponent(req.url ?? ''));
      requested.push(`${req.method} ${req.url}`);
      if (!m || m[2].includes('..')) {
        res.writeHead(404).end();
        return;
      }
      let body: Buffer;
      try {
        body = await readFile(join(FIXTURE, m[2]));
      } catch {
        res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
        return;
      }
      const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
      res.writeHead(200, {
        'content-length': body.length,
        etag,
        'x-repo-commit': '0123456789abcdef0123456789abcdef01234567',
        'content-type': 'application/octet-stream',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('downloads the model files into the cache and embeds like the reference', async () => {
    const expected = JSON.parse(await readFile(join(FIXTURE, 'expected.json'), 'utf8'));
    const embedder = await SentenceEmbedder.load('test-org/bert-tiny', { endpoint, cacheDir });
    const m = await embedder.embed(expected.texts);
    embedder.dispose();
    const want = expected.embeddings.flat() as number[];
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(m.data[i] - want[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(requested.some((r) => r.includes('model.safetensors'))).toBe(true);
    expect(
      requested.some((r) => r.includes('1_Pooling/config.json') || r.includes('1_Pooling%2Fconfig.json')),
    ).toBe(true);
  });
});
