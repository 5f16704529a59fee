/**
 * LoRA configuration in the terms of Hugging Face PEFT's `LoraConfig` (peft/tuners/lora/config.py): the same field
 * names (snake_case), the same defaults and the same meaning, so that an `adapter_config.json` written by PEFT reads
 * into a {@link LoraConfig} and one written here loads in PEFT.
 */

/** Which biases train along with the adapters (PEFT `bias`). */
export type LoraBias = 'none' | 'all' | 'lora_only';

/**
 * How new adapter weights start (PEFT `init_lora_weights`):
 * - `true` (default): A Kaiming-uniform with a = √5 as nn.Linear (U(−1/√in, 1/√in)), B zeros — the adapter
 *   starts as the identity;
 * - `'gaussian'`: A ~ N(0, 1/r), B zeros;
 * - `false`: both as nn.Linear's default init (A U(±1/√in), B U(±1/√r)) — the adapter changes the output from
 *   the start (PEFT uses it for tests).
 */
export type LoraInit = boolean | 'gaussian';

/** A LoRA configuration; every field as PEFT's LoraConfig. */
export interface LoraConfig {
  /** Rank of the update B·A. */
  r: number;
  /** Scale numerator: scaling = lora_alpha / r (or lora_alpha / √r with use_rslora). */
  lora_alpha: number;
  /** Rank-stabilised LoRA (Kalajdzievski 2023): scaling = lora_alpha / √r. */
  use_rslora: boolean;
  /** Dropout on the adapter's input x (training mode only). */
  lora_dropout: number;
  /**
   * Modules to adapt. A list: module names matched exactly or as a dotted suffix (`c_attn` matches
   * `transformer.h.0.attn.c_attn`, `attn.c_proj` only the attention projection); a string: a regular expression
   * that must match the whole module name (Python `re.fullmatch`); `'all-linear'`: every Conv1D of the model
   * (c_attn, c_proj, c_fc). `null` = PEFT's default for GPT-2, `['c_attn']`.
   */
  target_modules: string[] | string | null;
  /** Modules to leave out even when target_modules matches them (same matching rules). */
  exclude_modules: string[] | string | null;
  /**
   * True when the base layer stores its weight [in, out] (GPT-2's Conv1D). PEFT forces it to true for Conv1D
   * (with a warning) and so does this package.
   */
  fan_in_fan_out: boolean;
  bias: LoraBias;
  init_lora_weights: LoraInit;
  /**
   * Modules trained in full and saved with the adapter (a suffix match on module names, as PEFT), e.g.
   * `['ln_f']`. Each adapter keeps its own copy; switching adapters swaps the values in.
   */
  modules_to_save: string[] | null;
  /** Only adapt these layer indices (of `transformer.h.{i}`); applies with a list target_modules, as in PEFT. */
  layers_to_transform: number[] | number | null;
  /** The module-list name(s) the layer index follows (`h` for GPT-2); null = any `name.{i}.`. */
  layers_pattern: string[] | string | null;
  /** Per-module rank overrides: {pattern: r}, pattern matched as a dotted suffix or regex of the module name. */
  rank_pattern: Record<string, number>;
  /** Per-module alpha overrides, matched like rank_pattern. */
  alpha_pattern: Record<string, number>;
  /** The base model the adapter belongs to (hub id or path), written to adapter_config.json. */
  base_model_name_or_path: string | null;
  /** PEFT task type; GPT2LMHeadModel is `CAUSAL_LM`. */
  task_type: string | null;
  /** Hub revision of the base model, if known. */
  revision: string | null;
  /** Whether the adapter was saved for inference only (PEFT writes true on save). */
  inference_mode: boolean;
}

/** PEFT's defaults, with fan_in_fan_out already true (GPT-2's Conv1D) and task_type CAUSAL_LM. */
export const LORA_DEFAULTS: LoraConfig = {
  r: 8,
  lora_alpha: 8,
  use_rslora: false,
  lora_dropout: 0,
  target_modules: null,
  exclude_modules: null,
  fan_in_fan_out: true,
  bias: 'none',
  init_lora_weights: true,
  modules_to_save: null,
  layers_to_transform: null,
  layers_pattern: null,
  rank_pattern: {},
  alpha_pattern: {},
  base_model_name_or_path: null,
  task_type: 'CAUSAL_LM',
  revision: null,
  inference_mode: false,
};

/** PEFT's default target for GPT-2 (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING['gpt2']). */
export const GPT2_DEFAULT_TARGETS = ['c_attn'];

/** scaling = alpha / r, or alpha / √r with rsLoRA (PEFT LoraLayer.update_layer). */
export function loraScaling(r: number, alpha: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

const STRING_LISTS = ['modules_to_save'] as const;

/**
 * A full, validated config from a partial one (missing fields take {@link LORA_DEFAULTS}). `source` names the
 * origin (a file path) in errors, which always name the field.
 */
export function resolveLoraConfig(partial: Partial<LoraConfig> = {}, source = 'LoraConfig'): LoraConfig {
  const c: LoraConfig = { ...LORA_DEFAULTS, ...stripUndefined(partial) };
  const fail = (field: string, msg: string): never => {
    throw new Error(`${source}: ${field} ${msg}`);
  };
  if (!Number.isInteger(c.r) || c.r <= 0) fail('r', `must be a positive integer, got ${show(c.r)}`);
  if (typeof c.lora_alpha !== 'number' || !Number.isFinite(c.lora_alpha)) {
    fail('lora_alpha', `must be a finite number, got ${show(c.lora_alpha)}`);
  }
  if (typeof c.lora_dropout !== 'number' || !(c.lora_dropout >= 0 && c.lora_dropout < 1)) {
    fail('lora_dropout', `must be in [0, 1), got ${show(c.lora_dropout)}`);
  }
  if (typeof c.use_rslora !== 'boolean') fail('use_rslora', `must be a boolean, got ${show(c.use_rslora)}`);
  if (c.bias !== 'none' && c.bias !== 'all' && c.bias !== 'lora_only') {
    fail('bias', `must be 'none', 'all' or 'lora_only', got ${show(c.bias)}`);
  }
  if (typeof c.fan_in_fan_out !== 'boolean') {
    fail('fan_in_fan_out', `must be a boolean, got ${show(c.fan_in_fan_out)}`);
  }
  if (typeof c.init_lora_weights !== 'boolean' && typeof c.init_lora_weights !== 'string') {
    fail('init_lora_weights', `must be true, false or a string, got ${show(c.init_lora_weights)}`);
  }
  checkPattern(c.target_modules, 'target_modules', fail);
  checkPattern(c.exclude_modules, 'exclude_modules', fail);
  checkPattern(c.layers_pattern, 'layers_pattern', fail);
  for (const f of STRING_LISTS) {
    const v = c[f];
    if (v !== null && (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s === ''))) {
      fail(f, `must be null or a list of module names, got ${show(v)}`);
    }
  }
  const ltt = c.layers_to_transform;
  if (ltt !== null) {
    const list = Array.isArray(ltt) ? ltt : [ltt];
    if (list.some((i) => !Number.isInteger(i) || i < 0)) {
      fail('layers_to_transform', `must be null, a layer index or a list of them, got ${show(ltt)}`);
    }
  }
  for (const f of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = c[f];
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(f, `must be an object, got ${show(v)}`);
    for (const [k, n] of Object.entries(v)) {
      const ok =
        f === 'rank_pattern' ? Number.isInteger(n) && n > 0 : typeof n === 'number' && Number.isFinite(n);
      if (!ok)
        fail(
          `${f}['${k}']`,
          `must be a ${f === 'rank_pattern' ? 'positive integer' : 'number'}, got ${show(n)}`,
        );
    }
  }
  for (const f of ['base_model_name_or_path', 'task_type', 'revision'] as const) {
    if (c[f] !== null && typeof c[f] !== 'string') fail(f, `must be null or a string, got ${show(c[f])}`);
  }
  return c;
}

function checkPattern(
  v: string[] | string | null,
  field: string,
  fail: (field: string, msg: string) => never,
): void {
  if (v === null) return;
  if (typeof v === 'string') {
    if (v === '') fail(field, 'must not be an empty string');
    try {
      new RegExp(v);
    } catch (e) {
      fail(field, `is not a valid regular expression (${(e as Error).message})`);
    }
    return;
  }
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s === '')) {
    fail(field, `must be null, a regular expression or a list of module names, got ${show(v)}`);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v));
}

/** Features of PEFT adapter configs this package does not implement; loading such a config is refused. */
const UNSUPPORTED: Array<[string, (v: unknown) => boolean, string]> = [
  ['use_dora', (v) => v === true, 'DoRA adapters (use_dora: true) are not supported'],
  ['lora_bias', (v) => v === true, 'a bias on lora_B (lora_bias: true) is not supported'],
  ['layer_replication', (v) => v != null, 'layer_replication is not supported'],
  ['trainable_token_indices', (v) => v != null, 'trainable_token_indices is not supported'],
  [
    'target_parameters',
    (v) => v != null && !(Array.isArray(v) && v.length === 0),
    'target_parameters is not supported',
  ],
  ['use_qalora', (v) => v === true, 'QA-LoRA (use_qalora: true) is not supported'],
  ['alora_invocation_tokens', (v) => v != null, 'activated LoRA (alora_invocation_tokens) is not supported'],
  ['arrow_config', (v) => v != null, 'Arrow routing (arrow_config) is not supported'],
  ['use_bdlora', (v) => v != null && v !== false, 'block-diagonal LoRA (use_bdlora) is not supported'],
];

/**
 * Reads PEFT's adapter_config.json contents. Refuses other PEFT types and LoRA variants this package does not
 * implement; fields PEFT has but this package does not use (megatron_config, loftq_config, …) are ignored.
 */
export function loraConfigFromPeft(json: unknown, source = 'adapter_config.json'): LoraConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${source}: expected a JSON object`);
  }
  const o = json as Record<string, unknown>;
  if (o.peft_type !== undefined && o.peft_type !== 'LORA') {
    throw new Error(`${source}: peft_type is '${String(o.peft_type)}'; only LORA adapters are supported`);
  }
  for (const [field, bad, msg] of UNSUPPORTED) {
    if (bad(o[field])) throw new Error(`${source}: ${msg}`);
  }
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(LORA_DEFAULTS)) {
    if (o[key] !== undefined) picked[key] = o[key];
  }
  // PEFT writes null for empty patterns in some versions.
  if (picked.rank_pattern === null) picked.rank_pattern = {};
  if (picked.alpha_pattern === null) picked.alpha_pattern = {};
  return resolveLoraConfig(picked as Partial<LoraConfig>, source);
}

/**
 * adapter_config.json as PEFT's `LoraConfig.save_pretrained` writes it (PEFT 0.10–0.13 field set; newer PEFT
 * reads it too, filling its newer fields with their defaults). `inference_mode` is true, as PEFT sets it on save.
 */
export function loraConfigToPeft(c: LoraConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    alpha_pattern: c.alpha_pattern,
    auto_mapping: null,
    base_model_name_or_path: c.base_model_name_or_path,
    bias: c.bias,
    exclude_modules: c.exclude_modules,
    fan_in_fan_out: c.fan_in_fan_out,
    inference_mode: true,
    init_lora_weights: c.init_lora_weights,
    layer_replication: null,
    layers_pattern: c.layers_pattern,
    layers_to_transform: c.layers_to_transform,
    loftq_config: {},
    lora_alpha: c.lora_alpha,
    lora_dropout: c.lora_dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: c.modules_to_save,
    peft_type: 'LORA',
    r: c.r,
    rank_pattern: c.rank_pattern,
    revision: c.revision,
    target_modules: c.target_modules ?? GPT2_DEFAULT_TARGETS,
    task_type: c.task_type,
    use_dora: false,
    use_rslora: c.use_rslora,
  };
  // exclude_modules only exists from PEFT 0.14 on; older PEFT rejects unknown fields, so write it only when set.
  if (c.exclude_modules === null) delete out.exclude_modules;
  return out;
}
