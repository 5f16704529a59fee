import type { GPT2 } from '@atelier/gpt2';
import * as loraPkg from '@atelier/lora';

/** The @atelier/lora functions the CLI uses (PEFT-like). */
interface LoraApi {
  applyLora(model: GPT2, config: Record<string, unknown>): unknown;
  saveAdapter(model: GPT2, dir: string): Promise<void>;
  loadAdapter(model: GPT2, dir: string): Promise<unknown>;
  mergeAdapter(model: GPT2): unknown;
}

/** @atelier/lora, or an error saying it is not available in this build. */
export function lora(): LoraApi {
  const api = loraPkg as unknown as Partial<LoraApi>;
  if (typeof api.applyLora !== 'function' || typeof api.saveAdapter !== 'function') {
    throw new Error(
      'LoRA is not available in this build (@atelier/lora does not export applyLora/saveAdapter yet)',
    );
  }
  return api as LoraApi;
}
