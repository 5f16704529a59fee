import { readFile } from 'node:fs/promises';

/**
 * GPT-2 hyper-parameters, named as in Hugging Face's `GPT2Config` (config.json), so a config read from the hub
 * and one written by {@link configToJson} are interchangeable with Python transformers.
 */
export interface GPT2Config {
  vocab_size: number;
  /** Maximum sequence length (context window). */
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** MLP width; null means 4 · n_embd. */
  n_inner: number | null;
  /** Only the tanh approximation is supported: 'gelu_new' (GPT-2) or its alias 'gelu_pytorch_tanh'. */
  activation_function: string;
  resid_pdrop: number;
  embd_pdrop: number;
  attn_pdrop: number;
  layer_norm_epsilon: number;
  initializer_range: number;
  bos_token_id: number;
  eos_token_id: number;
  tie_word_embeddings: boolean;
  /** Unsupported HF options are read so that they can be refused with a clear error. */
  scale_attn_weights?: boolean;
  scale_attn_by_inverse_layer_idx?: boolean;
  reorder_and_upcast_attn?: boolean;
}

/** GPT-2 124M ("gpt2" on the hub): the defaults of HF GPT2Config. */
export const GPT2_DEFAULTS: GPT2Config = {
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  n_inner: null,
  activation_function: 'gelu_new',
  resid_pdrop: 0.1,
  embd_pdrop: 0.1,
  attn_pdrop: 0.1,
  layer_norm_epsilon: 1e-5,
  initializer_range: 0.02,
  bos_token_id: 50256,
  eos_token_id: 50256,
  tie_word_embeddings: true,
};

/**
 * Named shapes for training from scratch, all with the GPT-2 vocabulary (50,257 tokens):
 * - `tiny`: ~1.0M parameters (n_embd 20, 2 layers, 2 heads, 128 positions) — for tests; mostly the embedding.
 * - `small`: ~34M (n_embd 384, 8 layers, 6 heads, 512 positions).
 * - `base`: ~51M (n_embd 512, 8 layers, 8 heads, 512 positions).
 * - `gpt2`: the 124M shape of the original GPT-2.
 */
export const PRESETS = {
  tiny: { n_embd: 20, n_layer: 2, n_head: 2, n_positions: 128 },
  small: { n_embd: 384, n_layer: 8, n_head: 6, n_positions: 512 },
  base: { n_embd: 512, n_layer: 8, n_head: 8, n_positions: 512 },
  gpt2: {},
} satisfies Record<string, Partial<GPT2Config>>;

export type PresetName = keyof typeof PRESETS;

/** Full config from a preset name or a partial config (missing fields take GPT-2's defaults); validated. */
export function resolveConfig(config: PresetName | Partial<GPT2Config>, source = 'config'): GPT2Config {
  if (typeof config === 'string') {
    const preset = PRESETS[config];
    if (!preset) {
      throw new Error(`unknown GPT-2 preset '${config}' (known: ${Object.keys(PRESETS).join(', ')})`);
    }
    return validateConfig({ ...GPT2_DEFAULTS, ...preset }, `preset '${config}'`);
  }
  return validateConfig({ ...GPT2_DEFAULTS, ...config }, source);
}

const INTEGER_FIELDS = ['vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head'] as const;

/** Throws an Error naming the source and the field when the config is inconsistent or unsupported. */
export function validateConfig(c: GPT2Config, source = 'config'): GPT2Config {
  for (const f of INTEGER_FIELDS) {
    const v = c[f];
    if (!Number.isInteger(v) || v <= 0)
      throw new Error(`${source}: ${f} must be a positive integer, got ${v}`);
  }
  if (c.n_embd % c.n_head !== 0) {
    throw new Error(`${source}: n_embd (${c.n_embd}) must be divisible by n_head (${c.n_head})`);
  }
  if (c.n_inner !== null && (!Number.isInteger(c.n_inner) || c.n_inner <= 0)) {
    throw new Error(`${source}: n_inner must be null or a positive integer, got ${c.n_inner}`);
  }
  if (c.activation_function !== 'gelu_new' && c.activation_function !== 'gelu_pytorch_tanh') {
    throw new Error(
      `${source}: activation_function '${c.activation_function}' is not supported (only 'gelu_new' / 'gelu_pytorch_tanh')`,
    );
  }
  for (const f of ['resid_pdrop', 'embd_pdrop', 'attn_pdrop'] as const) {
    if (!(c[f] >= 0 && c[f] < 1)) throw new Error(`${source}: ${f} must be in [0, 1), got ${c[f]}`);
  }
  if (!(c.layer_norm_epsilon > 0)) throw new Error(`${source}: layer_norm_epsilon must be > 0`);
  if (c.scale_attn_weights === false) throw new Error(`${source}: scale_attn_weights=false is not supported`);
  if (c.scale_attn_by_inverse_layer_idx) {
    throw new Error(`${source}: scale_attn_by_inverse_layer_idx=true is not supported`);
  }
  if (c.tie_word_embeddings === false) {
    throw new Error(`${source}: tie_word_embeddings=false is not supported (GPT-2 ties the LM head to wte)`);
  }
  return c;
}

/** config.json as Hugging Face writes it for GPT2LMHeadModel (loadable by `GPT2Config.from_pretrained`). */
export function configToJson(c: GPT2Config): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocab_size,
    n_positions: c.n_positions,
    n_ctx: c.n_positions,
    n_embd: c.n_embd,
    n_layer: c.n_layer,
    n_head: c.n_head,
    n_inner: c.n_inner,
    activation_function: c.activation_function,
    resid_pdrop: c.resid_pdrop,
    embd_pdrop: c.embd_pdrop,
    attn_pdrop: c.attn_pdrop,
    layer_norm_epsilon: c.layer_norm_epsilon,
    initializer_range: c.initializer_range,
    bos_token_id: c.bos_token_id,
    eos_token_id: c.eos_token_id,
    tie_word_embeddings: true,
    scale_attn_weights: true,
    use_cache: true,
    torch_dtype: 'float32',
  };
}

/** Reads and validates a config.json (HF GPT2Config). Errors name the file. */
export async function readConfig(path: string): Promise<GPT2Config> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read GPT-2 config ${path}: ${(e as Error).message}`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
  if (json.model_type !== undefined && json.model_type !== 'gpt2') {
    throw new Error(`${path}: model_type '${json.model_type}' is not 'gpt2'`);
  }
  const picked: Partial<GPT2Config> = {};
  for (const key of Object.keys(GPT2_DEFAULTS) as (keyof GPT2Config)[]) {
    if (json[key] !== undefined) (picked as Record<string, unknown>)[key] = json[key];
  }
  for (const key of [
    'scale_attn_weights',
    'scale_attn_by_inverse_layer_idx',
    'reorder_and_upcast_attn',
  ] as const) {
    if (json[key] !== undefined) (picked as Record<string, unknown>)[key] = json[key];
  }
  // very old configs name the context n_ctx only
  if (json.n_positions === undefined && typeof json.n_ctx === 'number') picked.n_positions = json.n_ctx;
  return resolveConfig(picked, path);
}

/** Number of parameters of a config (tied LM head counted once). */
export function countParameters(c: GPT2Config): number {
  const C = c.n_embd;
  const inner = c.n_inner ?? 4 * C;
  const block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * inner + inner) + (inner * C + C);
  return c.vocab_size * C + c.n_positions * C + c.n_layer * block + 2 * C;
}
