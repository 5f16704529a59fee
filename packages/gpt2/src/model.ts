/**
 * GPT2LMHeadModel in Hugging Face semantics (pre-LN blocks, fused c_attn, tanh GELU, ln_f, LM head tied to wte),
 * written like nanoGPT: the modules live in modules.ts, this file wires them and adds loss, scoring and a KV cache.
 */

import type { HubOptions } from '@atelier/hub';
import { type LoadedTensor, softmaxCrossEntropy, type TensorData, tf } from '@atelier/tensor';
import { type GPT2Config, type PresetName, resolveConfig } from './config.js';
import {
  decodeTokens,
  type GenerateOptions,
  type Generation,
  generateText,
  streamText,
  type TopToken,
  topNextTokens,
} from './generate.js';
import {
  type ForwardContext,
  type LayerKV,
  type Module,
  ParamFactory,
  type ParamInit,
  Transformer,
} from './modules.js';
import {
  readModelDirectory,
  readTokenizer,
  resolveModelDirectory,
  saveModelDirectory,
} from './pretrained.js';
import { initFromSafetensors } from './weights.js';

/** Token ids: one sequence, a batch of equal-length sequences, or an int32 tensor [B, T]. */
export type TokenInput = number[] | number[][] | tf.Tensor;
/** A [B, T] matrix of numbers (masks, labels, position ids) or a tensor. */
export type MatrixInput = number[] | number[][] | tf.Tensor;

/** Minimal text codec the model needs for the text-level APIs (satisfied by @atelier/tokenizer's Tokenizer). */
export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

export interface ForwardOptions {
  /** [B, T] 1 = real token, 0 = padding; padded keys receive no attention. */
  attentionMask?: MatrixInput;
  /** [B, T] absolute positions (defaults to 0..T-1; for left padding use cumsum(mask) − 1). */
  positionIds?: MatrixInput;
  /** Dropout on/off for this call; defaults to the model's mode ({@link GPT2.train} / {@link GPT2.eval}). */
  training?: boolean;
}

export interface LossOptions extends ForwardOptions {
  /** [B, T] targets (default: the input ids); −100 marks positions to ignore, as in HF. */
  labels?: MatrixInput;
  /**
   * [B, T] label mask aligned with the ids: 1 = token t is a training target (predicted from tokens < t),
   * 0 = not (e.g. the question in Q&A data). Position 0 is never a target.
   */
  mask?: MatrixInput;
}

/** A named parameter: HF name (`transformer.h.0.attn.c_attn.weight`) and its variable. */
export interface NamedParameter {
  name: string;
  variable: tf.Variable;
  /** Whether optimizers should update it (reads/writes `variable.trainable`). */
  trainable: boolean;
}

/**
 * Options of {@link GPT2.fromPretrained}. The hub options (`endpoint`, `cacheDir`, `revision`, `token`,
 * `progress`, `offline`) apply when the argument is a hub id; see @atelier/hub for their environment defaults
 * (HF_ENDPOINT, ATELIER_CACHE_DIR / HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE).
 */
export interface FromPretrainedOptions extends HubOptions {
  /** Tokenizer to attach instead of the directory's (false: none). */
  tokenizer?: TextTokenizer | false;
  /** Seed for dropout masks when fine-tuning (default 0). */
  seed?: number;
}

export interface FromConfigOptions {
  /** Seed of the GPT-2 initialisation and of dropout masks (default 0). */
  seed?: number;
  tokenizer?: TextTokenizer;
}

/** Keys and values of every layer for incremental decoding (see {@link GPT2.prefill}, {@link GPT2.decodeStep}). */
export class KVCache {
  constructor(
    /** Per layer: k, v [B, H, Tk, D]. */
    public layers: LayerKV[],
    /** [B, Tk] 1 = real key, 0 = padding. */
    public keyMask: tf.Tensor2D,
    /** Next absolute position of each row. */
    public nextPosition: number[],
  ) {}

  /** Number of cached positions Tk. */
  get length(): number {
    return this.keyMask.shape[1];
  }

  dispose(): void {
    for (const l of this.layers) {
      l.k.dispose();
      l.v.dispose();
    }
    this.keyMask.dispose();
    this.layers = [];
  }
}

let modelCounter = 0;

/** Draws N(0, std) with a seed derived from the parameter index, so init does not depend on creation order. */
function gpt2Init(config: GPT2Config, seed: number): ParamInit {
  const std = config.initializer_range;
  let index = 0;
  return (_name, shape, kind) => {
    const s = seed * 1000003 + index++;
    switch (kind) {
      case 'bias':
      case 'ln_bias':
        return tf.zeros(shape);
      case 'ln_weight':
        return tf.ones(shape);
      case 'residual_weight': // GPT-2 paper: residual projections scaled by 1/sqrt(2 · n_layer)
        return tf.randomNormal(shape, 0, std / Math.sqrt(2 * config.n_layer), 'float32', s);
      default:
        return tf.randomNormal(shape, 0, std, 'float32', s);
    }
  };
}

/** GPT-2 language model (GPT2LMHeadModel). */
export class GPT2 {
  readonly transformer: Transformer;
  /** Tokenizer used by the text APIs (generate, stream, topNextTokens); set by fromPretrained. */
  tokenizer: TextTokenizer | undefined;
  /** Dropout active in forward/loss unless a call says otherwise. */
  training = false;
  /** Prefix of this model's tfjs variable names (`${scope}/transformer.wte.weight`). */
  readonly scope: string;
  private dropoutSeed: number;
  private disposed = false;

  /** Use {@link GPT2.fromConfig} or {@link GPT2.fromPretrained}. */
  constructor(
    readonly config: GPT2Config,
    init: ParamInit,
    options: { seed?: number; tokenizer?: TextTokenizer } = {},
  ) {
    this.scope = `gpt2_${++modelCounter}`;
    this.transformer = new Transformer(new ParamFactory(this.scope, init), config);
    this.tokenizer = options.tokenizer;
    this.dropoutSeed = ((options.seed ?? 0) * 7919 + 17) >>> 0;
  }

  /** A randomly initialised model (GPT-2 init) from a preset name or HF config fields. */
  static fromConfig(config: PresetName | Partial<GPT2Config>, options: FromConfigOptions = {}): GPT2 {
    const c = resolveConfig(config);
    const seed = options.seed ?? 0;
    return buildInScope(() => new GPT2(c, gpt2Init(c, seed), options));
  }

  /**
   * A model with the tensors of a safetensors file (from @atelier/tensor's `loadSafetensors`; hub or
   * `transformer.` key style; mask buffers skipped). `source` names the file in errors.
   */
  static fromSafetensors(
    config: PresetName | Partial<GPT2Config>,
    tensors: Map<string, TensorData | LoadedTensor>,
    options: FromConfigOptions & { source?: string } = {},
  ): GPT2 {
    const c = resolveConfig(config);
    const source = options.source ?? 'model.safetensors';
    const init = initFromSafetensors(tensors, c, source, (keys) =>
      process.emitWarning(
        `${source}: ignoring ${keys.length} unexpected tensor(s): ${keys.slice(0, 5).join(', ')}`,
      ),
    );
    return buildInScope(() => new GPT2(c, init, options));
  }

  /**
   * Loads a Hugging Face GPT-2 model from a local directory or a hub id (`gpt2`, `openai-community/gpt2`,
   * `distilgpt2`, `gpt2-medium`), which is downloaded into the hub cache (resumable, checked against the size
   * and sha256 the hub reports, progress bar on stderr) and reused from there. Both key styles are read (`h.0…` as on the hub, `transformer.h.0…` + `lm_head.weight` as save_pretrained
   * writes); the attn.bias / attn.masked_bias buffers are skipped. pytorch_model.bin-only directories are
   * refused with an explanation: safetensors is required.
   */
  static async fromPretrained(dirOrHubId: string, options: FromPretrainedOptions = {}): Promise<GPT2> {
    const { tokenizer: _t, seed: _s, ...hub } = options;
    const dir = await resolveModelDirectory(dirOrHubId, hub);
    const { config, tensors, source } = await readModelDirectory(dir);
    const tokenizer =
      options.tokenizer === false ? undefined : (options.tokenizer ?? readTokenizer(dir, config));
    return GPT2.fromSafetensors(config, tensors, { source, seed: options.seed, tokenizer });
  }

  /**
   * Writes a Hugging Face directory: config.json, model.safetensors (hub key style, format "pt") and the
   * tokenizer's files — loadable by `GPT2LMHeadModel.from_pretrained(dir)` and by {@link GPT2.fromPretrained}.
   * Adapter parameters are not included (see @atelier/lora for adapter files or merging).
   */
  async save(dir: string): Promise<void> {
    this.checkAlive();
    await saveModelDirectory(dir, this.config, this.parameters(), this.tokenizer);
  }

  /** Every module with its HF name, root first: ['', model.transformer…] → 'transformer.h.0.attn.c_attn'. */
  namedModules(): Array<[string, Module]> {
    return this.transformer.namedModules('transformer');
  }

  /** Every parameter with its HF name (the tied LM head is `transformer.wte.weight`). */
  parameters(): NamedParameter[] {
    return this.transformer.namedParameters('transformer').map(([name, variable]) => ({
      name,
      variable,
      get trainable() {
        return variable.trainable;
      },
      set trainable(t: boolean) {
        variable.trainable = t;
      },
    }));
  }

  /** Total number of parameter values (tied LM head counted once). */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.variable.size, 0);
  }

  /** Dropout on. */
  train(): this {
    this.training = true;
    return this;
  }

  /** Dropout off. */
  eval(): this {
    this.training = false;
    return this;
  }

  /** Dropout RNG state (for checkpoints); restoring it reproduces the same masks. */
  get rngState(): number {
    return this.dropoutSeed;
  }

  set rngState(s: number) {
    this.dropoutSeed = s >>> 0;
  }

  private context(training?: boolean): ForwardContext {
    return {
      training: training ?? this.training,
      nextSeed: () => {
        this.dropoutSeed = (Math.imul(this.dropoutSeed, 1664525) + 1013904223) >>> 0;
        return this.dropoutSeed;
      },
    };
  }

  /** Validated int32 ids [B, T] (rejects ids outside the vocabulary: tf.gather would clamp them silently). */
  private idsTensor(ids: TokenInput): tf.Tensor2D {
    if (ids instanceof tf.Tensor) {
      if (ids.rank !== 2) throw new Error(`ids must be [B, T], got shape [${ids.shape}]`);
      return tf.cast(ids, 'int32') as tf.Tensor2D;
    }
    const rows = toRows(ids, 'ids');
    const V = this.config.vocab_size;
    for (let b = 0; b < rows.length; b++) {
      for (const id of rows[b]) {
        if (!Number.isInteger(id) || id < 0 || id >= V) {
          throw new Error(`ids[${b}] contains ${id}, outside the vocabulary [0, ${V})`);
        }
      }
    }
    return tf.tensor2d(rows, [rows.length, rows[0].length], 'int32');
  }

  /**
   * The transformer trunk: ids [B, T] → hidden states after ln_f [B, T, C], optionally continuing from and
   * producing a KV cache. Call inside tf.tidy.
   */
  private trunk(
    ids: tf.Tensor2D,
    ctx: ForwardContext,
    o: { keyMask?: tf.Tensor2D; positionIds?: tf.Tensor2D; past?: LayerKV[]; wantKV?: boolean },
  ): { h: tf.Tensor3D; kv: LayerKV[] } {
    const [B, T] = ids.shape;
    const t = this.transformer;
    const Tp = o.past?.[0]?.k.shape[2] ?? 0;
    if (Tp + T > this.config.n_positions) {
      throw new Error(`sequence of ${Tp + T} tokens exceeds n_positions (${this.config.n_positions})`);
    }
    const pos = o.positionIds ?? tf.tile(tf.reshape(tf.range(Tp, Tp + T, 1, 'int32'), [1, T]), [B, 1]);
    let x = tf.add(t.wte.forward(ids), t.wpe.forward(pos)) as tf.Tensor3D; // [B, T, C]
    if (ctx.training && this.config.embd_pdrop > 0) {
      x = tf.dropout(x, this.config.embd_pdrop, undefined, ctx.nextSeed()) as tf.Tensor3D;
    }
    const kv: LayerKV[] = [];
    t.h.forEach((block, i) => {
      const r = block.forward(x, ctx, { keyMask: o.keyMask, past: o.past?.[i], wantKV: o.wantKV });
      x = r.x;
      if (r.kv) kv.push(r.kv);
    });
    return { h: t.ln_f.forward(x) as tf.Tensor3D, kv };
  }

  /** LM head tied to wte: h [N, C] → logits [N, V]. */
  private lmHead(h2: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(h2, this.transformer.wte.weight, false, true);
  }

  private maskTensors(B: number, T: number, o: ForwardOptions) {
    const keyMask =
      o.attentionMask === undefined ? undefined : floatMatrix(o.attentionMask, B, T, 'attentionMask');
    const positionIds =
      o.positionIds === undefined
        ? undefined
        : (tf.cast(floatMatrix(o.positionIds, B, T, 'positionIds'), 'int32') as tf.Tensor2D);
    return { keyMask, positionIds };
  }

  /** ids [B, T] → logits [B, T, V]. The caller disposes the result. */
  forward(ids: TokenInput, options: ForwardOptions = {}): tf.Tensor3D {
    this.checkAlive();
    return tf.tidy(() => {
      const x = this.idsTensor(ids);
      const [B, T] = x.shape;
      const { h } = this.trunk(x, this.context(options.training), this.maskTensors(B, T, options));
      const C = this.config.n_embd;
      return tf.reshape(this.lmHead(tf.reshape(h, [B * T, C]) as tf.Tensor2D), [
        B,
        T,
        this.config.vocab_size,
      ]);
    });
  }

  /**
   * Per-target cross-entropy terms: logits of positions 0..T−2 against the tokens 1..T−1, with a weight per
   * target (0 = ignored). Call inside tf.tidy.
   */
  private shiftedTargets(ids: TokenInput, options: LossOptions) {
    const x = this.idsTensor(ids);
    const [B, T] = x.shape;
    if (T < 2) throw new Error(`loss needs sequences of at least 2 tokens, got T=${T}`);
    const { keyMask, positionIds } = this.maskTensors(B, T, options);
    const { h } = this.trunk(x, this.context(options.training), { keyMask, positionIds });
    const C = this.config.n_embd;
    const N = B * (T - 1);
    const hPred = tf.reshape(tf.slice(h, [0, 0, 0], [B, T - 1, C]), [N, C]) as tf.Tensor2D;
    const logits = this.lmHead(hPred); // [N, V]
    const next = (m: tf.Tensor) => tf.reshape(tf.slice(m, [0, 1], [B, T - 1]), [N]) as tf.Tensor1D;
    let labels = x as tf.Tensor2D;
    let weight: tf.Tensor1D | undefined;
    const multiply = (m: tf.Tensor1D) => {
      weight = weight ? (tf.mul(weight, m) as tf.Tensor1D) : m;
    };
    if (options.labels !== undefined) {
      const lf = floatMatrix(options.labels, B, T, 'labels');
      multiply(next(tf.cast(tf.notEqual(lf, -100), 'float32')));
      labels = tf.cast(tf.maximum(lf, 0), 'int32') as tf.Tensor2D;
      const max = tf.max(labels).dataSync()[0];
      if (max >= this.config.vocab_size) throw new Error(`labels contain ${max}, outside the vocabulary`);
    }
    if (options.mask !== undefined) multiply(next(floatMatrix(options.mask, B, T, 'mask')));
    if (keyMask && options.labels === undefined && options.mask === undefined) multiply(next(keyMask));
    return { logits, targets: next(labels), weight, B, T };
  }

  /**
   * Mean next-token cross-entropy (GPT2LMHeadModel's loss): position t predicts token t+1; targets with
   * label −100, mask 0 or (when neither labels nor mask is given) attention mask 0 are left out.
   * Returns a scalar tensor — differentiable, for training; the caller disposes it.
   */
  loss(ids: TokenInput, options: LossOptions = {}): tf.Scalar {
    this.checkAlive();
    return tf.tidy(() => {
      const { logits, targets, weight } = this.shiftedTargets(ids, options);
      return softmaxCrossEntropy(logits, targets, weight, 'mean') as tf.Scalar;
    });
  }

  /** exp(mean loss) in evaluation mode. */
  perplexity(ids: TokenInput, options: LossOptions = {}): number {
    const l = this.loss(ids, { training: false, ...options });
    const v = l.dataSync()[0];
    l.dispose();
    return Math.exp(v);
  }

  /**
   * log p(token t | tokens < t) for t = 1..T−1 of each row: [B][T−1] (evaluation mode). For scoring
   * candidates: sum a row's entries over the answer tokens. Masked targets read 0.
   */
  tokenLogProbs(ids: TokenInput, options: LossOptions = {}): number[][] {
    this.checkAlive();
    const out = tf.tidy(() => {
      const { logits, targets, weight, B, T } = this.shiftedTargets(ids, { training: false, ...options });
      const nll = softmaxCrossEntropy(logits, targets, weight, 'none');
      return tf.reshape(tf.neg(nll), [B, T - 1]);
    });
    const rows = out.arraySync() as number[][];
    out.dispose();
    return rows.map((r) => r.map((v) => (Object.is(v, -0) ? 0 : v)));
  }

  /**
   * Runs a prompt batch and builds a KV cache. ids [B, T] (left-padded rows have attentionMask 0 at the pads;
   * positions then start at 0 on each row's first real token). Returns the logits of each row's last position
   * [B, V] and the cache. The caller disposes both.
   */
  prefill(ids: TokenInput, attentionMask?: MatrixInput): { logits: tf.Tensor2D; cache: KVCache } {
    this.checkAlive();
    let nextPosition: number[] = [];
    const r = tf.tidy(() => {
      const x = this.idsTensor(ids);
      const [B, T] = x.shape;
      const mask =
        attentionMask === undefined ? tf.ones([B, T]) : floatMatrix(attentionMask, B, T, 'attentionMask');
      const maskRows = mask.arraySync() as number[][];
      const pos = maskRows.map((row) => {
        let c = -1;
        return row.map((m) => (m > 0 ? ++c : 1)); // HF: cumsum(mask) − 1, pads get 1
      });
      nextPosition = maskRows.map((row) => row.reduce((a, m) => a + (m > 0 ? 1 : 0), 0));
      const { h, kv } = this.trunk(x, this.context(false), {
        keyMask: mask as tf.Tensor2D,
        positionIds: tf.tensor2d(pos, [B, T], 'int32'),
        wantKV: true,
      });
      const last = tf.reshape(tf.slice(h, [0, T - 1, 0], [B, 1, this.config.n_embd]), [
        B,
        this.config.n_embd,
      ]);
      return { logits: this.lmHead(last as tf.Tensor2D), k: kv.map((l) => l.k), v: kv.map((l) => l.v), mask };
    });
    const layers = r.k.map((k, i) => ({ k, v: r.v[i] }));
    return { logits: r.logits, cache: new KVCache(layers, r.mask as tf.Tensor2D, nextPosition) };
  }

  /**
   * Appends one token per row to the cache and returns the next-token logits [B, V]. The cache is updated in
   * place (old tensors disposed). The caller disposes the logits.
   */
  decodeStep(tokens: number[], cache: KVCache): tf.Tensor2D {
    this.checkAlive();
    const B = tokens.length;
    if (B !== cache.keyMask.shape[0])
      throw new Error(`decodeStep: ${B} tokens for a cache of batch ${cache.keyMask.shape[0]}`);
    const r = tf.tidy(() => {
      const x = this.idsTensor(tokens.map((t) => [t]));
      const keyMask = tf.concat([cache.keyMask, tf.ones([B, 1])], 1) as tf.Tensor2D;
      const positionIds = tf.tensor2d(
        cache.nextPosition.map((p) => [p]),
        [B, 1],
        'int32',
      );
      const { h, kv } = this.trunk(x, this.context(false), {
        keyMask,
        positionIds,
        past: cache.layers,
        wantKV: true,
      });
      const logits = this.lmHead(tf.reshape(h, [B, this.config.n_embd]) as tf.Tensor2D);
      return { logits, k: kv.map((l) => l.k), v: kv.map((l) => l.v), keyMask };
    });
    const old = cache.layers;
    cache.keyMask.dispose();
    for (const l of old) {
      l.k.dispose();
      l.v.dispose();
    }
    cache.layers = r.k.map((k, i) => ({ k, v: r.v[i] }));
    cache.keyMask = r.keyMask;
    cache.nextPosition = cache.nextPosition.map((p) => p + 1);
    return r.logits;
  }

  /**
   * Continues a prompt (or each of a batch of prompts) and returns the generated text (prompt not included).
   * Greedy by default; sampling with `temperature`, `topK`, `topP` (seeded by `seed`). Uses the KV cache.
   */
  async generate(prompt: string, options?: GenerateOptions): Promise<string>;
  async generate(prompts: string[], options?: GenerateOptions): Promise<string[]>;
  async generate(prompt: string | string[], options: GenerateOptions = {}): Promise<string | string[]> {
    this.checkAlive();
    const gens = generateText(this, typeof prompt === 'string' ? [prompt] : prompt, options);
    return typeof prompt === 'string' ? gens[0].text : gens.map((g) => g.text);
  }

  /** Like {@link generate}, with the generated token ids and why each sequence stopped. */
  async generateDetailed(prompts: string | string[], options: GenerateOptions = {}): Promise<Generation[]> {
    this.checkAlive();
    return generateText(this, typeof prompts === 'string' ? [prompts] : prompts, options);
  }

  /** Token-level generation without a tokenizer: prompts of ids → new ids per prompt (EOS not included). */
  generateIds(prompts: number[][], options: GenerateOptions = {}): number[][] {
    this.checkAlive();
    const out: number[][] = prompts.map(() => []);
    for (const step of iterate(decodeTokens(this, prompts, options))) {
      step.forEach((t, b) => {
        if (t >= 0) out[b].push(t);
      });
    }
    return out;
  }

  /** Streams the continuation of a prompt as text pieces (async iterator), for showing tokens as they come. */
  stream(prompt: string, options: GenerateOptions = {}): AsyncGenerator<string> {
    this.checkAlive();
    return streamText(this, prompt, options);
  }

  /** The k most likely next tokens after a prompt (text or ids): [{ token, id, logit, prob }], best first. */
  topNextTokens(prompt: string | number[], k = 10): TopToken[] {
    this.checkAlive();
    return topNextTokens(this, prompt, k);
  }

  /** Frees every variable (and adapter) of the model. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.transformer.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this GPT2 model has been disposed');
  }
}

function* iterate<T>(g: Generator<T, unknown>): Generator<T> {
  for (let r = g.next(); !r.done; r = g.next()) yield r.value;
}

/** Runs a constructor in a tfjs scope so init intermediates are freed (variables survive scopes). */
function buildInScope<T>(make: () => T): T {
  tf.engine().startScope();
  try {
    return make();
  } finally {
    tf.engine().endScope();
  }
}

/** number[] | number[][] → rectangular rows (a flat array is one row). */
function toRows(m: number[] | number[][], what: string): number[][] {
  if (m.length === 0) throw new Error(`${what} is empty`);
  const rows = Array.isArray(m[0]) ? (m as number[][]) : [m as number[]];
  const T = rows[0].length;
  if (T === 0) throw new Error(`${what}[0] is empty`);
  rows.forEach((r, i) => {
    if (!Array.isArray(r) || r.length !== T) {
      throw new Error(
        `${what}[${i}] has length ${Array.isArray(r) ? r.length : typeof r}, expected ${T} (pad rows to equal length)`,
      );
    }
  });
  return rows;
}

/** A [B, T] float32 tensor from arrays or a tensor, checking the shape. Call inside tf.tidy. */
function floatMatrix(m: MatrixInput, B: number, T: number, what: string): tf.Tensor2D {
  const t =
    m instanceof tf.Tensor ? tf.cast(m, 'float32') : tf.tensor2d(toRows(m, what), undefined, 'float32');
  if (t.rank !== 2 || t.shape[0] !== B || t.shape[1] !== T) {
    throw new Error(`${what} must have shape [${B}, ${T}], got [${t.shape}]`);
  }
  return t as tf.Tensor2D;
}
