/**
 * GPT-2's building blocks as small module objects, named like Hugging Face's `modeling_gpt2.py`, so that
 * `model.namedModules()` yields `transformer.h.0.attn.c_attn` and @atelier/lora can attach adapters to a
 * {@link Conv1D} without subclassing anything.
 *
 * Shapes: B batch, T time (new tokens), Tk keys (past + new), C n_embd, H n_head, D = C / H head size.
 */
import { causalSelfAttention, embedding, gelu, layerNorm, tf } from '@atelier/tensor';

/** Creates the tensor a parameter starts from. `kind` says which GPT-2 initialisation applies. */
export type ParamInit = (name: string, shape: number[], kind: ParamKind) => tf.Tensor;
export type ParamKind = 'weight' | 'residual_weight' | 'bias' | 'ln_weight' | 'ln_bias' | 'embedding';

/** Per-call state threaded through the modules during one forward pass. */
export interface ForwardContext {
  /** Dropout on (training) or off (evaluation). */
  training: boolean;
  /** Seed for the next dropout mask (a fresh one per call, so masks differ but runs are reproducible). */
  nextSeed(): number;
}

/** Base class: children and parameters in insertion order, addressed with HF dotted names. */
export abstract class Module {
  protected readonly children = new Map<string, Module>();
  protected readonly params = new Map<string, tf.Variable>();

  protected addChild<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Every module below (and including) this one: [dotted name, module]. The root's name is `prefix`. */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.children) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    }
    return out;
  }

  /** Every parameter below this module: [dotted HF name, variable]. */
  namedParameters(prefix = ''): Array<[string, tf.Variable]> {
    const out: Array<[string, tf.Variable]> = [];
    for (const [name, v] of this.params) out.push([prefix ? `${prefix}.${name}` : name, v]);
    for (const [name, child] of this.children) {
      out.push(...child.namedParameters(prefix ? `${prefix}.${name}` : name));
    }
    return out;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const c of this.children.values()) c.dispose();
  }
}

/** Builds variables named `${scope}/${hfName}` (tfjs variable names are global, hence the per-model scope). */
export class ParamFactory {
  constructor(
    readonly scope: string,
    private readonly init: ParamInit,
  ) {}

  create(name: string, shape: number[], kind: ParamKind): tf.Variable {
    const t = this.init(name, shape, kind);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`parameter ${name}: expected shape [${shape}], got [${t.shape}]`);
    }
    const v = tf.variable(t, true, `${this.scope}/${name}`, 'float32');
    t.dispose();
    return v;
  }
}

/**
 * Extra output added to a {@link Conv1D}'s result — the hook @atelier/lora uses:
 * `y = x·W + b + Σ adapter.forward(x)`. Adapters listed in `conv.adapters` run in order.
 */
export interface Conv1DAdapter {
  /** x2 [N, in] → [N, out], added to the base projection. */
  forward(x2: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D;
  /** The adapter's own parameters, named relative to the Conv1D (e.g. `lora_A.weight`). */
  namedParameters?(): Array<[string, tf.Variable]>;
  dispose?(): void;
}

/** HF `Conv1D`: a linear layer with the weight stored [in, out] (transposed from nn.Linear). y = x·W + b. */
export class Conv1D extends Module {
  readonly weight: tf.Variable; // [nIn, nOut]
  readonly bias: tf.Variable; // [nOut]
  /** Adapters whose outputs are added to this projection (see {@link Conv1DAdapter}). */
  adapters: Conv1DAdapter[] = [];

  constructor(
    f: ParamFactory,
    name: string,
    readonly nIn: number,
    readonly nOut: number,
    weightKind: ParamKind = 'weight',
  ) {
    super();
    this.weight = f.create(`${name}.weight`, [nIn, nOut], weightKind);
    this.bias = f.create(`${name}.bias`, [nOut], 'bias');
    this.params.set('weight', this.weight);
    this.params.set('bias', this.bias);
  }

  /** x [..., nIn] → [..., nOut]. */
  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    const x2 = tf.reshape(x, [-1, this.nIn]) as tf.Tensor2D;
    let y: tf.Tensor = tf.fused.matMul({ a: x2, b: this.weight as tf.Tensor2D, bias: this.bias });
    for (const a of this.adapters) y = tf.add(y, a.forward(x2, ctx));
    return tf.reshape(y, [...lead, this.nOut]);
  }

  override namedParameters(prefix = ''): Array<[string, tf.Variable]> {
    const out = super.namedParameters(prefix);
    for (const a of this.adapters) {
      for (const [n, v] of a.namedParameters?.() ?? []) out.push([prefix ? `${prefix}.${n}` : n, v]);
    }
    return out;
  }

  override dispose(): void {
    super.dispose();
    for (const a of this.adapters) a.dispose?.();
    this.adapters = [];
  }
}

/** LayerNorm over the last axis with gain `weight` and `bias` (HF names). */
export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    f: ParamFactory,
    name: string,
    readonly dim: number,
    readonly eps: number,
  ) {
    super();
    this.weight = f.create(`${name}.weight`, [dim], 'ln_weight');
    this.bias = f.create(`${name}.bias`, [dim], 'ln_bias');
    this.params.set('weight', this.weight);
    this.params.set('bias', this.bias);
  }

  /** x [..., C] → [..., C]. */
  forward(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    const y = layerNorm(tf.reshape(x, [-1, this.dim]), this.weight, this.bias, this.eps);
    return tf.reshape(y, [...lead, this.dim]);
  }
}

/** Token or position embedding table, weight [num, C]. */
export class Embedding extends Module {
  readonly weight: tf.Variable;

  constructor(
    f: ParamFactory,
    name: string,
    readonly num: number,
    readonly dim: number,
  ) {
    super();
    this.weight = f.create(`${name}.weight`, [num, dim], 'embedding');
    this.params.set('weight', this.weight);
  }

  /** ids int32 [...] → [..., C] (the caller validates ids: a gather clamps out-of-range ids silently). */
  forward(ids: tf.Tensor): tf.Tensor {
    return embedding(this.weight as tf.Tensor2D, ids);
  }
}

/** Cached keys and values of one layer: k, v [B, H, Tk, D]. */
export interface LayerKV {
  k: tf.Tensor4D;
  v: tf.Tensor4D;
}

/** Attention inputs that only the model knows. */
export interface AttentionInput {
  /** [B, Tk] float 1 = real token, 0 = padding (keys only); undefined = no padding. */
  keyMask?: tf.Tensor2D;
  /** Past keys/values for incremental decoding; the new ones are returned in `kv`. */
  past?: LayerKV;
  /** Return the new k/v (for building a cache). */
  wantKV?: boolean;
}

/** Multi-head causal self-attention with the fused q|k|v projection `c_attn` and output `c_proj`. */
export class Attention extends Module {
  readonly c_attn: Conv1D;
  readonly c_proj: Conv1D;
  readonly headSize: number;

  constructor(
    f: ParamFactory,
    name: string,
    readonly nEmbd: number,
    readonly nHead: number,
    readonly attnPdrop: number,
    readonly residPdrop: number,
  ) {
    super();
    this.headSize = nEmbd / nHead;
    this.c_attn = this.addChild('c_attn', new Conv1D(f, `${name}.c_attn`, nEmbd, 3 * nEmbd));
    this.c_proj = this.addChild('c_proj', new Conv1D(f, `${name}.c_proj`, nEmbd, nEmbd, 'residual_weight'));
  }

  /** x [B, T, C] → { y [B, T, C], kv? }. */
  forward(x: tf.Tensor3D, ctx: ForwardContext, input: AttentionInput = {}): { y: tf.Tensor3D; kv?: LayerKV } {
    const [B, T, C] = x.shape;
    const qkv = this.c_attn.forward(x, ctx) as tf.Tensor3D; // [B, T, 3C]
    const attnDropout = ctx.training && this.attnPdrop > 0;
    let y: tf.Tensor3D;
    let kv: LayerKV | undefined;
    if (!input.past && !input.wantKV && !attnDropout) {
      y = causalSelfAttention(qkv, this.nHead, input.keyMask); // fused kernel path
    } else {
      const r = this.attendExplicit(qkv, ctx, input);
      y = r.y;
      kv = r.kv;
    }
    let out = this.c_proj.forward(y, ctx);
    if (ctx.training && this.residPdrop > 0)
      out = tf.dropout(out, this.residPdrop, undefined, ctx.nextSeed());
    return { y: tf.reshape(out, [B, T, C]), kv };
  }

  /**
   * The same attention written out (as HF's eager path): needed for attention-probability dropout and for
   * queries that attend to cached keys. Query t (absolute position Tp + t) sees keys 0..Tp + t.
   */
  private attendExplicit(qkv: tf.Tensor3D, ctx: ForwardContext, input: AttentionInput) {
    const [B, T] = qkv.shape;
    const H = this.nHead;
    const D = this.headSize;
    const C = this.nEmbd;
    const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, D]), [0, 2, 1, 3]) as tf.Tensor4D;
    const [q0, k0, v0] = tf.split(qkv, 3, 2);
    const q = heads(q0); // [B, H, T, D]
    let k = heads(k0);
    let v = heads(v0);
    const Tp = input.past ? input.past.k.shape[2] : 0;
    if (input.past) {
      k = tf.concat([input.past.k, k], 2); // [B, H, Tk, D]
      v = tf.concat([input.past.v, v], 2);
    }
    const Tk = Tp + T;
    const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)); // [B, H, T, Tk]
    let allowed = tf.reshape(tf.linalg.bandPart(tf.ones([T, Tk]), -1, Tp), [1, 1, T, Tk]);
    if (input.keyMask) allowed = tf.mul(allowed, tf.reshape(input.keyMask, [B, 1, 1, Tk]));
    const masked = tf.where(tf.greater(allowed, 0), scores, tf.fill(scores.shape, -1e9));
    let probs = tf.softmax(masked, -1);
    if (ctx.training && this.attnPdrop > 0)
      probs = tf.dropout(probs, this.attnPdrop, undefined, ctx.nextSeed());
    const y4 = tf.matMul(probs, v); // [B, H, T, D]
    const y = tf.reshape(tf.transpose(y4, [0, 2, 1, 3]), [B, T, C]) as tf.Tensor3D;
    return { y, kv: input.wantKV ? { k, v } : undefined };
  }
}

/** Position-wise feed-forward: c_fc → tanh GELU → c_proj. */
export class MLP extends Module {
  readonly c_fc: Conv1D;
  readonly c_proj: Conv1D;

  constructor(
    f: ParamFactory,
    name: string,
    nEmbd: number,
    nInner: number,
    readonly residPdrop: number,
  ) {
    super();
    this.c_fc = this.addChild('c_fc', new Conv1D(f, `${name}.c_fc`, nEmbd, nInner));
    this.c_proj = this.addChild('c_proj', new Conv1D(f, `${name}.c_proj`, nInner, nEmbd, 'residual_weight'));
  }

  /** x [B, T, C] → [B, T, C]. */
  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    let y = this.c_proj.forward(gelu(this.c_fc.forward(x, ctx)), ctx);
    if (ctx.training && this.residPdrop > 0) y = tf.dropout(y, this.residPdrop, undefined, ctx.nextSeed());
    return y;
  }
}

/** Pre-LN transformer block: x += attn(ln_1(x)); x += mlp(ln_2(x)). */
export class Block extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: Attention;
  readonly ln_2: LayerNorm;
  readonly mlp: MLP;

  constructor(
    f: ParamFactory,
    name: string,
    o: { nEmbd: number; nHead: number; nInner: number; eps: number; attnPdrop: number; residPdrop: number },
  ) {
    super();
    this.ln_1 = this.addChild('ln_1', new LayerNorm(f, `${name}.ln_1`, o.nEmbd, o.eps));
    this.attn = this.addChild(
      'attn',
      new Attention(f, `${name}.attn`, o.nEmbd, o.nHead, o.attnPdrop, o.residPdrop),
    );
    this.ln_2 = this.addChild('ln_2', new LayerNorm(f, `${name}.ln_2`, o.nEmbd, o.eps));
    this.mlp = this.addChild('mlp', new MLP(f, `${name}.mlp`, o.nEmbd, o.nInner, o.residPdrop));
  }

  /** x [B, T, C] → { x [B, T, C], kv? }. */
  forward(x: tf.Tensor3D, ctx: ForwardContext, input: AttentionInput = {}): { x: tf.Tensor3D; kv?: LayerKV } {
    const a = this.attn.forward(this.ln_1.forward(x) as tf.Tensor3D, ctx, input);
    const h = tf.add(x, a.y) as tf.Tensor3D;
    const out = tf.add(h, this.mlp.forward(this.ln_2.forward(h), ctx)) as tf.Tensor3D;
    return { x: out, kv: a.kv };
  }
}

/** The `transformer` of GPT2LMHeadModel: wte, wpe, h.{i}, ln_f. */
export class Transformer extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly h: Block[] = [];
  readonly ln_f: LayerNorm;

  constructor(
    f: ParamFactory,
    c: {
      vocab_size: number;
      n_positions: number;
      n_embd: number;
      n_layer: number;
      n_head: number;
      n_inner: number | null;
      layer_norm_epsilon: number;
      attn_pdrop: number;
      resid_pdrop: number;
    },
  ) {
    super();
    this.wte = this.addChild('wte', new Embedding(f, 'transformer.wte', c.vocab_size, c.n_embd));
    this.wpe = this.addChild('wpe', new Embedding(f, 'transformer.wpe', c.n_positions, c.n_embd));
    const hList = this.addChild('h', new ModuleList());
    for (let i = 0; i < c.n_layer; i++) {
      const block = new Block(f, `transformer.h.${i}`, {
        nEmbd: c.n_embd,
        nHead: c.n_head,
        nInner: c.n_inner ?? 4 * c.n_embd,
        eps: c.layer_norm_epsilon,
        attnPdrop: c.attn_pdrop,
        residPdrop: c.resid_pdrop,
      });
      hList.append(block);
      this.h.push(block);
    }
    this.ln_f = this.addChild('ln_f', new LayerNorm(f, 'transformer.ln_f', c.n_embd, c.layer_norm_epsilon));
  }
}

/** Numbered children (`h.0`, `h.1`, …) like torch's ModuleList. */
export class ModuleList extends Module {
  append(m: Module): void {
    this.children.set(String(this.children.size), m);
  }
}
