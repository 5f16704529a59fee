// Fidelity against tools/reference/lora_reference.py: float64 PyTorch with PEFT's LoRA conventions, on the
// gpt2-tiny reference model, with adapters whose B is non-zero (they move the logits by up to ~8).
import type { GPT2 } from '@atelier/gpt2';
import { initBackend, loadSafetensors, tf } from '@atelier/tensor';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadAdapter } from './io.js';
import {
  disableAdapters,
  enableAdapters,
  mergeAdapter,
  trainableParameters,
  unmergeAdapter,
} from './lora.js';
import {
  evalView,
  expectClose,
  FIXTURES,
  type LoraFixture,
  loadLoraFixture,
  loadTinyModel,
  tensorOf,
  valuesOf,
} from './testing.test-util.js';

let model: GPT2;
let fx: LoraFixture;
let fxRs: LoraFixture;

beforeAll(async () => {
  await initBackend('cpu');
  fx = await loadLoraFixture('lora-tiny');
  fxRs = await loadLoraFixture('lora-tiny-rslora');
});
afterEach(() => model?.dispose());

function expectLogits(m: GPT2, f: LoraFixture, prefix = '') {
  const got = evalView(m, f.meta.ids, f.meta.vocab_subset);
  if (prefix === '')
    expectClose(got.s, tensorOf(f.expected, 'logits_subset').data, { rtol: 1e-4, atol: 5e-5 }, 'logits');
  expectClose(
    got.l,
    tensorOf(f.expected, `${prefix}logits_lse`).data,
    { rtol: 1e-5, atol: 5e-5 },
    'logsumexp',
  );
}

/** Gradients of the loss w.r.t. every trainable parameter, by HF name. */
function trainableGrads(m: GPT2, ids: number[][]): Map<string, Float32Array> {
  const params = m.parameters().filter((p) => p.trainable);
  const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
  const { value, grads } = tf.variableGrads(
    () => m.loss(ids, { training: false }),
    params.map((p) => p.variable),
  );
  value.dispose();
  const out = new Map<string, Float32Array>();
  for (const [vname, g] of Object.entries(grads)) {
    out.set(nameOf.get(vname) as string, valuesOf(g));
    g.dispose();
  }
  return out;
}

/** `transformer.h.0.attn.c_attn.lora_A.default.weight` → the fixture's `transformer.h.0.attn.c_attn.lora_A.weight`. */
const fixtureName = (n: string) => n.replace(/\.(lora_[AB])\.[^.]+\.weight$/, '.$1.weight');

describe('LoRA on GPT-2 matches the float64 PEFT-convention reference', () => {
  it('logits and loss with a PEFT-written adapter (r 4, alpha 8, c_attn + c_proj)', async () => {
    model = await loadTinyModel();
    await loadAdapter(model, fx.dir);
    expectLogits(model, fx);
    const loss = model.loss(fx.meta.ids, { training: false });
    expect(loss.dataSync()[0]).toBeCloseTo(fx.meta.loss, 4);
    loss.dispose();
  });

  it('gradients reach the LoRA parameters only, and equal the reference', async () => {
    model = await loadTinyModel();
    await loadAdapter(model, fx.dir, { trainable: true });
    const grads = trainableGrads(model, fx.meta.ids);
    expect([...grads.keys()].map(fixtureName).sort()).toEqual(fx.meta.trainable);
    expect(grads.size).toBe(2 * fx.meta.targets.length); // 6 adapted Conv1D layers × (A, B)
    for (const [name, g] of grads) {
      const want = tensorOf(fx.expected, `grad.${fixtureName(name)}`).data;
      const scale = Math.max(...want.map(Math.abs));
      expectClose(g, want, { rtol: 2e-3, atol: 2e-4 * scale }, `grad ${name}`);
    }
  });

  it('merge writes W + (B·A)ᵀ·scaling, keeps the logits, and unmerge restores W', async () => {
    model = await loadTinyModel();
    const base = await loadSafetensors(`${FIXTURES}gpt2-tiny/model.safetensors`);
    await loadAdapter(model, fx.dir);
    mergeAdapter(model);
    const byName = new Map(model.parameters().map((p) => [p.name, p.variable]));
    for (const t of fx.meta.targets) {
      const got = valuesOf(byName.get(`${t}.weight`) as tf.Variable);
      expectClose(
        got,
        tensorOf(fx.expected, `merged.${t}.weight`).data,
        { rtol: 1e-5, atol: 1e-6 },
        `merged ${t}`,
      );
      const original = base.get(`${t.replace(/^transformer\./, '')}.weight`)?.data as Float32Array;
      expect(Math.max(...got.map((v, i) => Math.abs(v - original[i])))).toBeGreaterThan(1e-2);
    }
    // merged model == adapter model (and the fixture's merged-model logits)
    expectLogits(model, fx);
    expectLogits(model, fx, 'merged_');
    unmergeAdapter(model);
    for (const t of fx.meta.targets) {
      const original = base.get(`${t.replace(/^transformer\./, '')}.weight`)?.data as Float32Array;
      expectClose(
        valuesOf(byName.get(`${t}.weight`) as tf.Variable),
        original,
        { rtol: 1e-5, atol: 1e-6 },
        'unmerged',
      );
    }
    expectLogits(model, fx);
  });

  it('disabled adapters give the base model’s logits (the gpt2-tiny reference)', async () => {
    model = await loadTinyModel();
    const gpt2Expected = await loadSafetensors(`${FIXTURES}gpt2-tiny/expected.safetensors`);
    await loadAdapter(model, fx.dir);
    mergeAdapter(model); // disabling also unmerges, as PEFT does
    disableAdapters(model);
    const got = evalView(model, fx.meta.ids, fx.meta.vocab_subset);
    expectClose(
      got.l,
      tensorOf(gpt2Expected, 'logits_lse').data,
      { rtol: 1e-5, atol: 5e-5 },
      'base logsumexp',
    );
    enableAdapters(model);
    expectLogits(model, fx);
  });

  it('rsLoRA, layers_to_transform and bias "all": logits, and gradients of adapters + every bias', async () => {
    model = await loadTinyModel();
    const config = await loadAdapter(model, fxRs.dir, { trainable: true });
    expect(config.use_rslora).toBe(true);
    expect(fxRs.meta.scaling).toBeCloseTo(3 / Math.sqrt(2), 12);
    expect(fxRs.meta.targets).toEqual(['transformer.h.1.mlp.c_fc']);
    expectLogits(model, fxRs);
    const grads = trainableGrads(model, fxRs.meta.ids);
    expect([...grads.keys()].map(fixtureName).sort()).toEqual(fxRs.meta.trainable);
    for (const [name, g] of grads) {
      const want = tensorOf(fxRs.expected, `grad.${fixtureName(name)}`).data;
      const scale = Math.max(...want.map(Math.abs));
      expectClose(g, want, { rtol: 2e-3, atol: 2e-4 * scale }, `grad ${name}`);
    }
    const r = trainableParameters(model);
    expect(r.trainable).toBe(
      fxRs.meta.trainable.reduce((n, k) => n + tensorOf(fxRs.expected, `grad.${k}`).data.length, 0),
    );
  });
});
