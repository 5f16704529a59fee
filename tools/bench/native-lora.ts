// LoRA fine-tuning on the native CPU backend: GPT-2 124M and a gpt2-medium-sized model (355M: 1024 wide,
// 24 layers, 16 heads) from random weights, r = 8 on c_attn (PEFT's GPT-2 default), AdamW on the adapter
// parameters only. Reports training tokens/s and peak RSS (native only; no Python peer here).
//   node tools/bench/native-run.mjs tools/bench/native-lora.ts [--steps 3] [--seq 128]
import { GPT2 } from '@atelier/gpt2';
import { applyLora } from '@atelier/lora';
import { tf } from '@atelier/tensor';
import { NATIVE_BACKEND_NAME, registerNativeBackend } from '../../packages/tensor/src/native/index.js';
import { AdamW } from '../../packages/tensor/src/optim/index.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const steps = Number(arg('steps', '3'));
const T = Number(arg('seq', '128'));
const B = 1;

const reg = registerNativeBackend();
if (!reg.ok) throw new Error(reg.reason);
await tf.setBackend(NATIVE_BACKEND_NAME);

let peak = 0;
const timer = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 20);

const configs = {
  'gpt2 (124M)': 'gpt2' as const,
  'gpt2-medium size (355M)': { n_embd: 1024, n_layer: 24, n_head: 16 },
};
for (const [label, config] of Object.entries(configs)) {
  peak = 0;
  const model = GPT2.fromConfig(config, { seed: 1 });
  const report = applyLora(model, { r: 8, lora_alpha: 16 });
  const vars = model
    .parameters()
    .filter((p) => p.trainable)
    .map((p) => p.variable);
  const opt = new AdamW({ lr: 1e-4, weightDecay: 0 });
  let seed = 3;
  const ids = () =>
    Array.from({ length: B }, () =>
      Array.from({ length: T }, () => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return seed % model.config.vocab_size;
      }),
    );
  const step = () => {
    const { value, grads } = tf.variableGrads(() => model.loss(ids()), vars);
    opt.applyGradients(grads);
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  };
  step(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push((performance.now() - t0) / 1000);
  }
  const med = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(
    JSON.stringify({
      model: label,
      params: model.parameterCount(),
      trainable: report.params.trainable,
      B,
      T,
      loraTrainTokPerS: (B * T) / med,
      peakRssMiB: Math.round(peak / 2 ** 20),
    }),
  );
  opt.dispose();
  model.dispose();
}
clearInterval(timer);
