import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT2 } from '@atelier/gpt2';
import { initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { readMetrics } from '@atelier/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFilmSquad, FILM_TV_TITLES, loadDocumentsAndQuestions, loadSquadFile } from './data.js';
import {
  encodeTriplets,
  formatPrompt,
  retrievalRecall,
  runMovieTrivia,
  type TriviaConfig,
} from './recipe.js';

const SHARED = new URL('../../../../shared/data/squad11_film_tv_qa.jsonl', import.meta.url).pathname;
const hasShared = existsSync(SHARED);

/** Tiny size for CI: a 1-layer, 16-wide model and a dozen steps. */
const tiny: TriviaConfig = {
  model: 'scratch',
  scratch: { n_embd: 16, n_layer: 1, n_head: 2, n_positions: 128 },
  chunk: { size: 64, overlap: 16 },
  k: 3,
  validationFraction: 0.2,
  blockSize: 128,
  batchSize: 4,
  lora: { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear' },
  training: {
    lr: 0.05,
    maxSteps: 12,
    schedule: { warmupSteps: 1, decay: 'cosine', minLrRatio: 0.1 },
    evalEvery: 6,
    evalBatches: 1,
    sampleMaxTokens: 3,
    checkpoints: { every: 6, keepLast: 1 },
  },
  maxAnswerTokens: 3,
  maxEvalQuestions: 3,
  seed: 1,
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'movie-trivia-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('embedded film data', () => {
  it('joins 60 questions to 10 documents, each answer inside its document', async () => {
    const records = await loadDocumentsAndQuestions();
    expect(records).toHaveLength(60);
    expect(new Set(records.map((r) => r.title)).size).toBe(10);
    for (const r of records) expect(r.context).toContain(r.answer);
  });

  it('names the file and line of a bad row', async () => {
    await writeFile(join(dir, 'd.jsonl'), '{"title":"A","text":"A film."}\n');
    await writeFile(
      join(dir, 'q.jsonl'),
      '{"title":"A","question":"Q?","answer":"x"}\n{"title":"A","question":"Q?"}\n',
    );
    await expect(
      loadDocumentsAndQuestions(dir, { documents: 'd.jsonl', questions: 'q.jsonl' }),
    ).rejects.toThrow(/q\.jsonl:2: field "answer"/);
  });

  it('BM25 recall@k over the 60 real questions is above the measured floor (0.783 @1, 0.983 @3)', async () => {
    const r = retrievalRecall(await loadDocumentsAndQuestions(), Tokenizer.gpt2(), tiny.chunk, 3);
    expect(r.questions).toBe(60);
    expect(r.recallAt1).toBeGreaterThan(0.75);
    expect(r.recallAtK).toBeGreaterThan(0.95);
    expect(r.recallAtK).toBeGreaterThanOrEqual(r.recallAt1);
  });
});

describe('encoding', () => {
  it('puts the loss mask on the answer and end-of-text tokens only', () => {
    const tok = Tokenizer.gpt2();
    const t = {
      question: 'Who?',
      context: 'Jaws was directed by Steven Spielberg.',
      answer: 'Steven Spielberg',
    };
    const rows = encodeTriplets([{ ...t, docId: 'd', chunkId: 'd#0', answerInContext: true }], tok, 64);
    const prompt = tok.encode(formatPrompt(t.question, t.context));
    const answer = tok.encode(' Steven Spielberg');
    const targets = [...rows.ids].filter((_, i) => rows.mask[i] === 1);
    expect(targets).toEqual([...answer, tok.eosTokenId]);
    expect(rows.mask.indexOf(1)).toBe(prompt.length);
  });
});

describe.skipIf(!hasShared)('SQuAD v1.1 film/TV (shared/data)', () => {
  it('BM25 recall@k over 2,232 questions in 457 paragraphs is above the measured floor (0.558 @1, 0.722 @3)', async () => {
    const records = await loadSquadFile(SHARED);
    const r = retrievalRecall(records, Tokenizer.gpt2(), { size: 64, overlap: 16 }, 3);
    expect(r.questions).toBe(2232);
    expect(r.documents).toBe(457);
    expect(r.recallAt1).toBeGreaterThan(0.53);
    expect(r.recallAtK).toBeGreaterThan(0.7);
  });

  it('downloads SQuAD from a loopback server and keeps the film/TV articles', async () => {
    // The test serves the official nested layout, built from the shared rows, as train-v1.1.json.
    const rows = (await readFile(SHARED, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { title: string; context: string; question: string; answer: string });
    const byTitle = new Map<string, Map<string, { question: string; answer: string }[]>>();
    for (const r of [
      ...rows,
      { title: 'Not_a_film', context: 'Bees make honey.', question: 'Who?', answer: 'Bees' },
    ]) {
      const paras = byTitle.get(r.title) ?? new Map();
      byTitle.set(r.title, paras);
      paras.set(r.context, [...(paras.get(r.context) ?? []), r]);
    }
    let q = 0;
    const nested = {
      version: '1.1',
      data: [...byTitle].map(([title, paras]) => ({
        title,
        paragraphs: [...paras].map(([context, qas]) => ({
          context,
          qas: qas.map((x) => ({
            id: `q${q++}`,
            question: x.question,
            answers: [{ text: x.answer, answer_start: context.indexOf(x.answer) }],
          })),
        })),
      })),
    };
    const body = JSON.stringify(nested);
    const server = createServer((req, res) => {
      if (req.url === '/train-v1.1.json')
        res.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const records = await downloadFilmSquad({
        baseUrl: `http://127.0.0.1:${port}`,
        cacheDir: join(dir, 'cache'),
        sha256: null,
        size: null,
        progress: false,
      });
      expect(records).toHaveLength(2232);
      expect(new Set(records.map((r) => r.title))).toEqual(new Set(FILM_TV_TITLES));
    } finally {
      server.close();
    }
  });
});

describe('recipe at tiny size', () => {
  it('trains LoRA on triplets, lowers the loss, and reports recall@k and EM/F1 with and without retrieval', async () => {
    const out = join(dir, 'run');
    const { summary } = await runMovieTrivia({
      config: tiny,
      records: await loadDocumentsAndQuestions(),
      outDir: out,
      backend: 'cpu',
      log: () => {},
    });
    // Triplet files from buildTriplets.
    const train = (await readFile(join(out, 'training_data.jsonl'), 'utf8')).trim().split('\n');
    const val = (await readFile(join(out, 'validation_data.jsonl'), 'utf8')).trim().split('\n');
    expect(train.length + val.length).toBe(60);
    expect(summary.retrieval.questions).toBe(60);
    expect(summary.retrieval.recallAtK).toBeGreaterThan(0.95);
    // Training loss falls: the mean of the last 3 steps is below the mean of the first 3.
    const losses = (await readMetrics(join(out, 'metrics.jsonl'))).flatMap((m) =>
      m.type === 'train' ? [m.loss] : [],
    );
    expect(losses).toHaveLength(12);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-3))).toBeLessThan(mean(losses.slice(0, 3)) - 0.05);
    for (const s of [summary.withRetrieval, summary.questionOnly]) {
      for (const v of [s.exactMatch, s.f1]) {
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
    }
    const saved = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(saved.withRetrieval).toEqual(summary.withRetrieval);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('retrieval recall@3');
    expect(html).toContain('F1 question only');
    const samples = (await readFile(join(out, 'samples.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(samples).toHaveLength(3);
    expect(samples[0]).toHaveProperty('questionOnly');
    expect(existsSync(join(out, 'checkpoints'))).toBe(true);
  }, 120_000);
});

describe('--model path (pretrained, from a loopback hub)', () => {
  it('downloads a saved model by hub id and fine-tunes a LoRA adapter on it', async () => {
    await initBackend('cpu');
    const modelDir = join(dir, 'hub-model');
    const base = GPT2.fromConfig(
      { n_embd: 16, n_layer: 1, n_head: 2, n_positions: 128 },
      { seed: 5, tokenizer: Tokenizer.gpt2() },
    );
    await base.save(modelDir);
    base.dispose();
    const requested: string[] = [];
    const server = createServer((req, res) => {
      const m = /^\/gpt2\/resolve\/main\/(.+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
      const file = m ? join(modelDir, m[1]) : null;
      if (!file || !existsSync(file)) {
        res.writeHead(404, { 'x-error-code': 'EntryNotFound' });
        res.end('not found');
        return;
      }
      if (m && req.method !== 'HEAD') requested.push(m[1]);
      const body = readFileSync(file);
      res.writeHead(200, {
        'content-length': String(body.length),
        etag: `"${createHash('sha256').update(body).digest('hex')}"`,
        'x-repo-commit': 'b'.repeat(40),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const out = join(dir, 'run-hub');
      const { summary } = await runMovieTrivia({
        config: {
          ...tiny,
          model: 'gpt2',
          hubEndpoint: `http://127.0.0.1:${port}`,
          hubCacheDir: join(dir, 'hub-cache'),
          training: { ...tiny.training, maxSteps: 4, evalEvery: 4, checkpoints: { enabled: false } },
          maxEvalQuestions: 1,
        },
        records: await loadDocumentsAndQuestions(),
        outDir: out,
        backend: 'cpu',
        log: () => {},
      });
      expect(requested).toContain('model.safetensors');
      expect(summary.model).toBe('gpt2');
      expect(summary.steps).toBe(4);
      expect(Number.isFinite(summary.lastTrainLoss)).toBe(true);
    } finally {
      server.close();
    }
  }, 60_000);
});
