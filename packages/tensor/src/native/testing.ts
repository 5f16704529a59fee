/** Test helpers for the native backend (float64 references, seeded random data). Not exported from the package. */

/** Deterministic uniform(-1, 1) floats (mulberry32). */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = (u * 2 - 1) * scale;
  }
  return out;
}

/** Largest |a − b| / (atol + rtol·|b|) over all elements (≤ 1 means within tolerance). */
export function maxViolation(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(v <= worst)) worst = Number.isNaN(v) ? Number.POSITIVE_INFINITY : v;
  }
  return worst;
}

/** Float64 reference GEMM: C[M,N] = op(A)·op(B), row-major. */
export function gemmRef(
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[transA ? k * M + i : i * K + k] * B[transB ? j * K + k : k * N + j];
      C[i * N + j] = s;
    }
  return C;
}
