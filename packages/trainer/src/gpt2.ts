import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GPT2, TextTokenizer } from '@atelier/gpt2';
import { toHubKey } from '@atelier/gpt2';
import { loadSafetensors, softmaxCrossEntropy, tf } from '@atelier/tensor';
import type { Batch, LossContext, TrainableModel } from './types.js';

export interface GPT2TrainableOptions {
  /** Tokenizer for the evaluation samples (default: the model's own). */
  tokenizer?: TextTokenizer;
  /**
   * How a checkpoint stores the weights. Default: `model.save(dir)`, the full model (config.json +
   * model.safetensors in hub key style + tokenizer files). For LoRA pass the adapter writer, e.g. `(dir) => saveAdapter(model, dir)`.
   */
  save?: (dir: string) => Promise<void>;
  /** Read back what `save` wrote into the trainable variables (default: model.safetensors by name). */
  load?: (dir: string) => Promise<void>;
}

/**
 * Wrap an @atelier/gpt2 model for the trainer. The trainable set is every parameter whose `trainable` flag is
 * on — all of them for full fine-tuning, only the adapters after `applyLora` — so LoRA is just "which variables
 * train, and how a checkpoint saves them".
 */
export function gpt2Trainable(model: GPT2, options: GPT2TrainableOptions = {}): TrainableModel {
  const tokenizer = options.tokenizer ?? model.tokenizer;
  const trainable = () =>
    new Map(
      model
        .parameters()
        .filter((p) => p.trainable)
        .map((p) => [p.name, p.variable]),
    );
  const saveFull = (dir: string) => model.save(dir);
  const loadFull = async (dir: string) => {
    const file = await loadSafetensors(join(dir, 'model.safetensors'));
    for (const [name, v] of trainable()) {
      const t = file.get(toHubKey(name)) ?? file.get(name);
      if (!t?.data) throw new Error(`${join(dir, 'model.safetensors')}: no float32 tensor for ${name}`);
      if (t.shape.join(',') !== v.shape.join(',')) {
        throw new Error(
          `${join(dir, 'model.safetensors')}: ${name} has shape [${t.shape}], model has [${v.shape}]`,
        );
      }
      const data = t.data;
      tf.tidy(() => v.assign(tf.tensor(data, t.shape, 'float32')));
    }
  };
  return {
    trainableVariables: trainable,
    parameterCount: () => model.parameterCount(),
    loss(batch: Batch, ctx: LossContext): tf.Scalar {
      // A per-step dropout seed from the trainer's RNG: masks are reproducible across resume.
      if (ctx.training) model.rngState = ctx.seed;
      const { B, T } = batch;
      return tf.tidy(() => {
        const ids = tf.tensor2d(batch.inputIds, [B, T], 'int32');
        const attentionMask = batch.attentionMask
          ? tf.tensor2d(Float32Array.from(batch.attentionMask), [B, T])
          : undefined;
        if (!batch.labels) {
          const mask = batch.mask ? tf.tensor2d(Float32Array.from(batch.mask), [B, T]) : undefined;
          return model.loss(ids, { training: ctx.training, mask, attentionMask });
        }
        // Pre-shifted labels (datasets' BatchLoader): every position predicts labels[i].
        const logits = model.forward(ids, { training: ctx.training, attentionMask });
        const V = logits.shape[2];
        const flat = tf.reshape(logits, [B * T, V]) as tf.Tensor2D;
        const labels = tf.tensor1d(batch.labels, 'int32');
        const mask = batch.mask ? tf.tensor1d(Float32Array.from(batch.mask)) : undefined;
        return softmaxCrossEntropy(flat, labels, mask, 'mean') as tf.Scalar;
      });
    },
    generate: tokenizer
      ? (prompt, o) =>
          model.generate(prompt, {
            maxNewTokens: o.maxNewTokens,
            temperature: o.temperature,
            topK: o.topK,
            seed: o.seed,
          })
      : undefined,
    save: options.save ?? saveFull,
    load: options.load ?? (options.save ? undefined : loadFull),
  };
}

/** Read a JSON file, naming it on error. */
export async function readJson(path: string): Promise<unknown> {
  const raw = await readFile(path, 'utf8').catch((e: Error) => {
    throw new Error(`cannot read ${path}: ${e.message}`);
  });
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
}
