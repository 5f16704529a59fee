import { afterEach, describe, expect, it } from 'vitest';
import { loadNativeAddon } from '../native/addon.js';
import { NATIVE_BACKEND_NAME, registerNativeBackend } from '../native/backend.js';
import { maxViolation, randomArray } from '../native/testing.js';
import { tf } from '../tf.js';
import { AdamW } from './adamw.js';

/** torch.optim.AdamW's single-tensor update (torch/optim/adamw.py, amsgrad=False), in float64. */
function torchAdamWRef(
  p0: Float32Array,
  grads: Float32Array[],
  o: { lr: number; beta1: number; beta2: number; eps: number; wd: number },
): Float64Array {
  const p = Float64Array.from(p0);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  grads.forEach((g, i) => {
    const step = i + 1;
    for (let j = 0; j < p.length; j++) p[j] *= 1 - o.lr * o.wd; // param.mul_(1 - lr * weight_decay)
    for (let j = 0; j < p.length; j++) {
      m[j] += (g[j] - m[j]) * (1 - o.beta1); // exp_avg.lerp_(grad, 1 - beta1)
      v[j] = v[j] * o.beta2 + (1 - o.beta2) * g[j] * g[j]; // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
    }
    const bc1 = 1 - o.beta1 ** step;
    const bc2 = 1 - o.beta2 ** step;
    const stepSize = o.lr / bc1;
    for (let j = 0; j < p.length; j++) p[j] -= (stepSize * m[j]) / (Math.sqrt(v[j]) / Math.sqrt(bc2) + o.eps);
  });
  return p;
}

const native = loadNativeAddon().ok && registerNativeBackend().ok;
const backends = ['cpu', ...(native ? [NATIVE_BACKEND_NAME] : [])];
let uid = 0;

describe('AdamW', () => {
  afterEach(() => tf.disposeVariables());

  for (const backend of backends) {
    it(`matches torch.optim.AdamW's formula in float64 over several steps (${backend})`, async () => {
      await tf.setBackend(backend);
      const hp = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, wd: 0.1 };
      const shapes: [string, number[]][] = [
        [`w${uid++}`, [13, 7]],
        [`b${uid++}`, [7]],
      ];
      const init = shapes.map(([, s], i) =>
        randomArray(
          s.reduce((a, b) => a * b, 1),
          10 + i,
        ),
      );
      const vars = shapes.map(([name, s], i) => tf.variable(tf.tensor(init[i], s), true, name));
      const opt = new AdamW({
        lr: hp.lr,
        beta1: hp.beta1,
        beta2: hp.beta2,
        epsilon: hp.eps,
        weightDecay: hp.wd,
      });
      const tensorsBefore = tf.memory().numTensors;
      const steps = 6;
      const grads = shapes.map((_, i) =>
        Array.from({ length: steps }, (_, t) =>
          randomArray(init[i].length, 100 + 10 * i + t, t === 3 ? 1e-3 : 1),
        ),
      );
      for (let t = 0; t < steps; t++) {
        const named = Object.fromEntries(shapes.map(([name, s], i) => [name, tf.tensor(grads[i][t], s)]));
        opt.applyGradients(named);
        tf.dispose(Object.values(named));
      }
      // The generic path keeps m and v as 2 tf variables per parameter; the native one keeps them in addon-side
      // Float32Arrays and updates in place (no tensors at all).
      expect(tf.memory().numTensors - tensorsBefore).toBe(backend === 'cpu' ? 2 * shapes.length : 0);
      // Rank-2 weight decays, the bias does not (default filter).
      const ref0 = torchAdamWRef(init[0], grads[0], hp);
      const ref1 = torchAdamWRef(init[1], grads[1], { ...hp, wd: 0 });
      expect(maxViolation(vars[0].dataSync(), ref0, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
      expect(maxViolation(vars[1].dataSync(), ref1, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
      // Parameters actually moved.
      expect(maxViolation(vars[0].dataSync(), init[0], 1e-4, 0)).toBeGreaterThan(1);
      opt.dispose();
    });

    it(`state() / loadState() resumes exactly (${backend})`, async () => {
      await tf.setBackend(backend);
      const name = `r${uid++}`;
      const init = randomArray(50, 3);
      const grads = Array.from({ length: 5 }, (_, t) => randomArray(50, 200 + t));
      const runSteps = (opt: AdamW, from: number, to: number) => {
        for (let t = from; t < to; t++) {
          const g = tf.tensor(grads[t], [5, 10]);
          opt.applyGradients([{ name, tensor: g }]);
          g.dispose();
        }
      };
      const v = tf.variable(tf.tensor(init, [5, 10]), true, name);
      const a = new AdamW({ lr: 1e-2 });
      runSteps(a, 0, 5);
      const straight = v.dataSync().slice();
      v.assign(tf.tensor(init, [5, 10]));
      const b = new AdamW({ lr: 1e-2 });
      runSteps(b, 0, 2);
      const saved = b.state();
      expect(saved.slots[name].step).toBe(2);
      b.dispose();
      const c = new AdamW();
      c.loadState(JSON.parse(JSON.stringify({ ...saved, slots: {} })));
      c.loadState(saved);
      expect(c.lr).toBe(1e-2);
      runSteps(c, 2, 5);
      expect(maxViolation(v.dataSync(), straight, 1e-7, 1e-6)).toBeLessThanOrEqual(1);
      expect(() =>
        c.loadState({
          ...saved,
          slots: { [name]: { step: 1, m: new Float32Array(3), v: new Float32Array(3) } },
        }),
      ).toThrow(/slot 'r\d+' has 3 values, variable has 50/);
      a.dispose();
      c.dispose();
    });
  }

  it.skipIf(!native)(
    'native in-place update never writes through to a tensor that shares storage',
    async () => {
      await tf.setBackend(NATIVE_BACKEND_NAME);
      const init = tf.tensor(randomArray(12, 5), [3, 4]);
      const before = init.dataSync().slice();
      const name = `alias${uid++}`;
      const v = tf.variable(init, true, name); // shares init's storage
      const opt = new AdamW({ lr: 0.1 });
      const g = tf.onesLike(v);
      opt.applyGradients({ [name]: g });
      expect(Array.from(init.dataSync())).toEqual(Array.from(before));
      expect(v.dataSync()[0]).not.toBe(before[0]);
      tf.dispose([g, init]);
      opt.dispose();
    },
  );

  it('rejects unknown variables and mismatched gradients with the name', () => {
    const opt = new AdamW();
    expect(() => opt.applyGradients({ nope: tf.scalar(1) })).toThrow(/no variable named 'nope'/);
    const name = `s${uid++}`;
    tf.variable(tf.zeros([2]), true, name);
    expect(() => opt.applyGradients({ [name]: tf.zeros([3]) })).toThrow(
      /gradient for 's\d+' has shape \[3\]/,
    );
    expect(() => new AdamW({ beta2: 1 })).toThrow(/beta1 and beta2 must be < 1/);
  });
});
