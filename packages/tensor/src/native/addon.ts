/**
 * Loads the native CPU addon (build/Release/atelier_native.node, built at install by native/build.mjs).
 *
 * The package root is found by walking up from this file to @atelier/tensor's package.json, so the same
 * code works from src/ (vitest) and from dist/ (the published bundle).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Raw bindings. Every array aliases tensor storage; sizes are validated natively (throws on mismatch). */
export interface NativeAddon {
  info(): { simd: 'scalar' | 'avx2' | 'avx512'; simdMax: string; threads: number; gemmKernel: string };
  setThreads(n: number): void;
  setSimd(level: 'scalar' | 'avx2' | 'avx512'): void;
  /** C[b] = op(A[b])·op(B[b]) (+ C[b] if accumulate); C contiguous [batch,M,N]; A[b] = a + b·strideA ([M,K], or [K,M] if transA). */
  matmul(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    batch: number,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    strideA: number,
    strideB: number,
    /** Add into C instead of overwriting it. */
    accumulate?: boolean,
  ): void;
  layerNormForward(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    N: number,
    C: number,
    eps: number,
  ): void;
  layerNormBackward(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    N: number,
    C: number,
  ): void;
  geluForward(x: Float32Array, y: Float32Array, n: number): void;
  geluBackward(dy: Float32Array, x: Float32Array, dx: Float32Array, n: number): void;
  attentionForward(
    qkv: Float32Array,
    keyMask: Float32Array | null,
    out: Float32Array,
    att: Float32Array,
    B: number,
    T: number,
    C: number,
    nHead: number,
  ): void;
  attentionBackward(
    dout: Float32Array,
    qkv: Float32Array,
    att: Float32Array,
    dqkv: Float32Array,
    B: number,
    T: number,
    C: number,
    nHead: number,
  ): void;
  crossEntropyForward(
    logits: Float32Array,
    targets: Int32Array,
    losses: Float32Array,
    lse: Float32Array,
    N: number,
    V: number,
  ): void;
  crossEntropyBackward(
    dlosses: Float32Array,
    logits: Float32Array,
    targets: Int32Array,
    lse: Float32Array,
    dlogits: Float32Array,
    N: number,
    V: number,
  ): void;
  embeddingBackward(
    dout: Float32Array,
    ids: Int32Array,
    dweight: Float32Array,
    N: number,
    C: number,
    V: number,
  ): void;
  /** torch.optim.AdamW step in place; `step` counts from 1. */
  adamw(
    param: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void;
  softmax(x: Float32Array, y: Float32Array, N: number, C: number): void;
  /** out[i] = a[i mod a.length] (op) b[i mod b.length]; op 0 add, 1 sub, 2 mul, 3 div. */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  /** x as [R, C]: columns → out[C] = Σ rows; else out[R] = Σ columns. */
  sum(x: Float32Array, out: Float32Array, R: number, C: number, columns: boolean): void;
}

export type AddonLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

let cached: AddonLoad | undefined;

/** Directory of @atelier/tensor (the nearest package.json named so above this file). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === '@atelier/tensor')
          return dir;
      } catch {
        // unreadable package.json: keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir)
      throw new Error('@atelier/tensor: package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** Loads the addon once; never throws. `ATELIER_NATIVE=0` disables it. */
export function loadNativeAddon(): AddonLoad {
  if (cached) return cached;
  if (process.env.ATELIER_NATIVE === '0')
    return (cached = { ok: false, reason: 'disabled by ATELIER_NATIVE=0' });
  let path = '';
  try {
    path = join(packageRoot(), 'build', 'Release', 'atelier_native.node');
    if (!existsSync(path))
      return (cached = {
        ok: false,
        reason: `addon not built (${path} missing; run \`node native/build.mjs\` in @atelier/tensor)`,
      });
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    return (cached = { ok: true, addon, path });
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return (cached = { ok: false, reason: `addon failed to load (${path}): ${msg}` });
  }
}
