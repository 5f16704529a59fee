/** The README's snippet runs as written (imports pointed at this package's source). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it, vi } from 'vitest';
import { disposeBackend } from './index.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));

afterAll(async () => {
  await disposeBackend();
});

it('the README snippet runs and prints a loss near ln(V)', async () => {
  const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const dir = join(pkg, 'node_modules', '.cache', 'tensor-readme');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'snippet.ts');
  const index = join(pkg, 'src', 'index.ts');
  writeFileSync(
    file,
    `${code!.replace("from '@atelier/tensor'", `from ${JSON.stringify(index)}`)}\nexport {};\n`,
  );
  const logs: unknown[][] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...args) => {
    logs.push(args);
  });
  try {
    await import(/* @vite-ignore */ file);
  } finally {
    spy.mockRestore();
  }
  const lossLine = logs.find((l) => l[0] === 'loss');
  expect(lossLine).toBeDefined();
  expect(Math.abs((lossLine![1] as number) - Math.log(1000))).toBeLessThan(0.2);
  expect(lossLine![3]).toEqual([1000, 64]);
  expect(logs.at(-1)?.[0]).toEqual([1000, 64]);
});
