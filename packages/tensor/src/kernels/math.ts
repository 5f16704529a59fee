/**
 * The fused kernels as plain loops over TypedArrays (llm.c style), shared by the WASM and JS-CPU backends.
 * Each function writes its outputs into arrays allocated by the caller. Accumulations run in float64.
 */
type F32 = Float32Array;
type I32 = Int32Array;

/** y = (x - mean) * rstd * gamma + beta per row; also returns mean and rstd per row. x [N,C]. */
export function layerNormForward(
  x: F32,
  gamma: F32,
  beta: F32,
  N: number,
  C: number,
  eps: number,
  y: F32,
  mean: F32,
  rstd: F32,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    // One pass for mean and variance: float64 sums of (x − shift) and its square, shifted by the row's
    // first value so the subtraction does not cancel catastrophically.
    const shift = x[o];
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < C; i++) {
      const d = x[o + i] - shift;
      s += d;
      s2 += d * d;
    }
    const dm = s / C;
    const m = shift + dm;
    const r = 1 / Math.sqrt(Math.max(s2 / C - dm * dm, 0) + eps);
    for (let i = 0; i < C; i++) y[o + i] = (x[o + i] - m) * r * gamma[i] + beta[i];
    mean[n] = m;
    rstd[n] = r;
  }
}

/** Layer norm backward (llm.c layernorm_backward): dx, and dgamma/dbeta summed over rows. */
export function layerNormBackward(
  dy: F32,
  x: F32,
  gamma: F32,
  mean: F32,
  rstd: F32,
  N: number,
  C: number,
  dx: F32,
  dgamma: F32,
  dbeta: F32,
): void {
  const dg = new Float64Array(C);
  const db = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const m = mean[n];
    const r = rstd[n];
    // Two row means: of gamma·dy, and of gamma·dy·xhat.
    let dnormMean = 0;
    let dnormNormMean = 0;
    for (let i = 0; i < C; i++) {
      const xhat = (x[o + i] - m) * r;
      const dnorm = gamma[i] * dy[o + i];
      dnormMean += dnorm;
      dnormNormMean += dnorm * xhat;
    }
    dnormMean /= C;
    dnormNormMean /= C;
    for (let i = 0; i < C; i++) {
      const xhat = (x[o + i] - m) * r;
      const g = dy[o + i];
      db[i] += g;
      dg[i] += xhat * g;
      dx[o + i] = (gamma[i] * g - dnormMean - xhat * dnormNormMean) * r;
    }
  }
  for (let i = 0; i < C; i++) {
    dgamma[i] = dg[i];
    dbeta[i] = db[i];
  }
}

const GELU_S = Math.sqrt(2 / Math.PI);

/** tanh via exp (faster than Math.tanh in V8); saturates cleanly to ±1. */
function tanh(u: number): number {
  return 1 - 2 / (Math.exp(2 * u) + 1);
}

/** y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluForward(x: F32, y: F32): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    y[i] = 0.5 * v * (1 + tanh(GELU_S * (v + 0.044715 * v * v * v)));
  }
}

/** dx = dy · d/dx gelu(x). */
export function geluBackward(dy: F32, x: F32, dx: F32): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const t = tanh(GELU_S * (v + 0.044715 * v * v * v));
    const sech2 = 1 - t * t;
    const local = 0.5 * (1 + t) + 0.5 * v * sech2 * GELU_S * (1 + 3 * 0.044715 * v * v);
    dx[i] = local * dy[i];
  }
}

/**
 * Causal attention from qkv [B,T,3C] (q|k|v), nHead heads of hs = C/nHead, scale 1/√hs. keyMask [B,T]
 * (1 keep, 0 pad) or null. Writes out [B,T,C] and att [B,nHead,T,T] (probabilities; 0 where masked or
 * in the future; a row with no allowed key is all zeros and outputs zeros).
 */
export function attentionForward(
  qkv: F32,
  keyMask: F32 | null,
  B: number,
  T: number,
  C: number,
  nHead: number,
  out: F32,
  att: F32,
): void {
  const hs = C / nHead;
  const C3 = 3 * C;
  const scale = 1 / Math.sqrt(hs);
  const row = new Float64Array(T);
  const acc = new Float64Array(hs);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * C3 + h * hs;
        const ao = ((b * nHead + h) * T + t) * T;
        let max = Number.NEGATIVE_INFINITY;
        for (let t2 = 0; t2 <= t; t2++) {
          if (keyMask && keyMask[b * T + t2] === 0) {
            row[t2] = Number.NEGATIVE_INFINITY;
            continue;
          }
          const ko = (b * T + t2) * C3 + C + h * hs;
          let s = 0;
          for (let i = 0; i < hs; i++) s += qkv[qo + i] * qkv[ko + i];
          s *= scale;
          row[t2] = s;
          if (s > max) max = s;
        }
        acc.fill(0);
        const oo = (b * T + t) * C + h * hs;
        if (max === Number.NEGATIVE_INFINITY) {
          for (let t2 = 0; t2 < T; t2++) att[ao + t2] = 0;
          for (let i = 0; i < hs; i++) out[oo + i] = 0;
          continue;
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const e = row[t2] === Number.NEGATIVE_INFINITY ? 0 : Math.exp(row[t2] - max);
          row[t2] = e;
          sum += e;
        }
        for (let t2 = 0; t2 <= t; t2++) {
          const p = row[t2] / sum;
          att[ao + t2] = p;
          if (p === 0) continue;
          const vo = (b * T + t2) * C3 + 2 * C + h * hs;
          for (let i = 0; i < hs; i++) acc[i] += p * qkv[vo + i];
        }
        for (let t2 = t + 1; t2 < T; t2++) att[ao + t2] = 0;
        for (let i = 0; i < hs; i++) out[oo + i] = acc[i];
      }
    }
  }
}

/** Attention backward (llm.c attention_backward) through the saved probabilities att. */
export function attentionBackward(
  dout: F32,
  qkv: F32,
  att: F32,
  B: number,
  T: number,
  C: number,
  nHead: number,
  dqkv: F32,
): void {
  const hs = C / nHead;
  const C3 = 3 * C;
  const scale = 1 / Math.sqrt(hs);
  const datt = new Float64Array(T);
  const dq = new Float64Array(hs);
  dqkv.fill(0);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      for (let t = 0; t < T; t++) {
        const ao = ((b * nHead + h) * T + t) * T;
        const doo = (b * T + t) * C + h * hs;
        const qo = (b * T + t) * C3 + h * hs;
        // datt[t2] = dout·v[t2]; dv[t2] += att·dout
        let dot = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const p = att[ao + t2];
          const vo = (b * T + t2) * C3 + 2 * C + h * hs;
          let s = 0;
          for (let i = 0; i < hs; i++) {
            s += dout[doo + i] * qkv[vo + i];
            dqkv[vo + i] += p * dout[doo + i];
          }
          datt[t2] = s;
          dot += p * s;
        }
        // softmax backward, then through q·k.
        dq.fill(0);
        for (let t2 = 0; t2 <= t; t2++) {
          const p = att[ao + t2];
          if (p === 0) continue;
          const dpre = p * (datt[t2] - dot) * scale;
          const ko = (b * T + t2) * C3 + C + h * hs;
          for (let i = 0; i < hs; i++) {
            dq[i] += dpre * qkv[ko + i];
            dqkv[ko + i] += dpre * qkv[qo + i];
          }
        }
        for (let i = 0; i < hs; i++) dqkv[qo + i] += dq[i];
      }
    }
  }
}

/** Per row: lse = logsumexp(logits), loss = lse − logits[target]. Targets outside [0, V) give loss 0. */
export function crossEntropyForward(
  logits: F32,
  targets: I32,
  N: number,
  V: number,
  losses: F32,
  lse: F32,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) if (logits[o + v] > max) max = logits[o + v];
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v] - max);
    const l = max + Math.log(sum);
    lse[n] = l;
    const t = targets[n];
    losses[n] = t >= 0 && t < V ? l - logits[o + t] : 0;
  }
}

/** dlogits[n,v] = dlosses[n]·(softmax − onehot(target)); rows with an out-of-range target get 0. */
export function crossEntropyBackward(
  dlosses: F32,
  logits: F32,
  targets: I32,
  lse: F32,
  N: number,
  V: number,
  dlogits: F32,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    const t = targets[n];
    const d = dlosses[n];
    if (t < 0 || t >= V || d === 0) {
      dlogits.fill(0, o, o + V);
      continue;
    }
    const l = lse[n];
    for (let v = 0; v < V; v++) dlogits[o + v] = d * Math.exp(logits[o + v] - l);
    dlogits[o + t] -= d;
  }
}

/** dweight[ids[n]] += dout[n] (scatter-add, linear time). Throws on an id outside [0, V). */
export function embeddingBackward(dout: F32, ids: I32, N: number, C: number, V: number, dweight: F32): void {
  dweight.fill(0);
  for (let n = 0; n < N; n++) {
    const id = ids[n];
    if (!(id >= 0 && id < V)) throw new Error(`embedding: id ${id} at position ${n} is outside [0, ${V})`);
    const o = n * C;
    const w = id * C;
    for (let i = 0; i < C; i++) dweight[w + i] += dout[o + i];
  }
}
