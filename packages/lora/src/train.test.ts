// A short LoRA fine-tune on a tiny GPT-2: the loss falls while the base model stays exactly as it was.
import { GPT2 } from '@atelier/gpt2';
import { initBackend, tf } from '@atelier/tensor';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyLora, trainableParameters, withAdaptersDisabled } from './lora.js';

let model: GPT2;
beforeAll(async () => {
  await initBackend('cpu');
});
afterAll(() => model?.dispose());

it('40 Adam steps on r = 8 adapters (all Conv1D layers) cut the loss on a repeated batch', () => {
  // initializer_range 0.2: the frozen, tied LM head must be able to express confident predictions (with GPT-2's
  // 0.02 the logits of a random 32-wide model cannot leave ±0.7, whatever the adapters learn)
  model = GPT2.fromConfig(
    { vocab_size: 64, n_positions: 32, n_embd: 32, n_layer: 2, n_head: 4, initializer_range: 0.2 },
    { seed: 9 },
  );
  // two "documents" with a fixed pattern the random base model does not know
  const batch = [
    [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8],
    [9, 10, 11, 12, 9, 10, 11, 12, 9, 10, 11, 12, 9, 10, 11, 12],
  ];
  const lossOf = () => {
    const l = model.loss(batch, { training: false });
    const v = l.dataSync()[0];
    l.dispose();
    return v;
  };
  const baseLoss = lossOf();
  const report = applyLora(model, { r: 8, lora_alpha: 16, target_modules: 'all-linear', lora_dropout: 0.05 });
  expect(report.params.percent).toBeLessThan(25);
  expect(lossOf()).toBe(baseLoss); // B = 0: the adapter starts as the identity
  const trainable = model.parameters().filter((p) => p.trainable);
  const opt = tf.train.adam(2e-2);
  const losses: number[] = [];
  model.train();
  for (let step = 0; step < 40; step++) {
    const { value, grads } = tf.variableGrads(
      () => model.loss(batch),
      trainable.map((p) => p.variable),
    );
    losses.push(value.dataSync()[0]);
    opt.applyGradients(grads as Parameters<typeof opt.applyGradients>[0]);
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
  }
  model.eval();
  opt.dispose();
  const tuned = lossOf();
  expect(losses[0]).toBeGreaterThan(3.5); // ≈ ln 64 = 4.16 for an untrained model
  expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 3);
  expect(tuned).toBeLessThan(0.25 * baseLoss); // measured: ≈ 4.3 → ≈ 0.5
  expect(withAdaptersDisabled(model, lossOf)).toBe(baseLoss); // base weights untouched
  expect(trainableParameters(model).trainable).toBe(report.params.trainable);
});
