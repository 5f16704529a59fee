/**
 * The fused ops against float64 references written here from the formulas (not from our kernels), and their
 * gradients against central finite differences of those references, on random inputs of odd sizes.
 * Every available backend is checked, each both with Atelier's kernels and with the stock-tfjs composition.
 */
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeBackend, initBackend, probeWebGPU } from './backend.js';
import { ALL_KERNELS } from './kernels/names.js';
import {
  causalSelfAttention,
  embedding,
  gelu,
  hasKernel,
  layerNorm,
  matmul,
  softmaxCrossEntropy,
} from './ops.js';
import { tf } from './tf.js';

// ---------------------------------------------------------------------------------------------------------
// Float64 references and helpers

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
function randn(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++)
    out[i] = scale * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return out;
}
const f32 = (a: Float64Array) => Float32Array.from(a);

function lnRef(x: Float64Array, g: Float64Array, b: Float64Array, N: number, C: number, eps: number) {
  const y = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const row = x.subarray(n * C, n * C + C);
    const mean = row.reduce((a, v) => a + v, 0) / C;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / C;
    for (let i = 0; i < C; i++) y[n * C + i] = ((row[i] - mean) / Math.sqrt(variance + eps)) * g[i] + b[i];
  }
  return y;
}
const geluRef = (x: Float64Array) =>
  x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));

function attnRef(qkv: Float64Array, mask: Float64Array | null, B: number, T: number, C: number, H: number) {
  const hs = C / H;
  const at = (b: number, t: number, part: number, h: number, i: number) =>
    qkv[(b * T + t) * 3 * C + part * C + h * hs + i];
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        const keys: number[] = [];
        for (let u = 0; u <= t; u++) if (!mask || mask[b * T + u] !== 0) keys.push(u);
        if (keys.length === 0) continue; // no visible key: zeros
        const s = keys.map((u) => {
          let d = 0;
          for (let i = 0; i < hs; i++) d += at(b, t, 0, h, i) * at(b, u, 1, h, i);
          return d / Math.sqrt(hs);
        });
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((a, v) => a + v, 0);
        for (let i = 0; i < hs; i++) {
          let acc = 0;
          keys.forEach((u, j) => {
            acc += (e[j] / z) * at(b, u, 2, h, i);
          });
          out[(b * T + t) * C + h * hs + i] = acc;
        }
      }
  return out;
}

function ceRef(logits: Float64Array, targets: number[], mask: number[] | null, N: number, V: number) {
  const losses = new Float64Array(N);
  let count = 0;
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    const w = (mask ? mask[n] : 1) * (t >= 0 && t < V ? 1 : 0);
    if (w === 0) continue;
    const row = logits.subarray(n * V, n * V + V);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    losses[n] = (lse - row[t]) * w;
    count += w;
  }
  return { losses, mean: losses.reduce((a, v) => a + v, 0) / Math.max(count, 1) };
}

/** Central differences of a scalar float64 function at x. */
function fdGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const old = x[i];
    x[i] = old + h;
    const up = f(x);
    x[i] = old - h;
    const down = f(x);
    x[i] = old;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}
const dot = (a: Float64Array, w: Float64Array) => a.reduce((s, v, i) => s + v * w[i], 0);

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  what: string,
) {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / (atol + rtol * Math.abs(expected[i]));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  expect(worst, `${what}: worst at ${at}: ${actual[at]} vs ${expected[at]}`).toBeLessThanOrEqual(1);
}

// ---------------------------------------------------------------------------------------------------------
// Backends × modes

const gpu = await probeWebGPU();
const backends: { name: string; init: () => Promise<unknown> }[] = [
  { name: 'wasm', init: () => initBackend('wasm') },
  {
    name: 'cpu',
    init: async () => {
      await disposeBackend();
      await tf.setBackend('cpu');
    },
  },
];
if (gpu.adapter) backends.push({ name: 'webgpu', init: () => initBackend('webgpu') });
else console.warn(`ops.test: WebGPU checks skipped: ${gpu.reason}`);

/** Temporarily hides Atelier's kernels for the active backend, so the ops take the composition path. */
function hideKernels(): () => void {
  const backend = tf.getBackend();
  const saved = ALL_KERNELS.map((n) => tf.getKernel(n, backend)).filter((k) => k != null);
  for (const k of saved) tf.unregisterKernel(k.kernelName, backend);
  return () => {
    for (const k of saved) tf.registerKernel(k);
  };
}

afterAll(async () => {
  await disposeBackend();
});

for (const backend of backends) {
  for (const mode of ['fused', 'composite'] as const) {
    describe(`${backend.name} / ${mode}`, () => {
      let restore: (() => void) | undefined;
      beforeAll(async () => {
        await backend.init();
        if (mode === 'composite') restore = hideKernels();
      });
      afterAll(() => restore?.());
      const tolerance = backend.name === 'webgpu' ? 3e-4 : 1e-5;

      it('reports whether the fused kernels are in use', () => {
        const fused = hasKernel('AtelierLayerNorm');
        if (mode === 'composite') expect(fused).toBe(false);
        else expect(fused).toBe(true);
      });

      it('layerNorm: forward and gradients (N=7, C=13)', async () => {
        const [N, C, eps] = [7, 13, 1e-5];
        const x = randn(N * C, 1, 2);
        const g = randn(C, 2);
        const b = randn(C, 3);
        const w = randn(N * C, 4);
        const y = layerNorm(tf.tensor2d(f32(x), [N, C]), tf.tensor1d(f32(g)), tf.tensor1d(f32(b)), eps);
        expectClose(await y.data(), lnRef(x, g, b, N, C, eps), tolerance, tolerance, 'y');
        const loss = (xs: tf.Tensor, gs: tf.Tensor, bs: tf.Tensor) =>
          tf.sum(tf.mul(layerNorm(xs, gs, bs, eps), tf.tensor2d(f32(w), [N, C])));
        const [dx, dg, db] = tf.grads(loss)([
          tf.tensor2d(f32(x), [N, C]),
          tf.tensor1d(f32(g)),
          tf.tensor1d(f32(b)),
        ]);
        expectClose(
          await dx.data(),
          fdGrad((v) => dot(lnRef(v, g, b, N, C, eps), w), x),
          1e-4,
          1e-3,
          'dx',
        );
        expectClose(
          await dg.data(),
          fdGrad((v) => dot(lnRef(x, v, b, N, C, eps), w), g),
          1e-4,
          1e-3,
          'dgamma',
        );
        expectClose(
          await db.data(),
          fdGrad((v) => dot(lnRef(x, g, v, N, C, eps), w), b),
          1e-4,
          1e-3,
          'dbeta',
        );
      });

      it('layerNorm and cross-entropy rows wider than a GPU workgroup (C=300, V=1000)', async () => {
        const [N, C, V] = [3, 300, 1000];
        const x = randn(N * C, 30, 2);
        const g = randn(C, 31);
        const b = randn(C, 32);
        const y = layerNorm(tf.tensor2d(f32(x), [N, C]), tf.tensor1d(f32(g)), tf.tensor1d(f32(b)));
        expectClose(await y.data(), lnRef(x, g, b, N, C, 1e-5), tolerance, tolerance, 'layerNorm');
        const w = randn(N * C, 33);
        const dx = tf.grad((t: tf.Tensor) =>
          tf.sum(tf.mul(layerNorm(t, tf.tensor1d(f32(g)), tf.tensor1d(f32(b))), tf.tensor2d(f32(w), [N, C]))),
        )(tf.tensor2d(f32(x), [N, C]));
        const fd = fdGrad((v) => dot(lnRef(v, g, b, N, C, 1e-5), w), x.slice());
        expectClose(await dx.data(), fd, 1e-4, 1e-3, 'layerNorm dx');
        const logits = randn(N * V, 34, 4);
        const targets = [5, 999, 0];
        const ce = softmaxCrossEntropy(
          tf.tensor2d(f32(logits), [N, V]),
          tf.tensor1d(targets, 'int32'),
          undefined,
          'none',
        );
        expectClose(
          await ce.data(),
          ceRef(logits, targets, null, N, V).losses,
          tolerance,
          tolerance,
          'cross-entropy',
        );
      });

      it('layerNorm keeps leading dimensions ([2,3,13])', () => {
        const x = tf.randomNormal([2, 3, 13]);
        expect(layerNorm(x, tf.ones([13]), tf.zeros([13])).shape).toEqual([2, 3, 13]);
      });

      it('gelu: forward and gradient', async () => {
        const x = randn(7 * 13, 5, 3);
        const w = randn(x.length, 6);
        expectClose(await gelu(tf.tensor1d(f32(x))).data(), geluRef(x), tolerance, tolerance, 'y');
        const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), tf.tensor1d(f32(w)))))(
          tf.tensor1d(f32(x)),
        );
        expectClose(
          await dx.data(),
          fdGrad((v) => dot(geluRef(v), w), x),
          1e-4,
          1e-3,
          'dx',
        );
      });

      it('causalSelfAttention: forward and gradient, with and without a key mask (B=2, T=5, C=15, nHead=3)', async () => {
        const [B, T, C, H] = [2, 5, 15, 3];
        const qkv = randn(B * T * 3 * C, 7);
        const w = randn(B * T * C, 8);
        // Batch 1: key 0 padded (query 0 sees no key → zeros) and key 3 padded.
        const mask = Float64Array.from([1, 1, 1, 1, 1, 0, 1, 1, 0, 1]);
        for (const m of [null, mask]) {
          const maskT = m ? tf.tensor2d(f32(m), [B, T]) : undefined;
          const out = causalSelfAttention(tf.tensor3d(f32(qkv), [B, T, 3 * C]), H, maskT);
          expectClose(await out.data(), attnRef(qkv, m, B, T, C, H), tolerance, tolerance, `out mask=${!!m}`);
          const dq = tf.grad((t: tf.Tensor) =>
            tf.sum(tf.mul(causalSelfAttention(t as tf.Tensor3D, H, maskT), tf.tensor3d(f32(w), [B, T, C]))),
          )(tf.tensor3d(f32(qkv), [B, T, 3 * C]));
          const fd = fdGrad((v) => dot(attnRef(v, m, B, T, C, H), w), qkv);
          expectClose(await dq.data(), fd, 1e-4, 1e-3, `dqkv mask=${!!m}`);
        }
      });

      it('softmaxCrossEntropy: mean and per-position losses with a mask and an ignored target, and gradient (N=7, V=97)', async () => {
        const [N, V] = [7, 97];
        const logits = randn(N * V, 9, 3);
        const targets = [3, 96, 0, -100, 50, 7, 7];
        const mask = [1, 1, 0, 1, 1, 1, 1];
        const L = () => tf.tensor2d(f32(logits), [N, V]);
        const tT = tf.tensor1d(targets, 'int32');
        const mT = tf.tensor1d(mask);
        const ref = ceRef(logits, targets, mask, N, V);
        expectClose(
          await softmaxCrossEntropy(L(), tT, mT, 'none').data(),
          ref.losses,
          tolerance,
          tolerance,
          'losses',
        );
        expectClose(await softmaxCrossEntropy(L(), tT, mT).data(), [ref.mean], tolerance, tolerance, 'mean');
        const noMask = ceRef(logits, targets, null, N, V);
        expectClose(
          await softmaxCrossEntropy(L(), tT).data(),
          [noMask.mean],
          tolerance,
          tolerance,
          'mean, no mask',
        );
        const dl = tf.grad((t: tf.Tensor) => softmaxCrossEntropy(t as tf.Tensor2D, tT, mT))(L());
        const fd = fdGrad((v) => ceRef(v, targets, mask, N, V).mean, logits);
        expectClose(await dl.data(), fd, 1e-5, 1e-3, 'dlogits');
      });

      it('embedding: lookup and scatter-add gradient with repeated ids', async () => {
        const [V, C] = [11, 5];
        const W = randn(V * C, 10);
        const ids = [
          [3, 0, 3],
          [10, 3, 1],
        ];
        const dy = randn(6 * C, 11);
        const out = embedding(tf.tensor2d(f32(W), [V, C]), tf.tensor2d(ids, [2, 3], 'int32'));
        expect(out.shape).toEqual([2, 3, C]);
        const flat = ids.flat();
        const want = new Float64Array(6 * C);
        flat.forEach((id, n) => {
          for (let i = 0; i < C; i++) want[n * C + i] = W[id * C + i];
        });
        expectClose(await out.data(), want, 1e-7, 0, 'lookup');
        const dW = tf.grad((w: tf.Tensor) =>
          tf.sum(
            tf.mul(
              embedding(w as tf.Tensor2D, tf.tensor2d(ids, [2, 3], 'int32')),
              tf.tensor3d(f32(dy), [2, 3, C]),
            ),
          ),
        )(tf.tensor2d(f32(W), [V, C]));
        const wantGrad = new Float64Array(V * C);
        flat.forEach((id, n) => {
          for (let i = 0; i < C; i++) wantGrad[id * C + i] += dy[n * C + i];
        });
        expectClose(await dW.data(), wantGrad, 1e-5, 1e-5, 'dW');
      });

      it('matmul: every transpose combination, 2-D and batched, and its gradient', async () => {
        const [M, K, N, Bt] = [7, 13, 5, 3];
        const A = randn(Bt * M * K, 12);
        const Bm = randn(Bt * K * N, 13);
        const ref = (ta: boolean, tb: boolean, batch: number) => {
          const out = new Float64Array(batch * M * N);
          for (let p = 0; p < batch; p++)
            for (let i = 0; i < M; i++)
              for (let j = 0; j < N; j++) {
                let s = 0;
                for (let k = 0; k < K; k++) {
                  const a = ta ? A[p * M * K + k * M + i] : A[p * M * K + i * K + k];
                  const b = tb ? Bm[p * K * N + j * K + k] : Bm[p * K * N + k * N + j];
                  s += a * b;
                }
                out[p * M * N + i * N + j] = s;
              }
          return out;
        };
        for (const ta of [false, true])
          for (const tb of [false, true])
            for (const batch of [1, Bt]) {
              const aShape = batch === 1 ? (ta ? [K, M] : [M, K]) : ta ? [batch, K, M] : [batch, M, K];
              const bShape = batch === 1 ? (tb ? [N, K] : [K, N]) : tb ? [batch, N, K] : [batch, K, N];
              const a = tf.tensor(f32(A.subarray(0, batch * M * K)), aShape);
              const b = tf.tensor(f32(Bm.subarray(0, batch * K * N)), bShape);
              expectClose(
                await matmul(a, b, ta, tb).data(),
                ref(ta, tb, batch),
                tolerance,
                tolerance,
                `ta=${ta} tb=${tb} batch=${batch}`,
              );
            }
        // x [2, 3, K] · W (one shared weight; on wasm one 2-D product over the flattened batch), and its gradient.
        {
          const xs = randn(2 * 3 * K, 18);
          const W = randn(K * N, 19);
          const want = new Float64Array(2 * 3 * N);
          for (let r = 0; r < 6; r++)
            for (let j = 0; j < N; j++)
              for (let p = 0; p < K; p++) want[r * N + j] += xs[r * K + p] * W[p * N + j];
          const x3 = tf.tensor3d(f32(xs), [2, 3, K]);
          const got = matmul(x3, tf.tensor2d(f32(W), [K, N]));
          expect(got.shape).toEqual([2, 3, N]);
          expectClose(await got.data(), want, tolerance, tolerance, 'x[2,3,K]·W');
          const Wt = new Float64Array(N * K);
          for (let p = 0; p < K; p++) for (let j = 0; j < N; j++) Wt[j * K + p] = W[p * N + j];
          const gotT = matmul(x3, tf.tensor2d(f32(Wt), [N, K]), false, true);
          expectClose(await gotT.data(), want, tolerance, tolerance, 'x[2,3,K]·Wᵀ');
          const G = randn(2 * 3 * N, 20);
          const dW = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(matmul(x3, w), tf.tensor3d(f32(G), [2, 3, N]))))(
            tf.tensor2d(f32(W), [K, N]),
          );
          const wantDW = new Float64Array(K * N);
          for (let r = 0; r < 6; r++)
            for (let p = 0; p < K; p++)
              for (let j = 0; j < N; j++) wantDW[p * N + j] += xs[r * K + p] * G[r * N + j];
          expectClose(await dW.data(), wantDW, 1e-4, 1e-4, 'd/dW of x[2,3,K]·W');
        }
        // LM-head shape: a small a against a large bᵀ (on wasm this takes the (b·aᵀ)ᵀ route).
        {
          const [m, k, n] = [3, 13, 97];
          const x = randn(m * k, 16);
          const w = randn(n * k, 17);
          const want = new Float64Array(m * n);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++)
              for (let p = 0; p < k; p++) want[i * n + j] += x[i * k + p] * w[j * k + p];
          const got = matmul(tf.tensor2d(f32(x), [m, k]), tf.tensor2d(f32(w), [n, k]), false, true);
          expect(got.shape).toEqual([m, n]);
          expectClose(await got.data(), want, tolerance, tolerance, 'a·bᵀ with a large b');
        }
        // tf.fused.matMul (tfjs's _FusedMatMul) with bias and relu, every transpose combination.
        const bias = randn(N, 15);
        for (const ta of [false, true])
          for (const tb of [false, true]) {
            const a = tf.tensor(f32(A.subarray(0, M * K)), ta ? [K, M] : [M, K]) as tf.Tensor2D;
            const b = tf.tensor(f32(Bm.subarray(0, K * N)), tb ? [N, K] : [K, N]) as tf.Tensor2D;
            const got = tf.fused.matMul({
              a,
              b,
              transposeA: ta,
              transposeB: tb,
              bias: tf.tensor1d(f32(bias)),
              activation: 'relu',
            });
            const want = ref(ta, tb, 1).map((v, i) => Math.max(0, v + bias[i % N]));
            expectClose(await got.data(), want, tolerance, tolerance, `fused ta=${ta} tb=${tb}`);
          }
        // d/dA sum(A·Bᵀ ⊙ W) = W·B
        const W = randn(M * N, 14);
        const dA = tf.grad((a: tf.Tensor) =>
          tf.sum(
            tf.mul(
              matmul(a, tf.tensor2d(f32(Bm.subarray(0, N * K)), [N, K]), false, true),
              tf.tensor2d(f32(W), [M, N]),
            ),
          ),
        )(tf.tensor2d(f32(A.subarray(0, M * K)), [M, K]));
        const want = new Float64Array(M * K);
        for (let i = 0; i < M; i++)
          for (let k = 0; k < K; k++)
            for (let j = 0; j < N; j++) want[i * K + k] += W[i * N + j] * Bm[j * K + k];
        expectClose(await dA.data(), want, 1e-4, 1e-4, 'dA');
      });

      it('tensor count does not grow across training steps', async () => {
        const [B, T, C, H, V] = [2, 5, 12, 3, 19];
        const r = (shape: number[], seed: number) =>
          tf.variable(
            tf.tensor(
              f32(
                randn(
                  shape.reduce((a, b) => a * b),
                  seed,
                  0.3,
                ),
              ),
              shape,
            ),
          );
        const wte = r([V, C], 20);
        const attnW = r([C, 3 * C], 21);
        const fcW = r([C, C], 22);
        const g = tf.variable(tf.ones([C]));
        const bta = tf.variable(tf.zeros([C]));
        const ids = tf.tensor2d(
          [
            [1, 2, 3, 4, 5],
            [6, 7, 8, 9, 0],
          ],
          [B, T],
          'int32',
        );
        const targets = tf.tensor1d([2, 3, 4, 5, 6, 7, 8, 9, 0, 1], 'int32');
        const keyMask = tf.tensor2d(
          [
            [1, 1, 1, 1, 1],
            [1, 1, 1, 0, 0],
          ],
          [B, T],
        );
        const opt = tf.train.sgd(0.1);
        const step = () =>
          opt.minimize(() => {
            const x = embedding(wte as tf.Tensor2D, ids); // [B,T,C]
            const h = layerNorm(x, g, bta);
            const qkv = tf.reshape(matmul(tf.reshape(h, [B * T, C]), attnW), [B, T, 3 * C]) as tf.Tensor3D;
            const a = causalSelfAttention(qkv, H, keyMask);
            const f = gelu(matmul(tf.reshape(a, [B * T, C]), fcW));
            const logits = matmul(f, wte, false, true) as tf.Tensor2D; // tied LM head
            return softmaxCrossEntropy(logits, targets) as tf.Scalar;
          }, true);
        const first = step()!;
        const l0 = (await first.data())[0];
        first.dispose();
        const count = tf.memory().numTensors;
        let last = l0;
        for (let i = 0; i < 4; i++) {
          const l = step()!;
          last = (await l.data())[0];
          l.dispose();
          expect(tf.memory().numTensors).toBe(count);
        }
        expect(last).toBeLessThan(l0); // it actually trains
        tf.dispose([wte, attnW, fcW, g, bta, ids, targets, keyMask]);
        opt.dispose();
      });
    });
  }
}
