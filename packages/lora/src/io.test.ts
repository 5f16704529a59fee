// Adapter files: PEFT's layout on save, PEFT's (and tolerated) layouts on load, clear refusals.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GPT2, readConfig } from '@atelier/gpt2';
import { initBackend, loadSafetensors, readSafetensorsHeader, saveSafetensors, tf } from '@atelier/tensor';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadAdapter, parseAdapterKey, saveAdapter } from './io.js';
import { adapterConfig, applyLora, listAdapters, setActiveAdapter } from './lora.js';
import {
  evalView,
  expectClose,
  FIXTURES,
  type LoraFixture,
  loadLoraFixture,
  loadTinyModel,
  REFERENCE_SCRIPT,
  tensorOf,
  valuesOf,
} from './testing.test-util.js';

let fx: LoraFixture;
let tmp: string;
let models: GPT2[] = [];
function track(m: GPT2): GPT2 {
  models.push(m);
  return m;
}

beforeAll(async () => {
  await initBackend('cpu');
  fx = await loadLoraFixture('lora-tiny');
  tmp = await mkdtemp(join(tmpdir(), 'atelier-lora-'));
});
afterEach(() => {
  for (const m of models) m.dispose();
  models = [];
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

/** Randomises every trainable parameter a little (as training would), deterministically. */
function perturbTrainable(model: GPT2, seed: number) {
  model
    .parameters()
    .filter((p) => p.trainable)
    .forEach((p, i) => {
      tf.tidy(() =>
        p.variable.assign(tf.add(p.variable, tf.randomNormal(p.variable.shape, 0, 0.2, 'float32', seed + i))),
      );
    });
}

describe('saveAdapter writes what PEFT writes', () => {
  it('keys, metadata and adapter_config.json fields; a reload reproduces the logits', async () => {
    const model = track(await loadTinyModel());
    applyLora(model, {
      r: 4,
      lora_alpha: 16,
      lora_dropout: 0.05,
      target_modules: ['c_attn'],
      init_lora_weights: false,
    });
    const dir = join(tmp, 'roundtrip');
    await saveAdapter(model, dir, { baseModelNameOrPath: 'gpt2' });
    expect((await readdir(dir)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const header = await readSafetensorsHeader(join(dir, 'adapter_model.safetensors'));
    expect(header.metadata).toEqual({ format: 'pt' });
    expect([...header.tensors.keys()].sort()).toEqual([
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight',
      'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
    ]);
    expect(header.tensors.get('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')?.shape).toEqual([
      4, 8,
    ]);
    expect(header.tensors.get('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight')?.shape).toEqual([
      24, 4,
    ]);
    const cfg = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(Object.keys(cfg)).toEqual([...Object.keys(cfg)].sort()); // sort_keys=True, as PEFT
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: 'gpt2',
      r: 4,
      lora_alpha: 16,
      lora_dropout: 0.05,
      target_modules: ['c_attn'],
      fan_in_fan_out: true,
      bias: 'none',
      use_rslora: false,
      use_dora: false,
      modules_to_save: null,
      layers_to_transform: null,
      inference_mode: true,
      init_lora_weights: false,
    });

    const want = evalView(model, fx.meta.ids, fx.meta.vocab_subset);
    const fresh = track(await loadTinyModel());
    const loaded = await loadAdapter(fresh, dir, { baseModelNameOrPath: 'openai-community/gpt2' });
    expect(loaded.r).toBe(4);
    const got = evalView(fresh, fx.meta.ids, fx.meta.vocab_subset);
    expectClose(got.l, want.l, { rtol: 0, atol: 0 }, 'reloaded logits');
    expect(fresh.parameters().filter((p) => p.trainable)).toEqual([]); // PEFT: is_trainable=False by default
  });

  it('a PEFT-written adapter saved again gives the same keys and values', async () => {
    const model = track(await loadTinyModel());
    await loadAdapter(model, fx.dir);
    const dir = join(tmp, 'resaved');
    await saveAdapter(model, dir);
    const a = await loadSafetensors(join(fx.dir, 'adapter_model.safetensors'));
    const b = await loadSafetensors(join(dir, 'adapter_model.safetensors'));
    expect([...b.keys()].sort()).toEqual(fx.meta.peft_keys);
    for (const [k, t] of a) expect(Array.from(b.get(k)?.data ?? []), k).toEqual(Array.from(t.data));
    const cfgA = JSON.parse(await readFile(join(fx.dir, 'adapter_config.json'), 'utf8'));
    const cfgB = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfgB).toEqual(cfgA);
  });

  it('bias "all" and modules_to_save: base_layer.bias for wrapped layers, module keys for saved modules', async () => {
    const model = track(await loadTinyModel());
    applyLora(model, {
      r: 2,
      target_modules: ['c_fc'],
      layers_to_transform: [1],
      bias: 'all',
      modules_to_save: ['ln_f'],
    });
    perturbTrainable(model, 7);
    const dir = join(tmp, 'bias-all');
    await saveAdapter(model, dir);
    const keys = [...(await readSafetensorsHeader(join(dir, 'adapter_model.safetensors'))).tensors.keys()];
    expect(keys).toContain('base_model.model.transformer.h.1.mlp.c_fc.base_layer.bias');
    expect(keys).toContain('base_model.model.transformer.h.0.mlp.c_fc.bias');
    expect(keys).toContain('base_model.model.transformer.h.0.ln_1.bias');
    expect(keys).toContain('base_model.model.transformer.ln_f.weight');
    expect(keys).toContain('base_model.model.transformer.ln_f.bias');
    expect(keys.filter((k) => k.includes('lora_'))).toEqual([
      'base_model.model.transformer.h.1.mlp.c_fc.lora_A.weight',
      'base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight',
    ]);
    expect(keys.filter((k) => k.endsWith('.weight') && !k.includes('lora_'))).toEqual([
      'base_model.model.transformer.ln_f.weight',
    ]);
    const want = evalView(model, fx.meta.ids, fx.meta.vocab_subset);
    const fresh = track(await loadTinyModel());
    await loadAdapter(fresh, dir);
    expectClose(
      evalView(fresh, fx.meta.ids, fx.meta.vocab_subset).l,
      want.l,
      { rtol: 0, atol: 0 },
      'reloaded',
    );
  });

  it('is atomic: no temporary files left, an existing adapter is replaced whole', async () => {
    const model = track(await loadTinyModel());
    applyLora(model, { r: 2, init_lora_weights: false });
    const dir = join(tmp, 'atomic');
    await saveAdapter(model, dir);
    perturbTrainable(model, 3);
    await saveAdapter(model, dir);
    expect((await readdir(dir)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const fresh = track(await loadTinyModel());
    await loadAdapter(fresh, dir);
    expectClose(
      evalView(fresh, fx.meta.ids, fx.meta.vocab_subset).l,
      evalView(model, fx.meta.ids, fx.meta.vocab_subset).l,
      { rtol: 0, atol: 0 },
      'second save',
    );
  });
});

describe('loadAdapter', () => {
  it('tolerates the adapter-name infix, a missing base_model.model. prefix and hub-style keys', async () => {
    const file = await loadSafetensors(join(fx.dir, 'adapter_model.safetensors'));
    const variants: Array<[string, (k: string) => string]> = [
      ['infix', (k) => k.replace(/\.(lora_[AB])\.weight$/, '.$1.default.weight')],
      ['no-prefix', (k) => k.replace(/^base_model\.model\./, '')],
      ['hub-style', (k) => k.replace(/^base_model\.model\.transformer\./, '')],
      ['other-name', (k) => k.replace(/\.(lora_[AB])\.weight$/, '.$1.my_adapter.weight')],
    ];
    for (const [name, rename] of variants) {
      const dir = join(tmp, `variant-${name}`);
      await mkdir(dir, { recursive: true });
      const renamed = new Map([...file].map(([k, t]) => [rename(k), t]));
      await saveSafetensors(join(dir, 'adapter_model.safetensors'), renamed);
      await copyFile(join(fx.dir, 'adapter_config.json'), join(dir, 'adapter_config.json'));
      const model = track(await loadTinyModel());
      await loadAdapter(model, dir, { adapterName: 'x' });
      expectClose(
        evalView(model, fx.meta.ids, fx.meta.vocab_subset).l,
        tensorOf(fx.expected, 'logits_lse').data,
        { rtol: 1e-5, atol: 5e-5 },
        name,
      );
    }
    expect(parseAdapterKey('base_model.model.transformer.ln_f.modules_to_save.default.weight')).toEqual({
      kind: 'param',
      module: 'transformer.ln_f',
      param: 'weight',
    });
    expect(parseAdapterKey('base_model.model.transformer.ln_f.original_module.weight')).toEqual({
      kind: 'ignored',
    });
  });

  it('reads the adapter_config.json of a recent PEFT (0.19 field set) and of a minimal hand-written one', async () => {
    const cfg = JSON.parse(await readFile(join(fx.dir, 'adapter_config.json'), 'utf8'));
    const recent = {
      ...cfg,
      alora_invocation_tokens: null,
      arrow_config: null,
      corda_config: null,
      ensure_weight_tying: false,
      eva_config: null,
      exclude_modules: null,
      lora_bias: false,
      lora_ga_config: null,
      peft_version: '0.19.1',
      qalora_group_size: 16,
      target_parameters: null,
      trainable_token_indices: null,
      use_bdlora: null,
      use_qalora: false,
    };
    const minimal = { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['c_attn', 'c_proj'] };
    for (const [name, json] of Object.entries({ recent, minimal })) {
      const dir = join(tmp, `config-${name}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(json));
      await copyFile(join(fx.dir, 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
      const model = track(await loadTinyModel());
      const c = await loadAdapter(model, dir);
      expect(c.fan_in_fan_out, name).toBe(true);
      expectClose(
        evalView(model, fx.meta.ids, fx.meta.vocab_subset).l,
        tensorOf(fx.expected, 'logits_lse').data,
        { rtol: 1e-5, atol: 5e-5 },
        name,
      );
    }
  });

  it('refuses an adapter for another width, naming the key and both shapes', async () => {
    const base = await readConfig(join(FIXTURES, 'gpt2-tiny', 'config.json'));
    const wider = track(GPT2.fromConfig({ ...base, n_embd: 16 }));
    await expect(loadAdapter(wider, fx.dir)).rejects.toThrow(
      /adapter_model\.safetensors: base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight has shape \[4, 8\], expected \[4, 16\] .*atelier-fixtures\/gpt2-tiny/,
    );
    expect(listAdapters(wider)).toEqual([]); // nothing was applied
  });

  it('refuses an adapter for another depth (missing or extra layers)', async () => {
    const base = await readConfig(join(FIXTURES, 'gpt2-tiny', 'config.json'));
    const deeper = track(GPT2.fromConfig({ ...base, n_layer: 3 }));
    await expect(loadAdapter(deeper, fx.dir)).rejects.toThrow(
      /missing base_model\.model\.transformer\.h\.2\.attn\.c_attn\.lora_A\.weight/,
    );
    const shallower = track(GPT2.fromConfig({ ...base, n_layer: 1 }));
    await expect(loadAdapter(shallower, fx.dir)).rejects.toThrow(
      /transformer\.h\.1\.attn\.c_attn\.lora_A\.weight is for module transformer\.h\.1\.attn\.c_attn, which this model does not have/,
    );
  });

  it('refuses a base model mismatch by name unless told otherwise', async () => {
    const model = track(await loadTinyModel());
    await expect(loadAdapter(model, fx.dir, { baseModelNameOrPath: 'gpt2-medium' })).rejects.toThrow(
      /trained on base model 'atelier-fixtures\/gpt2-tiny', but this model is 'gpt2-medium'/,
    );
    await loadAdapter(model, fx.dir, { baseModelNameOrPath: 'gpt2-medium', allowBaseModelMismatch: true });
    // a local path cannot be compared by name: shapes decide
    await loadAdapter(model, fx.dir, { adapterName: 'b', baseModelNameOrPath: '/models/my-gpt2' });
    expect(listAdapters(model)).toEqual(['default', 'b']);
  });

  it('refuses other PEFT types, unsupported LoRA variants, bad fields and missing files with the file named', async () => {
    const model = track(await loadTinyModel());
    const cfg = JSON.parse(await readFile(join(fx.dir, 'adapter_config.json'), 'utf8'));
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...cfg, peft_type: 'IA3' }, /adapter_config\.json: peft_type is 'IA3'; only LORA/],
      [{ ...cfg, use_dora: true }, /DoRA adapters \(use_dora: true\) are not supported/],
      [
        { ...cfg, alora_invocation_tokens: [1, 2] },
        /activated LoRA \(alora_invocation_tokens\) is not supported/,
      ],
      [{ ...cfg, r: -1 }, /adapter_config\.json: r must be a positive integer, got -1/],
      [{ ...cfg, bias: 'some' }, /adapter_config\.json: bias must be/],
      [{ ...cfg, r: 8 }, /lora_A\.weight has shape \[4, 8\], expected \[8, 8\]/],
    ];
    for (const [i, [json, err]] of cases.entries()) {
      const dir = join(tmp, `bad-${i}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(json));
      await copyFile(join(fx.dir, 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
      await expect(loadAdapter(model, dir)).rejects.toThrow(err);
    }
    await expect(loadAdapter(model, join(tmp, 'nope'))).rejects.toThrow(
      /cannot read .*nope\/adapter_config\.json/,
    );
    const binOnly = join(tmp, 'bin-only');
    await mkdir(binOnly, { recursive: true });
    await copyFile(join(fx.dir, 'adapter_config.json'), join(binOnly, 'adapter_config.json'));
    await writeFile(join(binOnly, 'adapter_model.bin'), 'pickle');
    await expect(loadAdapter(model, binOnly)).rejects.toThrow(/adapter_model\.bin: pickled PyTorch adapters/);
    expect(listAdapters(model)).toEqual([]);
  });

  it('loading into an existing adapter overwrites its weights in place (the same variables)', async () => {
    const model = track(await loadTinyModel());
    applyLora(model, adapterConfigFromFixture(), { adapterName: 'default' });
    const A = model.parameters().find((p) => p.name === 'transformer.h.0.attn.c_attn.lora_A.default.weight');
    const variable = A?.variable;
    await loadAdapter(model, fx.dir);
    const after = model
      .parameters()
      .find((p) => p.name === 'transformer.h.0.attn.c_attn.lora_A.default.weight');
    expect(after?.variable).toBe(variable);
    expect(after?.trainable).toBe(true); // the flags of an existing adapter are kept
    const file = await loadSafetensors(join(fx.dir, 'adapter_model.safetensors'));
    expect(Array.from(valuesOf(variable as tf.Variable))).toEqual(
      Array.from(file.get('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')?.data ?? []),
    );
    setActiveAdapter(model, 'default');
    expect(adapterConfig(model).r).toBe(4);
  });
});

function adapterConfigFromFixture() {
  return { r: 4, lora_alpha: 8, target_modules: ['c_attn', 'c_proj'] };
}

const python = '/usr/bin/python3';
const hasTorch = existsSync(python)
  ? await promisify(execFile)(python, ['-c', 'import torch'])
      .then(() => true)
      .catch(() => false)
  : false;

describe.skipIf(!hasTorch)(
  'an adapter saved here, read the way PEFT reads it (python3-torch reference)',
  () => {
    it('has exactly the keys PEFT expects for its config and gives the same loss', async () => {
      const model = track(await loadTinyModel());
      applyLora(model, {
        r: 3,
        lora_alpha: 5,
        use_rslora: true,
        target_modules: ['c_attn', 'mlp.c_proj'],
        bias: 'lora_only',
        modules_to_save: ['ln_f'],
      });
      perturbTrainable(model, 11);
      const dir = join(tmp, 'for-python');
      await saveAdapter(model, dir);
      const ids = [fx.meta.ids[0].slice(0, 6)];
      const { stdout } = await promisify(execFile)(
        python,
        [REFERENCE_SCRIPT, '--check', dir, '--ids', JSON.stringify(ids)],
        {
          env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
        },
      );
      const ref = JSON.parse(stdout) as { loss: number; lse: number[][]; keys: string[] };
      expect(ref.keys).toContain('base_model.model.transformer.h.0.mlp.c_proj.base_layer.bias');
      const loss = model.loss(ids, { training: false });
      expect(loss.dataSync()[0]).toBeCloseTo(ref.loss, 4);
      loss.dispose();
      const got = evalView(model, ids, [0]);
      expectClose(got.l, ref.lse.flat(), { rtol: 1e-5, atol: 5e-5 }, 'logsumexp vs python');
    });
  },
);
