/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), with exactly torch.optim.AdamW's
 * update (amsgrad=False, maximize=False) for every parameter p with gradient g at its step t:
 *
 *   p ← p · (1 − lr·λ)                                 decoupled weight decay (only where `decay(name)`)
 *   m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 *
 * On the `atelier-native` backend the update runs in place in the addon (one fused pass over p, g, m, v; no
 * temporaries); on any other backend it runs as tf ops. The moments are exportable for checkpoints.
 */

import { NativeBackend } from '../native/backend.js';
import { tf } from '../tf.js';

export interface AdamWConfig {
  /** Learning rate (default 1e-3). Can be changed between steps (`opt.lr = …`). */
  lr?: number;
  /** β1 (default 0.9). */
  beta1?: number;
  /** β2 (default 0.999). */
  beta2?: number;
  /** ε added to the denominator (default 1e-8). */
  epsilon?: number;
  /** Decoupled weight decay λ (default 0.01, torch's default). */
  weightDecay?: number;
  /**
   * Which variables get weight decay, by variable name and shape. Default: tensors of rank ≥ 2 (matmul and
   * embedding weights), not biases or layer-norm gains — nanoGPT's `configure_optimizers` convention.
   */
  decay?: (name: string, shape: number[]) => boolean;
}

/** Optimizer state of one variable: its step count and both moment estimates (same shape as the variable). */
export interface AdamWSlotState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/** Everything needed to resume: hyper-parameters and per-variable slots, keyed by variable name. */
export interface AdamWState {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  slots: Record<string, AdamWSlotState>;
}

interface Slot {
  step: number;
  // Exactly one representation is live: arrays (native, in-place) or tf variables (generic path).
  m?: Float32Array;
  v?: Float32Array;
  mt?: tf.Variable;
  vt?: tf.Variable;
}

type NamedGrads = tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[];

export class AdamW {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  private readonly decay: (name: string, shape: number[]) => boolean;
  private readonly slots = new Map<string, Slot>();

  constructor(config: AdamWConfig = {}) {
    this.lr = config.lr ?? 1e-3;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.999;
    this.epsilon = config.epsilon ?? 1e-8;
    this.weightDecay = config.weightDecay ?? 0.01;
    this.decay = config.decay ?? ((_name, shape) => shape.length >= 2);
    for (const [k, v] of Object.entries({
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
    }))
      if (!(Number.isFinite(v) && v >= 0))
        throw new Error(`AdamW: ${k} must be a finite number >= 0, got ${v}`);
    if (this.beta1 >= 1 || this.beta2 >= 1) throw new Error('AdamW: beta1 and beta2 must be < 1');
  }

  /**
   * One optimizer step: updates each named variable (looked up in tfjs's variable registry) from its gradient.
   * Gradients are only read; dispose them afterwards as usual.
   */
  applyGradients(grads: NamedGrads): void {
    const list = Array.isArray(grads)
      ? grads
      : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    const registry = tf.engine().registeredVariables;
    for (const { name, tensor: grad } of list) {
      if (grad == null) continue;
      const variable = registry[name];
      if (!variable) throw new Error(`AdamW: no variable named '${name}'`);
      if (!tf.util.arraysEqual(variable.shape, grad.shape))
        throw new Error(
          `AdamW: gradient for '${name}' has shape [${grad.shape}], variable has [${variable.shape}]`,
        );
      if (variable.dtype !== 'float32')
        throw new Error(`AdamW: variable '${name}' is ${variable.dtype}, not float32`);
      let slot = this.slots.get(name);
      if (!slot) {
        slot = { step: 0 };
        this.slots.set(name, slot);
      }
      slot.step += 1;
      const wd = this.decay(name, variable.shape) ? this.weightDecay : 0;
      const backend = nativeBackendOf(variable);
      if (backend && nativeBackendOf(grad) === backend) this.stepNative(backend, variable, grad, slot, wd);
      else this.stepGeneric(variable, grad, slot, wd);
    }
  }

  private stepNative(
    backend: NativeBackend,
    variable: tf.Variable,
    grad: tf.Tensor,
    slot: Slot,
    wd: number,
  ): void {
    const n = variable.size;
    if (slot.mt || slot.vt) {
      slot.m = slot.mt?.dataSync() as Float32Array;
      slot.v = slot.vt?.dataSync() as Float32Array;
      slot.mt?.dispose();
      slot.vt?.dispose();
      slot.mt = slot.vt = undefined;
    }
    slot.m ??= new Float32Array(n);
    slot.v ??= new Float32Array(n);
    // In place is only safe when no other tensor shares this storage (tf.variable(t) aliases t, reshape
    // aliases its input): otherwise give the variable its own copy first.
    if (backend.refCount(variable.dataId) > 1) {
      const values = Float32Array.from(backend.data.get(variable.dataId).values as Float32Array);
      const own = tf
        .engine()
        .makeTensorFromTensorInfo(backend.makeTensorInfo(variable.shape, 'float32', values));
      variable.assign(own);
      own.dispose();
    }
    const param = backend.data.get(variable.dataId).values as Float32Array;
    const g = backend.data.get(grad.dataId).values;
    const gf = g instanceof Float32Array ? g : Float32Array.from(g as ArrayLike<number>);
    backend.addon.adamw(
      param,
      gf,
      slot.m,
      slot.v,
      n,
      this.lr,
      this.beta1,
      this.beta2,
      this.epsilon,
      wd,
      slot.step,
    );
  }

  private stepGeneric(variable: tf.Variable, grad: tf.Tensor, slot: Slot, wd: number): void {
    if (!slot.mt || !slot.vt) {
      // tf.variable(t) shares t's storage; dispose t so only the variable holds it.
      const moment = (values?: Float32Array) => {
        const init = values ? tf.tensor(values, variable.shape) : tf.zerosLike(variable);
        const v = tf.variable(init, false);
        init.dispose();
        return v;
      };
      slot.mt = moment(slot.m);
      slot.vt = moment(slot.v);
      slot.m = slot.v = undefined;
    }
    const { mt, vt } = slot;
    const { lr, beta1, beta2, epsilon } = this;
    const bc1 = 1 - beta1 ** slot.step;
    const bc2 = 1 - beta2 ** slot.step;
    tf.tidy(() => {
      const m = tf.add(tf.mul(mt, beta1), tf.mul(grad, 1 - beta1));
      const v = tf.add(tf.mul(vt, beta2), tf.mul(tf.square(grad), 1 - beta2));
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), epsilon);
      const decayed = wd === 0 ? variable : tf.mul(variable, 1 - lr * wd);
      mt.assign(m);
      vt.assign(v);
      variable.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
    });
  }

  /** Copies of the hyper-parameters and every slot (for checkpoints). */
  state(): AdamWState {
    const slots: Record<string, AdamWSlotState> = {};
    for (const [name, s] of this.slots) {
      const m = s.m ? s.m.slice() : (s.mt?.dataSync() as Float32Array).slice();
      const v = s.v ? s.v.slice() : (s.vt?.dataSync() as Float32Array).slice();
      slots[name] = { step: s.step, m, v };
    }
    const { lr, beta1, beta2, epsilon, weightDecay } = this;
    return { lr, beta1, beta2, epsilon, weightDecay, slots };
  }

  /** Restores `state()` output; replaces all slots. Sizes are checked against the registered variables. */
  loadState(state: AdamWState): void {
    const registry = tf.engine().registeredVariables;
    for (const [name, s] of Object.entries(state.slots)) {
      const variable = registry[name];
      if (variable && (s.m.length !== variable.size || s.v.length !== variable.size))
        throw new Error(
          `AdamW.loadState: slot '${name}' has ${s.m.length} values, variable has ${variable.size}`,
        );
      if (!(Number.isInteger(s.step) && s.step >= 0))
        throw new Error(`AdamW.loadState: slot '${name}' has bad step`);
    }
    this.disposeSlots();
    this.lr = state.lr;
    this.beta1 = state.beta1;
    this.beta2 = state.beta2;
    this.epsilon = state.epsilon;
    this.weightDecay = state.weightDecay;
    for (const [name, s] of Object.entries(state.slots))
      this.slots.set(name, { step: s.step, m: Float32Array.from(s.m), v: Float32Array.from(s.v) });
  }

  /** Frees the moment tensors. */
  dispose(): void {
    this.disposeSlots();
  }

  private disposeSlots(): void {
    for (const s of this.slots.values()) {
      s.mt?.dispose();
      s.vt?.dispose();
    }
    this.slots.clear();
  }
}

function nativeBackendOf(t: tf.Tensor): NativeBackend | null {
  const info = (tf.engine().state.tensorInfo as unknown as WeakMap<object, { backend: unknown }>).get(
    t.dataId,
  );
  return info?.backend instanceof NativeBackend ? info.backend : null;
}
