// Each fused kernel on the atelier-native backend against a float64 JavaScript reference; every backward
// kernel against central finite differences of the float64 forward reference. Runs on every SIMD level.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tf.js';
import { loadNativeAddon } from './addon.js';
import { NATIVE_BACKEND_NAME, registerNativeBackend } from './backend.js';
import { maxViolation, randomArray } from './testing.js';

const load = loadNativeAddon();
const reason = load.ok ? '' : load.reason;

type Arr = ArrayLike<number>;
const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as
    | tf.Tensor
    | tf.Tensor[];
const many = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}) =>
  run(name, inputs, attrs) as tf.Tensor[];
const one = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}) =>
  run(name, inputs, attrs) as tf.Tensor;

/** Central differences of the float64 scalar `f` at the listed indices of `x` (a copy is perturbed). */
function numericGrad(f: (x: Float64Array) => number, x: Arr, indices: number[], h = 1e-6): number[] {
  const xp = Float64Array.from(x);
  return indices.map((i) => {
    const x0 = xp[i];
    xp[i] = x0 + h;
    const up = f(xp);
    xp[i] = x0 - h;
    const down = f(xp);
    xp[i] = x0;
    return (up - down) / (2 * h);
  });
}

const pick = (n: number, count: number, seed: number) =>
  Array.from(randomArray(count, seed), (u) => Math.min(n - 1, Math.floor(((u + 1) / 2) * n)));
const dot = (a: Arr, b: Arr) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

// ---- float64 references -------------------------------------------------------------------------------
function layerNormRef(x: Arr, g: Arr, b: Arr, N: number, C: number, eps: number) {
  const y = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    let m = 0;
    for (let i = 0; i < C; i++) m += x[r * C + i];
    m /= C;
    let v = 0;
    for (let i = 0; i < C; i++) v += (x[r * C + i] - m) ** 2;
    const rs = 1 / Math.sqrt(v / C + eps);
    for (let i = 0; i < C; i++) y[r * C + i] = (x[r * C + i] - m) * rs * g[i] + b[i];
    mean[r] = m;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

const geluRef = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

function attentionRef(qkv: Arr, mask: Arr | null, B: number, T: number, C: number, nH: number) {
  const hs = C / nH;
  const out = new Float64Array(B * T * C);
  const att = new Float64Array(B * nH * T * T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < nH; h++)
      for (let t = 0; t < T; t++) {
        const s: number[] = [];
        for (let t2 = 0; t2 <= t; t2++) {
          if (mask && mask[b * T + t2] === 0) continue;
          let d = 0;
          for (let i = 0; i < hs; i++)
            d += qkv[(b * T + t) * 3 * C + h * hs + i] * qkv[(b * T + t2) * 3 * C + C + h * hs + i];
          s[t2] = d / Math.sqrt(hs);
        }
        const valid = s.map((v, t2) => [v, t2]).filter((p) => p[0] !== undefined);
        if (valid.length === 0) continue;
        const m = Math.max(...valid.map((p) => p[0]));
        const z = valid.reduce((acc, p) => acc + Math.exp(p[0] - m), 0);
        for (const [v, t2] of valid) {
          const p = Math.exp(v - m) / z;
          att[((b * nH + h) * T + t) * T + t2] = p;
          for (let i = 0; i < hs; i++)
            out[(b * T + t) * C + h * hs + i] += p * qkv[(b * T + t2) * 3 * C + 2 * C + h * hs + i];
        }
      }
  return { out, att };
}

function crossEntropyRef(logits: Arr, targets: Arr, N: number, V: number) {
  const losses = new Float64Array(N);
  const lse = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < V; i++) m = Math.max(m, logits[r * V + i]);
    let s = 0;
    for (let i = 0; i < V; i++) s += Math.exp(logits[r * V + i] - m);
    lse[r] = m + Math.log(s);
    losses[r] = lse[r] - logits[r * V + targets[r]];
  }
  return { losses, lse };
}

describe.skipIf(!load.ok)(`native fused kernels ${reason}`, () => {
  const addon = load.ok ? load.addon : (undefined as never);
  const initial = load.ok ? load.addon.info().simd : 'scalar';
  const max = load.ok ? load.addon.info().simdMax : 'scalar';
  const levels = [
    'scalar',
    ...(max !== 'scalar' ? ['avx2'] : []),
    ...(max === 'avx512' ? ['avx512'] : []),
  ] as const;
  beforeAll(async () => {
    const r = registerNativeBackend();
    if (!r.ok) throw new Error(r.reason);
    await tf.setBackend(NATIVE_BACKEND_NAME);
  });
  afterAll(() => addon?.setSimd(initial as 'avx512'));

  for (const level of levels) {
    describe(level, () => {
      beforeAll(() => addon.setSimd(level as 'avx512'));

      it('AtelierLayerNorm / AtelierLayerNormGrad', () => {
        const [N, C, eps] = [7, 37, 1e-5];
        const x = randomArray(N * C, 1, 2);
        const g = randomArray(C, 2);
        const b = randomArray(C, 3);
        const w = randomArray(N * C, 4); // loss = Σ y·w, so dy = w
        tf.tidy(() => {
          const [y, mean, rstd] = many(
            'AtelierLayerNorm',
            { x: tf.tensor(x, [N, C]), gamma: tf.tensor(g), beta: tf.tensor(b) },
            { epsilon: eps },
          );
          const ref = layerNormRef(x, g, b, N, C, eps);
          expect(maxViolation(y.dataSync(), ref.y, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
          expect(maxViolation(mean.dataSync(), ref.mean, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
          expect(maxViolation(rstd.dataSync(), ref.rstd, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
          const [dx, dg, db] = many('AtelierLayerNormGrad', {
            dy: tf.tensor(w, [N, C]),
            x: tf.tensor(x, [N, C]),
            gamma: tf.tensor(g),
            mean,
            rstd,
          });
          const loss = (xx: Arr, gg: Arr, bb: Arr) => dot(layerNormRef(xx, gg, bb, N, C, eps).y, w);
          const ix = pick(N * C, 40, 5);
          const fdx = numericGrad((v) => loss(v, g, b), x, ix);
          const dxv = dx.dataSync();
          expect(
            maxViolation(
              ix.map((i) => dxv[i]),
              fdx,
              1e-4,
              1e-3,
            ),
          ).toBeLessThanOrEqual(1);
          const all = Array.from({ length: C }, (_, i) => i);
          expect(
            maxViolation(
              dg.dataSync(),
              numericGrad((v) => loss(x, v, b), g, all),
              1e-4,
              1e-3,
            ),
          ).toBeLessThanOrEqual(1);
          expect(
            maxViolation(
              db.dataSync(),
              numericGrad((v) => loss(x, g, v), b, all),
              1e-4,
              1e-3,
            ),
          ).toBeLessThanOrEqual(1);
        });
      });

      it('AtelierGelu / AtelierGeluGrad (incl. saturating inputs)', () => {
        const n = 1001;
        const x = randomArray(n, 6, 6);
        x[0] = 0;
        x[1] = 30;
        x[2] = -30;
        x[3] = 1e-4;
        const dy = randomArray(n, 7);
        tf.tidy(() => {
          const y = one('AtelierGelu', { x: tf.tensor(x) }).dataSync();
          expect(maxViolation(y, Array.from(x, geluRef), 1e-6, 1e-5)).toBeLessThanOrEqual(1);
          const dx = one('AtelierGeluGrad', { dy: tf.tensor(dy), x: tf.tensor(x) }).dataSync();
          const fd = Array.from(x, (v, i) => ((geluRef(v + 1e-6) - geluRef(v - 1e-6)) / 2e-6) * dy[i]);
          expect(maxViolation(dx, fd, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
        });
      });

      it('AtelierAttention / AtelierAttentionGrad with causal + key mask (fully masked rows give zeros)', () => {
        const [B, T, C, nH] = [2, 13, 12, 3];
        const qkv = randomArray(B * T * 3 * C, 8, 1.5);
        const mask = new Float32Array(B * T).fill(1);
        mask[0] = 0; // batch 0: first key is padding → query 0 has no key at all
        mask[T + 5] = 0;
        mask[T + 6] = 0;
        const w = randomArray(B * T * C, 9); // loss = Σ out·w
        tf.tidy(() => {
          const [out, att] = many(
            'AtelierAttention',
            { qkv: tf.tensor(qkv, [B, T, 3 * C]), keyMask: tf.tensor(mask, [B, T]) },
            { nHead: nH },
          );
          const ref = attentionRef(qkv, mask, B, T, C, nH);
          const outv = out.dataSync();
          expect(outv.every(Number.isFinite)).toBe(true);
          expect(maxViolation(outv, ref.out, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
          expect(maxViolation(att.dataSync(), ref.att, 1e-6, 1e-4)).toBeLessThanOrEqual(1);
          expect(Array.from(outv.subarray(0, C))).toEqual(new Array(C).fill(0));
          const dqkv = one(
            'AtelierAttentionGrad',
            { dout: tf.tensor(w, [B, T, C]), qkv: tf.tensor(qkv, [B, T, 3 * C]), att },
            { nHead: nH },
          ).dataSync();
          const ix = pick(B * T * 3 * C, 60, 10);
          const fd = numericGrad((v) => dot(attentionRef(v, mask, B, T, C, nH).out, w), qkv, ix);
          expect(
            maxViolation(
              ix.map((i) => dqkv[i]),
              fd,
              1e-4,
              1e-3,
            ),
          ).toBeLessThanOrEqual(1);
          // Without a mask: pure causal.
          const [out2] = many('AtelierAttention', { qkv: tf.tensor(qkv, [B, T, 3 * C]) }, { nHead: nH });
          expect(
            maxViolation(out2.dataSync(), attentionRef(qkv, null, B, T, C, nH).out, 1e-5, 1e-4),
          ).toBeLessThanOrEqual(1);
        });
      });

      it('AtelierCrossEntropy / AtelierCrossEntropyGrad over a wide vocabulary', () => {
        const [N, V] = [5, 1031];
        const logits = randomArray(N * V, 11, 8);
        const targets = Int32Array.from([0, 1030, 17, 512, 3]);
        const dl = randomArray(N, 12);
        tf.tidy(() => {
          const [losses, lse] = many('AtelierCrossEntropy', {
            logits: tf.tensor(logits, [N, V]),
            targets: tf.tensor(targets, [N], 'int32'),
          });
          const ref = crossEntropyRef(logits, targets, N, V);
          expect(maxViolation(losses.dataSync(), ref.losses, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
          expect(maxViolation(lse.dataSync(), ref.lse, 1e-5, 1e-6)).toBeLessThanOrEqual(1);
          const d = one('AtelierCrossEntropyGrad', {
            dlosses: tf.tensor(dl),
            logits: tf.tensor(logits, [N, V]),
            targets: tf.tensor(targets, [N], 'int32'),
            lse,
          }).dataSync();
          const ix = [...pick(N * V, 30, 13), 1030 + V, 17 + 2 * V];
          const fd = numericGrad((v) => dot(crossEntropyRef(v, targets, N, V).losses, dl), logits, ix);
          expect(
            maxViolation(
              ix.map((i) => d[i]),
              fd,
              1e-5,
              1e-3,
            ),
          ).toBeLessThanOrEqual(1);
          // Out-of-range targets (HF's -100) are ignored positions: loss 0 and no gradient.
          const ign = tf.tensor(Int32Array.from([-100, 1030, V, 512, 3]), [N], 'int32');
          const [l2, lse2] = many('AtelierCrossEntropy', { logits: tf.tensor(logits, [N, V]), targets: ign });
          const lv = l2.dataSync();
          expect([lv[0], lv[2]]).toEqual([0, 0]);
          expect(lv[1]).toBeCloseTo(ref.losses[1], 4);
          const d2 = one('AtelierCrossEntropyGrad', {
            dlosses: tf.ones([N]),
            logits: tf.tensor(logits, [N, V]),
            targets: ign,
            lse: lse2,
          }).dataSync();
          expect(d2.subarray(0, V).every((x) => x === 0)).toBe(true);
          expect(d2.subarray(2 * V, 3 * V).every((x) => x === 0)).toBe(true);
          expect(Math.abs(Array.from(d2.subarray(V, 2 * V)).reduce((a, b) => a + b, 0))).toBeLessThan(1e-5);
        });
      });

      it('AtelierEmbeddingGrad scatter-adds repeated ids', () => {
        const [N, C, V] = [9, 19, 11];
        const ids = Int32Array.from([3, 0, 3, 10, 3, 5, 0, 7, 10]);
        const dout = randomArray(N * C, 14);
        tf.tidy(() => {
          const dw = one(
            'AtelierEmbeddingGrad',
            { dout: tf.tensor(dout, [3, 3, C]), ids: tf.tensor(ids, [3, 3], 'int32') },
            { vocabSize: V },
          );
          expect(dw.shape).toEqual([V, C]);
          const ref = new Float64Array(V * C);
          for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) ref[ids[n] * C + c] += dout[n * C + c];
          expect(maxViolation(dw.dataSync(), ref, 1e-6, 1e-6)).toBeLessThanOrEqual(1);
          expect(() =>
            run(
              'AtelierEmbeddingGrad',
              { dout: tf.tensor(dout, [N, C]), ids: tf.tensor(ids, [N], 'int32') },
              { vocabSize: 10 },
            ),
          ).toThrow(/ids\[3\] = 10 is out of range/);
        });
      });

      it('Softmax over the last axis', () => {
        const [N, C] = [6, 53];
        const x = randomArray(N * C, 15, 20);
        tf.tidy(() => {
          const y = tf.softmax(tf.tensor(x, [2, 3, C])).dataSync();
          const ref = new Float64Array(N * C);
          for (let r = 0; r < N; r++) {
            const row = Array.from(x.subarray(r * C, (r + 1) * C));
            const m = Math.max(...row);
            const z = row.reduce((a, v) => a + Math.exp(v - m), 0);
            for (let i = 0; i < C; i++) ref[r * C + i] = Math.exp(row[i] - m) / z;
          }
          expect(maxViolation(y, ref, 1e-7, 1e-5)).toBeLessThanOrEqual(1);
        });
      });
    });
  }
});
