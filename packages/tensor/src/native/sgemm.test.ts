import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tf.js';
import { loadNativeAddon } from './addon.js';
import { NATIVE_BACKEND_NAME, registerNativeBackend } from './backend.js';
import { gemmRef, maxViolation, randomArray } from './testing.js';

const load = loadNativeAddon();
const reason = load.ok ? '' : load.reason;
const levels = (['scalar', 'avx2', 'avx512'] as const).filter((l) => {
  if (!load.ok) return false;
  const max = load.addon.info().simdMax;
  return l === 'scalar' || l === max || (l === 'avx2' && max === 'avx512');
});

describe.skipIf(!load.ok)(`native SGEMM ${reason}`, () => {
  const addon = load.ok ? load.addon : (undefined as never);
  const initial = load.ok ? load.addon.info().simd : 'scalar';
  afterAll(() => addon?.setSimd(initial));

  for (const level of levels) {
    it(`matches a float64 GEMM on odd sizes, all transposes (${level})`, () => {
      addon.setSimd(level);
      expect(addon.info().simd).toBe(level);
      const sizes = [1, 3, 17, 65, 129];
      let seed = 1;
      let cases = 0;
      for (const M of sizes)
        for (const N of sizes)
          for (const K of [1, 17, 65, 129, 300]) {
            // Every (M, N) pair; K cycles so K = 300 (> one 256/128-deep block, not a multiple of 16) is hit.
            if ((M + N + K) % 3 !== 0 && !(M === 129 && N === 129)) continue;
            for (const tA of [false, true])
              for (const tB of [false, true]) {
                const A = randomArray(M * K, seed++);
                const B = randomArray(K * N, seed++);
                const C = new Float32Array(M * N).fill(Number.NaN); // beta = 0 must not read C
                addon.matmul(A, B, C, 1, M, N, K, tA, tB, 0, 0);
                const ref = gemmRef(A, B, M, N, K, tA, tB);
                const v = maxViolation(C, ref, 1e-5 * Math.sqrt(K), 1e-5);
                if (v > 1)
                  throw new Error(`M=${M} N=${N} K=${K} tA=${tA} tB=${tB} (${level}): violation ${v}`);
                cases++;
              }
          }
      expect(cases).toBeGreaterThan(100);
    });
  }

  it('runs batched GEMMs with per-batch and shared (stride 0) operands', () => {
    const [batch, M, N, K] = [5, 33, 70, 19];
    const A = randomArray(batch * M * K, 11);
    const B = randomArray(K * N, 12); // shared across the batch
    const C = new Float32Array(batch * M * N);
    addon.matmul(A, B, C, batch, M, N, K, false, true, M * K, 0);
    for (let b = 0; b < batch; b++) {
      const ref = gemmRef(A.subarray(b * M * K, (b + 1) * M * K), B, M, N, K, false, true);
      expect(maxViolation(C.subarray(b * M * N, (b + 1) * M * N), ref, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    }
    // Many small matrices (the per-head attention case) take the one-matrix-per-task path.
    const many = 24;
    const A2 = randomArray(many * 16 * 8, 13);
    const B2 = randomArray(many * 8 * 16, 14);
    const C2 = new Float32Array(many * 16 * 16);
    addon.matmul(A2, B2, C2, many, 16, 16, 8, true, false, 16 * 8, 8 * 16);
    for (let b = 0; b < many; b++) {
      const ref = gemmRef(
        A2.subarray(b * 128, (b + 1) * 128),
        B2.subarray(b * 128, (b + 1) * 128),
        16,
        16,
        8,
        true,
        false,
      );
      expect(maxViolation(C2.subarray(b * 256, (b + 1) * 256), ref, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    }
  });

  it('throws a JS error naming the argument on bad sizes or types', () => {
    const A = new Float32Array(6);
    expect(() => addon.matmul(A, A, new Float32Array(3), 1, 2, 2, 3, false, false, 0, 0)).toThrow(
      /matmul: argument 2 has 3 elements, needs 4/,
    );
    expect(() =>
      addon.matmul(
        new Int32Array(6) as unknown as Float32Array,
        A,
        new Float32Array(4),
        1,
        2,
        2,
        3,
        false,
        false,
        0,
        0,
      ),
    ).toThrow(/argument 0 must be a Float32Array/);
    expect(() => addon.matmul(A, A, new Float32Array(4), 1, -2, 2, 3, false, false, 0, 0)).toThrow(
      /argument 4/,
    );
  });
});

describe.skipIf(!load.ok)(`atelier-native tfjs backend ${reason}`, () => {
  beforeAll(async () => {
    const r = registerNativeBackend();
    if (!r.ok) throw new Error(r.reason);
    await tf.setBackend(NATIVE_BACKEND_NAME);
  });

  it('registers every tfjs-backend-cpu kernel and reports its info', () => {
    const r = registerNativeBackend();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.info.kernels).toContain('BatchMatMul');
    expect(r.info.threads).toBeGreaterThanOrEqual(1);
    const cpu = tf.getKernelsForBackend('cpu').map((k) => k.kernelName);
    for (const name of cpu) expect(tf.getKernel(name, NATIVE_BACKEND_NAME), name).toBeDefined();
    expect(tf.getBackend()).toBe(NATIVE_BACKEND_NAME);
  });

  it('tf.matMul matches float64 with transposes and broadcast batch dims', () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[17, 9], [9, 5], false, false],
      [[9, 17], [5, 9], true, true],
      [[3, 17, 9], [9, 5], false, false], // rank 3 × rank 2
      [[2, 1, 4, 6], [1, 3, 6, 5], false, false], // general broadcast
      [[4, 6, 4], [4, 5, 6], true, true],
    ];
    let seed = 100;
    for (const [sa, sb, tA, tB] of cases) {
      const av = randomArray(
        sa.reduce((x, y) => x * y, 1),
        seed++,
      );
      const bv = randomArray(
        sb.reduce((x, y) => x * y, 1),
        seed++,
      );
      const got = tf.tidy(() => tf.matMul(tf.tensor(av, sa), tf.tensor(bv, sb), tA, tB));
      // Reference: loop over the broadcast batch in float64.
      const M = tA ? sa[sa.length - 1] : sa[sa.length - 2];
      const K = tA ? sa[sa.length - 2] : sa[sa.length - 1];
      const N = tB ? sb[sb.length - 2] : sb[sb.length - 1];
      const outer = got.shape.slice(0, -2);
      expect(got.shape).toEqual([...outer, M, N]);
      const data = got.dataSync();
      const batch = outer.reduce((x, y) => x * y, 1);
      const idx = (bi: number, shape: number[]) => {
        const o = shape.slice(0, -2);
        let off = 0;
        let rest = bi;
        let stride = 1;
        for (let i = outer.length - 1; i >= 0; i--) {
          const ix = rest % outer[i];
          rest = Math.floor(rest / outer[i]);
          const j = o.length - outer.length + i;
          if (j < 0) continue;
          if (o[j] !== 1) off += ix * stride;
          stride *= o[j];
        }
        return off;
      };
      for (let bi = 0; bi < batch; bi++) {
        const a = av.subarray(idx(bi, sa) * M * K, (idx(bi, sa) + 1) * M * K);
        const b = bv.subarray(idx(bi, sb) * K * N, (idx(bi, sb) + 1) * K * N);
        const ref = gemmRef(a, b, M, N, K, tA, tB);
        expect(
          maxViolation(data.subarray(bi * M * N, (bi + 1) * M * N), ref, 1e-5, 1e-5),
        ).toBeLessThanOrEqual(1);
      }
      got.dispose();
    }
  });

  it('fused matmul + bias + relu and its gradient agree with the cpu backend', async () => {
    const run = () =>
      tf.tidy(() => {
        const a = tf.tensor(randomArray(7 * 5, 1), [7, 5]);
        const b = tf.tensor(randomArray(5 * 3, 2), [5, 3]);
        const bias = tf.tensor(randomArray(3, 3), [3]);
        const f = (x: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias, activation: 'relu' }));
        const y = tf.fused.matMul({ a, b, bias, activation: 'relu' });
        const [ga, gb] = tf.grads(f)([a, b]);
        return [y.dataSync(), ga.dataSync(), gb.dataSync()].map((d) => Array.from(d));
      });
    const native = run();
    await tf.setBackend('cpu');
    const cpu = run();
    await tf.setBackend(NATIVE_BACKEND_NAME);
    for (let i = 0; i < 3; i++) expect(maxViolation(native[i], cpu[i], 1e-5, 1e-5)).toBeLessThanOrEqual(1);
  });

  it('int32 matmul falls back to the cpu kernel', () => {
    const y = tf.tidy(() =>
      tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6, 7, 8], [2, 2], 'int32')),
    );
    expect(y.dtype).toBe('int32');
    expect(Array.from(y.dataSync())).toEqual([19, 22, 43, 50]);
    y.dispose();
  });
});
