import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMetrics } from '@atelier/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from './io.js';
import { main } from './main.js';

const DATA = new URL('../../../../shared/data/', import.meta.url);
const gop = new URL('girls_own_paper_1886_no353_pg18195.txt', DATA).pathname;
const hasData = existsSync(gop);

function capture(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    env: { ATELIER_BACKEND: 'cpu', ...env },
    isTTY: false,
  };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'atelier-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('usage, help and exit codes', () => {
  it('--help lists every command and exits 0', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    for (const cmd of [
      'train',
      'resume',
      'eval',
      'generate',
      'top-tokens',
      'merge',
      'tokenize',
      'prepare',
      'retrieve',
      'collect',
    ]) {
      expect(c.out()).toMatch(new RegExp(`\\n  ${cmd}\\b`));
    }
    expect(c.out()).toContain('130 interrupted');
  });

  it('every subcommand has --help with an example', async () => {
    for (const cmd of [
      ['train'],
      ['resume'],
      ['eval'],
      ['generate'],
      ['top-tokens'],
      ['merge'],
      ['tokenize'],
      ['prepare'],
      ['retrieve'],
      ['collect', 'reddit'],
    ]) {
      const c = capture();
      expect(await main([...cmd, '--help'], c.io)).toBe(0);
      expect(c.out()).toMatch(/Usage: atelier/);
      expect(c.out()).toMatch(/Example:\n {2}atelier /);
    }
  });

  it('usage errors exit 2 with one line naming the problem', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /^atelier: unknown command 'frobnicate'/],
      [['train', '--steps', 'ten', '--data', 'x'], /^atelier: --steps: "ten" is not a number/],
      [['generate', 'hi'], /^atelier: required option '-m, --model/],
      [
        ['train', '--data', join(root, 'missing.txt'), '--steps', '1'],
        /^atelier: data file not found: .*missing\.txt/,
      ],
      [['train', '--steps', '5'], /^atelier: no training data: pass --data/],
      [
        ['collect', 'reddit', '--subreddit', 'x', '--output', 'o.jsonl', '--time-filter', 'decade'],
        /--time-filter: "decade" is not one of/,
      ],
    ];
    for (const [argv, msg] of cases) {
      const c = capture();
      expect(await main(argv, c.io), argv.join(' ')).toBe(2);
      expect(c.err()).toMatch(msg);
      expect(c.err().trim().split('\n')).toHaveLength(1);
    }
  });

  it('config validation names the bad field; env vars are validated too', async () => {
    const cfg = join(root, 'bad.json');
    await writeFile(cfg, JSON.stringify({ data: gop, training: { lr: -3, maxSteps: 2 } }));
    const c = capture();
    expect(await main(['train', cfg], c.io)).toBe(2);
    expect(c.err()).toMatch(/^atelier: .*bad\.json: training\.lr: Number must be greater than 0/);
    const d = capture({ TRAINING_STEPS: 'lots', TRAINING_DATA_SOURCE: gop });
    expect(await main(['train'], d.io)).toBe(2);
    expect(d.err()).toMatch(/TRAINING_STEPS="lots" is not an integer/);
    const e = capture();
    expect(await main(['resume', join(root, 'nope')], e.io)).toBe(2);
  });

  it('tokenize prints GPT-2 ids, tokens and counts', async () => {
    const c = capture();
    expect(await main(['tokenize', 'Hello world'], c.io)).toBe(0);
    expect(c.out()).toBe('15496 995\n');
    const j = capture();
    await main(['tokenize', '--json', 'Hello world'], j.io);
    expect(JSON.parse(j.out())).toEqual({ count: 2, ids: [15496, 995], tokens: ['Hello', ' world'] });
  });
});

describe.skipIf(!hasData)(
  'acceptance: train from scratch on a real text, interrupt, resume, eval, generate',
  () => {
    it('learns The Girl’s Own Paper through the CLI', async () => {
      const run = join(root, 'run');
      const cfg = join(root, 'train.json');
      await writeFile(
        cfg,
        JSON.stringify({
          blockSize: 32,
          batchSize: 4,
          valFraction: 0.1,
          training: {
            evalAtStart: true,
            evalEvery: 20,
            evalBatches: 4,
            samplePrompts: ['Q: What is'],
            sampleMaxTokens: 8,
            schedule: { warmupSteps: 4 },
            checkpoints: { every: 10, keepLast: 2 },
          },
        }),
      );
      // Environment variables pick data, model, steps and learning rate; the config file the rest.
      const env = {
        TRAINING_DATA_SOURCE: gop,
        MODEL_TYPE: 'tiny',
        TRAINING_STEPS: '60',
        LEARNING_RATE: '0.01',
      };

      // 1. Train, and interrupt it with SIGINT once 25 steps are logged: exit 130 with a checkpoint.
      const a = capture(env);
      const metricsPath = join(run, 'metrics.jsonl');
      const poll = setInterval(() => {
        if (readMetrics(metricsPath).filter((r) => r.type === 'train').length >= 25) {
          clearInterval(poll);
          process.emit('SIGINT');
        }
      }, 50);
      const codeA = await main(['train', cfg, '--out', run, '--backend', 'cpu'], a.io);
      clearInterval(poll);
      expect(codeA, a.err()).toBe(130);
      const ckpts = readdirSync(join(run, 'checkpoints'));
      expect(ckpts.length).toBeGreaterThan(0);

      // 2. Resume: finishes the 60 steps.
      const b = capture();
      expect(await main(['resume', run, '--json'], b.io), b.err()).toBe(0);
      const result = JSON.parse(b.out());
      expect(result.status).toBe('completed');
      expect(result.step).toBe(60);
      const recs = readMetrics(metricsPath);
      const trainSteps = recs.flatMap((r) => (r.type === 'train' ? [r.step] : []));
      expect(trainSteps).toEqual(Array.from({ length: 60 }, (_, i) => i + 1)); // no gap, no duplicate
      const evals = recs.flatMap((r) => (r.type === 'eval' ? [r] : []));
      expect(evals[0].step).toBe(0);
      const start = evals[0].valLoss;
      const end = evals.at(-1)?.valLoss ?? Number.NaN;
      expect(start).toBeGreaterThan(10); // ≈ ln(50257) at init
      expect(end).toBeLessThan(start - 2); // clearly learned
      expect(existsSync(join(run, 'report.html'))).toBe(true);

      // 3. Eval the final checkpoint on the same text through the CLI.
      const c = capture();
      expect(
        await main(
          [
            'eval',
            '--model',
            result.lastCheckpoint,
            '--data',
            gop,
            '--block-size',
            '32',
            '--max-batches',
            '4',
            '--json',
          ],
          c.io,
        ),
        c.err(),
      ).toBe(0);
      const ev = JSON.parse(c.out());
      expect(ev.loss).toBeLessThan(start - 2);
      expect(ev.perplexity).toBeCloseTo(Math.exp(ev.loss), 6);

      // 4. Generate from it (streamed), and as JSON; top-tokens.
      const d = capture();
      expect(
        await main(['generate', '--model', result.lastCheckpoint, 'Q: What is', '-n', '8'], d.io),
        d.err(),
      ).toBe(0);
      expect(d.out().length).toBeGreaterThan(1);
      const e = capture();
      expect(
        await main(['generate', '--model', result.lastCheckpoint, 'Q: What is', '-n', '8', '--json'], e.io),
      ).toBe(0);
      expect(JSON.parse(e.out()).text).toBe(d.out().replace(/\n$/, '')); // greedy: streamed == whole
      const f = capture();
      expect(
        await main(['top-tokens', '--model', result.lastCheckpoint, 'The', '-k', '3', '--json'], f.io),
      ).toBe(0);
      const top = JSON.parse(f.out()).top;
      expect(top).toHaveLength(3);
      expect(top[0].prob).toBeGreaterThanOrEqual(top[1].prob);
    }, 240_000);
  },
);
