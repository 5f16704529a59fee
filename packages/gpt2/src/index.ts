/**
 * @atelier/gpt2 — GPT-2 with Hugging Face numerics: HF config and weight files, training loss, KV-cache
 * generation. See README.md.
 */
export * from './config.js';
export {
  applyRepetitionPenalty,
  type FinishReason,
  type GenerateOptions,
  type Generation,
  mulberry32,
  pickToken,
  type TopToken,
} from './generate.js';
export * from './model.js';
export {
  Attention,
  Block,
  Conv1D,
  type Conv1DAdapter,
  Embedding,
  type ForwardContext,
  type LayerKV,
  LayerNorm,
  MLP,
  Module,
  ModuleList,
  Transformer,
} from './modules.js';
export { downloadModel, MODEL_FILES, readModelDirectory, resolveModelDirectory } from './pretrained.js';
export { expectedShapes, toHubKey } from './weights.js';
