import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSafetensors, saveSafetensors, softmaxCrossEntropy, tf } from '@atelier/tensor';
import { Rng } from './rng.js';
import type { Batch, LossContext, SampleOptions, TrainableModel } from './types.js';

let instances = 0;

/**
 * A tiny next-token model for tests and benchmarks of the trainer itself (model-independent parts):
 * embedding wte [V, C] → tanh(x·W1 + b1) → LayerNorm gain ln_f.weight → logits x·W2 [C, V].
 * Character-level: token ids are byte values (V = 256 by default). Not part of the public API.
 */
export class ToyModel implements TrainableModel {
  readonly vars = new Map<string, tf.Variable>();

  constructor(
    readonly V = 256,
    readonly C = 16,
    seed = 1,
    /** Multiply training logits by seeded uniform noise in [0.9, 1.1] (stands in for dropout). */
    readonly noise = true,
  ) {
    instances += 1;
    const rng = new Rng(seed);
    const randn = (n: number, std: number) => {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        // Box–Muller
        const u = 1 - rng.nextFloat();
        const v = rng.nextFloat();
        out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      }
      return out;
    };
    const add = (name: string, data: Float32Array, shape: number[]) =>
      this.vars.set(name, tf.variable(tf.tensor(data, shape), true, `toy${instances}/${name}`));
    add('wte.weight', randn(V * C, 0.1), [V, C]);
    add('mlp.c_fc.weight', randn(C * C, 0.3), [C, C]);
    add('mlp.c_fc.bias', new Float32Array(C), [C]);
    add('ln_f.weight', new Float32Array(C).fill(1), [C]);
    add('lm_head.weight', randn(C * V, 0.1), [C, V]);
  }

  trainableVariables(): Map<string, tf.Variable> {
    return this.vars;
  }

  parameterCount(): number {
    return [...this.vars.values()].reduce((s, v) => s + v.size, 0);
  }

  private logits(ids: tf.Tensor1D): tf.Tensor2D {
    const v = (n: string) => this.vars.get(n) as tf.Variable;
    // one-hot · wte instead of a gather: a plain matmul gradient on every backend (V is small here).
    const x = tf.matMul(tf.cast(tf.oneHot(ids, this.V), 'float32'), v('wte.weight'));
    const h = tf.tanh(tf.add(tf.matMul(x, v('mlp.c_fc.weight')), v('mlp.c_fc.bias')));
    return tf.matMul(tf.mul(h, v('ln_f.weight')), v('lm_head.weight')) as tf.Tensor2D;
  }

  loss(batch: Batch, ctx: LossContext): tf.Scalar {
    const { B, T } = batch;
    const inputs: number[] = [];
    const targets: number[] = [];
    const mask: number[] = [];
    for (let b = 0; b < B; b++) {
      for (let t = 0; t + 1 < T; t++) {
        inputs.push(batch.inputIds[b * T + t]);
        targets.push(batch.inputIds[b * T + t + 1]);
        mask.push(batch.mask ? batch.mask[b * T + t + 1] : 1);
      }
    }
    return tf.tidy(() => {
      let logits = this.logits(tf.tensor1d(inputs, 'int32'));
      // "dropout": a seeded multiplicative noise so tests see the trainer's per-step seeds matter.
      if (ctx.training && this.noise)
        logits = tf.mul(logits, tf.randomUniform(logits.shape, 0.9, 1.1, 'float32', ctx.seed)) as tf.Tensor2D;
      return softmaxCrossEntropy(
        logits,
        tf.tensor1d(targets, 'int32'),
        tf.tensor1d(mask, 'float32'),
      ) as tf.Scalar;
    });
  }

  async generate(prompt: string, o: SampleOptions): Promise<string> {
    const ids = [...Buffer.from(prompt, 'latin1')].map((c) => c % this.V);
    const rng = new Rng(o.seed);
    const out: number[] = [];
    let last = ids.at(-1) ?? 0;
    for (let i = 0; i < o.maxNewTokens; i++) {
      const probs = tf.tidy(() => {
        const l = this.logits(tf.tensor1d([last], 'int32'));
        return o.temperature > 0 ? tf.softmax(tf.div(l, o.temperature)) : l;
      });
      const p = (await probs.data()) as Float32Array;
      probs.dispose();
      let next = 0;
      if (o.temperature > 0) {
        let r = rng.nextFloat();
        for (next = 0; next < p.length - 1 && r >= p[next]; next++) r -= p[next];
      } else {
        for (let j = 1; j < p.length; j++) if (p[j] > p[next]) next = j;
      }
      out.push(next);
      last = next;
    }
    return Buffer.from(out).toString('latin1');
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await saveSafetensors(join(dir, 'model.safetensors'), this.vars);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'toy', V: this.V, C: this.C }));
  }

  async load(dir: string): Promise<void> {
    JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    const tensors = await loadSafetensors(join(dir, 'model.safetensors'));
    for (const [n, v] of this.vars) {
      const t = tensors.get(n);
      if (!t) throw new Error(`${dir}: model.safetensors lacks ${n}`);
      tf.tidy(() => v.assign(tf.tensor(t.data, t.shape)));
    }
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
  }
}

/** Byte-level rows of T tokens cut from `text` (non-overlapping), for tests. */
export function byteRows(text: string, T: number): { T: number; ids: Int32Array } {
  const bytes = Buffer.from(text, 'latin1');
  const n = Math.floor(bytes.length / T);
  const ids = new Int32Array(n * T);
  for (let i = 0; i < n * T; i++) ids[i] = bytes[i];
  return { T, ids };
}
