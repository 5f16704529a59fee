import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadGutenberg, downloadSquad, SQUAD_V11 } from './download.js';
import { readGutenberg } from './readers/gutenberg.js';
import { readJsonlRecords } from './readers/jsonl.js';
import { readSquad } from './readers/squad.js';
import { collect, type QARecord } from './records.js';
import { HAS_SHARED, serve, shared, tempDir } from './test/helpers.js';

const hub = (await import('@atelier/hub')) as Record<string, unknown>;
const HAS_HUB = typeof hub.downloadUrl === 'function';
if (!HAS_HUB) console.warn('skipping download tests: @atelier/hub has no downloadUrl');
const READY = HAS_HUB && HAS_SHARED;

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let server: { url: string; close: () => Promise<void> } | undefined;
let dir = '';
let cleanup: () => Promise<void>;
const hits: string[] = [];
let squadJson = '';

/** A SQuAD-format file built from the shared rows (the canonical files are not in shared/data). */
async function squadFromRows(): Promise<string> {
  const rows = (await collect(readJsonlRecords(shared('squad11_art_qa.jsonl')))) as QARecord[];
  const data: { title: string; paragraphs: { context: string; qas: unknown[] }[] }[] = [];
  rows.forEach((r, i) => {
    let art = data.find((a) => a.title === r.title);
    if (!art) data.push((art = { title: r.title!, paragraphs: [] }));
    let para = art.paragraphs.find((p) => p.context === r.context);
    if (!para) art.paragraphs.push((para = { context: r.context!, qas: [] }));
    para.qas.push({ id: `q${i}`, question: r.question, answers: [{ text: r.answer, answer_start: 0 }] });
  });
  return JSON.stringify({ version: '1.1', data });
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  if (!READY) return;
  squadJson = await squadFromRows();
  const files: Record<string, Buffer | string> = {
    '/squad/dev-v1.1.json': squadJson,
    '/cache/epub/14314/pg14314.txt': readFileSync(shared('emily_post_etiquette_1922_pg14314.txt')),
  };
  server = await serve((req, res) => {
    hits.push(req.url!);
    const body = files[req.url!.split('?')[0]];
    if (!body) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
});
afterAll(async () => {
  await server?.close();
  await cleanup();
});

describe('downloads (loopback server serving shared/data)', () => {
  it('publishes the SQuAD v1.1 sizes and SHA-256 checksums', () => {
    expect(SQUAD_V11.dev).toMatchObject({ file: 'dev-v1.1.json', size: 4_854_279, questions: 10_570 });
    expect(SQUAD_V11.train.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it.skipIf(!READY)('downloads a Gutenberg book into the cache once, verified, and reads it', async () => {
    const cacheDir = join(dir, 'cache');
    const want = readFileSync(shared('emily_post_etiquette_1922_pg14314.txt'));
    const url = server!.url;
    const path = await downloadGutenberg(14314, { baseUrl: url, cacheDir, sha256: sha256(want) });
    expect(path.startsWith(join(cacheDir, 'gutenberg'))).toBe(true);
    expect(sha256(readFileSync(path))).toBe(sha256(want));
    const again = await downloadGutenberg(14314, { baseUrl: url, cacheDir, sha256: sha256(want) });
    expect(again).toBe(path);
    expect(hits.filter((h) => h.startsWith('/cache/epub/14314/')).length).toBe(1);
    const sections = await collect(readGutenberg(path, { split: 'section' }));
    expect(sections.some((s) => s.title === 'THE CORRECT FORM')).toBe(true);
    await expect(downloadGutenberg(99999, { baseUrl: url, cacheDir })).rejects.toThrow(/404/);
    await expect(downloadGutenberg(0, { baseUrl: url, cacheDir })).rejects.toThrow(/positive integer/);
  });

  it.skipIf(!READY)('downloads SQuAD with a checksum, and refuses bytes that do not match', async () => {
    const base = `${server!.url}/squad`;
    const cacheDir = join(dir, 'cache2');
    const path = await downloadSquad('dev', {
      baseUrl: base,
      cacheDir,
      sha256: sha256(squadJson),
      size: Buffer.byteLength(squadJson),
    });
    expect((await collect(readSquad(path))).length).toBe(1427);
    // With the published checksum (the default), our stand-in file is rejected and nothing is cached.
    const strict = join(dir, 'cache3');
    await expect(downloadSquad('dev', { baseUrl: base, cacheDir: strict, size: null })).rejects.toThrow(
      new RegExp(`checksum mismatch.*expected sha256 ${SQUAD_V11.dev.sha256}`),
    );
    const left = (await readdir(strict, { recursive: true })).filter((f) => f.endsWith('dev-v1.1.json'));
    expect(left).toEqual([]);
  });
});
