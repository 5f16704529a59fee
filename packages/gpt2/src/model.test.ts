// Fidelity against tools/reference/gpt2_reference.py (float64 PyTorch, HF GPT-2 semantics, same weights).
import { initBackend, tf } from '@atelier/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GPT2 } from './model.js';
import { expectClose, type Fixture, loadFixture, tensorOf } from './testing.test-util.js';

let fx: Fixture;
let subset: number[];
let ids: number[][];

beforeAll(async () => {
  await initBackend('cpu');
  fx = await loadFixture('gpt2-tiny');
  subset = fx.meta.vocab_subset as number[];
  ids = fx.meta.ids as number[][];
});
afterAll(() => fx?.model.dispose());

/** logits [B,T,V] → the fixture's stored view: values at the vocab subset [B,T,S] and logsumexp [B,T]. */
function view(logits: tf.Tensor3D, rows: Array<[number, number]>) {
  return tf.tidy(() => {
    const [B, T] = logits.shape;
    const sub = tf.gather(logits, subset, 2).arraySync() as number[][][];
    const lse = tf.logSumExp(logits, 2).arraySync() as number[][];
    const pick = (flat: number[][][] | number[][], b: number, t: number) => flat[b][t];
    const s: number[] = [];
    const l: number[] = [];
    for (const [b, t] of rows) {
      s.push(...(pick(sub, b, t) as number[]));
      l.push(pick(lse, b, t) as number);
    }
    expect([B, T]).toEqual([ids.length, ids[0].length]);
    return { s, l };
  });
}

function expectedView(prefix: string, rows: Array<[number, number]>) {
  const sub = tensorOf(fx.expected, `${prefix}logits_subset`);
  const lse = tensorOf(fx.expected, `${prefix}logits_lse`);
  const [, T, S] = sub.shape;
  const s: number[] = [];
  const l: number[] = [];
  for (const [b, t] of rows) {
    s.push(...sub.data.subarray((b * T + t) * S, (b * T + t + 1) * S));
    l.push(lse.data[b * T + t]);
  }
  return { s, l };
}

const allRows = () => ids.flatMap((r, b) => r.map((_, t) => [b, t] as [number, number]));

describe('GPT-2 forward and loss match the float64 PyTorch reference', () => {
  it('logits (vocab subset, logsumexp over all 50,257, argmax)', () => {
    const logits = fx.model.forward(ids);
    expect(logits.shape).toEqual([2, 8, 50257]);
    const got = view(logits, allRows());
    const want = expectedView('', allRows());
    expectClose(got.s, want.s, { rtol: 1e-4, atol: 2e-5 }, 'logits');
    expectClose(got.l, want.l, { rtol: 1e-5, atol: 1e-5 }, 'logsumexp');
    const argmax = tf.tidy(() => tf.argMax(logits, 2).arraySync() as number[][]);
    expect(argmax.flat()).toEqual(Array.from(tensorOf(fx.expected, 'logits_argmax').data));
    logits.dispose();
  });

  it('mean next-token loss, label-masked loss and perplexity', () => {
    const l = fx.model.loss(ids);
    expect(l.dataSync()[0]).toBeCloseTo(fx.meta.loss as number, 4);
    l.dispose();
    const lm = fx.model.loss(ids, { mask: fx.meta.label_mask as number[][] });
    expect(lm.dataSync()[0]).toBeCloseTo(fx.meta.loss_masked as number, 4);
    lm.dispose();
    // the same mask expressed as HF labels with −100
    const labels = ids.map((r, b) =>
      r.map((id, t) => ((fx.meta.label_mask as number[][])[b][t] ? id : -100)),
    );
    const ll = fx.model.loss(ids, { labels });
    expect(ll.dataSync()[0]).toBeCloseTo(fx.meta.loss_masked as number, 4);
    ll.dispose();
    expect(fx.model.perplexity(ids) / (fx.meta.perplexity as number)).toBeCloseTo(1, 4);
  });

  it('per-token log-probabilities', () => {
    const lp = fx.model.tokenLogProbs(ids);
    expectClose(
      lp.flat(),
      tensorOf(fx.expected, 'target_logprobs').data,
      { rtol: 1e-5, atol: 2e-5 },
      'logprobs',
    );
  });

  it('gradient of the loss for every parameter', () => {
    const params = fx.model.parameters();
    const { grads, value } = tf.variableGrads(
      () => fx.model.loss(ids),
      params.map((p) => p.variable),
    );
    value.dispose();
    let checked = 0;
    for (const p of params) {
      const g = grads[p.variable.name];
      expect(g, p.name).toBeDefined();
      const data = g.dataSync() as Float32Array;
      if (p.name === 'transformer.wte.weight') {
        const C = g.shape[1] as number;
        const rows = tf.tidy(() => tf.gather(g, subset).dataSync());
        const want = tensorOf(fx.expected, `grad.${p.name}.rows`).data;
        const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expectClose(rows, want, { rtol: 1e-3, atol: 1e-4 * scale }, `${p.name} rows`);
        const colsum = new Float64Array(C);
        const colsumsq = new Float64Array(C);
        for (let i = 0; i < data.length; i++) {
          colsum[i % C] += data[i];
          colsumsq[i % C] += data[i] * data[i];
        }
        const ws = tensorOf(fx.expected, `grad.${p.name}.colsum`).data;
        expectClose(colsum, ws, { rtol: 1e-3, atol: 1e-4 * scale }, `${p.name} colsum`);
        expectClose(
          colsumsq,
          tensorOf(fx.expected, `grad.${p.name}.colsumsq`).data,
          { rtol: 1e-3 },
          `${p.name} colsumsq`,
        );
      } else {
        const want = tensorOf(fx.expected, `grad.${p.name}`);
        expect(g.shape, p.name).toEqual(want.shape);
        const scale = want.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(scale, `${p.name} gradient is not trivially zero`).toBeGreaterThan(0);
        expectClose(data, want.data, { rtol: 1e-3, atol: 1e-4 * scale }, `grad ${p.name}`);
      }
      checked++;
    }
    expect(checked).toBe(2 + 2 * 12 + 2);
    tf.dispose(grads);
  });

  it('right padding: attention mask hides pad keys; loss skips pad targets', () => {
    const padIds = fx.meta.rightpad_ids as number[][];
    const attentionMask = fx.meta.rightpad_attention_mask as number[][];
    const logits = fx.model.forward(padIds, { attentionMask });
    const real = allRows().filter(([b, t]) => attentionMask[b][t] === 1);
    const got = view(logits, real);
    const want = expectedView('rightpad_', real);
    expectClose(got.s, want.s, { rtol: 1e-4, atol: 2e-5 }, 'rightpad logits');
    expectClose(got.l, want.l, { rtol: 1e-5, atol: 1e-5 }, 'rightpad lse');
    logits.dispose();
    const l = fx.model.loss(padIds, { attentionMask });
    expect(l.dataSync()[0]).toBeCloseTo(fx.meta.rightpad_loss as number, 4);
    l.dispose();
  });

  it('left padding with position ids from the mask (as for batched generation)', () => {
    const leftIds = fx.meta.leftpad_ids as number[][];
    const attentionMask = fx.meta.leftpad_attention_mask as number[][];
    const positionIds = attentionMask.map((row) => {
      let c = -1;
      return row.map((m) => (m ? ++c : 1));
    });
    const logits = fx.model.forward(leftIds, { attentionMask, positionIds });
    const real = allRows().filter(([b, t]) => attentionMask[b][t] === 1);
    const got = view(logits, real);
    const want = expectedView('leftpad_', real);
    expectClose(got.s, want.s, { rtol: 1e-4, atol: 2e-5 }, 'leftpad logits');
    expectClose(got.l, want.l, { rtol: 1e-5, atol: 1e-5 }, 'leftpad lse');
    logits.dispose();
  });

  it('a save_pretrained-style file (transformer. keys, lm_head.weight, BOOL mask buffers)', async () => {
    const pf = await loadFixture('gpt2-prefixed');
    const pids = pf.meta.ids as number[][];
    const logits = pf.model.forward(pids);
    expectClose(
      logits.dataSync(),
      tensorOf(pf.expected, 'logits').data,
      { rtol: 1e-4, atol: 2e-5 },
      'prefixed logits',
    );
    logits.dispose();
    const l = pf.model.loss(pids);
    expect(l.dataSync()[0]).toBeCloseTo(pf.meta.loss as number, 4);
    l.dispose();
    pf.model.dispose();
  });
});

describe('GPT2 structure', () => {
  it('namedModules and parameters use Hugging Face names; variables are scoped per model', () => {
    const m = GPT2.fromConfig({ vocab_size: 50, n_positions: 8, n_embd: 8, n_layer: 2, n_head: 2 });
    const m2 = GPT2.fromConfig({ vocab_size: 50, n_positions: 8, n_embd: 8, n_layer: 2, n_head: 2 });
    const names = m.namedModules().map(([n]) => n);
    expect(names).toContain('transformer.h.0.attn.c_attn');
    expect(names).toContain('transformer.h.1.mlp.c_proj');
    expect(names).toContain('transformer.ln_f');
    const params = m.parameters().map((p) => p.name);
    expect(params[0]).toBe('transformer.wte.weight');
    expect(params).toContain('transformer.h.1.attn.c_attn.bias');
    expect(params).toHaveLength(2 + 2 * 12 + 2);
    expect(m.parameters()[0].variable.name).not.toBe(m2.parameters()[0].variable.name);
    expect(m.parameters().every((p) => p.trainable)).toBe(true);
    m.dispose();
    m2.dispose();
  });

  it('GPT-2 init: N(0, 0.02), c_proj scaled by 1/sqrt(2·n_layer), LN ones/zeros, seeded', () => {
    const cfg = { vocab_size: 2000, n_positions: 64, n_embd: 64, n_layer: 8, n_head: 4 };
    const a = GPT2.fromConfig(cfg, { seed: 3 });
    const b = GPT2.fromConfig(cfg, { seed: 3 });
    const c = GPT2.fromConfig(cfg, { seed: 4 });
    const std = (v: tf.Variable) => tf.tidy(() => Math.sqrt(tf.moments(v).variance.dataSync()[0]));
    const get = (m: GPT2, n: string) => m.parameters().find((p) => p.name === n)!.variable;
    expect(std(get(a, 'transformer.wte.weight'))).toBeCloseTo(0.02, 3);
    expect(std(get(a, 'transformer.h.0.attn.c_attn.weight'))).toBeCloseTo(0.02, 3);
    expect(std(get(a, 'transformer.h.0.mlp.c_proj.weight'))).toBeCloseTo(0.02 / 4, 3);
    expect(std(get(a, 'transformer.h.0.attn.c_proj.weight'))).toBeCloseTo(0.02 / 4, 3);
    expect(Array.from(get(a, 'transformer.h.0.ln_1.weight').dataSync()).every((v) => v === 1)).toBe(true);
    expect(Array.from(get(a, 'transformer.h.0.attn.c_attn.bias').dataSync()).every((v) => v === 0)).toBe(
      true,
    );
    const wa = get(a, 'transformer.h.3.mlp.c_fc.weight').dataSync();
    expect(Array.from(get(b, 'transformer.h.3.mlp.c_fc.weight').dataSync())).toEqual(Array.from(wa));
    expect(get(c, 'transformer.h.3.mlp.c_fc.weight').dataSync()[0]).not.toBe(wa[0]);
    for (const m of [a, b, c]) m.dispose();
  });

  it('dropout: training mode changes the loss, is seeded, and eval mode is deterministic', () => {
    const cfg = { vocab_size: 100, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 2 };
    const seq = [[1, 2, 3, 4, 5, 6, 7, 8]];
    const run = (train: boolean, seed = 1) => {
      const m = GPT2.fromConfig(cfg, { seed });
      if (train) m.train();
      const vals = [0, 1].map(() => {
        const l = m.loss(seq);
        const v = l.dataSync()[0];
        l.dispose();
        return v;
      });
      m.dispose();
      return vals;
    };
    const [e1, e2] = run(false);
    expect(e1).toBe(e2);
    const [t1, t2] = run(true);
    expect(t1).not.toBe(e1);
    expect(t1).not.toBe(t2); // a fresh mask each call
    expect(run(true)).toEqual([t1, t2]); // same seed, same masks
  });

  it('rejects bad input with clear errors', () => {
    const m = GPT2.fromConfig({ vocab_size: 50, n_positions: 8, n_embd: 8, n_layer: 1, n_head: 2 });
    expect(() => m.forward([[1, 2, 50]])).toThrow(/outside the vocabulary \[0, 50\)/);
    expect(() => m.forward([[1, 2], [3]])).toThrow(/ids\[1\] has length 1, expected 2/);
    expect(() => m.forward([Array(9).fill(1)])).toThrow(/exceeds n_positions \(8\)/);
    expect(() => m.loss([[1]])).toThrow(/at least 2 tokens/);
    expect(() => m.forward([[1, 2]], { attentionMask: [[1, 1, 1]] })).toThrow(
      /attentionMask must have shape \[1, 2\]/,
    );
    m.dispose();
    expect(() => m.forward([[1]])).toThrow(/disposed/);
  });
});
