/**
 * The fused kernels in WGSL for tfjs-backend-webgpu. Each kernel is one or a few compute programs run through
 * the backend's own `runWebGPUProgram` (so buffers, uniforms and pipeline caching are tfjs's). Sizes travel as
 * uniforms, so one compiled pipeline serves every shape. Programs are written for clarity first: one thread
 * per output element, or per row where a row reduction is needed.
 */
import { tf } from '../tf.js';
import * as K from './names.js';

type TensorInfo = tf.TensorInfo;
type Uniform = { type: 'int32' | 'float32'; data: number[] };

/** The subset of tfjs-backend-webgpu's WebGPUBackend used here. */
interface WebGPUBackendLike {
  runWebGPUProgram(program: object, inputs: TensorInfo[], dtype: string, uniforms?: Uniform[]): TensorInfo;
  disposeData(dataId: unknown): void;
}

const WORKGROUP = 64;

/** A program over `threads` invocations writing an output of `outputShape`. */
function program(
  key: string,
  variableNames: string[],
  outputShape: number[],
  threads: number,
  uniforms: string,
  body: string,
): object {
  return {
    variableNames,
    outputShape,
    shaderKey: `atelier_${key}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.max(1, Math.ceil(threads / WORKGROUP)), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: `threads : i32, ${uniforms}`,
    getUserCode: () => `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        ${body}
      }`,
  };
}

const int = (...data: number[]): Uniform => ({ type: 'int32', data });
const float = (...data: number[]): Uniform => ({ type: 'float32', data });

function runProgram(
  backend: unknown,
  p: object,
  inputs: TensorInfo[],
  threads: number,
  uniforms: Uniform[] = [],
): TensorInfo {
  return (backend as WebGPUBackendLike).runWebGPUProgram(p, inputs, 'float32', [int(threads), ...uniforms]);
}

const ROW_WORKGROUP = 128;

/**
 * A program with one workgroup of ROW_WORKGROUP threads per row: threads stride over the row (adjacent
 * threads read adjacent elements) and combine through `reduceSum` / `reduceMax` in workgroup memory. The body
 * sees `row`, `lid` (thread in the row), `valid` (row < rows) and must call the reductions from every thread
 * (they contain barriers), so it guards memory accesses with `valid` instead of returning early.
 */
function rowProgram(
  key: string,
  variableNames: string[],
  outputShape: number[],
  rows: number,
  uniforms: string,
  body: string,
): object {
  return {
    variableNames,
    outputShape,
    shaderKey: `atelier_${key}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.max(1, rows), 1, 1],
    workgroupSize: [ROW_WORKGROUP, 1, 1],
    uniforms: `threads : i32, ${uniforms}`,
    getUserCode: () => `
      var<workgroup> red : array<f32, ${ROW_WORKGROUP}>;
      fn reduceSum(v : f32) -> f32 {
        let l = localId.x;
        red[l] = v;
        workgroupBarrier();
        for (var s = ${ROW_WORKGROUP / 2}u; s > 0u; s = s >> 1u) {
          if (l < s) { red[l] = red[l] + red[l + s]; }
          workgroupBarrier();
        }
        let r = red[0];
        workgroupBarrier();
        return r;
      }
      fn reduceMax(v : f32) -> f32 {
        let l = localId.x;
        red[l] = v;
        workgroupBarrier();
        for (var s = ${ROW_WORKGROUP / 2}u; s > 0u; s = s >> 1u) {
          if (l < s) { red[l] = max(red[l], red[l + s]); }
          workgroupBarrier();
        }
        let r = red[0];
        workgroupBarrier();
        return r;
      }
      fn main(index : i32) {
        let row = i32(workgroupId.x + workgroupId.y * numWorkgroups.x);
        let lid = i32(localId.x);
        let valid = row < uniforms.threads;
        ${body}
      }`,
  };
}

const GELU_S = Math.sqrt(2 / Math.PI);
const TANH = `
  fn tanh_(u : f32) -> f32 {
    // Saturates cleanly (the builtin may return NaN for large |u| on some drivers).
    let e = exp(2.0 * clamp(u, -15.0, 15.0));
    return 1.0 - 2.0 / (e + 1.0);
  }`;

// ---------------------------------------------------------------------------------------------------------

const layerNorm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as Record<string, TensorInfo>;
  const [N, C] = x.shape;
  const eps = (attrs as { epsilon: number }).epsilon;
  const mean = runProgram(
    backend,
    rowProgram(
      'ln_mean_wg',
      ['X'],
      [N],
      N,
      'C : i32,',
      `
      var s = 0.0;
      if (valid) { for (var i = lid; i < uniforms.C; i += ${ROW_WORKGROUP}) { s += X[row * uniforms.C + i]; } }
      let total = reduceSum(s);
      if (valid && lid == 0) { result[row] = total / f32(uniforms.C); }`,
    ),
    [x],
    N,
    [int(C)],
  );
  const rstd = runProgram(
    backend,
    rowProgram(
      'ln_rstd_wg',
      ['X', 'Mean'],
      [N],
      N,
      'C : i32, eps : f32,',
      `
      var v = 0.0;
      if (valid) {
        let m = Mean[row];
        for (var i = lid; i < uniforms.C; i += ${ROW_WORKGROUP}) { let d = X[row * uniforms.C + i] - m; v += d * d; }
      }
      let total = reduceSum(v);
      if (valid && lid == 0) { result[row] = inverseSqrt(total / f32(uniforms.C) + uniforms.eps); }`,
    ),
    [x, mean],
    N,
    [int(C), float(eps)],
  );
  const y = runProgram(
    backend,
    program(
      'ln_y',
      ['X', 'Gamma', 'Beta', 'Mean', 'Rstd'],
      [N, C],
      N * C,
      'C : i32,',
      `
      let n = index / uniforms.C;
      let i = index % uniforms.C;
      result[index] = (X[index] - Mean[n]) * Rstd[n] * Gamma[i] + Beta[i];`,
    ),
    [x, gamma, beta, mean, rstd],
    N * C,
    [int(C)],
  );
  return [y, mean, rstd];
};

const layerNormGrad: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x, gamma, mean, rstd } = inputs as Record<string, TensorInfo>;
  const [N, C] = x.shape;
  // One workgroup per row: the two row means, then dx for the row.
  const dx = runProgram(
    backend,
    rowProgram(
      'ln_dx_wg',
      ['Dy', 'X', 'Gamma', 'Mean', 'Rstd'],
      [N, C],
      N,
      'C : i32,',
      `
      let C = uniforms.C;
      var m = 0.0;
      var r = 0.0;
      var a = 0.0;
      var b = 0.0;
      if (valid) {
        m = Mean[row];
        r = Rstd[row];
        for (var i = lid; i < C; i += ${ROW_WORKGROUP}) {
          let dnorm = Gamma[i] * Dy[row * C + i];
          a += dnorm;
          b += dnorm * (X[row * C + i] - m) * r;
        }
      }
      let ma = reduceSum(a) / f32(C);
      let mb = reduceSum(b) / f32(C);
      if (valid) {
        for (var i = lid; i < C; i += ${ROW_WORKGROUP}) {
          let xhat = (X[row * C + i] - m) * r;
          result[row * C + i] = (Gamma[i] * Dy[row * C + i] - ma - xhat * mb) * r;
        }
      }`,
    ),
    [dy, x, gamma, mean, rstd],
    N,
    [int(C)],
  );
  // One thread per column: sums over rows.
  // (Every declared input must be used: tfjs builds bind groups from an 'auto' pipeline layout.)
  const colSum = (key: string, names: string[], ins: TensorInfo[], expr: string) =>
    runProgram(
      backend,
      program(
        key,
        names,
        [C],
        C,
        'N : i32, C : i32,',
        `
        var s = 0.0;
        for (var n = 0; n < uniforms.N; n++) {
          let k = n * uniforms.C + index;
          s += ${expr};
        }
        result[index] = s;`,
      ),
      ins,
      C,
      [int(N), int(C)],
    );
  const dgamma = colSum(
    'ln_dgamma',
    ['Dy', 'X', 'Mean', 'Rstd'],
    [dy, x, mean, rstd],
    'Dy[k] * (X[k] - Mean[n]) * Rstd[n]',
  );
  const dbeta = colSum('ln_dbeta', ['Dy'], [dy], 'Dy[k]');
  return [dx, dgamma, dbeta];
};

// ---------------------------------------------------------------------------------------------------------

const gelu: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as Record<string, TensorInfo>;
  const size = x.shape.reduce((a, b) => a * b, 1);
  const p = program(
    'gelu',
    ['X'],
    x.shape,
    size,
    's : f32,',
    `
    let v = X[index];
    result[index] = 0.5 * v * (1.0 + tanh_(uniforms.s * (v + 0.044715 * v * v * v)));`,
  );
  (p as { getUserCode: () => string }).getUserCode = wrapWith(p, TANH);
  return runProgram(backend, p, [x], size, [float(GELU_S)]);
};

const geluGrad: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x } = inputs as Record<string, TensorInfo>;
  const size = x.shape.reduce((a, b) => a * b, 1);
  const p = program(
    'gelu_grad',
    ['Dy', 'X'],
    x.shape,
    size,
    's : f32,',
    `
    let v = X[index];
    let t = tanh_(uniforms.s * (v + 0.044715 * v * v * v));
    let local = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * uniforms.s * (1.0 + 3.0 * 0.044715 * v * v);
    result[index] = local * Dy[index];`,
  );
  (p as { getUserCode: () => string }).getUserCode = wrapWith(p, TANH);
  return runProgram(backend, p, [dy, x], size, [float(GELU_S)]);
};

function wrapWith(p: object, prelude: string): () => string {
  const inner = (p as { getUserCode: () => string }).getUserCode;
  return () => `${prelude}\n${inner()}`;
}

// ---------------------------------------------------------------------------------------------------------
// Attention. Layout helpers: qkv [B,T,3C]; att [B,H,T,T].

const attention: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { qkv, keyMask } = inputs as Record<string, TensorInfo | undefined>;
  const [B, T, C3] = qkv!.shape;
  const C = C3 / 3;
  const H = (attrs as { nHead: number }).nHead;
  const hs = C / H;
  const rows = B * H * T;
  const masked = keyMask != null;
  // att: one thread per (b, h, t) row: scores, max, exp, normalise, in place in the output.
  const att = runProgram(
    backend,
    program(
      `attn_probs_${masked}`,
      masked ? ['Qkv', 'Mask'] : ['Qkv'],
      [B, H, T, T],
      rows,
      'T : i32, C : i32, H : i32, hs : i32, scale : f32,',
      `
      let T = uniforms.T; let C = uniforms.C; let hs = uniforms.hs;
      let t = index % T;
      let h = (index / T) % uniforms.H;
      let b = index / (T * uniforms.H);
      let qo = (b * T + t) * 3 * C + h * hs;
      let ro = index * T;
      var mx = -3.4e38;
      var seen = false;
      for (var u = 0; u < T; u++) {
        var s = -3.4e38;
        if (u <= t && ${masked ? 'Mask[b * T + u] != 0.0' : 'true'}) {
          let ko = (b * T + u) * 3 * C + C + h * hs;
          var d = 0.0;
          for (var i = 0; i < hs; i++) { d += Qkv[qo + i] * Qkv[ko + i]; }
          s = d * uniforms.scale;
          mx = max(mx, s);
          seen = true;
        }
        result[ro + u] = s;
      }
      var z = 0.0;
      for (var u = 0; u < T; u++) {
        var e = 0.0;
        if (seen && result[ro + u] > -3.0e38) { e = exp(result[ro + u] - mx); }
        result[ro + u] = e;
        z += e;
      }
      for (var u = 0; u < T; u++) {
        if (z > 0.0) { result[ro + u] = result[ro + u] / z; }
      }`,
    ),
    masked ? [qkv!, keyMask!] : [qkv!],
    rows,
    [int(T), int(C), int(H), int(hs), float(1 / Math.sqrt(hs))],
  );
  // out[b, t, c] = Σ_u att[b, h, t, u] · v[b, u, c] (h = c / hs): one thread per output element.
  const out = runProgram(
    backend,
    program(
      'attn_out',
      ['Att', 'Qkv'],
      [B, T, C],
      B * T * C,
      'T : i32, C : i32, H : i32, hs : i32,',
      `
      let T = uniforms.T; let C = uniforms.C;
      let c = index % C;
      let t = (index / C) % T;
      let b = index / (C * T);
      let h = c / uniforms.hs;
      let ao = ((b * uniforms.H + h) * T + t) * T;
      var s = 0.0;
      for (var u = 0; u <= t; u++) { s += Att[ao + u] * Qkv[(b * T + u) * 3 * C + 2 * C + c]; }
      result[index] = s;`,
    ),
    [att, qkv!],
    B * T * C,
    [int(T), int(C), int(H), int(hs)],
  );
  return [out, att];
};

const attentionGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dout, qkv, att } = inputs as Record<string, TensorInfo>;
  const [B, T, C3] = qkv.shape;
  const C = C3 / 3;
  const H = (attrs as { nHead: number }).nHead;
  const hs = C / H;
  const dims = [int(T), int(C), int(H), int(hs), float(1 / Math.sqrt(hs))];
  const U = 'T : i32, C : i32, H : i32, hs : i32, scale : f32,';
  // dpre[b,h,t,u] = att · (datt − Σ att·datt) · scale, datt[u] = dout[t]·v[u]: one thread per row.
  const dpre = runProgram(
    backend,
    program(
      'attn_dpre',
      ['Dout', 'Qkv', 'Att'],
      [B, H, T, T],
      B * H * T,
      U,
      `
      let T = uniforms.T; let C = uniforms.C; let hs = uniforms.hs;
      let t = index % T;
      let h = (index / T) % uniforms.H;
      let b = index / (T * uniforms.H);
      let ro = index * T;
      let dn = (b * T + t) * C + h * hs;
      var dotsum = 0.0;
      for (var u = 0; u < T; u++) {
        var d = 0.0;
        if (u <= t) {
          let vo = (b * T + u) * 3 * C + 2 * C + h * hs;
          for (var i = 0; i < hs; i++) { d += Dout[dn + i] * Qkv[vo + i]; }
        }
        result[ro + u] = d;
        dotsum += Att[ro + u] * d;
      }
      for (var u = 0; u < T; u++) {
        result[ro + u] = Att[ro + u] * (result[ro + u] - dotsum) * uniforms.scale;
      }`,
    ),
    [dout, qkv, att],
    B * H * T,
    dims,
  );
  // dqkv: one thread per element; q, k and v parts each sum over the causal range.
  const dqkv = runProgram(
    backend,
    program(
      'attn_dqkv',
      ['Dpre', 'Att', 'Qkv', 'Dout'],
      [B, T, C3],
      B * T * C3,
      U,
      `
      let T = uniforms.T; let C = uniforms.C; let hs = uniforms.hs;
      let col = index % (3 * C);
      let t = (index / (3 * C)) % T;
      let b = index / (3 * C * T);
      let part = col / C;
      let c = col % C;
      let h = c / hs;
      let base = (b * uniforms.H + h) * T;
      var s = 0.0;
      if (part == 0) {
        // dq[t] = Σ_{u≤t} dpre[t,u] · k[u]
        for (var u = 0; u <= t; u++) { s += Dpre[(base + t) * T + u] * Qkv[(b * T + u) * 3 * C + C + c]; }
      } else if (part == 1) {
        // dk[t] = Σ_{r≥t} dpre[r,t] · q[r]
        for (var r = t; r < T; r++) { s += Dpre[(base + r) * T + t] * Qkv[(b * T + r) * 3 * C + c]; }
      } else {
        // dv[t] = Σ_{r≥t} att[r,t] · dout[r]
        for (var r = t; r < T; r++) { s += Att[(base + r) * T + t] * Dout[(b * T + r) * C + c]; }
      }
      result[index] = s;`,
    ),
    [dpre, att, qkv, dout],
    B * T * C3,
    dims,
  );
  (backend as WebGPUBackendLike).disposeData(dpre.dataId);
  return dqkv;
};

// ---------------------------------------------------------------------------------------------------------

const crossEntropy: tf.KernelFunc = ({ inputs, backend }) => {
  const { logits, targets } = inputs as Record<string, TensorInfo>;
  const [N, V] = logits.shape;
  const lse = runProgram(
    backend,
    rowProgram(
      'ce_lse_wg',
      ['Logits'],
      [N],
      N,
      'V : i32,',
      `
      let o = row * uniforms.V;
      var mx = -3.4e38;
      if (valid) { for (var v = lid; v < uniforms.V; v += ${ROW_WORKGROUP}) { mx = max(mx, Logits[o + v]); } }
      let rowMax = reduceMax(mx);
      var s = 0.0;
      if (valid) { for (var v = lid; v < uniforms.V; v += ${ROW_WORKGROUP}) { s += exp(Logits[o + v] - rowMax); } }
      let total = reduceSum(s);
      if (valid && lid == 0) { result[row] = rowMax + log(total); }`,
    ),
    [logits],
    N,
    [int(V)],
  );
  const losses = runProgram(
    backend,
    program(
      'ce_loss',
      ['Logits', 'Targets', 'Lse'],
      [N],
      N,
      'V : i32,',
      `
      let t = i32(Targets[index]);
      var l = 0.0;
      if (t >= 0 && t < uniforms.V) { l = Lse[index] - Logits[index * uniforms.V + t]; }
      result[index] = l;`,
    ),
    [logits, targets, lse],
    N,
    [int(V)],
  );
  return [losses, lse];
};

const crossEntropyGrad: tf.KernelFunc = ({ inputs, backend }) => {
  const { dlosses, logits, targets, lse } = inputs as Record<string, TensorInfo>;
  const [N, V] = logits.shape;
  return runProgram(
    backend,
    program(
      'ce_grad',
      ['Dl', 'Logits', 'Targets', 'Lse'],
      [N, V],
      N * V,
      'V : i32,',
      `
      let n = index / uniforms.V;
      let v = index % uniforms.V;
      let t = i32(Targets[n]);
      var g = 0.0;
      if (t >= 0 && t < uniforms.V) {
        g = exp(Logits[index] - Lse[n]);
        if (v == t) { g -= 1.0; }
        g *= Dl[n];
      }
      result[index] = g;`,
    ),
    [dlosses, logits, targets, lse],
    N * V,
    [int(V)],
  );
};

const embeddingGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dout, ids } = inputs as Record<string, TensorInfo>;
  const [N, C] = dout.shape;
  const V = (attrs as { vocabSize: number }).vocabSize;
  // One thread per column: no two threads touch the same element, so no atomics are needed.
  return runProgram(
    backend,
    program(
      'emb_grad',
      ['Dout', 'Ids'],
      [V, C],
      C,
      'N : i32, C : i32, V : i32,',
      `
      let C = uniforms.C;
      for (var v = 0; v < uniforms.V; v++) { result[v * C + index] = 0.0; }
      for (var n = 0; n < uniforms.N; n++) {
        let id = i32(Ids[n]);
        if (id >= 0 && id < uniforms.V) { result[id * C + index] += Dout[n * C + index]; }
      }`,
    ),
    [dout, ids],
    C,
    [int(N), int(C), int(V)],
  );
};

const kernels: Record<string, tf.KernelFunc> = {
  [K.LAYER_NORM]: layerNorm,
  [K.LAYER_NORM_GRAD]: layerNormGrad,
  [K.GELU]: gelu,
  [K.GELU_GRAD]: geluGrad,
  [K.ATTENTION]: attention,
  [K.ATTENTION_GRAD]: attentionGrad,
  [K.CROSS_ENTROPY]: crossEntropy,
  [K.CROSS_ENTROPY_GRAD]: crossEntropyGrad,
  [K.EMBEDDING_GRAD]: embeddingGrad,
};

/** Registers the WGSL kernels for tfjs's 'webgpu' backend (skipping any already registered). */
export function registerWebGPUKernels(): void {
  for (const [kernelName, kernelFunc] of Object.entries(kernels)) {
    if (!tf.getKernel(kernelName, 'webgpu'))
      tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
}
