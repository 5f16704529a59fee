import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMetrics } from '@atelier/trainer';
import { expect, it } from 'vitest';

const bin = new URL('../dist/bin.js', import.meta.url).pathname;
const gop = new URL('../../../../shared/data/girls_own_paper_1886_no353_pg18195.txt', import.meta.url)
  .pathname;
const ready = existsSync(bin) && existsSync(gop);

// The built `atelier` binary under a real SIGINT (skipped until `pnpm --filter @atelier/cli build` has run).
it.skipIf(!ready)(
  'the built bin saves a checkpoint and exits 130 on a real SIGINT',
  async () => {
    const out = await mkdtemp(join(tmpdir(), 'atelier-bin-'));
    try {
      const child = spawn(
        process.execPath,
        [
          bin,
          'train',
          '--model',
          'tiny',
          '--data',
          gop,
          '--steps',
          '500',
          '--batch-size',
          '2',
          '--block-size',
          '32',
          '--eval-every',
          '0',
          '--out',
          out,
        ],
        { env: { ...process.env, ATELIER_BACKEND: 'cpu' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const poll = setInterval(() => {
        if (readMetrics(join(out, 'metrics.jsonl')).filter((r) => r.type === 'train').length >= 3) {
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 50);
      const code = await exit;
      clearInterval(poll);
      expect(code).toBe(130);
      expect(stdout).toMatch(/^interrupted at step \d+/);
      expect(readdirSync(join(out, 'checkpoints')).some((n) => /^step-\d{8}-/.test(n))).toBe(true);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
  120_000,
);
