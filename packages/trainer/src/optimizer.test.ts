import { readFileSync } from 'node:fs';
import { initBackend, tf } from '@atelier/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { clipFactor, globalNorm, globalNormValue } from './clip.js';
import { AdamW, decays, parameterKind } from './optimizer.js';

// Fixture from tools/adamw_reference.py: torch.optim.AdamW + clip_grad_norm_ in float64.
const ref = JSON.parse(readFileSync(new URL('./fixtures/adamw.json', import.meta.url), 'utf8'));

beforeAll(async () => {
  await initBackend('cpu');
});

describe('AdamW + global-norm clipping against torch.optim.AdamW', () => {
  it('matches PyTorch over 5 steps with changing lr, decay on weights only', async () => {
    const names = Object.keys(ref.shapes);
    const params = new Map<string, tf.Variable>(
      names.map((n) => [n, tf.variable(tf.tensor(ref.init[n], ref.shapes[n]), true, `adamw-test/${n}`)]),
    );
    const opt = new AdamW(params, {
      beta1: ref.beta1,
      beta2: ref.beta2,
      epsilon: ref.eps,
      weightDecay: ref.weightDecay,
      exclude: { biases: true, norms: true, embeddings: false },
    });
    expect(opt.decayed()).toEqual(['h.0.mlp.c_fc.weight']);
    for (const s of ref.steps) {
      const grads = new Map(names.map((n) => [n, tf.tensor(s.grads[n], ref.shapes[n])] as const));
      const normT = globalNorm(grads.values());
      expect(normT.dataSync()[0]).toBeCloseTo(s.norm, 4);
      normT.dispose();
      const norm = await globalNormValue(grads.values());
      expect(norm).toBeCloseTo(s.norm, 5);
      const f = clipFactor(norm, ref.clip);
      opt.step(grads, s.lr, f); // clipping folded into the update, as the trainer does
      for (const n of names) {
        const got = Array.from(params.get(n)?.dataSync() ?? []);
        for (const [i, x] of got.entries()) expect(x).toBeCloseTo(s.params[n][i], 5);
      }
      for (const g of grads.values()) g.dispose();
    }
    // State round trip: a fresh optimizer loaded from state() continues identically.
    const { tensors, t } = opt.state();
    const host = new Map(
      [...tensors].map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array }]),
    );
    const copy = new AdamW(params, {
      beta1: 0.9,
      beta2: 0.95,
      epsilon: 1e-8,
      weightDecay: 0.1,
      exclude: { biases: true, norms: true, embeddings: false },
    });
    copy.loadState(host, t);
    expect(copy.t).toBe(5);
    expect(Array.from(copy.state().tensors.get('v.h.0.mlp.c_fc.bias')?.dataSync() ?? [])).toEqual(
      Array.from(tensors.get('v.h.0.mlp.c_fc.bias')?.dataSync() ?? []),
    );
    expect(() => copy.loadState(new Map(), 1)).toThrow(/missing "m.h.0.mlp.c_fc.weight"/);
    opt.dispose();
    copy.dispose();
    for (const p of params.values()) p.dispose();
  });

  it('clipFactor caps at 1 and is disabled by 0', () => {
    expect(clipFactor(0.5, 1)).toBe(1);
    expect(clipFactor(4, 1)).toBeCloseTo(0.25, 6);
    expect(clipFactor(4, 0)).toBe(1);
  });
});

describe('weight-decay groups', () => {
  const ex = { biases: true, norms: true, embeddings: true };
  it('classifies GPT-2 and PEFT names', () => {
    expect(parameterKind('h.0.ln_1.weight', 1)).toBe('norm');
    expect(parameterKind('ln_f.bias', 1)).toBe('norm');
    expect(parameterKind('h.3.attn.c_attn.bias', 1)).toBe('bias');
    expect(parameterKind('wte.weight', 2)).toBe('embedding');
    expect(parameterKind('wpe.weight', 2)).toBe('embedding');
    expect(parameterKind('h.0.attn.c_attn.weight', 2)).toBe('weight');
    expect(parameterKind('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', 2)).toBe('weight');
  });
  it('honours each exclusion flag', () => {
    expect(decays('wte.weight', 2, ex)).toBe(false);
    expect(decays('wte.weight', 2, { ...ex, embeddings: false })).toBe(true);
    expect(decays('h.0.ln_1.weight', 1, { ...ex, norms: false })).toBe(true);
    expect(decays('h.0.mlp.c_fc.bias', 1, ex)).toBe(false);
    expect(decays('h.0.mlp.c_fc.weight', 2, ex)).toBe(true);
  });
});
