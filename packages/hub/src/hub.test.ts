import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadUrl, HubError, hubDownload, hubFileExists, isHubId, snapshotDownload } from './index.js';

process.env.ATELIER_HUB_RETRY_DELAY_MS = '5';
const COMMIT = 'a'.repeat(39) + '1';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

// The fake repository: a small git file, an LFS file served from a separate "CDN" server, a corrupt LFS file.
const CONFIG = Buffer.from('{"n_layer": 2, "n_embd": 8}\n');
const WEIGHTS = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
const CORRUPT = Buffer.from('these bytes do not match their advertised sha256');
const CORRUPT_SHA = sha256(Buffer.from('the bytes that were promised'));

interface Seen {
  method: string;
  url: string;
  range?: string;
  auth?: string;
}
const hubSeen: Seen[] = [];
const cdnSeen: Seen[] = [];
/** The CDN drops the connection after this many body bytes on the next GET (0 = never). */
let dropNextAt = 0;

function record(list: Seen[], req: http.IncomingMessage) {
  list.push({
    method: req.method ?? '',
    url: req.url ?? '',
    range: req.headers.range,
    auth: req.headers.authorization,
  });
}

const cdn = http.createServer((req, res) => {
  record(cdnSeen, req);
  const name = (req.url ?? '').slice('/blob/'.length);
  const body = name === 'weights' ? WEIGHTS : name === 'corrupt' ? CORRUPT : undefined;
  if (!body) {
    res.writeHead(404).end();
    return;
  }
  let start = 0;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m) start = Number(m[1]);
  const part = body.subarray(start);
  res.writeHead(m ? 206 : 200, {
    'content-length': part.length,
    ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
  });
  if (req.method === 'HEAD') return res.end();
  if (dropNextAt > 0) {
    const cut = dropNextAt;
    dropNextAt = 0;
    res.write(part.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(part);
});

let cdnBase = '';
const hub = http.createServer((req, res) => {
  record(hubSeen, req);
  const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? '');
  if (!m) return res.writeHead(404).end();
  const [, repo, rev, file] = m;
  if (repo === 'org/private') return res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end();
  if (repo === 'org/flaky') return res.writeHead(503).end('busy');
  if (repo !== 'org/model' || (rev !== 'main' && rev !== COMMIT && rev !== 'refs%2Fpr%2F1')) {
    return res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end();
  }
  const headers = { 'x-repo-commit': COMMIT };
  if (file === 'config.json') {
    res.writeHead(200, { ...headers, etag: `"${gitSha1(CONFIG)}"`, 'content-length': CONFIG.length });
    return req.method === 'HEAD' ? res.end() : res.end(CONFIG);
  }
  const lfs = file === 'model.safetensors' ? WEIGHTS : file === 'corrupt.bin' ? CORRUPT : undefined;
  if (lfs) {
    res.writeHead(302, {
      ...headers,
      location: `${cdnBase}/blob/${file === 'model.safetensors' ? 'weights' : 'corrupt'}`,
      'x-linked-etag': `"${file === 'model.safetensors' ? sha256(WEIGHTS) : CORRUPT_SHA}"`,
      'x-linked-size': lfs.length,
      etag: '"not-the-lfs-etag"',
    });
    return res.end();
  }
  res.writeHead(404, { ...headers, 'x-error-code': 'EntryNotFound' }).end();
});

const listen = (s: http.Server) =>
  new Promise<string>((r) =>
    s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)),
  );

let endpoint = '';
let cacheDir = '';
const roots: string[] = [];
const freshCache = () => {
  const d = mkdtempSync(join(tmpdir(), 'atelier-hub-'));
  roots.push(d);
  return d;
};

beforeAll(async () => {
  endpoint = await listen(hub);
  cdnBase = await listen(cdn);
});
afterAll(() => {
  hub.close();
  cdn.close();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
beforeEach(() => {
  cacheDir = freshCache();
  hubSeen.length = 0;
  cdnSeen.length = 0;
  dropNextAt = 0;
});

describe('hubDownload', () => {
  it('downloads a small file into the huggingface_hub cache layout', async () => {
    const path = await hubDownload('org/model', 'config.json', { endpoint, cacheDir, progress: false });
    const folder = join(cacheDir, 'models--org--model');
    expect(path).toBe(join(folder, 'snapshots', COMMIT, 'config.json'));
    expect(readFileSync(path)).toEqual(CONFIG);
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path)).toBe(join('..', '..', 'blobs', gitSha1(CONFIG)));
    expect(readFileSync(join(folder, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(hubSeen.map((s) => s.method)).toEqual(['HEAD', 'GET']);
  });

  it('handles a revision with slashes (refs/pr/1): URL-encoded, nested ref file', async () => {
    const path = await hubDownload('org/model', 'config.json', { endpoint, cacheDir, revision: 'refs/pr/1' });
    expect(hubSeen[0].url).toBe('/org/model/resolve/refs%2Fpr%2F1/config.json');
    expect(readFileSync(join(cacheDir, 'models--org--model', 'refs', 'refs', 'pr', '1'), 'utf8')).toBe(
      COMMIT,
    );
    expect(readFileSync(path)).toEqual(CONFIG);
  });

  it('follows the LFS redirect to the CDN, names the blob by sha256 and keeps the token off the CDN', async () => {
    const path = await hubDownload('org/model', 'model.safetensors', {
      endpoint,
      cacheDir,
      token: 'hf_secret',
    });
    expect(readFileSync(path).equals(WEIGHTS)).toBe(true);
    expect(existsSync(join(cacheDir, 'models--org--model', 'blobs', sha256(WEIGHTS)))).toBe(true);
    expect(hubSeen[0]).toMatchObject({ method: 'HEAD', auth: 'Bearer hf_secret' });
    expect(cdnSeen).toEqual([{ method: 'GET', url: '/blob/weights', range: undefined, auth: undefined }]);
  });

  it('draws a progress bar on stderr when asked', async () => {
    const writes: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      await hubDownload('org/model', 'model.safetensors', { endpoint, cacheDir, progress: true });
    } finally {
      process.stderr.write = write;
    }
    const text = writes.join('');
    expect(text).toContain('model.safetensors');
    expect(text).toMatch(/293\.0 KiB \/ 293\.0 KiB/);
  });

  it('resumes a dropped download with a Range request and ends with the right bytes', async () => {
    dropNextAt = 100_000;
    const path = await hubDownload('org/model', 'model.safetensors', { endpoint, cacheDir });
    expect(readFileSync(path).equals(WEIGHTS)).toBe(true);
    expect(cdnSeen.length).toBe(2);
    expect(cdnSeen[0].range).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(cdnSeen[1].range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(100_000);
    expect(existsSync(join(cacheDir, 'models--org--model', 'blobs', `${sha256(WEIGHTS)}.incomplete`))).toBe(
      false,
    );
  });

  it('shares one download between concurrent calls for the same file', async () => {
    const paths = await Promise.all(
      [1, 2, 3].map(() => hubDownload('org/model', 'model.safetensors', { endpoint, cacheDir })),
    );
    expect(new Set(paths).size).toBe(1);
    expect(readFileSync(paths[0]).equals(WEIGHTS)).toBe(true);
    expect(cdnSeen.length).toBe(1);
    expect(existsSync(join(cacheDir, 'models--org--model', 'blobs', `${sha256(WEIGHTS)}.lock`))).toBe(false);
  });

  it('rejects a blob whose sha256 does not match X-Linked-Etag and deletes it', async () => {
    const err = await hubDownload('org/model', 'corrupt.bin', { endpoint, cacheDir }).catch((e) => e);
    expect(err).toBeInstanceOf(HubError);
    expect(err.message).toContain(`expected sha256 ${CORRUPT_SHA}`);
    expect(err.message).toContain(`got ${sha256(CORRUPT)}`);
    const blobs = join(cacheDir, 'models--org--model', 'blobs');
    expect(existsSync(join(blobs, CORRUPT_SHA))).toBe(false);
    expect(existsSync(join(blobs, `${CORRUPT_SHA}.incomplete`))).toBe(false);
  });

  it('explains 404 and 401 and retries 5xx', async () => {
    const e404 = await hubDownload('org/model', 'nope.txt', { endpoint, cacheDir }).catch((e) => e);
    expect(e404).toMatchObject({ status: 404 });
    expect(e404.message).toMatch(/file nope\.txt not found in org\/model at revision main/);
    const e401 = await hubDownload('org/private', 'config.json', { endpoint, cacheDir }).catch((e) => e);
    expect(e401).toMatchObject({ status: 401 });
    expect(e401.message).toMatch(/gated, private.*HF_TOKEN/);
    const e503 = await hubDownload('org/flaky', 'config.json', { endpoint, cacheDir }).catch((e) => e);
    expect(e503).toMatchObject({ status: 503 });
    expect(hubSeen.filter((s) => s.url.startsWith('/org/flaky')).length).toBe(3);
  });

  it('works offline from the cache, and says so clearly when the file is missing', async () => {
    await hubDownload('org/model', 'config.json', { endpoint, cacheDir });
    hubSeen.length = 0;
    const path = await hubDownload('org/model', 'config.json', { endpoint, cacheDir, offline: true });
    expect(readFileSync(path)).toEqual(CONFIG);
    expect(hubSeen.length).toBe(0);
    await expect(
      hubDownload('org/model', 'model.safetensors', { endpoint, cacheDir, offline: true }),
    ).rejects.toThrow(/offline mode.*model\.safetensors of org\/model at revision main is not in the cache/);
    expect(await hubFileExists('org/model', 'config.json', { endpoint, cacheDir, offline: true })).toBe(true);
  });

  it('serves cache hits when the hub is unreachable', async () => {
    await hubDownload('org/model', 'config.json', { endpoint, cacheDir });
    const dead = http.createServer();
    const deadEndpoint = await listen(dead);
    await new Promise((r) => dead.close(r));
    const path = await hubDownload('org/model', 'config.json', { endpoint: deadEndpoint, cacheDir });
    expect(readFileSync(path)).toEqual(CONFIG);
    // A pinned commit is answered from the cache without asking the hub at all.
    const pinned = await hubDownload('org/model', 'config.json', {
      endpoint: deadEndpoint,
      cacheDir,
      revision: COMMIT,
    });
    expect(pinned).toBe(path);
    await expect(
      hubDownload('org/model', 'model.safetensors', { endpoint: deadEndpoint, cacheDir }),
    ).rejects.toThrow(/cannot reach .* not in the cache/);
  });
});

describe('snapshotDownload and hubFileExists', () => {
  it('downloads several files into one snapshot dir, skipping absent optional ones', async () => {
    const dir = await snapshotDownload('org/model', ['config.json', 'model.safetensors'], {
      endpoint,
      cacheDir,
      optional: ['generation_config.json'],
    });
    expect(dir).toBe(join(cacheDir, 'models--org--model', 'snapshots', COMMIT));
    expect(readFileSync(join(dir, 'config.json'))).toEqual(CONFIG);
    expect(existsSync(join(dir, 'generation_config.json'))).toBe(false);
    await expect(snapshotDownload('org/model', ['missing.json'], { endpoint, cacheDir })).rejects.toThrow(
      /404/,
    );
  });

  it('reports whether files exist', async () => {
    expect(await hubFileExists('org/model', 'config.json', { endpoint, cacheDir })).toBe(true);
    expect(await hubFileExists('org/model', 'model.safetensors', { endpoint, cacheDir })).toBe(true);
    expect(await hubFileExists('org/model', 'nope.bin', { endpoint, cacheDir })).toBe(false);
  });
});

describe('downloadUrl', () => {
  it('downloads once, verifies, resumes, and serves the cache without network', async () => {
    dropNextAt = 50_000;
    const url = `${cdnBase}/blob/weights`;
    const path = await downloadUrl(url, {
      cacheDir,
      filename: 'w.bin',
      sha256: sha256(WEIGHTS),
      size: WEIGHTS.length,
    });
    expect(readFileSync(path).equals(WEIGHTS)).toBe(true);
    expect(cdnSeen.map((s) => s.range)).toEqual([undefined, expect.stringMatching(/^bytes=\d+-$/)]);
    cdnSeen.length = 0;
    expect(await downloadUrl(url, { cacheDir, filename: 'w.bin', sha256: sha256(WEIGHTS) })).toBe(path);
    expect(cdnSeen.length).toBe(0);
    await expect(downloadUrl(`${cdnBase}/blob/corrupt`, { cacheDir, sha256: CORRUPT_SHA })).rejects.toThrow(
      /checksum mismatch.*expected sha256/,
    );
    await expect(downloadUrl(`${cdnBase}/blob/none`, { cacheDir })).rejects.toMatchObject({ status: 404 });
  });
});

describe('isHubId', () => {
  it('tells hub ids from local paths', () => {
    for (const id of ['gpt2', 'openai-community/gpt2', 'org/model.v1_2']) expect(isHubId(id), id).toBe(true);
    for (const p of ['./gpt2', '/models/gpt2', '~/gpt2', 'a/b/c', 'C:\\models', '..', ''])
      expect(isHubId(p), p).toBe(false);
    // An existing local path is not a hub id even when it looks like one.
    const local = mkdtempSync(join(process.cwd(), 'hubid-'));
    const name = basename(local);
    try {
      expect(isHubId(name)).toBe(false);
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
    expect(isHubId(name)).toBe(true);
  });
});
