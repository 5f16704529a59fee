/**
 * Adapter files as PEFT writes and reads them (`PeftModel.save_pretrained` / `PeftModel.from_pretrained`):
 *
 *   dir/adapter_model.safetensors   keys `base_model.model.transformer.h.{i}.attn.c_attn.lora_A.weight` (the
 *                                   adapter name stripped), metadata {format: 'pt'}; biases (bias 'all' /
 *                                   'lora_only') and modules_to_save parameters under their module names
 *   dir/adapter_config.json         the LoraConfig (peft_type LORA, task_type CAUSAL_LM, r, lora_alpha, …)
 */
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GPT2 } from '@atelier/gpt2';
import { type LoadedTensor, loadSafetensors, saveSafetensors, tf } from '@atelier/tensor';
import { type LoraConfig, loraConfigFromPeft, loraConfigToPeft } from './config.js';
import {
  adapterConfig,
  applyLora,
  DEFAULT_ADAPTER,
  listAdapters,
  loraLayers,
  mergedAdapters,
  savedModuleValues,
  setActiveAdapter,
  setSavedModuleValue,
} from './lora.js';
import { findModulesToSave, findTargets } from './targets.js';

export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
/** PEFT's key prefix for a LoRA model (`PeftModelForCausalLM.base_model.model`). */
export const PEFT_PREFIX = 'base_model.model.';

export interface SaveAdapterOptions {
  /** Which adapter (default: 'default', or the only adapter when there is one). */
  adapterName?: string;
  /** Written as base_model_name_or_path (default: the adapter config's, else the model's `nameOrPath`). */
  baseModelNameOrPath?: string;
}

/** The hub id or directory a model was loaded from, when the model records it. */
function modelNameOrPath(model: GPT2): string | null {
  const n = (model as unknown as { nameOrPath?: unknown }).nameOrPath;
  return typeof n === 'string' && n !== '' ? n : null;
}

function pickAdapter(model: GPT2, name: string | undefined): string {
  if (name !== undefined) return name;
  const all = listAdapters(model);
  return all.length === 1 ? all[0] : DEFAULT_ADAPTER;
}

/** Writes a file atomically: a temporary file beside it, then a rename. */
async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/**
 * The tensors PEFT's get_peft_model_state_dict returns for one adapter, by PEFT key: lora_A/lora_B of every
 * adapted layer, the biases `bias` selects (a LoRA-wrapped layer's bias under `.base_layer.bias`, as PEFT ≥ 0.7
 * names it), and the adapter's modules_to_save values.
 */
export function adapterStateDict(
  model: GPT2,
  adapterName = pickAdapter(model, undefined),
): Map<string, tf.Tensor> {
  const config = adapterConfig(model, adapterName);
  const layers = loraLayers(model);
  const saved = savedModuleValues(model, adapterName);
  const out = new Map<string, tf.Tensor>();
  for (const p of model.parameters()) {
    const lora = /^(.*)\.(lora_[AB])\.([^.]+)\.weight$/.exec(p.name);
    if (lora) {
      if (lora[3] === adapterName) out.set(`${PEFT_PREFIX}${lora[1]}.${lora[2]}.weight`, p.variable);
      continue;
    }
    const owner = [...saved.keys()].find((m) => p.name.startsWith(`${m}.`));
    if (owner !== undefined) {
      const values = saved.get(owner) as Map<string, tf.Tensor>;
      out.set(`${PEFT_PREFIX}${p.name}`, values.get(p.name.slice(owner.length + 1)) as tf.Tensor);
      continue;
    }
    const dot = p.name.lastIndexOf('.');
    const module = p.name.slice(0, dot);
    if (p.name.slice(dot + 1) !== 'bias') continue;
    const layer = layers.get(module);
    const wrapped = layer !== undefined;
    const ownLayer = layer?.adapters.has(adapterName) ?? false;
    if (config.bias === 'all' || (config.bias === 'lora_only' && ownLayer)) {
      out.set(`${PEFT_PREFIX}${module}${wrapped ? '.base_layer' : ''}.bias`, p.variable);
    }
  }
  return out;
}

/**
 * Saves one adapter as PEFT does: `adapter_model.safetensors` + `adapter_config.json` in `dir` (created if
 * needed), each written atomically (temp file + rename), loadable by `PeftModel.from_pretrained(base, dir)`.
 */
export async function saveAdapter(model: GPT2, dir: string, options: SaveAdapterOptions = {}): Promise<void> {
  const adapterName = pickAdapter(model, options.adapterName);
  const config: LoraConfig = {
    ...adapterConfig(model, adapterName),
  };
  config.base_model_name_or_path =
    options.baseModelNameOrPath ?? config.base_model_name_or_path ?? modelNameOrPath(model);
  const tensors = adapterStateDict(model, adapterName);
  await mkdir(dir, { recursive: true });
  const json = `${JSON.stringify(sortKeys(loraConfigToPeft(config)), null, 2)}\n`;
  // Both files are written under temporary names first, then renamed, so a crash never leaves a half-written file.
  const suffix = `${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const weightsTmp = join(dir, `.${ADAPTER_WEIGHTS_NAME}.${suffix}`);
  try {
    await saveSafetensors(weightsTmp, tensors, { metadata: { format: 'pt' } });
    await writeFileAtomic(join(dir, ADAPTER_CONFIG_NAME), json);
    await rename(weightsTmp, join(dir, ADAPTER_WEIGHTS_NAME));
  } finally {
    await unlink(weightsTmp).catch(() => {});
  }
}

/** PEFT writes adapter_config.json with sorted keys (json.dumps(..., sort_keys=True)). */
function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]]),
  );
}

export interface LoadAdapterOptions {
  /** Name to load the adapter under (default 'default'). Loading into an existing adapter overwrites its weights. */
  adapterName?: string;
  /** Whether the loaded adapter trains (PEFT is_trainable; default false, as PEFT). */
  trainable?: boolean;
  /** Make it the active adapter (default true). */
  activate?: boolean;
  /** The base model's hub id or path, checked against base_model_name_or_path (default: the model's nameOrPath). */
  baseModelNameOrPath?: string;
  /** Load even when base_model_name_or_path names another model (shapes are still checked). */
  allowBaseModelMismatch?: boolean;
}

/** What a file key addresses, in the model's names. */
type Slot =
  | { kind: 'lora'; module: string; which: 'lora_A' | 'lora_B' }
  | { kind: 'param'; module: string; param: string }
  | { kind: 'ignored' };

/**
 * A PEFT file key → what it addresses. Tolerates keys without `base_model.model.`, with the adapter name still in
 * (`lora_A.default.weight`), without `transformer.` (hub-style `h.0.…`), and PEFT's wrapper infixes
 * (`base_layer.`, `modules_to_save.<name>.`); `original_module.` copies are ignored.
 */
export function parseAdapterKey(key: string): Slot {
  let k = key.startsWith(PEFT_PREFIX) ? key.slice(PEFT_PREFIX.length) : key;
  if (k.startsWith('base_model.')) k = k.slice('base_model.'.length);
  if (/(^|\.)(h|wte|wpe|ln_f)(\.|$)/.test(k) && !k.startsWith('transformer.')) k = `transformer.${k}`;
  if (k.includes('.original_module.')) return { kind: 'ignored' };
  k = k.replace(/\.modules_to_save\.[^.]+\./, '.').replace(/\.base_layer\./, '.');
  const lora = /^(.*)\.(lora_[AB])(?:\.[^.]+)?\.weight$/.exec(k);
  if (lora) return { kind: 'lora', module: lora[1], which: lora[2] as 'lora_A' | 'lora_B' };
  if (/\.lora_(embedding_[AB]|magnitude_vector)\b/.test(k)) {
    throw new Error(`${key}: LoRA embeddings / DoRA magnitude vectors are not supported`);
  }
  const dot = k.lastIndexOf('.');
  return { kind: 'param', module: k.slice(0, dot), param: k.slice(dot + 1) };
}

const HUB_ALIASES: Record<string, string> = {
  'openai-community/gpt2': 'gpt2',
  'openai-community/gpt2-medium': 'gpt2-medium',
  'openai-community/gpt2-large': 'gpt2-large',
  'openai-community/gpt2-xl': 'gpt2-xl',
  'distilbert/distilgpt2': 'distilgpt2',
};

function looksLikePath(s: string): boolean {
  return /^(\/|\.{1,2}\/|~|[A-Za-z]:\\)/.test(s) || s.includes('\\') || s.split('/').length > 2;
}

/** Whether two base-model names can be told apart: both hub ids (not paths) that differ after aliasing. */
export function differentBaseModels(a: string, b: string): boolean {
  if (looksLikePath(a) || looksLikePath(b)) return false;
  const norm = (s: string) => {
    const t = s.replace(/\/+$/, '');
    return HUB_ALIASES[t] ?? t;
  };
  return norm(a) !== norm(b);
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Loads a PEFT LoRA adapter directory into `model` under `adapterName` and activates it. Everything is checked
 * before the model is touched: the config (peft_type LORA; unsupported variants refused), the base model name,
 * that every adapted module of the model has its lora_A / lora_B in the file and no key names a module the model
 * or the config lacks, and every shape (errors name the key, the expected and the actual shape).
 */
export async function loadAdapter(
  model: GPT2,
  dir: string,
  options: LoadAdapterOptions = {},
): Promise<LoraConfig> {
  const adapterName = options.adapterName ?? DEFAULT_ADAPTER;
  const configPath = join(dir, ADAPTER_CONFIG_NAME);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_NAME);
  let raw: string;
  try {
    raw = await readFile(configPath, 'utf8');
  } catch (e) {
    throw new Error(
      `cannot read ${configPath}: ${(e as Error).message} (is ${dir} a PEFT adapter directory?)`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new Error(`${configPath}: invalid JSON (${(e as Error).message})`);
  }
  const config = loraConfigFromPeft(json, configPath);
  const expectedBase = options.baseModelNameOrPath ?? modelNameOrPath(model);
  const base = config.base_model_name_or_path;
  if (base && expectedBase && !options.allowBaseModelMismatch && differentBaseModels(base, expectedBase)) {
    throw new Error(
      `${configPath}: the adapter was trained on base model '${base}', but this model is '${expectedBase}' ` +
        '(pass allowBaseModelMismatch: true to load it anyway)',
    );
  }
  if (!(await exists(weightsPath))) {
    const bin = join(dir, 'adapter_model.bin');
    throw new Error(
      (await exists(bin))
        ? `${bin}: pickled PyTorch adapters are not supported; save with safe_serialization=True (PEFT's default)`
        : `${weightsPath} not found`,
    );
  }
  const file = await loadSafetensors(weightsPath);

  // Plan and check everything before touching the model.
  const targets = findTargets(model, config);
  const byModule = new Map(targets.map((t) => [t.name, t]));
  const toSave = new Set(findModulesToSave(model, config, targets).map((m) => m.name));
  const params = new Map(model.parameters().map((p) => [p.name, p.variable]));
  const loraValues = new Map<string, LoadedTensor>(); // `${module}.${which}` → tensor
  // base parameters (biases) and modules_to_save parameters; `savedIn` names the saved module, if any
  const paramValues: Array<{ name: string; savedIn: string | undefined; t: LoadedTensor }> = [];
  const base_ = base ? ` (adapter_config.json: base_model_name_or_path '${base}')` : '';
  for (const [key, t] of file) {
    const slot = parseAdapterKey(key);
    if (slot.kind === 'ignored') continue;
    if (t.dtype !== 'float32') {
      throw new Error(`${weightsPath}: ${key} has dtype ${t.sourceDtype}; a floating dtype is required`);
    }
    if (slot.kind === 'lora') {
      const target = byModule.get(slot.module);
      if (!target) {
        throw new Error(
          `${weightsPath}: ${key} is for module ${slot.module}, which ${params.has(`${slot.module}.weight`) ? "adapter_config.json's target_modules does not select" : 'this model does not have'}${base_}`,
        );
      }
      const want = slot.which === 'lora_A' ? [target.r, target.nIn] : [target.nOut, target.r];
      if (shapeStr(t.shape) !== shapeStr(want)) {
        throw new Error(
          `${weightsPath}: ${key} has shape ${shapeStr(t.shape)}, expected ${shapeStr(want)} ` +
            `(r = ${target.r}, ${slot.module} is [in ${target.nIn}, out ${target.nOut}]); ` +
            `the adapter does not fit this base model${base_}`,
        );
      }
      loraValues.set(`${slot.module}.${slot.which}`, t);
      continue;
    }
    const v = params.get(`${slot.module}.${slot.param}`);
    if (!v) throw new Error(`${weightsPath}: ${key} matches no parameter of this model${base_}`);
    if (shapeStr(t.shape) !== shapeStr(v.shape)) {
      throw new Error(
        `${weightsPath}: ${key} has shape ${shapeStr(t.shape)}, expected ${shapeStr(v.shape)}${base_}`,
      );
    }
    const full = `${slot.module}.${slot.param}`;
    const owner = [...toSave].find((m) => full.startsWith(`${m}.`));
    paramValues.push({ name: full, savedIn: owner, t });
  }
  for (const t of targets) {
    for (const which of ['lora_A', 'lora_B']) {
      if (!loraValues.has(`${t.name}.${which}`)) {
        throw new Error(
          `${weightsPath}: missing ${PEFT_PREFIX}${t.name}.${which}.weight (adapter_config.json targets ${t.name})${base_}`,
        );
      }
    }
  }

  // Apply: a new adapter, or new values for an existing one (e.g. resuming training).
  if (mergedAdapters(model).includes(adapterName)) {
    throw new Error(
      `adapter '${adapterName}' is merged into the base weights; unmergeAdapter before loading into it`,
    );
  }
  if (listAdapters(model).includes(adapterName)) {
    const have = adapterConfig(model, adapterName);
    const layers = loraLayers(model);
    for (const t of targets) {
      const w = layers.get(t.name)?.adapters.get(adapterName);
      if (!w || w.r !== t.r) {
        throw new Error(
          `${dir}: adapter '${adapterName}' already exists on the model with other targets or rank (r ${have.r}); ` +
            'deleteAdapter it first or load under another adapterName',
        );
      }
    }
    if (options.activate ?? true) setActiveAdapter(model, adapterName);
  } else {
    applyLora(
      model,
      { ...config, init_lora_weights: true },
      {
        adapterName,
        activate: options.activate ?? true,
        trainable: options.trainable ?? false,
      },
    );
    adapterConfig(model, adapterName).init_lora_weights = config.init_lora_weights;
  }
  const layers = loraLayers(model);
  tf.tidy(() => {
    for (const t of targets) {
      const w = layers.get(t.name)?.adapters.get(adapterName);
      if (!w) throw new Error(`internal: no LoRA weights for ${t.name}`);
      const a = loraValues.get(`${t.name}.lora_A`) as LoadedTensor;
      const b = loraValues.get(`${t.name}.lora_B`) as LoadedTensor;
      w.A.assign(tf.tensor(a.data, a.shape, 'float32'));
      w.B.assign(tf.tensor(b.data, b.shape, 'float32'));
    }
    for (const { name, savedIn, t } of paramValues) {
      const value = tf.tensor(t.data, t.shape, 'float32');
      if (savedIn !== undefined) {
        setSavedModuleValue(model, adapterName, savedIn, name.slice(savedIn.length + 1), value);
      } else (params.get(name) as tf.Variable).assign(value);
    }
  });
  return adapterConfig(model, adapterName);
}
