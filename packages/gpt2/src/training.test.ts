import { initBackend, tf } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { beforeAll, describe, expect, it } from 'vitest';
import { GPT2 } from './model.js';
import type { Conv1D, ForwardContext } from './modules.js';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('training and adapters', () => {
  it('the README snippet runs: fromConfig("tiny") + generate', async () => {
    const tiny = GPT2.fromConfig('tiny', { seed: 0, tokenizer: Tokenizer.gpt2() });
    expect(tiny.parameterCount()).toBeGreaterThan(0.95e6);
    expect(tiny.parameterCount()).toBeLessThan(1.1e6);
    const text = await tiny.generate('Q: What is Impressionism?\nA:', { maxNewTokens: 20, eosTokenId: null });
    const again = await tiny.generate('Q: What is Impressionism?\nA:', {
      maxNewTokens: 20,
      eosTokenId: null,
    });
    expect(text.length).toBeGreaterThan(0);
    expect(again).toBe(text);
    tiny.dispose();
  });

  it('Adam on the loss memorises a sentence (gradients reach every layer)', () => {
    const tok = Tokenizer.gpt2();
    const ids = [
      tok.encode('The Victoria and Albert Museum in London is the largest museum of decorative arts.'),
    ];
    const model = GPT2.fromConfig(
      { n_embd: 32, n_layer: 2, n_head: 2, n_positions: 32 },
      { seed: 1, tokenizer: tok },
    );
    const vars = model.parameters().map((p) => p.variable);
    const opt = tf.train.adam(3e-2);
    const before = tf.tidy(() => model.loss(ids).dataSync()[0]);
    for (let step = 0; step < 20; step++) {
      const { value, grads } = tf.variableGrads(() => model.loss(ids), vars);
      opt.applyGradients(grads as tf.NamedTensorMap as never);
      tf.dispose([value, grads]);
    }
    const after = tf.tidy(() => model.loss(ids).dataSync()[0]);
    expect(before).toBeGreaterThan(10); // ≈ ln(50257) at init
    expect(after).toBeLessThan(before / 3);
    opt.dispose();
    model.dispose();
  });

  it('Conv1D adapters add to the projection, show up in parameters() and are disposed with the model', () => {
    const model = GPT2.fromConfig(
      { vocab_size: 60, n_positions: 8, n_embd: 8, n_layer: 1, n_head: 2 },
      { seed: 2 },
    );
    const conv = model.namedModules().find(([n]) => n === 'transformer.h.0.attn.c_attn')![1] as Conv1D;
    const ids = [[1, 2, 3, 4]];
    const base = model.forward(ids);
    const A = tf.variable(
      tf.randomNormal([8, 24], 0, 0.5, 'float32', 3),
      true,
      `${model.scope}/test_adapter`,
    );
    let calls = 0;
    conv.adapters.push({
      forward: (x2: tf.Tensor2D, _ctx: ForwardContext) => {
        calls++;
        return tf.matMul(x2, A);
      },
      namedParameters: () => [['test_adapter.weight', A]],
      dispose: () => A.dispose(),
    });
    const adapted = model.forward(ids);
    expect(calls).toBe(1);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(adapted, base))).dataSync()[0]);
    expect(diff).toBeGreaterThan(1e-3);
    expect(model.parameters().map((p) => p.name)).toContain(
      'transformer.h.0.attn.c_attn.test_adapter.weight',
    );
    // freeze the base: only the adapter is trainable, and gradients reach it
    for (const p of model.parameters()) p.trainable = p.name.includes('test_adapter');
    const trainable = model.parameters().filter((p) => p.trainable);
    expect(trainable).toHaveLength(1);
    const { value, grads } = tf.variableGrads(() => model.loss(ids));
    expect(Object.keys(grads)).toEqual([A.name]);
    tf.dispose([value, grads, base, adapted]);
    model.dispose();
    expect(A.isDisposed).toBe(true);
  });

  it('trains on padded batches: pad positions do not change the loss of the real tokens', () => {
    const model = GPT2.fromConfig(
      { vocab_size: 60, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 2 },
      { seed: 4 },
    );
    const short = [5, 9, 11, 3, 7];
    const a = tf.tidy(() => model.loss([short]).dataSync()[0]);
    const padded = [[...short, 0, 0, 0]];
    const mask = [[1, 1, 1, 1, 1, 0, 0, 0]];
    const b = tf.tidy(() => model.loss(padded, { attentionMask: mask }).dataSync()[0]);
    expect(b).toBeCloseTo(a, 5);
    model.dispose();
  });
});
