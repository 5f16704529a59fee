import type { tf } from '@atelier/tensor';

/**
 * One training batch: B rows of T token ids, row-major (`inputIds[b * T + t]`) — the shape @atelier/datasets'
 * `BatchLoader` produces.
 * - With `labels`: `labels[i]` is the token that follows `inputIds[i]` (already shifted), and `mask[i]` = 1
 *   when that target counts in the loss. All T positions are predictions.
 * - Without `labels`: the model shifts `inputIds` itself (HF GPT-2 semantics: position t predicts token t+1)
 *   and `mask[t]` = 1 when token t is a target; position 0 is never a target.
 */
export interface Batch {
  inputIds: Int32Array;
  labels?: Int32Array;
  mask?: Float32Array | Uint8Array;
  /** Padding mask for attention (1 = real token), when rows are padded. */
  attentionMask?: Float32Array | Uint8Array;
  B: number;
  T: number;
}

/** Where the trainer stands in its data: epoch, index of the next micro-batch in that epoch, shuffle seed. */
export interface DataPosition {
  epoch: number;
  index: number;
  seed: number;
}

/**
 * Random-access batches: the trainer asks for batch `index` of `epoch`, so resuming at a saved position is
 * exact. A source built from @atelier/datasets' packed blocks shuffles per epoch with its seed.
 */
export interface BatchSource {
  /** Number of micro-batches in one epoch (≥ 1). */
  readonly batchesPerEpoch: number;
  /** Shuffle seed; recorded in checkpoints so a resumed run can check it is reading the same data. */
  readonly seed: number;
  /** Batch `index` (0-based, < batchesPerEpoch) of `epoch` (0-based). Deterministic. */
  batch(epoch: number, index: number): Batch;
}

/** Context the trainer passes to every loss call. */
export interface LossContext {
  /** true for training steps (dropout on), false for evaluation. */
  training: boolean;
  /** A fresh 32-bit seed from the trainer's RNG for this call (dropout masks), so runs are reproducible. */
  seed: number;
}

/** Options for sample generations at evaluation time. */
export interface SampleOptions {
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  seed: number;
}

/**
 * What the trainer needs from a model. Full fine-tuning exposes every weight as trainable; LoRA exposes only
 * the adapter weights and saves only the adapter. The trainer never looks inside the model.
 */
export interface TrainableModel {
  /** The variables the optimizer updates, by unique name (`h.0.attn.c_attn.weight`, `…lora_A.weight`). */
  trainableVariables(): Map<string, tf.Variable>;
  /** Mean loss of the batch as a scalar tensor (created inside the trainer's tidy / gradient scope). */
  loss(batch: Batch, ctx: LossContext): tf.Scalar;
  /** Text continuation of `prompt` for the evaluation samples (optional). */
  generate?(prompt: string, options: SampleOptions): Promise<string>;
  /** Write the trained weights (a loadable model directory, or an adapter directory for LoRA) into `dir`. */
  save(dir: string): Promise<void>;
  /**
   * Read back weights written by `save` into the trainable variables (used by `resume`). Optional: without it
   * the caller must build the model from the checkpoint directory before resuming.
   */
  load?(dir: string): Promise<void>;
  /** Total parameter count (for the log); trainable count is derived from `trainableVariables`. */
  parameterCount?(): number;
}
