import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT2 } from '@atelier/gpt2';
import { initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { readMetrics } from '@atelier/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecipeConfig } from './recipe.js';
import { resumeRecipe, runRecipe } from './run.js';
import { readSource } from './sources.js';

const SHARED = new URL('../../../../shared/data/', import.meta.url).pathname;
const BOOKS: Record<string, string> = {
  '/cache/epub/14314/pg14314.txt': 'emily_post_etiquette_1922_pg14314.txt',
  '/cache/epub/18195/pg18195.txt': 'girls_own_paper_1886_no353_pg18195.txt',
};
const haveShared = Object.values(BOOKS).every((f) => existsSync(join(SHARED, f)));

/** Tiny size: a 1M-parameter model (mostly the embedding), 10 steps per mode. */
const TINY: RecipeConfig = {
  model: { n_embd: 16, n_layer: 1, n_head: 2, n_positions: 64 },
  blockSize: 64,
  batchSize: 8,
  valFraction: 0.15,
  seed: 3,
  steps: 10,
  evalEvery: 5,
  evalBatches: 1,
  checkpointEvery: 5,
  full: { lr: 0.01 },
  lora: { lr: 0.05, r: 4, alpha: 8, dropout: 0, targetModules: ['c_attn', 'c_proj', 'c_fc'] },
  samplePrompts: ['Q: How do I say no?\nA:'],
  sampleMaxTokens: 4,
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'advice-column-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('advice-column recipe', () => {
  it('full and LoRA both learn, stop after step 4 and resume from that checkpoint, and warn about the data size', async () => {
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const runDir = join(dir, 'run');
    const spec = { config: TINY, sources: ['embedded'], modes: ['full', 'lora'] as const };
    const stopped = await runRecipe({ ...spec, modes: [...spec.modes] }, runDir, {
      stopAfter: 4,
      backend: 'cpu',
      log,
    });
    expect(stopped.comparison).toBeNull();
    for (const r of stopped.results) {
      expect(r.status).toBe('interrupted');
      expect(r.step).toBe(4);
    }
    // The datasets package's token-budget warning for 40 pairs against a 1M-parameter model.
    expect(lines.some((l) => /^warning: only .* trained tokens for .* trainable parameters/.test(l))).toBe(
      true,
    );

    const done = await resumeRecipe(runDir, { backend: 'cpu', log });
    expect(done.comparison).not.toBeNull();
    for (const r of done.results) {
      expect(r.status).toBe('completed');
      expect(r.step).toBe(TINY.steps);
      const metrics = readMetrics(join(runDir, r.mode, 'metrics.jsonl'));
      const starts = metrics.filter((m) => m.type === 'start');
      expect(starts).toHaveLength(2);
      expect(starts[1]).toMatchObject({ step: 4 });
      expect(starts[1].type === 'start' && starts[1].resumedFrom).toMatch(/step-00000004/);
      // One train record per step 1..10: the resumed run continued at step 5, no gap and no repeat.
      expect(metrics.filter((m) => m.type === 'train').map((m) => m.step)).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      ]);
      expect(Number.isFinite(r.lastLoss)).toBe(true);
      expect(r.lastLoss).toBeLessThan(r.firstLoss);
      expect(r.bestValLoss).not.toBeNull();
      expect(r.bestValLoss as number).toBeLessThan(r.firstValLoss as number);
      expect(existsSync(join(runDir, r.mode, 'report.html'))).toBe(true);
    }
    const [full, lora] = done.results;
    expect(lora.trainableParameters).toBeLessThan(full.trainableParameters / 10);
    const md = await readFile(done.comparison as string, 'utf8');
    expect(md).toContain('| full | completed | 10 |');
    expect(md).toContain('| lora | completed | 10 |');
    expect(md).toContain('Q: How do I say no?');
  }, 120_000);

  it('reads the Reddit collector output (atelier collect reddit … --output data/advice.jsonl) as question → advice', async () => {
    const file = join(dir, 'advice.jsonl');
    const post = (id: string, title: string, body: string, comments: [string, number][]) =>
      JSON.stringify({
        id,
        subreddit: 'relationship_advice',
        title,
        selftext: body,
        score: 120,
        created_utc: 1_763_000_000,
        permalink: `/r/relationship_advice/comments/${id}/x/`,
        num_comments: comments.length,
        comments: comments.map(([text, score], i) => ({ id: `${id}c${i}`, body: text, score })),
      });
    await writeFile(
      file,
      `${[
        post('a1', 'My roommate never cleans up', 'It has been months and I am tired of it.', [
          ['Make a chore chart together and stick it on the fridge.', 40],
          ['Move out.', 3],
        ]),
        post('b2', 'How do I apologise to my sister?', 'I said something cruel at dinner.', [
          ['Say what you did, that it was wrong, and what you will do differently.', 25],
        ]),
      ].join('\n')}\n`,
    );
    const recs = await readSource(file);
    expect(recs).toHaveLength(2);
    expect(recs[0].question).toContain('My roommate never cleans up');
    expect(recs[0].question).toContain('tired of it');
    expect(recs[0].answer).toBe('Make a chore chart together and stick it on the fridge.');
  });

  it('--model <hub id>: fetches a pretrained GPT-2 from a loopback hub and trains a LoRA adapter on it', async () => {
    await initBackend('cpu');
    const modelDir = join(dir, 'hub-model');
    const base = GPT2.fromConfig(
      { n_embd: 16, n_layer: 1, n_head: 2, n_positions: 64 },
      { seed: 1, tokenizer: Tokenizer.gpt2() },
    );
    await base.save(modelDir);
    base.dispose();
    const server = createServer((req, res) => {
      const m = /^\/test-org\/tiny-gpt2\/resolve\/main\/(.+)$/.exec(req.url ?? '');
      const file = m ? join(modelDir, m[1]) : '';
      if (!m || !existsSync(file)) {
        res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end('not found');
        return;
      }
      const body = readFileSync(file);
      res.writeHead(200, {
        'content-length': String(body.length),
        etag: `"${createHash('sha256').update(body).digest('hex')}"`,
        'x-repo-commit': 'a'.repeat(40),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, ATELIER_CACHE_DIR: process.env.ATELIER_CACHE_DIR };
    process.env.HF_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.ATELIER_CACHE_DIR = join(dir, 'hub-cache');
    try {
      const runDir = join(dir, 'hub-run');
      const cfg = { ...TINY, model: 'test-org/tiny-gpt2', steps: 3 };
      const { results } = await runRecipe({ config: cfg, sources: ['embedded'], modes: ['lora'] }, runDir, {
        backend: 'cpu',
        log: () => {},
      });
      expect(results[0].status).toBe('completed');
      expect(results[0].parameters).toBe(
        50_257 * 16 + 64 * 16 + 16 * 48 + 48 + 16 * 16 + 16 + 16 * 64 + 64 + 64 * 16 + 16 + 6 * 16,
      );
      const ckpt = readMetrics(join(runDir, 'lora', 'metrics.jsonl'))
        .filter((m) => m.type === 'checkpoint')
        .at(-1);
      expect(existsSync(join((ckpt as { path: string }).path, 'adapter_model.safetensors'))).toBe(true);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      server.close();
    }
  }, 60_000);

  it.skipIf(!haveShared)(
    'downloads both Gutenberg books from a loopback server and reads them as question → advice',
    async () => {
      const server: Server = createServer((req, res) => {
        const name = BOOKS[req.url ?? ''];
        if (!name) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' }).end(readFileSync(join(SHARED, name)));
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      try {
        const { port } = server.address() as AddressInfo;
        const download = {
          baseUrl: `http://127.0.0.1:${port}`,
          cacheDir: join(dir, 'cache'),
          progress: false,
        };
        const etiquette = await readSource('etiquette', download);
        expect(etiquette.length).toBeGreaterThan(600);
        expect(etiquette.every((r) => r.question.endsWith('?') && r.answer.length >= 200)).toBe(true);
        expect(etiquette.some((r) => r.question.startsWith('What is the proper etiquette for '))).toBe(true);
        const gop = await readSource('girls-own-paper', download);
        expect(gop.length).toBeGreaterThan(10);
        const sheltie = gop.find((r) => r.question.includes('"SHELTIE"'));
        expect(sheltie?.question).toContain('about art');
        expect(sheltie?.answer).toMatch(/^To ornament ginger jars/);
        expect(sheltie?.source.line).toBeGreaterThan(1);
      } finally {
        server.close();
      }
    },
    60_000,
  );
});
