import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GPT2, PRESETS } from '@atelier/gpt2';
import { isHubId, snapshotDownload } from '@atelier/hub';
import { type BackendInfo, type BackendKind, initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { UsageError } from './io.js';

let backend: BackendInfo | undefined;

/** Initialise the tensor backend once per process. */
export async function ensureBackend(kind: string | undefined): Promise<BackendInfo> {
  if (backend) return backend;
  const kinds = ['auto', 'webgpu', 'cpu', 'wasm', 'native'];
  const k = kind ?? 'auto';
  if (!kinds.includes(k)) throw new UsageError(`--backend: "${k}" is not one of ${kinds.join(', ')}`);
  backend = await initBackend(k as BackendKind);
  return backend;
}

/** true for the from-scratch preset names (`tiny`, `small`, `base`) when no such directory exists. */
export function isPreset(spec: string): spec is keyof typeof PRESETS {
  return Object.hasOwn(PRESETS, spec) && !existsSync(spec);
}

/** The tokenizer of a model directory (vocab.json + merges.txt / tokenizer.json), else GPT-2's. */
export function tokenizerFor(dir: string | undefined): Tokenizer {
  if (dir && (existsSync(join(dir, 'vocab.json')) || existsSync(join(dir, 'tokenizer.json')))) {
    return Tokenizer.fromDirectory(dir);
  }
  return Tokenizer.gpt2();
}

/**
 * A GPT-2 from a preset name (random init with `seed`), a local directory (config.json + model.safetensors,
 * e.g. a checkpoint), or a Hugging Face hub id.
 */
export async function loadModel(spec: string, o: { seed?: number } = {}): Promise<GPT2> {
  if (isPreset(spec)) return GPT2.fromConfig(spec, { seed: o.seed ?? 0, tokenizer: Tokenizer.gpt2() });
  if (existsSync(spec)) {
    if (!statSync(spec).isDirectory())
      throw new UsageError(`--model: ${spec} is a file; give a model directory`);
    if (!existsSync(join(spec, 'config.json')) && existsSync(join(spec, 'adapter_config.json'))) {
      throw new UsageError(
        `--model: ${spec} is a LoRA adapter; pass it as --adapter with --model <base model>`,
      );
    }
  }
  if (!existsSync(spec) && isHubId(spec)) {
    const dir = await snapshotDownload(spec, ['config.json', 'model.safetensors'], {
      optional: ['tokenizer.json', 'vocab.json', 'merges.txt', 'generation_config.json'],
    });
    return GPT2.fromPretrained(dir, { seed: o.seed });
  }
  if (!existsSync(spec))
    throw new UsageError(`--model: ${spec} is not a preset (tiny, small, base), a directory or a hub id`);
  return GPT2.fromPretrained(spec, { seed: o.seed });
}
