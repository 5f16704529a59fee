import { tf } from '@atelier/tensor';

/** Which parameter groups get no weight decay (Hugging Face's Trainer excludes biases and LayerNorm). */
export interface DecayExclusions {
  biases: boolean;
  norms: boolean;
  embeddings: boolean;
}

/** Kind of a parameter, guessed from its name and rank (GPT-2 / PEFT naming). */
export function parameterKind(name: string, rank: number): 'bias' | 'norm' | 'embedding' | 'weight' {
  const n = name.toLowerCase();
  if (/(^|[._/])(ln_?\w*|layer_?norm\w*|norm)([._/]|$)/.test(n)) return 'norm';
  if (/(^|[._/])(wte|wpe|embed\w*|embeddings?)([._/]|$)/.test(n)) return 'embedding';
  if (/(^|[._/])bias$/.test(n) || rank === 1) return 'bias';
  return 'weight';
}

/** true when `name` should receive weight decay under `exclude`. */
export function decays(name: string, rank: number, exclude: DecayExclusions): boolean {
  const kind = parameterKind(name, rank);
  if (kind === 'bias') return !exclude.biases;
  if (kind === 'norm') return !exclude.norms;
  if (kind === 'embedding') return !exclude.embeddings;
  return true;
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  exclude: DecayExclusions;
}

/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch `torch.optim.AdamW` update order):
 *   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   p ← p − lr · (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε)
 * State (m, v per variable and the step count t) round-trips exactly through `state()` / `loadState()`.
 */
export class AdamW {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly decayMask = new Map<string, boolean>();
  /** Number of updates applied so far (t in the bias corrections). */
  t = 0;

  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly o: AdamWOptions,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false, `adamw_m/${name}/${uid()}`));
      this.v.set(name, tf.variable(tf.zerosLike(p), false, `adamw_v/${name}/${uid()}`));
      this.decayMask.set(name, decays(name, p.rank, o.exclude));
    }
  }

  /** Names of the parameters that receive weight decay. */
  decayed(): string[] {
    return [...this.decayMask].filter(([, d]) => d).map(([n]) => n);
  }

  /**
   * One update with learning rate `lr` from gradients keyed by parameter name (missing ones are skipped).
   * The gradients are multiplied by `gradScale` first (clipping and accumulation averaging, folded into the
   * update so no scaled copy of every gradient is made).
   */
  step(grads: Map<string, tf.Tensor>, lr: number, gradScale = 1): void {
    this.t += 1;
    const { beta1, beta2, epsilon, weightDecay } = this.o;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    // torch: p -= (lr/bc1) · m / (sqrt(v)/sqrt(bc2) + eps)  ==  p -= (lr·sqrt(bc2)/bc1) · m / (sqrt(v) + eps·sqrt(bc2))
    const stepSize = (lr * Math.sqrt(bc2)) / bc1;
    const epsHat = epsilon * Math.sqrt(bc2);
    // The gradient scale folds into the moment coefficients: no scaled copy of g.
    const cm = (1 - beta1) * gradScale;
    const cv = (1 - beta2) * gradScale * gradScale;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        if (!g) continue;
        const m = this.m.get(name) as tf.Variable;
        const v = this.v.get(name) as tf.Variable;
        const mNew = tf.add(tf.mul(m, beta1), tf.mul(g, cm));
        const vNew = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), cv));
        m.assign(mNew);
        v.assign(vNew);
        const decayed = this.decayMask.get(name) && weightDecay > 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
        const update = tf.div(mNew, tf.add(tf.sqrt(vNew), epsHat));
        p.assign(tf.sub(decayed, tf.mul(update, stepSize)));
      }
    });
  }

  /** Moments as named tensors (`m.<name>`, `v.<name>`) for a safetensors file, plus the step count. */
  state(): { tensors: Map<string, tf.Tensor>; t: number } {
    const tensors = new Map<string, tf.Tensor>();
    for (const [name, m] of this.m) tensors.set(`m.${name}`, m);
    for (const [name, v] of this.v) tensors.set(`v.${name}`, v);
    return { tensors, t: this.t };
  }

  /** Restore moments and step count written by `state()`; every parameter must be present with its shape. */
  loadState(tensors: Map<string, { shape: number[]; data: Float32Array }>, t: number): void {
    for (const [prefix, store] of [
      ['m', this.m],
      ['v', this.v],
    ] as const) {
      for (const [name, variable] of store) {
        const entry = tensors.get(`${prefix}.${name}`);
        if (!entry) throw new Error(`optimizer state is missing "${prefix}.${name}"`);
        if (entry.shape.join(',') !== variable.shape.join(',')) {
          throw new Error(
            `optimizer state "${prefix}.${name}" has shape [${entry.shape}], parameter has [${variable.shape}]`,
          );
        }
        tf.tidy(() => variable.assign(tf.tensor(entry.data, entry.shape, 'float32')));
      }
    }
    this.t = t;
  }

  dispose(): void {
    for (const x of this.m.values()) x.dispose();
    for (const x of this.v.values()) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}

let counter = 0;
function uid(): number {
  counter += 1;
  return counter;
}
