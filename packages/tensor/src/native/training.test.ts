// A tiny GPT-2-shaped model trained for 1,000 steps on atelier-native with AdamW: the loss must fall, and the
// tfjs tensor count and the process RSS must stay flat (no leaked tensors, no growing native buffers).
import { describe, expect, it } from 'vitest';
import { causalSelfAttention, embedding, gelu, layerNorm, matmul, softmaxCrossEntropy } from '../ops.js';
import { AdamW } from '../optim/adamw.js';
import { tf } from '../tf.js';
import { loadNativeAddon } from './addon.js';
import { NATIVE_BACKEND_NAME, registerNativeBackend } from './backend.js';

const load = loadNativeAddon();

describe.skipIf(!load.ok)(`tiny GPT-2 training on atelier-native ${load.ok ? '' : load.reason}`, () => {
  it('1,000 AdamW steps: loss falls, tensor count and RSS stay flat', async () => {
    const r = registerNativeBackend();
    if (!r.ok) throw new Error(r.reason);
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const [V, C, nHead, nLayer, B, T] = [96, 32, 4, 2, 2, 16];
    const P = 'tinygpt/';
    const v = (name: string, t: tf.Tensor) => tf.variable(t, true, P + name);
    const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 0.02, 'float32', seed);
    const params: Record<string, tf.Variable> = {
      wte: v('wte', rnd([V, C], 1)),
      wpe: v('wpe', rnd([T, C], 2)),
      lnf_g: v('lnf_g', tf.ones([C])),
      lnf_b: v('lnf_b', tf.zeros([C])),
    };
    for (let l = 0; l < nLayer; l++) {
      const s = 10 * (l + 1);
      Object.assign(params, {
        [`${l}.ln1_g`]: v(`${l}.ln1_g`, tf.ones([C])),
        [`${l}.ln1_b`]: v(`${l}.ln1_b`, tf.zeros([C])),
        [`${l}.attn_w`]: v(`${l}.attn_w`, rnd([C, 3 * C], s)),
        [`${l}.attn_b`]: v(`${l}.attn_b`, tf.zeros([3 * C])),
        [`${l}.proj_w`]: v(`${l}.proj_w`, rnd([C, C], s + 1)),
        [`${l}.proj_b`]: v(`${l}.proj_b`, tf.zeros([C])),
        [`${l}.ln2_g`]: v(`${l}.ln2_g`, tf.ones([C])),
        [`${l}.ln2_b`]: v(`${l}.ln2_b`, tf.zeros([C])),
        [`${l}.fc_w`]: v(`${l}.fc_w`, rnd([C, 4 * C], s + 2)),
        [`${l}.fc_b`]: v(`${l}.fc_b`, tf.zeros([4 * C])),
        [`${l}.fc2_w`]: v(`${l}.fc2_w`, rnd([4 * C, C], s + 3)),
        [`${l}.fc2_b`]: v(`${l}.fc2_b`, tf.zeros([C])),
      });
    }
    const p = (k: string) => params[k];
    // A fixed batch to memorise: token i+1 follows token i (mod V).
    const ids = tf.tensor2d(
      Array.from({ length: B * T }, (_, i) => (i * 7) % V),
      [B, T],
      'int32',
    );
    const targets = tf.tensor1d(
      Array.from({ length: B * T }, (_, i) => ((i * 7) % V) + 1),
      'int32',
    );
    const lossFn = () => {
      const pos = tf.range(0, T, 1, 'int32');
      let x = tf.add(embedding(p('wte') as tf.Tensor2D, ids), embedding(p('wpe') as tf.Tensor2D, pos)); // [B,T,C]
      x = tf.reshape(x, [B * T, C]);
      for (let l = 0; l < nLayer; l++) {
        const h = layerNorm(x, p(`${l}.ln1_g`), p(`${l}.ln1_b`));
        const qkv = tf.reshape(tf.add(matmul(h, p(`${l}.attn_w`)), p(`${l}.attn_b`)), [B, T, 3 * C]);
        const att = tf.reshape(causalSelfAttention(qkv as tf.Tensor3D, nHead), [B * T, C]);
        x = tf.add(x, tf.add(matmul(att, p(`${l}.proj_w`)), p(`${l}.proj_b`)));
        const h2 = layerNorm(x, p(`${l}.ln2_g`), p(`${l}.ln2_b`));
        const f = gelu(tf.add(matmul(h2, p(`${l}.fc_w`)), p(`${l}.fc_b`)));
        x = tf.add(x, tf.add(matmul(f, p(`${l}.fc2_w`)), p(`${l}.fc2_b`)));
      }
      const logits = matmul(layerNorm(x, p('lnf_g'), p('lnf_b')), p('wte'), false, true) as tf.Tensor2D;
      return softmaxCrossEntropy(logits, targets) as tf.Scalar;
    };
    const opt = new AdamW({ lr: 1e-2, weightDecay: 0.01 });
    const step = () => {
      const { value, grads } = tf.variableGrads(lossFn);
      opt.applyGradients(grads);
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    };
    const losses: number[] = [];
    let tensorsAfterWarmup = 0;
    let rssAfterWarmup = 0;
    for (let i = 0; i < 1000; i++) {
      losses.push(step());
      if (i === 99) {
        tensorsAfterWarmup = tf.memory().numTensors;
        rssAfterWarmup = process.memoryUsage().rss;
      }
    }
    const tensorsEnd = tf.memory().numTensors;
    const rssEnd = process.memoryUsage().rss;
    expect(losses[0]).toBeGreaterThan(Math.log(V) - 0.5); // ≈ ln 96 = 4.56 at init
    expect(losses[999]).toBeLessThan(0.1 * losses[0]);
    expect(tensorsEnd).toBe(tensorsAfterWarmup);
    expect(rssEnd - rssAfterWarmup).toBeLessThan(48 * 1024 * 1024);
    opt.dispose();
    tf.dispose([ids, targets]);
    for (const t of Object.values(params)) t.dispose();
  });
});
