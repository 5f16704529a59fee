import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import { describe, expect, it } from 'vitest';
import { initBackend, tf } from './index.js';

describe('tf namespace', () => {
  it('has gradients registered: d/dx sum(x^2 * 3) = 6x', async () => {
    await initBackend('cpu');
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.square(x), 3)));
    const dx = g(tf.tensor1d([1, -2, 0.5]));
    expect(Array.from(await dx.data())).toEqual([6, -12, 3]);
    dx.dispose();
  });

  it('has chained ops registered on tensors', async () => {
    const x = tf.tensor1d([1, -3]);
    const y = x.square().add(1).neg();
    expect(Array.from(await y.data())).toEqual([-2, -10]);
    tf.dispose([x, y]);
  });

  it('has exactly one engine shared with the backend packages', () => {
    const global = globalThis as unknown as { _tfengine?: unknown };
    expect(global._tfengine).toBe(tf.engine());
    // The backend packages registered themselves into this very engine.
    const factories = (tf.engine() as unknown as { registryFactory: Record<string, unknown> })
      .registryFactory;
    expect(Object.keys(factories)).toEqual(expect.arrayContaining(['cpu', 'wasm']));
    // tfjs-backend-webgpu registers its factory only where navigator.gpu exists, but its kernels always.
    expect(tf.getKernel('BatchMatMul', 'wasm')).toBeDefined();
    expect(tf.getKernel('BatchMatMul', 'webgpu')).toBeDefined();
  });
});
