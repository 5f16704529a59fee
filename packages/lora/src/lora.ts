/**
 * LoRA on an @atelier/gpt2 model, as PEFT's LoraModel: inject adapters, freeze the base, switch / disable /
 * merge adapters. The model object itself is not wrapped: adapters hang on its Conv1D layers (the `adapters`
 * hook), trainability is the `trainable` flag of each variable, and the LoRA bookkeeping of a model lives in a
 * WeakMap keyed by the model.
 */
import type { GPT2, GPT2Config } from '@atelier/gpt2';
import { tf } from '@atelier/tensor';
import { type LoraConfig, resolveLoraConfig } from './config.js';
import { initLoraWeights, LoraLayer } from './layer.js';
import { findModulesToSave, findTargets, isTargetName, patternValue } from './targets.js';

/** The adapter name PEFT uses when none is given. */
export const DEFAULT_ADAPTER = 'default';

/** A module trained in full for one adapter (modules_to_save): its parameters and each adapter's values. */
interface SavedModule {
  /** HF module name (`transformer.ln_f`). */
  name: string;
  /** Parameter name relative to the module (`weight`) → the model's variable. */
  params: Map<string, tf.Variable>;
  /** The base model's values, restored when no adapter that saves this module is active. */
  original: Map<string, tf.Tensor>;
  /** Per adapter: its values while it is not the one in the variables. */
  copies: Map<string, Map<string, tf.Tensor>>;
  /** The adapter whose values are currently in the variables (null: the original). */
  current: string | null;
}

interface LoraState {
  configs: Map<string, LoraConfig>;
  layers: Map<string, LoraLayer>;
  saved: Map<string, SavedModule>;
  active: string[];
  disabled: boolean;
}

const states = new WeakMap<GPT2, LoraState>();

/** The LoRA state of a model, or an error saying that applyLora has not been called. */
export function loraState(model: GPT2): LoraState {
  const s = states.get(model);
  if (!s) throw new Error('this model has no LoRA adapters (call applyLora or loadAdapter first)');
  return s;
}

export interface ApplyLoraOptions {
  /** Adapter name (default 'default'); several adapters can live on one model. */
  adapterName?: string;
  /** Seed of the A/B initialisation (default 0). */
  seed?: number;
  /** Make this adapter the active one (default true). */
  activate?: boolean;
  /** Whether its parameters train (default true; loadAdapter passes PEFT's is_trainable). */
  trainable?: boolean;
}

/** What {@link applyLora} did. */
export interface LoraReport {
  adapterName: string;
  /** HF names of the adapted Conv1D modules. */
  targets: string[];
  /** HF names of the modules trained in full (modules_to_save). */
  modulesToSave: string[];
  params: TrainableReport;
}

/** Trainable vs all parameter values (PEFT print_trainable_parameters). */
export interface TrainableReport {
  trainable: number;
  total: number;
  /** 100 · trainable / total. */
  percent: number;
}

/**
 * Injects a LoRA adapter into `model` as PEFT's get_peft_model / add_adapter: an A [r, in] and B [out, r] on every
 * targeted Conv1D, every base parameter frozen (`trainable = false`) except the biases that `config.bias` trains and
 * the modules in `modules_to_save`. Only the active adapter's parameters are trainable, so an optimizer built from
 * `model.parameters().filter(p => p.trainable)` updates nothing else.
 */
export function applyLora(
  model: GPT2,
  config: Partial<LoraConfig> = {},
  options: ApplyLoraOptions = {},
): LoraReport {
  const adapterName = options.adapterName ?? DEFAULT_ADAPTER;
  checkAdapterName(adapterName);
  const c = resolveLoraConfig(config);
  if (!c.fan_in_fan_out) {
    // PEFT: "fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True."
    process.emitWarning(
      'LoRA: fan_in_fan_out=false on GPT-2 Conv1D layers; setting it to true, as PEFT does',
    );
    c.fan_in_fan_out = true;
  }
  let state = states.get(model);
  if (state?.configs.has(adapterName)) {
    throw new Error(`the model already has an adapter named '${adapterName}' (deleteAdapter it first)`);
  }
  const targets = findTargets(model, c);
  const toSave = findModulesToSave(model, c, targets);
  if (state) {
    for (const m of toSave) {
      const other = state.layers.get(m.name);
      if (other) throw new Error(`modules_to_save ${m.name} is a LoRA target of another adapter`);
    }
    for (const t of targets) {
      if (state.saved.has(t.name)) throw new Error(`${t.name} is in modules_to_save of another adapter`);
    }
  }
  if (!state) {
    state = { configs: new Map(), layers: new Map(), saved: new Map(), active: [], disabled: false };
    states.set(model, state);
  }
  const seed = options.seed ?? 0;
  targets.forEach((t, i) => {
    let layer = state.layers.get(t.name);
    if (!layer) {
      layer = new LoraLayer(t.name, t.conv);
      layer.onDispose = () => releaseState(model);
      t.conv.adapters.push(layer);
      state.layers.set(t.name, layer);
    }
    const { A, B } = initLoraWeights(c.init_lora_weights, t.r, t.nIn, t.nOut, seed * 1000003 + 2 * i);
    layer.add(
      adapterName,
      { A, B, r: t.r, alpha: t.alpha, scaling: t.scaling, dropout: c.lora_dropout },
      model.scope,
    );
    A.dispose();
    B.dispose();
  });
  for (const m of toSave) {
    let saved = state.saved.get(m.name);
    if (!saved) {
      const params = new Map(m.module.namedParameters());
      const original = new Map([...params].map(([n, v]) => [n, tf.clone(v)]));
      saved = { name: m.name, params, original, copies: new Map(), current: null };
      state.saved.set(m.name, saved);
    }
    // a new adapter's copy starts from the base model's values
    saved.copies.set(adapterName, new Map([...saved.original].map(([n, t]) => [n, tf.clone(t)])));
  }
  state.configs.set(adapterName, c);
  const trainable = options.trainable ?? true;
  if (options.activate ?? true) setActive(model, state, [adapterName], trainable ? [adapterName] : []);
  else refresh(model, state, [...trainingAdapters(state), ...(trainable ? [adapterName] : [])]);
  return {
    adapterName,
    targets: targets.map((t) => t.name),
    modulesToSave: toSave.map((m) => m.name),
    params: trainableParameters(model),
  };
}

/** Frees the tensors the LoRA state holds besides the adapters (modules_to_save copies) and forgets the model. */
function releaseState(model: GPT2): void {
  const state = states.get(model);
  if (!state) return;
  for (const s of state.saved.values()) {
    for (const t of s.original.values()) t.dispose();
    for (const copy of s.copies.values()) for (const t of copy.values()) t.dispose();
  }
  state.saved.clear();
  states.delete(model);
}

function checkAdapterName(name: string): void {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new Error(
      `adapter name '${name}' must be letters, digits, '_' or '-' (it becomes part of parameter names)`,
    );
  }
}

/** Names of the adapters on a model (empty when it has none). */
export function listAdapters(model: GPT2): string[] {
  return [...(states.get(model)?.configs.keys() ?? [])];
}

/** The config of one adapter. */
export function adapterConfig(model: GPT2, adapterName = DEFAULT_ADAPTER): LoraConfig {
  const c = loraState(model).configs.get(adapterName);
  if (!c) throw new Error(`no adapter named '${adapterName}' (have: ${listAdapters(model).join(', ')})`);
  return c;
}

/** The active adapters (in forward order). */
export function activeAdapters(model: GPT2): string[] {
  return [...(states.get(model)?.active ?? [])];
}

/**
 * Makes `names` the active adapters (PEFT set_adapter): their updates are added in forward, their modules_to_save
 * values are swapped into the model, and only their parameters are trainable. Merged adapters stay merged.
 */
export function setActiveAdapter(model: GPT2, names: string | string[]): void {
  const state = loraState(model);
  const list = typeof names === 'string' ? [names] : names;
  for (const n of list) adapterConfig(model, n);
  setActive(model, state, list, list);
}

/** Adapters whose LoRA weights are currently trainable. */
function trainingAdapters(state: LoraState): string[] {
  const out = new Set<string>();
  for (const layer of state.layers.values()) {
    for (const [name, w] of layer.adapters) if (w.A.trainable) out.add(name);
  }
  return [...out];
}

/** Activates `names` and makes exactly the adapters in `trainable` trainable. */
function setActive(model: GPT2, state: LoraState, names: string[], trainable: string[]): void {
  const savers = names.filter((n) => [...state.saved.values()].some((s) => s.copies.has(n)));
  if (savers.length > 1) {
    throw new Error(
      `adapters ${savers.join(', ')} both have modules_to_save; only one of them can be active`,
    );
  }
  state.active = [...names];
  for (const layer of state.layers.values()) layer.active = names.filter((n) => layer.adapters.has(n));
  swapSavedModules(state, state.disabled ? null : (savers[0] ?? null));
  refresh(model, state, trainable);
}

/** Puts `adapter`'s modules_to_save values (or the base model's, for null) into the model's variables. */
function swapSavedModules(state: LoraState, adapter: string | null): void {
  for (const s of state.saved.values()) {
    const want = adapter !== null && s.copies.has(adapter) ? adapter : null;
    if (want === s.current) continue;
    tf.tidy(() => {
      if (s.current !== null) {
        // keep what the outgoing adapter trained
        const old = s.copies.get(s.current);
        for (const [n, v] of s.params) {
          old?.get(n)?.dispose();
          old?.set(n, tf.keep(tf.clone(v)));
        }
      }
      const src = want === null ? s.original : (s.copies.get(want) as Map<string, tf.Tensor>);
      for (const [n, v] of s.params) v.assign(src.get(n) as tf.Tensor);
    });
    s.current = want;
  }
}

/**
 * Sets every parameter's `trainable` flag: base weights frozen; the adapters in `trainableAdapters` (their A/B,
 * their modules_to_save, and the biases their `bias` setting trains) trainable.
 */
function refresh(model: GPT2, state: LoraState, trainableAdapters: string[]): void {
  const trainableNames = new Set<string>();
  for (const a of trainableAdapters) {
    const c = state.configs.get(a) as LoraConfig;
    for (const layer of state.layers.values()) {
      if (!layer.adapters.has(a)) continue;
      trainableNames.add(`${layer.name}.lora_A.${a}.weight`);
      trainableNames.add(`${layer.name}.lora_B.${a}.weight`);
      if (c.bias === 'lora_only') trainableNames.add(`${layer.name}.bias`);
    }
    for (const s of state.saved.values()) {
      if (s.copies.has(a)) for (const n of s.params.keys()) trainableNames.add(`${s.name}.${n}`);
    }
  }
  const allBiases = trainableAdapters.some((a) => state.configs.get(a)?.bias === 'all');
  for (const p of model.parameters()) {
    p.trainable = trainableNames.has(p.name) || (allBiases && p.name.endsWith('.bias'));
  }
}

/**
 * Turns every adapter off: the model computes the base model's output (PEFT disable_adapter_layers). Merged
 * adapters are unmerged first; trainable flags are untouched.
 */
export function disableAdapters(model: GPT2): void {
  const state = loraState(model);
  state.disabled = true;
  for (const layer of state.layers.values()) {
    if (layer.merged.length > 0) layer.unmerge();
    layer.disabled = true;
  }
  swapSavedModules(state, null);
}

/** Undoes {@link disableAdapters} (previously merged adapters stay unmerged). Trainable flags are untouched. */
export function enableAdapters(model: GPT2): void {
  const state = loraState(model);
  state.disabled = false;
  for (const layer of state.layers.values()) layer.disabled = false;
  setActive(model, state, state.active, trainingAdapters(state));
}

/** Runs `fn` with the adapters off (PEFT `with model.disable_adapter():`), restoring them afterwards. */
export function withAdaptersDisabled<T>(model: GPT2, fn: () => T): T {
  const wasDisabled = loraState(model).disabled;
  disableAdapters(model);
  try {
    return fn();
  } finally {
    if (!wasDisabled) enableAdapters(model);
  }
}

/** Removes an adapter and frees its weights (PEFT delete_adapter). */
export function deleteAdapter(model: GPT2, adapterName: string): void {
  const state = loraState(model);
  adapterConfig(model, adapterName);
  for (const [name, layer] of state.layers) {
    layer.remove(adapterName);
    if (layer.adapters.size === 0) {
      layer.conv.adapters = layer.conv.adapters.filter((a) => a !== layer);
      state.layers.delete(name);
    }
  }
  for (const [name, s] of state.saved) {
    if (s.current === adapterName) {
      tf.tidy(() => {
        for (const [n, v] of s.params) v.assign(s.original.get(n) as tf.Tensor);
      });
      s.current = null;
    }
    for (const t of s.copies.get(adapterName)?.values() ?? []) t.dispose();
    s.copies.delete(adapterName);
    if (s.copies.size === 0) {
      for (const t of s.original.values()) t.dispose();
      state.saved.delete(name);
    }
  }
  state.configs.delete(adapterName);
  const remaining = state.active.filter((a) => a !== adapterName);
  setActive(model, state, remaining, trainingAdapters(state));
}

export interface MergeOptions {
  /** Adapters to merge (default: the active ones). */
  adapterNames?: string[];
}

function mergeTargets(model: GPT2, options: MergeOptions): { state: LoraState; names: string[] } {
  const state = loraState(model);
  const names = options.adapterNames ?? state.active;
  for (const n of names) adapterConfig(model, n);
  return { state, names };
}

/**
 * Folds adapters into the base weights: W += (B·A)ᵀ · scaling on every adapted Conv1D (PEFT merge_adapter). The
 * forward pass then skips them, so the output is unchanged while inference costs no extra matmuls. Undo with
 * {@link unmergeAdapter}.
 */
export function mergeAdapter(model: GPT2, options: MergeOptions = {}): void {
  const { state, names } = mergeTargets(model, options);
  for (const layer of state.layers.values()) layer.merge(names.filter((n) => layer.adapters.has(n)));
}

/**
 * {@link mergeAdapter} after checking every merged weight for NaN/Inf (PEFT safe_merge), all or nothing: when a
 * layer would not be finite nothing is merged and the error names the layer. Async because it reads the check
 * back from the device (works on WebGPU, where synchronous reads are unavailable).
 */
export async function safeMergeAdapter(model: GPT2, options: MergeOptions = {}): Promise<void> {
  const { state, names } = mergeTargets(model, options);
  for (const layer of state.layers.values()) {
    const mine = names.filter((n) => layer.adapters.has(n));
    if (!(await layer.mergeIsFinite(mine))) {
      throw new Error(
        `merging adapter(s) ${mine.join(', ')} into ${layer.name} gives NaN or Inf weights; nothing merged`,
      );
    }
  }
  mergeAdapter(model, options);
}

/** Subtracts merged adapters from the base weights again (PEFT unmerge_adapter). */
export function unmergeAdapter(model: GPT2): void {
  const state = loraState(model);
  for (const layer of state.layers.values()) layer.unmerge();
}

/** Names of the adapters currently merged into the base weights (any layer). */
export function mergedAdapters(model: GPT2): string[] {
  const out = new Set<string>();
  for (const layer of states.get(model)?.layers.values() ?? []) for (const n of layer.merged) out.add(n);
  return [...out];
}

/**
 * PEFT merge_and_unload: merges the active adapters into the base weights, keeps the active adapter's
 * modules_to_save values, removes every adapter, and leaves a plain GPT-2 (all parameters trainable again) that
 * `model.save(dir)` writes as an ordinary checkpoint.
 */
export function mergeAndUnload(model: GPT2, options: MergeOptions = {}): GPT2 {
  const state = loraState(model);
  if (!state.disabled) mergeAdapter(model, options);
  for (const layer of state.layers.values()) {
    layer.merged.length = 0; // the merged update stays in W
    layer.dispose();
    layer.conv.adapters = layer.conv.adapters.filter((a) => a !== layer);
  }
  releaseState(model);
  for (const p of model.parameters()) p.trainable = true;
  return model;
}

/** Trainable and total parameter values of the model, adapters included (PEFT get_nb_trainable_parameters). */
export function trainableParameters(model: GPT2): TrainableReport {
  let trainable = 0;
  let total = 0;
  for (const p of model.parameters()) {
    total += p.variable.size;
    if (p.trainable) trainable += p.variable.size;
  }
  return { trainable, total, percent: total === 0 ? 0 : (100 * trainable) / total };
}

/** PEFT's print_trainable_parameters line: `trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364`. */
export function formatTrainable(r: TrainableReport): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return `trainable params: ${n(r.trainable)} || all params: ${n(r.total)} || trainable%: ${r.percent.toFixed(4)}`;
}

/**
 * The trainable/total report {@link applyLora} would give for a GPT-2 of config `gpt2` — computed from the shapes
 * alone, without building the model (e.g. GPT-2 124M, r = 8 on c_attn: 294,912 of 124,734,720 = 0.2364%).
 */
export function countLoraParameters(gpt2: GPT2Config, config: Partial<LoraConfig> = {}): TrainableReport {
  const c = resolveLoraConfig(config);
  const C = gpt2.n_embd;
  const inner = gpt2.n_inner ?? 4 * C;
  const convs: Array<[string, number, number]> = [];
  const modules: string[] = [
    'transformer',
    'transformer.wte',
    'transformer.wpe',
    'transformer.h',
    'transformer.ln_f',
  ];
  for (let i = 0; i < gpt2.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    convs.push([`${p}attn.c_attn`, C, 3 * C], [`${p}attn.c_proj`, C, C]);
    convs.push([`${p}mlp.c_fc`, C, inner], [`${p}mlp.c_proj`, inner, C]);
    modules.push(`transformer.h.${i}`, `${p}ln_1`, `${p}ln_2`, `${p}attn`, `${p}mlp`);
  }
  let base = gpt2.vocab_size * C + gpt2.n_positions * C + 2 * C; // wte, wpe, ln_f
  base += gpt2.n_layer * 4 * C; // ln_1, ln_2
  for (const [, nIn, nOut] of convs) base += nIn * nOut + nOut;
  let lora = 0;
  let trainableBase = 0;
  const targeted = convs.filter(([name]) => isTargetName(name, c));
  for (const name of modules) {
    if (isTargetName(name, c)) throw new Error(`target module ${name} is not a Conv1D`);
  }
  if (targeted.length === 0)
    throw new Error(`target modules ${JSON.stringify(c.target_modules)} match no Conv1D`);
  for (const [name, nIn, nOut] of targeted) {
    const r = patternValue(c.rank_pattern, name) ?? c.r;
    lora += r * nIn + nOut * r;
    if (c.bias === 'lora_only') trainableBase += nOut;
  }
  if (c.bias === 'all') {
    trainableBase = C + gpt2.n_layer * 2 * C; // LayerNorm biases (ln_f, ln_1, ln_2)
    for (const [, , nOut] of convs) trainableBase += nOut;
  }
  for (const m of c.modules_to_save ?? []) {
    const sizes: Record<string, number> = {
      ln_f: 2 * C,
      wte: gpt2.vocab_size * C,
      wpe: gpt2.n_positions * C,
    };
    if (sizes[m] === undefined)
      throw new Error(`countLoraParameters: modules_to_save '${m}' is not one of ln_f, wte, wpe`);
    trainableBase += sizes[m];
  }
  const total = base + lora;
  const trainable = lora + trainableBase;
  return { trainable, total, percent: (100 * trainable) / total };
}

/** Every LoRA layer of the model by HF module name (for saving/loading). */
export function loraLayers(model: GPT2): Map<string, LoraLayer> {
  return loraState(model).layers;
}

/** The modules_to_save of an adapter: module name → (parameter name → the adapter's current values). */
export function savedModuleValues(model: GPT2, adapterName: string): Map<string, Map<string, tf.Tensor>> {
  const out = new Map<string, Map<string, tf.Tensor>>();
  for (const s of loraState(model).saved.values()) {
    if (!s.copies.has(adapterName)) continue;
    out.set(
      s.name,
      s.current === adapterName ? s.params : (s.copies.get(adapterName) as Map<string, tf.Tensor>),
    );
  }
  return out;
}

/** Writes values into an adapter's modules_to_save copy (or the live variables when it is the current one). */
export function setSavedModuleValue(
  model: GPT2,
  adapterName: string,
  module: string,
  param: string,
  t: tf.Tensor,
): void {
  const s = loraState(model).saved.get(module);
  const copy = s?.copies.get(adapterName);
  if (!s || !copy) throw new Error(`${module} is not in modules_to_save of adapter '${adapterName}'`);
  if (s.current === adapterName) (s.params.get(param) as tf.Variable).assign(t);
  else {
    copy.get(param)?.dispose();
    copy.set(param, tf.keep(tf.clone(t)));
  }
}
