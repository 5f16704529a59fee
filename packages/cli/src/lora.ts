import type { GPT2 } from '@atelier/gpt2';
import { applyLora, loadAdapter, mergeAndUnload, saveAdapter, trainableParameters } from '@atelier/lora';

/** LoRA settings of a run, in the config file's camelCase. */
export interface RunLora {
  r: number;
  alpha: number;
  dropout: number;
  targetModules: string[];
}

/**
 * Inject a fresh trainable adapter (PEFT's get_peft_model) and return how checkpoints save and reload it: the
 * trainer then trains only the adapter and checkpoints hold only adapter_model.safetensors + adapter_config.json.
 */
export function attachLora(model: GPT2, lora: RunLora, seed: number) {
  applyLora(
    model,
    { r: lora.r, lora_alpha: lora.alpha, lora_dropout: lora.dropout, target_modules: lora.targetModules },
    { seed },
  );
  return {
    report: trainableParameters(model),
    save: (dir: string) => saveAdapter(model, dir),
    load: async (dir: string) => {
      await loadAdapter(model, dir, { trainable: true });
    },
  };
}

/** Apply a saved adapter for inference (`--adapter`). */
export async function applyAdapter(model: GPT2, dir: string): Promise<void> {
  await loadAdapter(model, dir);
}

/** Fold the active adapter into the base weights and drop the adapter layers (PEFT merge_and_unload). */
export function mergeLora(model: GPT2): GPT2 {
  return mergeAndUnload(model);
}
