/**
 * The package under plain Node ESM (as its built dist runs), not through vitest's module loader: tfjs's
 * gradients and chained ops are registered, and a process that used WebGPU disposes it and exits cleanly
 * (status 0, no hang or crash in Dawn's teardown).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { probeWebGPU } from './backend.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));
// Inside the package's node_modules so the bundle resolves @tensorflow/* and webgpu like dist/ does.
const dir = join(pkg, 'node_modules', '.cache', 'tensor-esm-test');
const gpu = await probeWebGPU();

function runScript(body: string): { status: number | null; out: string } {
  const script = join(dir, `run-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(script, `const t = await import('./index.mjs');\n${body}\n`);
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 90_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('plain Node ESM', () => {
  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    // esbuild ships with tsup (a root devDependency); bundle src/ as tsup does, dependencies left external.
    const esbuild = createRequire(createRequire(import.meta.url).resolve('tsup'))('esbuild');
    esbuild.buildSync({
      entryPoints: [join(pkg, 'src', 'index.ts')],
      outfile: join(dir, 'index.mjs'),
      bundle: true,
      format: 'esm',
      platform: 'node',
      packages: 'external',
      logLevel: 'error',
    });
  });

  it('has gradients and chained ops', () => {
    const r = runScript(`
      await t.initBackend('wasm');
      const g = t.tf.grad((x) => t.tf.sum(x.square()))(t.tf.tensor1d([1, 2]));
      console.log('grad', Array.from(await g.data()).join(','));`);
    expect(r.out).toContain('grad 2,4');
    expect(r.status).toBe(0);
  });

  it.skipIf(!gpu.adapter)(
    `runs on WebGPU, disposes the device and exits with status 0 ${gpu.adapter ? '' : `(skipped: ${gpu.reason})`}`,
    () => {
      const r = runScript(`
        await t.initBackend('webgpu');
        const y = t.tf.matMul(t.tf.ones([8, 8]), t.tf.ones([8, 8]));
        console.log('sum', (await y.sum().data())[0]);
        await t.disposeBackend();`);
      expect(r.out).toContain('sum 512');
      expect(r.status).toBe(0); // null would mean it was killed at the timeout, still running
    },
    120_000,
  );
});
