import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT2 } from '@atelier/gpt2';
import { initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { readMetrics } from '@atelier/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from './io.js';
import { main } from './main.js';

const gop = new URL('../../../../shared/data/girls_own_paper_1886_no353_pg18195.txt', import.meta.url)
  .pathname;
const hasData = existsSync(gop);
const REPO = 'test-org/tiny-gpt2';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env: {}, isTTY: false };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

/** A loopback Hugging Face hub serving one model directory at /<repo>/resolve/main/<file>. */
function hub(dir: string): Server {
  return createServer((req, res) => {
    const m = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    const file = m && m[1] === REPO ? join(dir, m[2]) : null;
    if (!file || !existsSync(file)) {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound' });
      return res.end('not found');
    }
    const body = readFileSync(file);
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
const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, ATELIER_CACHE_DIR: process.env.ATELIER_CACHE_DIR };
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'atelier-cli-lora-'));
  await initBackend('cpu');
  const base = GPT2.fromConfig('tiny', { seed: 3, tokenizer: Tokenizer.gpt2() });
  await base.save(join(root, 'base'));
  base.dispose();
  server = hub(join(root, 'base'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.env.HF_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.ATELIER_CACHE_DIR = join(root, 'cache');
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await new Promise<void>((r) => server.close(() => r()));
  await rm(root, { recursive: true, force: true });
});

describe.skipIf(!hasData)('LoRA through the CLI on a model fetched by hub id (loopback hub)', () => {
  it('trains an adapter, resumes it, merges it; merged model = base + adapter', async () => {
    const run = join(root, 'run');
    const common = [
      '--data',
      gop,
      '--batch-size',
      '2',
      '--block-size',
      '32',
      '--eval-batches',
      '2',
      '--backend',
      'cpu',
    ];
    const trainArgs = (out: string) => [
      'train',
      '--model',
      REPO,
      '--lora',
      '--lr',
      '0.02',
      '--steps',
      '6',
      '--eval-every',
      '2',
      '--checkpoint-every',
      '2',
      '--out',
      out,
      ...common,
    ];
    const losses = (out: string) =>
      readMetrics(join(out, 'metrics.jsonl')).flatMap((r) => (r.type === 'train' ? [r.loss] : []));

    // Interrupted after 3 logged steps (SIGINT), then resumed: the adapter and its optimizer state come back.
    const a = capture();
    const poll = setInterval(() => {
      if (readMetrics(join(run, 'metrics.jsonl')).filter((r) => r.type === 'train').length >= 3) {
        clearInterval(poll);
        process.emit('SIGINT');
      }
    }, 20);
    const code = await main(trainArgs(run), a.io);
    clearInterval(poll);
    expect(code, a.err()).toBe(130);
    expect(a.err()).toMatch(/LoRA r=8 on c_attn: \d+ of \d+ parameters train \(\d\.\d+%\)/);
    expect(existsSync(join(root, 'cache'))).toBe(true); // downloaded into the cache
    const ckpts = readdirSync(join(run, 'checkpoints')).sort();
    const files = readdirSync(join(run, 'checkpoints', ckpts.at(-1) as string)).sort();
    expect(files).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'optimizer.safetensors',
      'trainer_state.json',
    ]);

    const b = capture();
    expect(await main(['resume', run, '--json'], b.io), b.err()).toBe(0);
    const res = JSON.parse(b.out());
    expect(res.step).toBe(6);
    expect(
      readMetrics(join(run, 'metrics.jsonl')).flatMap((r) => (r.type === 'train' ? [r.step] : [])),
    ).toEqual([1, 2, 3, 4, 5, 6]);

    // The same run uninterrupted gives exactly the same losses.
    const straight = join(root, 'straight');
    const s = capture();
    expect(await main(trainArgs(straight), s.io), s.err()).toBe(0);
    expect(losses(run)).toEqual(losses(straight));

    const merged = join(root, 'merged');
    const m = capture();
    expect(
      await main(['merge', '--model', REPO, '--adapter', res.lastCheckpoint, '--out', merged], m.io),
      m.err(),
    ).toBe(0);
    expect(existsSync(join(merged, 'model.safetensors'))).toBe(true);

    const evalLoss = async (argv: string[]) => {
      const c = capture();
      expect(
        await main(
          ['eval', ...argv, '--data', gop, '--block-size', '32', '--max-batches', '2', '--json'],
          c.io,
        ),
        c.err(),
      ).toBe(0);
      return JSON.parse(c.out()).loss as number;
    };
    const withAdapter = await evalLoss(['--model', REPO, '--adapter', res.lastCheckpoint]);
    const mergedLoss = await evalLoss(['--model', merged]);
    const baseLoss = await evalLoss(['--model', REPO]);
    expect(mergedLoss).toBeCloseTo(withAdapter, 4);
    expect(Math.abs(baseLoss - withAdapter)).toBeGreaterThan(1e-3); // the adapter changed the model
  }, 240_000);
});
