// Behaviour of applyLora and adapter management on real GPT-2 models (no mocks).
import { GPT2, GPT2_DEFAULTS, resolveConfig } from '@atelier/gpt2';
import { initBackend, tf } from '@atelier/tensor';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadAdapter } from './io.js';
import {
  activeAdapters,
  applyLora,
  countLoraParameters,
  deleteAdapter,
  disableAdapters,
  enableAdapters,
  formatTrainable,
  listAdapters,
  mergeAdapter,
  mergeAndUnload,
  mergedAdapters,
  safeMergeAdapter,
  setActiveAdapter,
  withAdaptersDisabled,
} from './lora.js';
import {
  evalView,
  expectClose,
  type LoraFixture,
  loadLoraFixture,
  loadTinyModel,
  tensorOf,
  valuesOf,
} from './testing.test-util.js';

let models: GPT2[] = [];
let fx: LoraFixture;
const small = { vocab_size: 300, n_positions: 32, n_embd: 16, n_layer: 3, n_head: 2 };

function track<M extends GPT2>(m: M): M {
  models.push(m);
  return m;
}

beforeAll(async () => {
  await initBackend('cpu');
  fx = await loadLoraFixture('lora-tiny');
});
afterEach(() => {
  for (const m of models) m.dispose();
  models = [];
});

const names = (m: GPT2, trainable: boolean) =>
  m
    .parameters()
    .filter((p) => p.trainable === trainable)
    .map((p) => p.name);

describe('trainable parameter counts', () => {
  it('GPT-2 124M with r = 8 on c_attn: 294,912 of 124,734,720 (0.2364%), as PEFT prints it', () => {
    const r = countLoraParameters(resolveConfig('gpt2'), { r: 8, target_modules: ['c_attn'] });
    // per layer: A [8, 768] + B [2304, 8] = 24,576; 12 layers
    expect(r.trainable).toBe(12 * (8 * 768 + 2304 * 8));
    expect(r.total).toBe(124_439_808 + 294_912);
    expect(r.percent).toBeCloseTo(0.2364, 4);
    expect(formatTrainable(r)).toBe(
      'trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364',
    );
  });

  it('the 124M model itself (zero-filled weights, never touched) reports the same numbers', () => {
    const config = resolveConfig('gpt2');
    const model = track(new GPT2(config, (_name, shape) => tf.zeros(shape)));
    const report = applyLora(model, { r: 8, target_modules: ['c_attn'] });
    expect(report.targets).toHaveLength(12);
    expect(report.params).toEqual(countLoraParameters(config, { r: 8, target_modules: ['c_attn'] }));
    expect(model.parameterCount()).toBe(124_734_720);
    expect(GPT2_DEFAULTS.n_layer).toBe(12);
  });

  it.each([
    [{ target_modules: ['c_attn'] }],
    [{ target_modules: 'all-linear', r: 3 }],
    [{ target_modules: ['c_proj'], bias: 'all' as const }],
    [{ target_modules: ['mlp.c_proj'], bias: 'lora_only' as const }],
    [{ target_modules: ['c_fc'], layers_to_transform: [0, 2], modules_to_save: ['ln_f'] }],
    [{ target_modules: '.*\\.h\\.1\\..*c_(attn|fc)', r: 2, rank_pattern: { c_fc: 5 } }],
  ])('countLoraParameters agrees with the model after applyLora: %j', (config) => {
    const model = track(GPT2.fromConfig(small));
    const report = applyLora(model, config);
    expect(report.params).toEqual(countLoraParameters(model.config, config));
    expect(report.params.trainable).toBe(
      model
        .parameters()
        .filter((p) => p.trainable)
        .reduce((n, p) => n + p.variable.size, 0),
    );
  });
});

describe('applyLora', () => {
  it('targets by suffix, regex, layers_to_transform, all-linear; refuses non-Conv1D and unmatched targets', () => {
    const model = track(GPT2.fromConfig(small));
    expect(applyLora(model, { target_modules: ['attn.c_proj'] }, { adapterName: 'a' }).targets).toEqual([
      'transformer.h.0.attn.c_proj',
      'transformer.h.1.attn.c_proj',
      'transformer.h.2.attn.c_proj',
    ]);
    expect(
      applyLora(model, { target_modules: ['c_fc', 'c_attn'], layers_to_transform: 1 }, { adapterName: 'b' })
        .targets,
    ).toEqual(['transformer.h.1.attn.c_attn', 'transformer.h.1.mlp.c_fc']);
    expect(applyLora(model, { target_modules: '.*h\\.2\\.mlp\\..*' }, { adapterName: 'c' }).targets).toEqual([
      'transformer.h.2.mlp.c_fc',
      'transformer.h.2.mlp.c_proj',
    ]);
    expect(applyLora(model, { target_modules: 'all-linear' }, { adapterName: 'd' }).targets).toHaveLength(12);
    expect(
      applyLora(
        model,
        { target_modules: ['c_attn'], exclude_modules: ['h.0.attn.c_attn'] },
        { adapterName: 'e' },
      ).targets,
    ).toEqual(['transformer.h.1.attn.c_attn', 'transformer.h.2.attn.c_attn']);
    expect(() => applyLora(model, { target_modules: ['ln_1'] }, { adapterName: 'f' })).toThrow(
      /transformer\.h\.0\.ln_1 is a LayerNorm; LoRA supports GPT-2's Conv1D/,
    );
    expect(() => applyLora(model, { target_modules: ['q_proj'] }, { adapterName: 'g' })).toThrow(
      /target modules \["q_proj"\] not found in the base model/,
    );
    expect(() => applyLora(model, {}, { adapterName: 'a' })).toThrow(/already has an adapter named 'a'/);
    expect(() => applyLora(model, {}, { adapterName: 'x.y' })).toThrow(/adapter name 'x.y'/);
    expect(() => applyLora(model, { r: 0 })).toThrow(/LoraConfig: r must be a positive integer, got 0/);
    expect(() => applyLora(model, { lora_dropout: 1 })).toThrow(/lora_dropout must be in \[0, 1\)/);
    expect(() => applyLora(model, { bias: 'some' as 'all' })).toThrow(
      /bias must be 'none', 'all' or 'lora_only'/,
    );
    expect(() => applyLora(model, { target_modules: '(' })).toThrow(/target_modules is not a valid regular/);
  });

  it('default init: A ~ U(±1/√in) (Kaiming-uniform, a = √5), B = 0, so the model is unchanged', () => {
    const model = track(GPT2.fromConfig(small, { seed: 3 }));
    const before = evalView(model, [[1, 2, 3, 4]], [0, 5, 299]);
    applyLora(model, { r: 16, target_modules: ['c_fc'] });
    const after = evalView(model, [[1, 2, 3, 4]], [0, 5, 299]);
    expect(Array.from(after.s)).toEqual(Array.from(before.s));
    const A = model.parameters().find((p) => p.name === 'transformer.h.0.mlp.c_fc.lora_A.default.weight');
    const B = model.parameters().find((p) => p.name === 'transformer.h.0.mlp.c_fc.lora_B.default.weight');
    expect(A?.variable.shape).toEqual([16, 16]); // [r, in]
    expect(B?.variable.shape).toEqual([64, 16]); // [out, r]
    const a = valuesOf(A?.variable as tf.Variable);
    const bound = 1 / Math.sqrt(16);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.9 * bound); // 256 draws fill the interval
    const variance = a.reduce((s, v) => s + v * v, 0) / a.length;
    expect(variance).toBeGreaterThan((bound * bound) / 3 - 0.01); // U(−b, b) has variance b²/3
    expect(variance).toBeLessThan((bound * bound) / 3 + 0.01);
    expect(valuesOf(B?.variable as tf.Variable).every((v) => v === 0)).toBe(true);
  });

  it("init 'gaussian' draws A ~ N(0, 1/r); init false makes B non-zero and changes the output", () => {
    const model = track(GPT2.fromConfig(small, { seed: 3 }));
    applyLora(model, { r: 4, target_modules: ['c_fc'], init_lora_weights: 'gaussian' }, { adapterName: 'g' });
    const a = model
      .parameters()
      .filter((p) => p.name.includes('lora_A.g.'))
      .flatMap((p) => Array.from(valuesOf(p.variable)));
    const std = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(std).toBeGreaterThan(0.25 * 0.9);
    expect(std).toBeLessThan(0.25 * 1.1);
    const base = evalView(model, [[1, 2, 3, 4]], [0, 5, 299]);
    applyLora(model, { r: 4, target_modules: ['c_fc'], init_lora_weights: false }, { adapterName: 'f' });
    const changed = evalView(model, [[1, 2, 3, 4]], [0, 5, 299]);
    expect(Math.max(...changed.l.map((v, i) => Math.abs(v - base.l[i])))).toBeGreaterThan(1e-4);
  });

  it('freezes the base: only the active adapter (and bias / modules_to_save per config) is trainable', () => {
    const model = track(GPT2.fromConfig(small));
    applyLora(model, { target_modules: ['c_attn'] }, { adapterName: 'one' });
    expect(names(model, true)).toEqual(
      [0, 1, 2].flatMap((i) => [
        `transformer.h.${i}.attn.c_attn.lora_A.one.weight`,
        `transformer.h.${i}.attn.c_attn.lora_B.one.weight`,
      ]),
    );
    applyLora(
      model,
      { target_modules: ['c_fc'], bias: 'lora_only', modules_to_save: ['ln_f'] },
      { adapterName: 'two' },
    );
    const t = names(model, true);
    expect(t.filter((n) => n.includes('.one.'))).toEqual([]); // the inactive adapter is frozen
    expect(t.filter((n) => !n.includes('lora_'))).toEqual([
      'transformer.h.0.mlp.c_fc.bias',
      'transformer.h.1.mlp.c_fc.bias',
      'transformer.h.2.mlp.c_fc.bias',
      'transformer.ln_f.weight',
      'transformer.ln_f.bias',
    ]);
    applyLora(model, { target_modules: ['c_proj'], bias: 'all' }, { adapterName: 'three' });
    const biases = model.parameters().filter((p) => p.name.endsWith('.bias'));
    expect(biases.every((p) => p.trainable)).toBe(true);
    expect(names(model, true).filter((n) => n.endsWith('.weight') && !n.includes('lora_'))).toEqual([]);
  });

  it('only adapter parameters get gradients and optimizer state; base weights stay bit-identical', () => {
    const model = track(GPT2.fromConfig(small, { seed: 1 }));
    applyLora(model, { r: 4, target_modules: ['c_attn', 'c_fc'], init_lora_weights: false });
    const all = model.parameters();
    const before = new Map(all.map((p) => [p.name, valuesOf(p.variable)]));
    const opt = tf.train.adam(1e-2);
    const batch = [
      [5, 6, 7, 8, 9, 10],
      [11, 12, 13, 14, 15, 16],
    ];
    for (let step = 0; step < 3; step++) {
      // every variable of the model is offered; tfjs returns null for the frozen ones
      const { value, grads } = tf.variableGrads(
        () => model.loss(batch, { training: false }),
        all.map((p) => p.variable),
      );
      const nameOf = (v: string) => all.find((p) => p.variable.name === v)?.name as string;
      const real = Object.entries(grads).filter(([, g]) => g !== null);
      expect(real.map(([v]) => nameOf(v)).filter((n) => !n.includes('.lora_'))).toEqual([]);
      expect(real).toHaveLength(12); // 6 adapted Conv1D × (A, B)
      expect(Object.keys(grads)).toHaveLength(all.length);
      // only real gradients go to the optimizer (tfjs Adam would create m/v slots for null entries too)
      opt.applyGradients(Object.fromEntries(real) as Parameters<typeof opt.applyGradients>[0]);
      value.dispose();
      for (const [, g] of real) g.dispose();
    }
    const slots = opt.getWeights();
    return Promise.resolve(slots).then((w) => {
      // Adam keeps m and v per updated variable (+ the iteration count): 12 LoRA tensors × 2
      expect(w.filter((x) => x.name !== 'iter').every((x) => x.name.includes('.lora_'))).toBe(true);
      expect(w.filter((x) => x.name !== 'iter')).toHaveLength(24);
      for (const p of all) {
        const changed = valuesOf(p.variable).some((v, i) => v !== before.get(p.name)?.[i]);
        expect(changed, p.name).toBe(p.name.includes('.lora_'));
      }
      opt.dispose();
    });
  });

  it('lora_dropout applies to the adapter input in training mode only', () => {
    const model = track(
      GPT2.fromConfig({ ...small, resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0 }, { seed: 2 }),
    );
    applyLora(model, { target_modules: ['c_attn'], lora_dropout: 0.5, init_lora_weights: false });
    const run = (training: boolean) => {
      const l = model.forward([[1, 2, 3, 4, 5]], { training });
      const v = valuesOf(l);
      l.dispose();
      return v;
    };
    expect(Array.from(run(false))).toEqual(Array.from(run(false)));
    const a = run(true);
    const b = run(true);
    expect(a.some((v, i) => v !== b[i])).toBe(true);
    disableAdapters(model); // the base model has no dropout left: training mode is deterministic
    expect(Array.from(run(true))).toEqual(Array.from(run(false)));
  });
});

describe('several adapters on one base model', () => {
  it('switches, disables, deletes, and merges without reloading the base', async () => {
    const model = track(await loadTinyModel());
    const base = evalView(model, fx.meta.ids, fx.meta.vocab_subset);
    await loadAdapter(model, fx.dir, { adapterName: 'peft' });
    applyLora(model, { r: 2, target_modules: ['c_fc'], init_lora_weights: false }, { adapterName: 'mine' });
    expect(listAdapters(model)).toEqual(['peft', 'mine']);
    expect(activeAdapters(model)).toEqual(['mine']);
    const mine = evalView(model, fx.meta.ids, fx.meta.vocab_subset);
    expect(Math.max(...mine.l.map((v, i) => Math.abs(v - base.l[i])))).toBeGreaterThan(1e-3);

    setActiveAdapter(model, 'peft');
    const want = tensorOf(fx.expected, 'logits_lse').data;
    expectClose(
      evalView(model, fx.meta.ids, fx.meta.vocab_subset).l,
      want,
      { rtol: 1e-5, atol: 5e-5 },
      'peft',
    );
    expect(names(model, true).every((n) => n.includes('.peft.'))).toBe(true);

    setActiveAdapter(model, 'mine');
    expectClose(
      evalView(model, fx.meta.ids, fx.meta.vocab_subset).l,
      mine.l,
      { rtol: 0, atol: 0 },
      'mine again',
    );

    withAdaptersDisabled(model, () => {
      expectClose(
        evalView(model, fx.meta.ids, fx.meta.vocab_subset).l,
        base.l,
        { rtol: 0, atol: 1e-6 },
        'off',
      );
    });
    expectClose(evalView(model, fx.meta.ids, fx.meta.vocab_subset).l, mine.l, { rtol: 0, atol: 1e-6 }, 'on');

    // both active: the two updates add up
    setActiveAdapter(model, ['peft', 'mine']);
    const both = evalView(model, fx.meta.ids, fx.meta.vocab_subset);
    mergeAdapter(model);
    expect(mergedAdapters(model).sort()).toEqual(['mine', 'peft']);
    expectClose(
      evalView(model, fx.meta.ids, fx.meta.vocab_subset).l,
      both.l,
      { rtol: 1e-5, atol: 2e-5 },
      'merged',
    );

    disableAdapters(model); // unmerges first
    expect(mergedAdapters(model)).toEqual([]);
    expectClose(
      evalView(model, fx.meta.ids, fx.meta.vocab_subset).l,
      base.l,
      { rtol: 0, atol: 2e-5 },
      'disabled',
    );
    enableAdapters(model);

    deleteAdapter(model, 'mine');
    expect(listAdapters(model)).toEqual(['peft']);
    expect(activeAdapters(model)).toEqual(['peft']);
    expect(model.parameters().some((p) => p.name.includes('.mine.'))).toBe(false);
    expectClose(
      evalView(model, fx.meta.ids, fx.meta.vocab_subset).l,
      want,
      { rtol: 1e-5, atol: 5e-5 },
      'peft left',
    );
  });

  it('modules_to_save keeps one copy per adapter and the original for the base model', () => {
    const model = track(GPT2.fromConfig(small, { seed: 4 }));
    const lnf = () =>
      model.parameters().find((p) => p.name === 'transformer.ln_f.weight')?.variable as tf.Variable;
    const original = valuesOf(lnf());
    applyLora(model, { target_modules: ['c_attn'], modules_to_save: ['ln_f'] }, { adapterName: 'a' });
    lnf().assign(tf.fill([16], 2)); // "training" adapter a's copy
    applyLora(model, { target_modules: ['c_attn'], modules_to_save: ['ln_f'] }, { adapterName: 'b' });
    expect(Array.from(valuesOf(lnf()))).toEqual(Array.from(original)); // b starts from the base values
    lnf().assign(tf.fill([16], 3));
    setActiveAdapter(model, 'a');
    expect(valuesOf(lnf()).every((v) => v === 2)).toBe(true);
    withAdaptersDisabled(model, () => expect(Array.from(valuesOf(lnf()))).toEqual(Array.from(original)));
    setActiveAdapter(model, 'b');
    expect(valuesOf(lnf()).every((v) => v === 3)).toBe(true);
    expect(() => setActiveAdapter(model, ['a', 'b'])).toThrow(/both have modules_to_save/);
    deleteAdapter(model, 'b');
    expect(Array.from(valuesOf(lnf()))).toEqual(Array.from(original));
  });

  it('disable / enable and deleting an adapter leave the trainable flags as they were', async () => {
    const model = track(await loadTinyModel());
    await loadAdapter(model, fx.dir); // for inference: frozen, as PEFT's is_trainable=False
    withAdaptersDisabled(model, () => undefined);
    disableAdapters(model);
    enableAdapters(model);
    expect(names(model, true)).toEqual([]);
    applyLora(model, { target_modules: ['c_fc'], bias: 'all' }, { adapterName: 'train' });
    expect(
      names(model, true)
        .filter((n) => n.includes('lora_'))
        .every((n) => n.includes('.train.')),
    ).toBe(true);
    expect(names(model, true).some((n) => n.endsWith('.bias'))).toBe(true);
    deleteAdapter(model, 'train');
    expect(names(model, true)).toEqual([]); // its biases are frozen again
  });

  it('frees every tensor it made: after model.dispose() the tensor count is back where it was', () => {
    const before = tf.memory().numTensors;
    const model = GPT2.fromConfig(small, { seed: 5 });
    applyLora(model, { target_modules: ['c_attn'], modules_to_save: ['ln_f'] }, { adapterName: 'a' });
    applyLora(model, { target_modules: 'all-linear', init_lora_weights: false }, { adapterName: 'b' });
    setActiveAdapter(model, 'a');
    setActiveAdapter(model, 'b');
    mergeAdapter(model);
    evalView(model, [[1, 2, 3]], [0]);
    withAdaptersDisabled(model, () => evalView(model, [[1, 2, 3]], [0]));
    deleteAdapter(model, 'b'); // 'a' keeps its modules_to_save copies until the model goes
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('safeMergeAdapter merges finite updates and refuses NaN/Inf ones without touching any weight', async () => {
    const model = track(GPT2.fromConfig(small, { seed: 6 }));
    applyLora(model, { target_modules: ['c_attn'], init_lora_weights: false }, { adapterName: 'ok' });
    applyLora(model, { target_modules: ['c_attn'], init_lora_weights: false }, { adapterName: 'bad' });
    const weight = (i: number) =>
      model.parameters().find((p) => p.name === `transformer.h.${i}.attn.c_attn.weight`)
        ?.variable as tf.Variable;
    const before = [0, 1, 2].map((i) => valuesOf(weight(i)));
    const badB = model.parameters().find((p) => p.name === 'transformer.h.2.attn.c_attn.lora_B.bad.weight');
    badB?.variable.assign(tf.fill(badB.variable.shape, Number.POSITIVE_INFINITY));
    await expect(safeMergeAdapter(model, { adapterNames: ['ok', 'bad'] })).rejects.toThrow(
      /merging adapter\(s\) ok, bad into transformer\.h\.2\.attn\.c_attn gives NaN or Inf weights; nothing merged/,
    );
    expect(mergedAdapters(model)).toEqual([]);
    for (const i of [0, 1, 2]) expect(Array.from(valuesOf(weight(i)))).toEqual(Array.from(before[i]));
    await safeMergeAdapter(model, { adapterNames: ['ok'] });
    expect(mergedAdapters(model)).toEqual(['ok']);
    expect(valuesOf(weight(0)).some((v, j) => v !== before[0][j])).toBe(true);
  });

  it('mergeAndUnload leaves a plain GPT-2 with the adapter folded in', async () => {
    const model = track(await loadTinyModel());
    await loadAdapter(model, fx.dir);
    mergeAndUnload(model);
    expect(listAdapters(model)).toEqual([]);
    expect(model.parameters().some((p) => p.name.includes('lora_'))).toBe(false);
    expect(model.parameters().every((p) => p.trainable)).toBe(true);
    const got = evalView(model, fx.meta.ids, fx.meta.vocab_subset);
    expectClose(
      got.l,
      tensorOf(fx.expected, 'merged_logits_lse').data,
      { rtol: 1e-5, atol: 5e-5 },
      'unloaded',
    );
    expect(() => setActiveAdapter(model, 'default')).toThrow(/no LoRA adapters/);
  });
});
