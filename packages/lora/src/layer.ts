/**
 * The LoRA layer attached to one GPT-2 Conv1D through its `adapters` hook (PEFT peft/tuners/lora/layer.py,
 * class Linear with fan_in_fan_out = true):
 *
 *   y = x·W + b + Σ_active  dropout(x) · Aᵀ · Bᵀ · scaling
 *
 * with PEFT's storage shapes: A = lora_A.weight [r, in], B = lora_B.weight [out, r], while the Conv1D weight W is
 * [in, out]. Several named adapters can live on one layer; the active ones contribute. A merged adapter is folded
 * into W (W += (B·A)ᵀ·scaling) and skipped in the forward pass until it is unmerged.
 */
import type { Conv1D, Conv1DAdapter, ForwardContext } from '@atelier/gpt2';
import { tf } from '@atelier/tensor';
import type { LoraInit } from './config.js';

/** One adapter's weights on one layer. */
export interface LoraWeights {
  /** lora_A.weight [r, in]. */
  A: tf.Variable;
  /** lora_B.weight [out, r]. */
  B: tf.Variable;
  r: number;
  alpha: number;
  scaling: number;
  dropout: number;
}

/** Initial A [r, in] and B [out, r] as PEFT's `reset_lora_parameters`. */
export function initLoraWeights(
  init: LoraInit,
  r: number,
  nIn: number,
  nOut: number,
  seed: number,
): { A: tf.Tensor2D; B: tf.Tensor2D } {
  return tf.tidy(() => {
    // nn.init.kaiming_uniform_(w, a=√5) on a [fanOut, fanIn] weight: bound = gain·√(3/fanIn), gain = √(2/(1+a²))
    // = √(1/3), so bound = 1/√fanIn — the same as nn.Linear's default init.
    const kaiming = (rows: number, fanIn: number, s: number) =>
      tf.randomUniform(
        [rows, fanIn],
        -1 / Math.sqrt(fanIn),
        1 / Math.sqrt(fanIn),
        'float32',
        s,
      ) as tf.Tensor2D;
    if (init === false) return { A: kaiming(r, nIn, seed), B: kaiming(nOut, r, seed + 1) };
    if (init === true) return { A: kaiming(r, nIn, seed), B: tf.zeros([nOut, r]) as tf.Tensor2D };
    if (init === 'gaussian') {
      return {
        A: tf.randomNormal([r, nIn], 0, 1 / r, 'float32', seed) as tf.Tensor2D,
        B: tf.zeros([nOut, r]) as tf.Tensor2D,
      };
    }
    throw new Error(
      `init_lora_weights '${String(init)}' is not supported (use true, false or 'gaussian'); ` +
        'PiSSA/OLoRA/LoftQ/EVA initialisations need PEFT',
    );
  });
}

/** The adapters of one Conv1D. Implements the Conv1D's `adapters` hook. */
export class LoraLayer implements Conv1DAdapter {
  readonly adapters = new Map<string, LoraWeights>();
  /** Adapters whose update is added in forward (unless merged). */
  active: string[] = [];
  /** Adapters currently folded into the base weight. */
  readonly merged: string[] = [];
  /** When true, forward adds nothing (the base model's output), as PEFT's disable_adapter_layers. */
  disabled = false;
  /** Called once when the Conv1D disposes its adapters (the model is disposed): frees model-level LoRA state. */
  onDispose: (() => void) | undefined;

  constructor(
    /** HF name of the Conv1D (`transformer.h.0.attn.c_attn`). */
    readonly name: string,
    readonly conv: Conv1D,
  ) {}

  get nIn(): number {
    return this.conv.nIn;
  }

  get nOut(): number {
    return this.conv.nOut;
  }

  /** Adds an adapter with the given initial weights (copied into new variables named `${scope}/${name}.lora_A.…`). */
  add(
    adapter: string,
    w: Omit<LoraWeights, 'A' | 'B'> & { A: tf.Tensor; B: tf.Tensor },
    scope: string,
  ): void {
    if (this.adapters.has(adapter)) throw new Error(`${this.name} already has an adapter named '${adapter}'`);
    const A = tf.variable(w.A, false, `${scope}/${this.name}.lora_A.${adapter}.weight`, 'float32');
    const B = tf.variable(w.B, false, `${scope}/${this.name}.lora_B.${adapter}.weight`, 'float32');
    this.adapters.set(adapter, { A, B, r: w.r, alpha: w.alpha, scaling: w.scaling, dropout: w.dropout });
  }

  /** Removes an adapter (unmerging it first) and frees its variables. */
  remove(adapter: string): void {
    const w = this.adapters.get(adapter);
    if (!w) return;
    if (this.merged.includes(adapter)) this.unmerge([adapter]);
    w.A.dispose();
    w.B.dispose();
    this.adapters.delete(adapter);
    this.active = this.active.filter((a) => a !== adapter);
  }

  /** x2 [N, in] → Σ over active, unmerged adapters of dropout(x)·Aᵀ·Bᵀ·scaling [N, out]. */
  forward(x2: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    let y: tf.Tensor2D | undefined;
    if (!this.disabled) {
      for (const name of this.active) {
        if (this.merged.includes(name)) continue;
        const w = this.adapters.get(name) as LoraWeights;
        const x = ctx.training && w.dropout > 0 ? tf.dropout(x2, w.dropout, undefined, ctx.nextSeed()) : x2;
        const z = tf.matMul(x as tf.Tensor2D, w.A as tf.Tensor2D, false, true); // [N, r]
        const delta = tf.mul(tf.matMul(z, w.B as tf.Tensor2D, false, true), w.scaling) as tf.Tensor2D; // [N, out]
        y = y ? (tf.add(y, delta) as tf.Tensor2D) : delta;
      }
    }
    return y ?? (tf.zeros([x2.shape[0], this.nOut]) as tf.Tensor2D);
  }

  /** PEFT parameter names relative to the Conv1D: `lora_A.default.weight`, `lora_B.default.weight`, … */
  namedParameters(): Array<[string, tf.Variable]> {
    const out: Array<[string, tf.Variable]> = [];
    for (const [name, w] of this.adapters) {
      out.push([`lora_A.${name}.weight`, w.A]);
      out.push([`lora_B.${name}.weight`, w.B]);
    }
    return out;
  }

  /** ΔW = (B·A)ᵀ · scaling [in, out], in the Conv1D's [in, out] layout (PEFT get_delta_weight, fan_in_fan_out). */
  deltaWeight(adapter: string): tf.Tensor2D {
    const w = this.adapters.get(adapter);
    if (!w) throw new Error(`${this.name} has no adapter named '${adapter}'`);
    return tf.tidy(() => tf.mul(tf.matMul(w.A, w.B, true, true), w.scaling) as tf.Tensor2D); // Aᵀ·Bᵀ = (B·A)ᵀ
  }

  /** Folds adapters into the Conv1D weight: W += ΔW (PEFT merge). */
  merge(adapters: string[]): void {
    for (const name of adapters) {
      if (this.merged.includes(name) || !this.adapters.has(name)) continue;
      tf.tidy(() => this.conv.weight.assign(tf.add(this.conv.weight, this.deltaWeight(name))));
      this.merged.push(name);
    }
  }

  /** Whether W + ΔW of these adapters is finite everywhere (PEFT safe_merge's check); reads back one boolean. */
  async mergeIsFinite(adapters: string[]): Promise<boolean> {
    const todo = adapters.filter((n) => !this.merged.includes(n) && this.adapters.has(n));
    if (todo.length === 0) return true;
    const ok = tf.tidy(() => {
      let next: tf.Tensor = this.conv.weight;
      for (const n of todo) next = tf.add(next, this.deltaWeight(n));
      return tf.all(tf.isFinite(next));
    });
    const v = (await ok.data())[0];
    ok.dispose();
    return v !== 0;
  }

  /** Undoes {@link merge} (W −= ΔW), most recently merged first. */
  unmerge(adapters: string[] = [...this.merged]): void {
    for (const name of [...this.merged].reverse()) {
      if (!adapters.includes(name)) continue;
      tf.tidy(() => this.conv.weight.assign(tf.sub(this.conv.weight, this.deltaWeight(name))));
      this.merged.splice(this.merged.indexOf(name), 1);
    }
  }

  dispose(): void {
    this.onDispose?.();
    this.onDispose = undefined;
    for (const w of this.adapters.values()) {
      w.A.dispose();
      w.B.dispose();
    }
    this.adapters.clear();
  }
}
