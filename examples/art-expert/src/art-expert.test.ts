import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT2 } from '@atelier/gpt2';
import { initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { readMetrics } from '@atelier/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArtNotes, readWordnetGlosses } from './data.js';
import { loadConfig, runArtExpert } from './main.js';
import type { ArtConfig } from './pipeline.js';

const shared = new URL('../../../../shared/data/', import.meta.url).pathname;
const book = join(shared, 'childrens_book_celebrated_pictures_1922_pg26703.txt');
const squadRows = join(shared, 'squad11_art_qa.jsonl');
const hasData = existsSync(book) && existsSync(squadRows);
const REPO = 'test-org/tiny-gpt2';

/** The flat shared SQuAD rows regrouped as the official nested train-v1.1.json. */
function nestedSquad(): string {
  const articles = new Map<string, Map<string, { question: string; answer: string }[]>>();
  for (const line of readFileSync(squadRows, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { title: string; context: string; question: string; answer: string };
    const paras = articles.get(r.title) ?? new Map();
    articles.set(r.title, paras);
    const qs = paras.get(r.context) ?? [];
    paras.set(r.context, qs);
    qs.push({ question: r.question, answer: r.answer });
  }
  let id = 0;
  const data = [...articles].map(([title, paras]) => ({
    title: title.replace(/ /g, '_'),
    paragraphs: [...paras].map(([context, qas]) => ({
      context,
      qas: qas.map((q) => ({
        id: String(id++),
        question: q.question,
        answers: [{ text: q.answer, answer_start: Math.max(0, context.indexOf(q.answer)) }],
      })),
    })),
  }));
  return JSON.stringify({ version: '1.1', data });
}

/** One loopback server: Gutenberg (/cache/epub/…), SQuAD (/train-v1.1.json) and a hub repo (/<repo>/resolve/main/…). */
function loopback(modelDir: string): Server {
  const squad = Buffer.from(nestedSquad());
  return createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    let body: Buffer | null = null;
    if (path === '/cache/epub/26703/pg26703.txt') body = readFileSync(book);
    else if (path === '/train-v1.1.json') body = squad;
    else {
      const m = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(path);
      const file = m && m[1] === REPO ? join(modelDir, m[2]) : null;
      if (file && existsSync(file)) body = readFileSync(file);
    }
    if (!body) {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound' });
      return res.end('not found');
    }
    res.writeHead(200, {
      'content-length': String(body.length),
      etag: `"${createHash('sha256').update(body).digest('hex')}"`,
      'x-repo-commit': 'a'.repeat(40),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

let root: string;
let server: Server;
let base: string;
const savedCache = process.env.ATELIER_CACHE_DIR;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'atelier-art-'));
  process.env.ATELIER_CACHE_DIR = join(root, 'cache');
  await initBackend('cpu');
  const m = GPT2.fromConfig('tiny', { seed: 3, tokenizer: Tokenizer.gpt2() });
  await m.save(join(root, 'base'));
  m.dispose();
  server = loopback(join(root, 'base'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  if (savedCache === undefined) delete process.env.ATELIER_CACHE_DIR;
  else process.env.ATELIER_CACHE_DIR = savedCache;
  await new Promise<void>((r) => server.close(() => r()));
  await rm(root, { recursive: true, force: true });
});

describe('embedded data', () => {
  it('reads the project notes and real WordNet glosses of painters and movements', async () => {
    const notes = await readArtNotes();
    expect(notes.length).toBeGreaterThanOrEqual(30);
    expect(notes.find((n) => n.question === 'Who was Vincent van Gogh?')?.answer).toContain('Dutch');
    const cfg = await loadConfig();
    const glosses = await readWordnetGlosses(cfg.wordnetKeywords);
    expect(glosses.length).toBeGreaterThan(100);
    const byQ = new Map(glosses.map((g) => [g.question, g.answer]));
    expect(byQ.get('Who was Claude Monet?')).toBe(
      'Claude Monet was a French impressionist painter (1840-1926).',
    );
    expect(byQ.get('What is Impressionism?')).toMatch(
      /^Impressionism is a school of late 19th century French painters/,
    );
    // every record points back at its line of data.noun
    expect(glosses.every((g) => typeof g.source.line === 'number' && g.source.line > 0)).toBe(true);
  });
});

describe.skipIf(!hasData)(
  'art expert end to end at tiny size (loopback downloads and hub; skipped without ../shared/data)',
  () => {
    it('downloads, trains Model 1 from scratch and Model 2 (LoRA on a hub model), writes the comparison', async () => {
      const full = await loadConfig();
      const config: ArtConfig = {
        ...full,
        blockSize: 64,
        valFraction: 0.05,
        scratch: {
          model: { n_layer: 1, n_head: 2, n_embd: 32, n_positions: 64 },
          batchSize: 8,
          lr: 0.01,
          maxSteps: 20,
          evalEvery: 10,
        },
        pretrained: { ...full.pretrained, batchSize: 8, lr: 0.01, maxSteps: 10, evalEvery: 10 },
      };
      const out = join(root, 'run');
      const logs: string[] = [];
      const res = await runArtExpert({
        config,
        out,
        download: { gutenbergBaseUrl: base, squadBaseUrl: base, squadSha256: null },
        model: REPO,
        endpoint: base,
        log: (l) => logs.push(l),
      });
      expect(logs.join('\n')).toMatch(/records from Gutenberg #26703 and SQuAD art articles/);
      const notes = (await readArtNotes()).length;
      expect(res.records).toBeGreaterThan(notes + 1000); // the downloads were read and kept
      expect(res.results.map((r) => r.name)).toEqual(['Model 1', 'Model 2']);
      for (const r of res.results) {
        expect(Number.isFinite(r.valLoss)).toBe(true);
        expect(r.valLoss).toBeLessThan(r.valLossBefore);
        expect(r.ppl).toBeCloseTo(Math.exp(r.valLoss), 6);
        expect(r.topTokens).toHaveLength(5);
        expect(r.answers.map((a) => a.prompt)).toContain('Q: Who was Vincent van Gogh?\nA:');
        expect(existsSync(r.train.reportPath ?? '')).toBe(true);
        const metrics = await readMetrics(r.train.metricsPath);
        const losses = metrics.filter((m) => m.type === 'train').map((m) => (m as { loss: number }).loss);
        expect(losses.length).toBeGreaterThan(0);
        expect(losses.every(Number.isFinite)).toBe(true);
      }
      const md = await readFile(res.comparisonPath, 'utf8');
      expect(md).toContain('validation perplexity');
      expect(md).toContain('Q: Who was Vincent van Gogh?↵A:');
      expect(md).toContain('Describe the art style of');
      expect(md).toContain('LoRA r=8');
    }, 120_000);
  },
);
