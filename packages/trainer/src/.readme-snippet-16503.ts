import { GPT2 } from '@atelier/gpt2';
import { initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { gpt2Trainable, parseTrainConfig, rowsBatchSource, train } from '@atelier/trainer';

await initBackend('cpu');
const tok = Tokenizer.gpt2();
const T = 64;
const text = 'Q: What is Impressionism?\nA: A movement of painters who worked outdoors in light colours.\n';
const ids = Int32Array.from(tok.encode(text.repeat(400)));
const rows = { T, ids: ids.subarray(0, Math.floor(ids.length / T) * T) };
const model = GPT2.fromConfig('tiny', { seed: 1, tokenizer: tok });

const result = await train({
  model: gpt2Trainable(model), // LoRA: applyLora(model, …) first and pass { save: (d) => saveAdapter(model, d) }
  train: rowsBatchSource(rows, { batchSize: 8, shuffle: true, seed: 1 }),
  val: rowsBatchSource(rows, { batchSize: 8, shuffle: false, seed: 0 }),
  config: parseTrainConfig({
    lr: 1e-2,
    maxSteps: 20,
    schedule: { warmupRatio: 0.1, decay: 'cosine', minLrRatio: 0.1 },
    evalEvery: 10,
    evalBatches: 4,
    samplePrompts: ['Q: What is Impressionism?\nA:'],
    earlyStopping: { patience: 3, minDelta: 0.01 },
    checkpoints: { every: 10, keepLast: 2 },
  }),
  outDir: 'runs/demo',
});
console.log(result.status, result.bestValLoss, result.reportPath);
// Later, or after Ctrl-C: the same call with `resume: true` continues from runs/demo/checkpoints/<newest>.

export {};
