/**
 * Mapping between GPT-2 safetensors files and model parameters.
 *
 * Key styles accepted on load (as transformers does):
 *  - hub style: `wte.weight`, `h.0.attn.c_attn.weight` … (openai-community/gpt2's model.safetensors);
 *  - save_pretrained style: `transformer.wte.weight`, `transformer.h.0…`, optionally `lm_head.weight`.
 * `h.{i}.attn.bias` / `h.{i}.attn.masked_bias` are causal-mask buffers, not parameters: skipped.
 * Written files use the hub style (no prefix, no lm_head: it is tied to wte) with `__metadata__.format = 'pt'`,
 * which transformers' `load_state_dict` requires.
 */

import type { LoadedTensor, TensorData } from '@atelier/tensor';
import { tf } from '@atelier/tensor';
import type { GPT2Config } from './config.js';
import type { ParamInit } from './modules.js';

/** `transformer.h.0.ln_1.weight` → `h.0.ln_1.weight` (hub style). */
export function toHubKey(name: string): string {
  return name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
}

function isMaskBuffer(key: string): boolean {
  return /\.attn\.(bias|masked_bias)$/.test(key);
}

/** Expected parameter shapes of a config, by HF name (`transformer.…`). */
export function expectedShapes(c: GPT2Config): Map<string, number[]> {
  const C = c.n_embd;
  const inner = c.n_inner ?? 4 * C;
  const m = new Map<string, number[]>();
  m.set('transformer.wte.weight', [c.vocab_size, C]);
  m.set('transformer.wpe.weight', [c.n_positions, C]);
  for (let i = 0; i < c.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    m.set(`${p}ln_1.weight`, [C]);
    m.set(`${p}ln_1.bias`, [C]);
    m.set(`${p}attn.c_attn.weight`, [C, 3 * C]);
    m.set(`${p}attn.c_attn.bias`, [3 * C]);
    m.set(`${p}attn.c_proj.weight`, [C, C]);
    m.set(`${p}attn.c_proj.bias`, [C]);
    m.set(`${p}ln_2.weight`, [C]);
    m.set(`${p}ln_2.bias`, [C]);
    m.set(`${p}mlp.c_fc.weight`, [C, inner]);
    m.set(`${p}mlp.c_fc.bias`, [inner]);
    m.set(`${p}mlp.c_proj.weight`, [inner, C]);
    m.set(`${p}mlp.c_proj.bias`, [C]);
  }
  m.set('transformer.ln_f.weight', [C]);
  m.set('transformer.ln_f.bias', [C]);
  return m;
}

/**
 * Checks a safetensors file against a config and returns a {@link ParamInit} that reads each parameter from it.
 * Errors name the file and the key (missing, wrong shape, non-float dtype). Keys that are neither parameters
 * nor mask buffers are reported through `onUnexpected` (transformers warns about them too).
 */
export function initFromSafetensors(
  tensors: Map<string, TensorData | LoadedTensor>,
  config: GPT2Config,
  source: string,
  onUnexpected: (keys: string[]) => void = () => {},
): ParamInit {
  const shapes = expectedShapes(config);
  const byName = new Map<string, { shape: number[]; data: Float32Array; key: string }>();
  const unexpected: string[] = [];
  for (const [key, t] of tensors) {
    if (isMaskBuffer(key)) continue;
    const name = key === 'lm_head.weight' || key.startsWith('transformer.') ? key : `transformer.${key}`;
    if (name === 'lm_head.weight') continue; // tied to wte (checked below when wte is absent)
    if (!shapes.has(name)) {
      unexpected.push(key);
      continue;
    }
    const stored = 'sourceDtype' in t ? t.sourceDtype : t.dtype;
    if (t.dtype !== 'float32') {
      throw new Error(
        `${source}: tensor ${key} has dtype ${stored}; a floating dtype (F32/F16/BF16/F64) is required`,
      );
    }
    byName.set(name, { shape: t.shape, data: t.data as Float32Array, key });
  }
  if (!byName.has('transformer.wte.weight')) {
    const head = tensors.get('lm_head.weight');
    if (head?.dtype === 'float32') {
      byName.set('transformer.wte.weight', {
        shape: head.shape,
        data: head.data as Float32Array,
        key: 'lm_head.weight',
      });
    }
  }
  for (const [name, shape] of shapes) {
    const t = byName.get(name);
    if (!t) throw new Error(`${source}: missing tensor ${toHubKey(name)} (or ${name})`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${source}: tensor ${t.key} has shape [${t.shape}], the config needs [${shape}]`);
    }
  }
  if (unexpected.length) onUnexpected(unexpected);
  return (name, shape) => {
    const t = byName.get(name);
    if (!t) throw new Error(`${source}: no tensor for parameter ${name}`);
    return tf.tensor(t.data, shape, 'float32');
  };
}

/** Base-model parameters keyed in hub style (for writing model.safetensors); adapters are left out. */
export function hubStateDict(
  params: Array<{ name: string; variable: tf.Variable }>,
  config: GPT2Config,
): Map<string, tf.Tensor> {
  const shapes = expectedShapes(config);
  const out = new Map<string, tf.Tensor>();
  for (const { name, variable } of params) if (shapes.has(name)) out.set(toHubKey(name), variable);
  return out;
}
