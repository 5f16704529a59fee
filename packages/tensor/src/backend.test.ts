import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { disposeBackend, initBackend, probeWebGPU, tf } from './index.js';

const probe = await probeWebGPU();
const noGpu = probe.adapter ? '' : `no WebGPU adapter here (${probe.reason}); see tools/setup-system.sh`;

/** C = A·B on small integer-valued matrices, exact in float32. */
async function checkMatmul(): Promise<void> {
  const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
  const b = tf.tensor2d([7, 8, 9, 10, 11, 12], [3, 2]);
  const c = tf.matMul(a, b);
  expect(Array.from(await c.data())).toEqual([58, 64, 139, 154]);
  tf.dispose([a, b, c]);
}

describe('initBackend', () => {
  const saved = process.env.ATELIER_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.ATELIER_BACKEND;
    else process.env.ATELIER_BACKEND = saved;
  });
  afterAll(async () => {
    await disposeBackend();
  });

  it("'wasm' activates tfjs-backend-wasm with its binaries loaded from the package", async () => {
    delete process.env.ATELIER_BACKEND;
    const info = await initBackend('wasm');
    expect(info).toMatchObject({ name: 'wasm', kind: 'wasm' });
    // Node 20 runs WASM SIMD; tfjs must have picked the SIMD binary.
    expect(info.description).toMatch(/tfjs-backend-wasm \(SIMD, 1 thread\)/);
    expect(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')).toBe(false);
    expect(tf.getBackend()).toBe('wasm');
    await checkMatmul();
  });

  it('wasm: clones share their data (no copy for tensors saved for backprop) and survive the original', async () => {
    delete process.env.ATELIER_BACKEND;
    await initBackend('wasm');
    const x = tf.tensor1d([1, 2, 3]);
    const c = tf.clone(x);
    expect(c.dataId).toBe(x.dataId);
    x.dispose();
    expect(Array.from(await c.data())).toEqual([1, 2, 3]);
    const before = tf.memory().numBytes;
    c.dispose();
    expect(tf.memory().numBytes).toBe(before - 12);
  });

  it("'cpu' uses the native backend or falls back to WASM with a notice naming why", async () => {
    delete process.env.ATELIER_BACKEND;
    const info = await initBackend('cpu');
    expect(['atelier-native', 'wasm']).toContain(info.name);
    expect(tf.getBackend()).toBe(info.name);
    if (info.name === 'wasm') expect(info.notice).toMatch(/native CPU backend unavailable \(.+\)/);
    await checkMatmul();
  });

  it('ATELIER_BACKEND overrides the argument, and bad values are named in the error', async () => {
    process.env.ATELIER_BACKEND = 'wasm';
    expect((await initBackend('auto')).name).toBe('wasm');
    process.env.ATELIER_BACKEND = 'tpu';
    await expect(initBackend('cpu')).rejects.toThrow(/ATELIER_BACKEND="tpu".*expected one of auto, webgpu/);
  });

  it("'auto' never picks a software WebGPU adapter", async () => {
    delete process.env.ATELIER_BACKEND;
    const info = await initBackend('auto');
    if (info.kind === 'webgpu') expect(info.adapter?.isFallbackAdapter).toBe(false);
    else expect(['native', 'wasm']).toContain(info.kind);
  });

  it.skipIf(!!noGpu)(`'webgpu' runs ops on a Dawn device with raised limits ${noGpu}`, async () => {
    delete process.env.ATELIER_BACKEND;
    const info = await initBackend('webgpu');
    expect(info.name).toBe('webgpu');
    expect(info.adapter).toMatchObject({
      vendor: expect.any(String),
      isFallbackAdapter: expect.any(Boolean),
    });
    expect(tf.getBackend()).toBe('webgpu');
    await checkMatmul();
    const x = tf.tensor1d([-1, 0, 2]);
    const y = tf.relu(x).square();
    expect(Array.from(await y.data())).toEqual([0, 0, 4]);
    tf.dispose([x, y]);
    // Switching away destroys the device; switching back creates a fresh one.
    await initBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    await initBackend('webgpu');
    await checkMatmul();
    await disposeBackend();
  });
});
