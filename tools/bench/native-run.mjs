#!/usr/bin/env node
// Runs a TypeScript bench script from tools/bench against the workspace's TypeScript sources:
// bundles it with esbuild (the `@atelier/source` export condition resolves @atelier/* to src/), writes the
// bundle under packages/tensor/node_modules/.cache (so runtime lookups — the native addon, tfjs, `webgpu` —
// resolve from @atelier/tensor), then runs it with the remaining arguments.
//   node tools/bench/native-run.mjs tools/bench/native-sgemm.ts [args…]
//   pnpm --filter @atelier/tensor bench:native   (SGEMM, then GPT-2 124M vs PyTorch)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tensorDir = join(repo, 'packages', 'tensor');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node tools/bench/native-run.mjs <script.ts> [args…]');
  process.exit(2);
}
// esbuild comes with tsup (a root devDependency).
const tsup = createRequire(join(repo, 'package.json')).resolve('tsup');
const esbuild = createRequire(tsup)('esbuild');
const outDir = join(tensorDir, 'node_modules', '.cache', 'atelier-bench');
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, `${basename(entry).replace(/\.[cm]?ts$/, '')}.mjs`);
// tools/bench is not a workspace package: map each @atelier/<name> to its TypeScript entry.
const alias = {};
for (const name of readdirSync(join(repo, 'packages'))) {
  const src = join(repo, 'packages', name, 'src', 'index.ts');
  if (existsSync(src)) alias[`@atelier/${name}`] = src;
}
await esbuild.build({
  alias,
  entryPoints: [resolve(entry)],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['@atelier/source'],
  // Loaded from packages/tensor/node_modules at run time: tfjs-backend-wasm finds its .wasm files next to
  // itself, and one copy of tfjs-core means one engine.
  external: ['webgpu', '*.node', '@tensorflow/*'],
  outfile,
  logLevel: 'error',
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});
// From the repo root, so the scripts find tools/reference/ wherever this was started.
const r = spawnSync(process.execPath, ['--expose-gc', outfile, ...args], { stdio: 'inherit', cwd: repo });
process.exit(r.status ?? 1);
