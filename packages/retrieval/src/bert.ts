import { layerNorm, tf } from '@atelier/tensor';
import type { NamedArray } from './safetensors.js';

/** The fields of a Hugging Face BERT config.json that the encoder uses. */
export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
}

/** Reads and validates a BERT config.json object; `source` names the file in errors. */
export function parseBertConfig(json: unknown, source = 'config.json'): BertConfig {
  const j = json as Record<string, unknown>;
  const num = (key: string, fallback?: number): number => {
    const v = j?.[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new Error(`${source}: field "${key}" must be a number (got ${JSON.stringify(v)})`);
    return v;
  };
  const type = j?.model_type;
  if (type !== undefined && type !== 'bert')
    throw new Error(`${source}: model_type is "${String(type)}"; only "bert" is supported`);
  const act = j?.hidden_act ?? 'gelu';
  if (act !== 'gelu')
    throw new Error(`${source}: hidden_act "${String(act)}" is not supported (BERT uses erf "gelu")`);
  const cfg: BertConfig = {
    vocabSize: num('vocab_size'),
    hiddenSize: num('hidden_size'),
    numLayers: num('num_hidden_layers'),
    numHeads: num('num_attention_heads'),
    intermediateSize: num('intermediate_size'),
    maxPositions: num('max_position_embeddings'),
    typeVocabSize: num('type_vocab_size', 2),
    layerNormEps: num('layer_norm_eps', 1e-12),
  };
  if (cfg.hiddenSize % cfg.numHeads !== 0) {
    throw new Error(
      `${source}: hidden_size ${cfg.hiddenSize} is not divisible by num_attention_heads ${cfg.numHeads}`,
    );
  }
  return cfg;
}

interface LayerNormParams {
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
}

/** Projections of one attention head, [in, out] = [H, hs]; query pre-scaled by 1/√hs. */
interface AttentionHead {
  wQ: tf.Tensor2D;
  bQ: tf.Tensor1D;
  wK: tf.Tensor2D;
  bK: tf.Tensor1D;
  wV: tf.Tensor2D;
  bV: tf.Tensor1D;
}

/**
 * One encoder layer; linear weights are stored [in, out] (transposed from PyTorch's [out, in]).
 * The q/k/v projections are split per head at load time, so attention needs no transposes of activations.
 */
interface BertLayer {
  heads: AttentionHead[];
  wAttnOut: tf.Tensor2D; // [H, H]
  bAttnOut: tf.Tensor1D;
  lnAttn: LayerNormParams;
  wUp: tf.Tensor2D; // [H, I]
  bUp: tf.Tensor1D;
  wDown: tf.Tensor2D; // [I, H]
  bDown: tf.Tensor1D;
  lnOut: LayerNormParams;
}

export interface BertWeights {
  wordEmbeddings: tf.Tensor2D; // [V, H]
  positionEmbeddings: tf.Tensor2D; // [P, H]
  tokenTypeEmbeddings: tf.Tensor2D; // [types, H]
  lnEmbeddings: LayerNormParams;
  layers: BertLayer[];
}

/**
 * Builds BERT weights from a checkpoint's tensors. Accepts BertModel keys (`embeddings.word_embeddings.weight`),
 * keys under a task head (`bert.embeddings.…`) and the old LayerNorm names (`gamma`/`beta`). Extra keys
 * (pooler, heads) are ignored. Shapes are checked against `cfg`; `source` names the file in errors.
 */
export function bertWeightsFromTensors(
  tensors: Map<string, NamedArray>,
  cfg: BertConfig,
  source = 'model.safetensors',
): BertWeights {
  const prefix = tensors.has('bert.embeddings.word_embeddings.weight') ? 'bert.' : '';
  const get = (name: string, shape: number[]): NamedArray => {
    const alt = name
      .replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')
      .replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    const t = tensors.get(prefix + name) ?? tensors.get(prefix + alt);
    if (!t) throw new Error(`${source}: missing tensor "${prefix}${name}"`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(
        `${source}: tensor "${prefix}${name}" has shape [${t.shape}], expected [${shape}] from config.json`,
      );
    }
    return t;
  };
  const { hiddenSize: H, intermediateSize: I } = cfg;
  const vec = (name: string, n: number) => tf.tensor1d(get(name, [n]).data);
  const mat = (name: string, rows: number, cols: number) =>
    tf.tensor2d(get(name, [rows, cols]).data, [rows, cols]);
  // PyTorch Linear stores [out, in]; keep [in, out] so y = x·W is a plain (fast-path) matmul.
  const linearT = (name: string, out: number, inp: number) => {
    const w = get(`${name}.weight`, [out, inp]).data;
    const t = new Float32Array(out * inp);
    for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) t[i * out + o] = w[o * inp + i];
    return t;
  };
  const ln = (name: string): LayerNormParams => ({
    gamma: vec(`${name}.weight`, H),
    beta: vec(`${name}.bias`, H),
  });
  const layers: BertLayer[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `encoder.layer.${l}.`;
    const hs = H / cfg.numHeads;
    const scale = 1 / Math.sqrt(hs);
    const wq = linearT(`${p}attention.self.query`, H, H);
    const wk = linearT(`${p}attention.self.key`, H, H);
    const wv = linearT(`${p}attention.self.value`, H, H);
    const bq = get(`${p}attention.self.query.bias`, [H]).data;
    const bk = get(`${p}attention.self.key.bias`, [H]).data;
    const bv = get(`${p}attention.self.value.bias`, [H]).data;
    // Columns [h·hs, (h+1)·hs) of a [H, H] matrix → [H, hs].
    const cols = (w: Float32Array, h: number, mul = 1) => {
      const out = new Float32Array(H * hs);
      for (let i = 0; i < H; i++) for (let j = 0; j < hs; j++) out[i * hs + j] = w[i * H + h * hs + j] * mul;
      return tf.tensor2d(out, [H, hs]);
    };
    const part = (b: Float32Array, h: number, mul = 1) =>
      tf.tensor1d(b.slice(h * hs, (h + 1) * hs).map((v) => v * mul));
    const heads: AttentionHead[] = Array.from({ length: cfg.numHeads }, (_, h) => ({
      wQ: cols(wq, h, scale),
      bQ: part(bq, h, scale),
      wK: cols(wk, h),
      bK: part(bk, h),
      wV: cols(wv, h),
      bV: part(bv, h),
    }));
    layers.push({
      heads,
      wAttnOut: tf.tensor2d(linearT(`${p}attention.output.dense`, H, H), [H, H]),
      bAttnOut: vec(`${p}attention.output.dense.bias`, H),
      lnAttn: ln(`${p}attention.output.LayerNorm`),
      wUp: tf.tensor2d(linearT(`${p}intermediate.dense`, I, H), [H, I]),
      bUp: vec(`${p}intermediate.dense.bias`, I),
      wDown: tf.tensor2d(linearT(`${p}output.dense`, H, I), [I, H]),
      bDown: vec(`${p}output.dense.bias`, H),
      lnOut: ln(`${p}output.LayerNorm`),
    });
  }
  return {
    wordEmbeddings: mat('embeddings.word_embeddings.weight', cfg.vocabSize, H),
    positionEmbeddings: mat('embeddings.position_embeddings.weight', cfg.maxPositions, H),
    tokenTypeEmbeddings: mat('embeddings.token_type_embeddings.weight', cfg.typeVocabSize, H),
    lnEmbeddings: ln('embeddings.LayerNorm'),
    layers,
  };
}

/** Frees every tensor of `w`. */
export function disposeBertWeights(w: BertWeights): void {
  tf.dispose([
    w.wordEmbeddings,
    w.positionEmbeddings,
    w.tokenTypeEmbeddings,
    w.lnEmbeddings.gamma,
    w.lnEmbeddings.beta,
  ]);
  for (const l of w.layers)
    tf.dispose(Object.values(l).flatMap((v) => (v instanceof tf.Tensor ? [v] : [v.gamma, v.beta])));
}

/** GELU with the exact erf form used by BERT: 0.5·x·(1 + erf(x/√2)). */
export function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/** y = x·W + b for x [N, in], W [in, out], b [out], as one fused kernel (bias added inside the matmul). */
function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D;
}

/**
 * Bidirectional multi-head self-attention (BertSelfAttention, no causal mask), one head at a time:
 * x [B·T, H] → per head q, k, v [B, T, hs] → softmax(q·kᵀ + mask)·v → heads concatenated → [B·T, H].
 * maskBias [B, T, T]: 0 keep, −1e9 for padded keys.
 */
function selfAttention(
  x: tf.Tensor2D,
  heads: AttentionHead[],
  maskBias: tf.Tensor3D | undefined,
  B: number,
  T: number,
): tf.Tensor2D {
  const ctx = heads.map((h) => {
    const hs = h.wQ.shape[1];
    const q = tf.reshape(linear(x, h.wQ, h.bQ), [B, T, hs]); // already scaled by 1/√hs
    const k = tf.reshape(linear(x, h.wK, h.bK), [B, T, hs]);
    const v = tf.reshape(linear(x, h.wV, h.bV), [B, T, hs]);
    let scores: tf.Tensor = tf.matMul(q, k, false, true); // [B, T, T]
    if (maskBias) scores = tf.add(scores, maskBias);
    return tf.reshape(tf.matMul(tf.softmax(scores, -1), v), [B * T, hs]);
  });
  return tf.concat(ctx, 1) as tf.Tensor2D;
}

/** Post-LN encoder layer: x = LN(x + Attn(x)); x = LN(x + FFN(x)). x [B·T, H]. */
function encoderLayer(
  x: tf.Tensor2D,
  p: BertLayer,
  maskBias: tf.Tensor3D | undefined,
  B: number,
  T: number,
  cfg: BertConfig,
): tf.Tensor2D {
  const eps = cfg.layerNormEps;
  const ctx = selfAttention(x, p.heads, maskBias, B, T);
  const a = layerNorm(
    tf.add(linear(ctx, p.wAttnOut, p.bAttnOut), x),
    p.lnAttn.gamma,
    p.lnAttn.beta,
    eps,
  ) as tf.Tensor2D;
  const h = geluErf(linear(a, p.wUp, p.bUp)) as tf.Tensor2D;
  return layerNorm(tf.add(linear(h, p.wDown, p.bDown), a), p.lnOut.gamma, p.lnOut.beta, eps) as tf.Tensor2D;
}

/**
 * BERT encoder forward pass (BertModel's last_hidden_state, token type 0, eval mode).
 * inputIds and attentionMask [B][T] → hidden [B, T, H].
 */
export function bertForward(
  w: BertWeights,
  cfg: BertConfig,
  inputIds: number[][],
  attentionMask: number[][],
): tf.Tensor3D {
  const B = inputIds.length;
  const T = inputIds[0]?.length ?? 0;
  if (T > cfg.maxPositions)
    throw new Error(`bertForward: sequence length ${T} exceeds max_position_embeddings ${cfg.maxPositions}`);
  return tf.tidy(() => {
    const ids = tf.tensor1d(inputIds.flat(), 'int32'); // [B·T]
    const positions = tf.tile(tf.range(0, T, 1, 'int32'), [B]); // [B·T]
    let x = tf.add(
      tf.add(tf.gather(w.wordEmbeddings, ids), tf.gather(w.positionEmbeddings, positions)),
      tf.slice(w.tokenTypeEmbeddings, [0, 0], [1, cfg.hiddenSize]),
    ) as tf.Tensor2D;
    x = layerNorm(x, w.lnEmbeddings.gamma, w.lnEmbeddings.beta, cfg.layerNormEps) as tf.Tensor2D;
    // Additive mask on the scores (HF: (1 − mask)·min_float), materialised at the scores' full shape [B, T, T]
    // so the per-head add needs no broadcasting (slow on CPU backends); skipped when nothing is padded.
    const padded = attentionMask.some((row) => row.some((m) => m === 0));
    let maskBias: tf.Tensor3D | undefined;
    if (padded) {
      const bias = new Float32Array(B * T * T);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < T; j++) {
          if (attentionMask[b][j]) continue;
          for (let i = 0; i < T; i++) bias[(b * T + i) * T + j] = -1e9;
        }
      }
      maskBias = tf.tensor3d(bias, [B, T, T]);
    }
    for (const layer of w.layers) x = encoderLayer(x, layer, maskBias, B, T, cfg);
    return tf.reshape(x, [B, T, cfg.hiddenSize]) as tf.Tensor3D;
  });
}

export type PoolingMode = 'mean' | 'cls' | 'max' | 'mean_sqrt_len';

/** sentence-transformers Pooling: hidden [B, T, H], attentionMask [B][T] → [B, H]. */
export function pool(
  hidden: tf.Tensor3D,
  attentionMask: number[][],
  mode: PoolingMode = 'mean',
): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T] = hidden.shape;
    const m = tf.tensor3d(attentionMask.flat(), [B, T, 1], 'float32');
    if (mode === 'cls') return tf.reshape(tf.slice(hidden, [0, 0, 0], [B, 1, -1]), [B, -1]) as tf.Tensor2D;
    if (mode === 'max') return tf.max(tf.add(hidden, tf.mul(tf.sub(1, m), -1e9)), 1) as tf.Tensor2D;
    const sum = tf.sum(tf.mul(hidden, m), 1); // [B, H]
    const count = tf.maximum(tf.sum(m, 1), 1e-9); // [B, 1]
    return tf.div(sum, mode === 'mean' ? count : tf.sqrt(count)) as tf.Tensor2D;
  });
}

/** Row-wise L2 normalisation x / max(‖x‖, 1e-12) (torch.nn.functional.normalize). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D);
}
