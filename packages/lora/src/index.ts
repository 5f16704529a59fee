/**
 * @atelier/lora — LoRA adapters for @atelier/gpt2, file-compatible with Hugging Face PEFT. See README.md.
 */
export {
  GPT2_DEFAULT_TARGETS,
  LORA_DEFAULTS,
  type LoraBias,
  type LoraConfig,
  type LoraInit,
  loraConfigFromPeft,
  loraConfigToPeft,
  loraScaling,
  resolveLoraConfig,
} from './config.js';
export {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  adapterStateDict,
  differentBaseModels,
  type LoadAdapterOptions,
  loadAdapter,
  PEFT_PREFIX,
  parseAdapterKey,
  type SaveAdapterOptions,
  saveAdapter,
} from './io.js';
export { initLoraWeights, LoraLayer, type LoraWeights } from './layer.js';
export {
  type ApplyLoraOptions,
  activeAdapters,
  adapterConfig,
  applyLora,
  countLoraParameters,
  DEFAULT_ADAPTER,
  deleteAdapter,
  disableAdapters,
  enableAdapters,
  formatTrainable,
  type LoraReport,
  listAdapters,
  loraLayers,
  type MergeOptions,
  mergeAdapter,
  mergeAndUnload,
  mergedAdapters,
  safeMergeAdapter,
  setActiveAdapter,
  type TrainableReport,
  trainableParameters,
  unmergeAdapter,
  withAdaptersDisabled,
} from './lora.js';
export { ALL_LINEAR, findTargets, isTargetName, type LoraTarget, layerIndexOf } from './targets.js';
