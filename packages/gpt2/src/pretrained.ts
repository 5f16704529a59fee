/**
 * Hugging Face model directories: loading (`fromPretrained`) and saving (`save`).
 *
 * A directory holds config.json, model.safetensors (or model.safetensors.index.json + shards) and tokenizer
 * files (tokenizer.json or vocab.json + merges.txt). Saved directories follow the hub's layout exactly so that
 * Python's `GPT2LMHeadModel.from_pretrained(dir)` and `GPT2TokenizerFast.from_pretrained(dir)` read them.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HubError, type HubOptions, hubFileExists, isHubId, snapshotDownload } from '@atelier/hub';
import { type LoadedTensor, loadSafetensors, saveSafetensors } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { configToJson, type GPT2Config, readConfig } from './config.js';
import { writeFileAtomic } from './fsutil.js';
import type { TextTokenizer } from './model.js';
import { hubStateDict } from './weights.js';

/** The files a GPT-2 repository may hold that fromPretrained reads. */
export const MODEL_FILES = {
  required: ['config.json'],
  weights: ['model.safetensors', 'model.safetensors.index.json'],
  tokenizer: [
    'tokenizer.json',
    'vocab.json',
    'merges.txt',
    'tokenizer_config.json',
    'special_tokens_map.json',
    'added_tokens.json',
  ],
} as const;

/**
 * Downloads a GPT-2 repository from the Hugging Face hub (or finds it in the cache) and returns the local
 * snapshot directory: config.json, model.safetensors (or the index and its shards), tokenizer files when the
 * repository has them. A repository with pickle weights only is refused before anything large is fetched.
 */
export async function downloadModel(repoId: string, options: HubOptions = {}): Promise<string> {
  const optional = [
    'model.safetensors',
    'model.safetensors.index.json',
    'generation_config.json',
    ...MODEL_FILES.tokenizer,
  ];
  const dir = await snapshotDownload(repoId, ['config.json'], { ...options, optional });
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const map = JSON.parse(await readFile(index, 'utf8')).weight_map as Record<string, string> | undefined;
    if (!map) throw new Error(`${repoId}: model.safetensors.index.json has no "weight_map"`);
    await snapshotDownload(repoId, [...new Set(Object.values(map))], options);
    return dir;
  }
  let bin = false;
  try {
    bin = await hubFileExists(repoId, 'pytorch_model.bin', options);
  } catch (e) {
    if (!(e instanceof HubError)) throw e;
  }
  throw new Error(
    bin
      ? `${repoId}: the repository has only pytorch_model.bin; model.safetensors is required (pickle checkpoints are not loaded). ` +
          `Convert once in Python: GPT2LMHeadModel.from_pretrained(id).save_pretrained(dir, safe_serialization=True)`
      : `${repoId}: no model.safetensors or model.safetensors.index.json in the repository`,
  );
}

/** Local directory for `dirOrHubId`: an existing path as is, else a hub id downloaded into the cache. */
export async function resolveModelDirectory(dirOrHubId: string, options: HubOptions = {}): Promise<string> {
  if (existsSync(dirOrHubId)) return dirOrHubId;
  if (isHubId(dirOrHubId)) return downloadModel(dirOrHubId, options);
  throw new Error(`${dirOrHubId}: no such model directory (and not a Hugging Face hub id)`);
}

/** Reads config and weights of a local model directory. Errors name the directory and what is missing. */
export async function readModelDirectory(
  dir: string,
): Promise<{ config: GPT2Config; tensors: Map<string, LoadedTensor>; source: string }> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: no such model directory`);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath))
    throw new Error(`${dir}: config.json is missing (a Hugging Face GPT-2 directory needs it)`);
  const config = await readConfig(configPath);
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) return { config, tensors: await loadSafetensors(single), source: single };
  if (existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = JSON.parse(await readFile(index, 'utf8')).weight_map;
    } catch (e) {
      throw new Error(`${index}: invalid JSON (${(e as Error).message})`);
    }
    if (!map || typeof map !== 'object') throw new Error(`${index}: no "weight_map" object`);
    const tensors = new Map<string, LoadedTensor>();
    for (const shard of new Set(Object.values(map))) {
      for (const [k, v] of await loadSafetensors(join(dir, shard))) tensors.set(k, v);
    }
    return { config, tensors, source: index };
  }
  const legacy = ['pytorch_model.bin', 'tf_model.h5', 'flax_model.msgpack'].filter((f) =>
    existsSync(join(dir, f)),
  );
  if (legacy.length) {
    throw new Error(
      `${dir}: only ${legacy.join(', ')} found; model.safetensors is required (pickle checkpoints are not loaded). ` +
        `Convert once in Python: GPT2LMHeadModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`,
    );
  }
  throw new Error(`${dir}: no model.safetensors (or model.safetensors.index.json) found`);
}

/**
 * The tokenizer of a model directory: its own files when present, else the built-in GPT-2 tokenizer when the
 * vocabulary is GPT-2's (50,257), else undefined.
 */
export function readTokenizer(dir: string, config: GPT2Config): Tokenizer | undefined {
  if (existsSync(join(dir, 'tokenizer.json')) || existsSync(join(dir, 'vocab.json')))
    return Tokenizer.fromDirectory(dir);
  return config.vocab_size === 50257 ? Tokenizer.gpt2() : undefined;
}

/**
 * Writes config.json + model.safetensors (hub key style, `__metadata__.format = "pt"`, no lm_head: tied) and,
 * when the tokenizer can save itself, its Hugging Face files. Each file is written atomically.
 */
export async function saveModelDirectory(
  dir: string,
  config: GPT2Config,
  params: Array<{ name: string; variable: import('@atelier/tensor').tf.Variable }>,
  tokenizer: TextTokenizer | undefined,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await saveSafetensors(join(dir, 'model.safetensors'), hubStateDict(params, config), {
    metadata: { format: 'pt' },
  });
  const saver = tokenizer as (TextTokenizer & { save?: (dir: string) => void }) | undefined;
  if (saver?.save) saver.save(dir);
  // config last: a directory with a config is complete
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(configToJson(config), null, 2)}\n`);
  await writeFileAtomic(
    join(dir, 'generation_config.json'),
    `${JSON.stringify({ bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id }, null, 2)}\n`,
  );
}
