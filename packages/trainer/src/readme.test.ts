import { readFileSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readMetrics } from './metrics.js';

// The README's TypeScript snippet, run as written (in a temporary working directory).
it('the README snippet runs and trains', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const file = new URL(`./.readme-snippet-${process.pid}.ts`, import.meta.url).pathname;
  const cwd = process.cwd();
  const dir = await mkdtemp(join(tmpdir(), 'atelier-readme-'));
  const lines: string[] = [];
  const log = console.log;
  try {
    await writeFile(file, `${code}\nexport {};\n`);
    process.chdir(dir);
    console.log = (...a: unknown[]) => lines.push(a.join(' '));
    await import(/* @vite-ignore */ file);
  } finally {
    console.log = log;
    process.chdir(cwd);
    await unlink(file);
  }
  expect(lines[0]).toMatch(/^completed \d+\.\d+ .*report\.html$/);
  const recs = readMetrics(join(dir, 'runs/demo/metrics.jsonl'));
  const evals = recs.flatMap((r) => (r.type === 'eval' ? [r.valLoss] : []));
  expect(evals.length).toBeGreaterThanOrEqual(2);
  expect(evals.at(-1)).toBeLessThan(evals[0]);
  await rm(dir, { recursive: true, force: true });
}, 120_000);
