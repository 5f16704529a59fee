/**
 * Which modules of a GPT-2 get adapters, following PEFT's `check_target_module_exists`
 * (peft/tuners/tuners_utils.py): a string target is a regular expression that must match the whole module name;
 * a list matches a module whose name equals an entry or ends with `.entry`; `layers_to_transform` then keeps only
 * the modules under `{layers_pattern}.{i}.` with i in the list.
 */
import { Conv1D, type GPT2, type Module } from '@atelier/gpt2';
import { GPT2_DEFAULT_TARGETS, type LoraConfig, loraScaling } from './config.js';

/** One module to adapt: its HF name, the Conv1D, and the adapter's rank/alpha/scaling there. */
export interface LoraTarget {
  name: string;
  conv: Conv1D;
  /** Input width (rows of the Conv1D weight [in, out]). */
  nIn: number;
  /** Output width. */
  nOut: number;
  r: number;
  alpha: number;
  scaling: number;
}

/** PEFT's `INCLUDE_LINEAR_LAYERS_SHORTHAND`. */
export const ALL_LINEAR = 'all-linear';

/** Python `re.fullmatch(pattern, name)`. */
function fullMatch(pattern: string, name: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(name);
}

/** A list entry matches the whole name or a dotted suffix of it; a string is a full-match regex. */
function matchesSpec(spec: string[] | string, name: string): boolean {
  if (typeof spec === 'string') return fullMatch(spec, name);
  return spec.some((t) => name === t || name.endsWith(`.${t}`));
}

/** The layer index of `transformer.h.3.attn.c_attn` (3), following layers_pattern; null when there is none. */
export function layerIndexOf(name: string, layersPattern: string[] | string | null): number | null {
  const patterns =
    layersPattern === null ? [] : typeof layersPattern === 'string' ? [layersPattern] : layersPattern;
  const regexes =
    patterns.length === 0
      ? [/^.*\.[^.]*\.(\d+)\./]
      : patterns.map((p) => new RegExp(`^.*\\.(?:${p})\\.(\\d+)\\.`));
  for (const re of regexes) {
    const m = re.exec(name);
    if (m) return Number(m[1]);
  }
  return null;
}

/** Whether `name` is a LoRA target under `config` (before the Conv1D type check). */
export function isTargetName(name: string, config: LoraConfig): boolean {
  let targets = config.target_modules ?? GPT2_DEFAULT_TARGETS;
  if (targets === ALL_LINEAR) targets = ['c_attn', 'c_proj', 'c_fc'];
  if (!matchesSpec(targets, name)) return false;
  if (config.exclude_modules !== null && matchesSpec(config.exclude_modules, name)) return false;
  const ltt = config.layers_to_transform;
  const usesLayers = ltt !== null && (!Array.isArray(ltt) || ltt.length > 0);
  if (usesLayers && typeof targets !== 'string') {
    const index = layerIndexOf(name, config.layers_pattern);
    if (index === null) return false;
    return Array.isArray(ltt) ? ltt.includes(index) : index === ltt;
  }
  return true;
}

/** PEFT's pattern lookup for rank_pattern / alpha_pattern: the first key matching as a dotted suffix or regex. */
export function patternValue(patterns: Record<string, number>, name: string): number | undefined {
  for (const [key, value] of Object.entries(patterns)) {
    if (new RegExp(`^(?:.*\\.)?(?:${key})$`).test(name)) return value;
  }
  return undefined;
}

/**
 * Every module of `model` that `config` adapts, in model order. Throws when a matched module is not a Conv1D
 * (PEFT refuses those types too) or when nothing matches.
 */
export function findTargets(model: GPT2, config: LoraConfig): LoraTarget[] {
  const out: LoraTarget[] = [];
  for (const [name, module] of model.namedModules()) {
    if (name === '' || !isTargetName(name, config)) continue;
    if (!(module instanceof Conv1D)) {
      throw new Error(
        `target module ${name} is a ${module.constructor.name}; LoRA supports GPT-2's Conv1D layers (c_attn, c_proj, c_fc)`,
      );
    }
    const r = patternValue(config.rank_pattern, name) ?? config.r;
    const alpha = patternValue(config.alpha_pattern, name) ?? config.lora_alpha;
    out.push({
      name,
      conv: module,
      nIn: module.nIn,
      nOut: module.nOut,
      r,
      alpha,
      scaling: loraScaling(r, alpha, config.use_rslora),
    });
  }
  if (out.length === 0) {
    throw new Error(
      `target modules ${JSON.stringify(config.target_modules ?? GPT2_DEFAULT_TARGETS)} not found in the base model ` +
        `(module names look like transformer.h.0.attn.c_attn; layers_to_transform: ${JSON.stringify(config.layers_to_transform)})`,
    );
  }
  return out;
}

/**
 * Modules named by modules_to_save (PEFT `_set_trainable`: the module name ends with an entry), outermost only,
 * with their parameters. Throws if an entry matches nothing or a LoRA target.
 */
export function findModulesToSave(
  model: GPT2,
  config: LoraConfig,
  targets: LoraTarget[],
): Array<{ name: string; module: Module }> {
  const entries = config.modules_to_save ?? [];
  if (entries.length === 0) return [];
  const targetNames = new Set(targets.map((t) => t.name));
  const out: Array<{ name: string; module: Module }> = [];
  const used = new Set<string>();
  for (const [name, module] of model.namedModules()) {
    if (name === '') continue;
    const entry = entries.find((e) => name.endsWith(e));
    if (entry === undefined) continue;
    if (out.some((o) => name.startsWith(`${o.name}.`))) continue; // inside a module already saved whole
    if (targetNames.has(name)) {
      throw new Error(`modules_to_save entry '${entry}' matches ${name}, which is also a LoRA target`);
    }
    used.add(entry);
    out.push({ name, module });
  }
  const unused = entries.filter((e) => !used.has(e));
  if (unused.length > 0) {
    throw new Error(`modules_to_save ${JSON.stringify(unused)} matched no module of the model`);
  }
  return out;
}
