// fromPretrained with a hub id, against a loopback server that speaks the hub's resolve protocol and serves
// model directories this test writes (no other network address is used).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@atelier/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GPT2 } from './model.js';
import { FIXTURES } from './testing.test-util.js';

const COMMIT = 'a'.repeat(40);
let tmp: string;
let server: http.Server;
let endpoint: string;
const repos = new Map<string, string>(); // repo id → directory served
const requests: string[] = [];

beforeAll(async () => {
  await initBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'gpt2-hub-'));
  // org/tiny: a model directory written by save() (config, weights, tokenizer files)
  const m = await GPT2.fromPretrained(`${FIXTURES}gpt2-tiny`);
  await m.save(join(tmp, 'repo-tiny'));
  m.dispose();
  repos.set('org/tiny', join(tmp, 'repo-tiny'));
  // org/bin-only: config + pytorch_model.bin
  await mkdir(join(tmp, 'repo-bin'));
  await writeFile(
    join(tmp, 'repo-bin', 'config.json'),
    await readFile(join(FIXTURES, 'gpt2-tiny', 'config.json')),
  );
  await writeFile(join(tmp, 'repo-bin', 'pytorch_model.bin'), 'pickle');
  repos.set('org/bin-only', join(tmp, 'repo-bin'));

  server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? '');
    const dir = m ? repos.get(m[1]) : undefined;
    if (!m || !dir) return res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end();
    const file = decodeURIComponent(m[3]);
    if (!readdirSync(dir).includes(file)) {
      return res.writeHead(404, { 'x-repo-commit': COMMIT, 'x-error-code': 'EntryNotFound' }).end();
    }
    const body = readFileSync(join(dir, file));
    res.writeHead(200, {
      'x-repo-commit': COMMIT,
      etag: `"${createHash('sha256').update(body).digest('hex')}"`, // sha256 etag: the client verifies it
      'content-length': body.length,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await rm(tmp, { recursive: true, force: true });
});

describe('GPT2.fromPretrained(hub id)', () => {
  it('downloads config, weights and tokenizer into the cache, and loads the same model as the directory', async () => {
    const cacheDir = join(tmp, 'cache');
    const m = await GPT2.fromPretrained('org/tiny', { endpoint, cacheDir, progress: false });
    expect(requests.some((r) => r === 'GET /org/tiny/resolve/main/model.safetensors')).toBe(true);
    expect(requests.some((r) => r.includes('pytorch_model.bin'))).toBe(false);
    const local = await GPT2.fromPretrained(repos.get('org/tiny')!);
    const ids = [[15496, 11, 616, 3290]];
    const a = m.forward(ids);
    const b = local.forward(ids);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b]);
    expect(m.tokenizer?.encode('Hello, my dog')).toEqual([15496, 11, 616, 3290]);
    expect(readdirSync(join(cacheDir, 'models--org--tiny', 'snapshots', COMMIT)).sort()).toEqual(
      [
        'config.json',
        'generation_config.json',
        'merges.txt',
        'model.safetensors',
        'special_tokens_map.json',
        'tokenizer.json',
        'tokenizer_config.json',
        'vocab.json',
      ].sort(),
    );
    m.dispose();

    // the second load is served from the cache: offline, and with the server unable to help
    const again = await GPT2.fromPretrained('org/tiny', {
      endpoint,
      cacheDir,
      progress: false,
      offline: true,
    });
    expect(again.config.n_embd).toBe(8);
    again.dispose();
    local.dispose();
  });

  it('refuses a repository with pickle weights only, saying safetensors is required', async () => {
    await expect(
      GPT2.fromPretrained('org/bin-only', { endpoint, cacheDir: join(tmp, 'cache2'), progress: false }),
    ).rejects.toThrow(
      /org\/bin-only: the repository has only pytorch_model.bin; model.safetensors is required/,
    );
  });

  it('reports an unknown repository with the hub error', async () => {
    await expect(
      GPT2.fromPretrained('org/missing', { endpoint, cacheDir: join(tmp, 'cache3'), progress: false }),
    ).rejects.toThrow(/repository org\/missing not found/);
  });
});
