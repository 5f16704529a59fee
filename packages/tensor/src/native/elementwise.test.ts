// Native Add/Sub/Multiply/RealDiv and Sum against tfjs-backend-cpu's JavaScript kernels (an independent
// implementation), including the broadcast patterns and dtypes that must fall back to it.
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tf.js';
import { loadNativeAddon } from './addon.js';
import { NATIVE_BACKEND_NAME, registerNativeBackend } from './backend.js';
import { maxViolation, randomArray } from './testing.js';

const load = loadNativeAddon();

async function onBoth<T>(f: () => T): Promise<[T, T]> {
  await tf.setBackend(NATIVE_BACKEND_NAME);
  const native = f();
  await tf.setBackend('cpu');
  const cpu = f();
  await tf.setBackend(NATIVE_BACKEND_NAME);
  return [native, cpu];
}

describe.skipIf(!load.ok)(`native elementwise kernels ${load.ok ? '' : load.reason}`, () => {
  beforeAll(() => {
    const r = registerNativeBackend();
    if (!r.ok) throw new Error(r.reason);
  });

  it('binary ops with same-shape, scalar, row-broadcast and fallback shapes', async () => {
    const shapes: [number[], number[]][] = [
      [
        [37, 41],
        [37, 41],
      ],
      [[37, 41], [41]],
      [
        [37, 41],
        [1, 41],
      ],
      [[41], [2, 37, 41]], // broadcast operand first
      [[3, 5], []],
      [[], [3, 5]],
      [
        [37, 1],
        [37, 41],
      ], // column broadcast: falls back to tfjs-cpu
      [
        [2, 1, 4],
        [1, 3, 4],
      ], // general broadcast: falls back
      [[1], [1]],
    ];
    const ops = [tf.add, tf.sub, tf.mul, tf.div] as const;
    let seed = 1;
    for (const [sa, sb] of shapes) {
      const av = randomArray(
        Math.max(
          1,
          sa.reduce((x, y) => x * y, 1),
        ),
        seed++,
      );
      const bv = randomArray(
        Math.max(
          1,
          sb.reduce((x, y) => x * y, 1),
        ),
        seed++,
      ).map((x) => x + 2);
      for (const op of ops) {
        const [n, c] = await onBoth(() =>
          tf.tidy(() => {
            const y = op(tf.tensor(av, sa), tf.tensor(bv, sb));
            return { shape: y.shape, data: Array.from(y.dataSync()) };
          }),
        );
        expect(n.shape).toEqual(c.shape);
        expect(maxViolation(n.data, c.data, 1e-7, 1e-6), `${op.name} [${sa}] [${sb}]`).toBeLessThanOrEqual(1);
      }
    }
    // int32 stays int32 (tfjs-cpu kernel).
    const y = tf.add(tf.tensor([1, 2], [2], 'int32'), tf.tensor([3, 4], [2], 'int32'));
    expect(y.dtype).toBe('int32');
    expect(Array.from(y.dataSync())).toEqual([4, 6]);
    y.dispose();
  });

  it('PadV2 (constant) matches tfjs-cpu for ranks 1-4', async () => {
    const cases: [number[], [number, number][], number][] = [
      [[5], [[2, 3]], 0],
      [
        [1, 127, 7],
        [
          [0, 0],
          [0, 1],
          [0, 0],
        ],
        0,
      ],
      [
        [3, 4],
        [
          [1, 0],
          [2, 3],
        ],
        -1.5,
      ],
      [
        [2, 3, 2, 5],
        [
          [0, 1],
          [1, 0],
          [0, 2],
          [3, 1],
        ],
        0,
      ],
    ];
    for (const [shape, pads, value] of cases) {
      const x = randomArray(
        shape.reduce((a, b) => a * b, 1),
        3,
      );
      const [n, c] = await onBoth(() =>
        tf.tidy(() => {
          const y = tf.pad(tf.tensor(x, shape), pads, value);
          return { shape: y.shape, data: Array.from(y.dataSync()) };
        }),
      );
      expect(n).toEqual(c);
    }
  });

  it('GatherV2 (rows) and fused matmul + bias match tfjs-cpu', async () => {
    const table = randomArray(11 * 3 * 4, 4);
    const [n, c] = await onBoth(() =>
      tf.tidy(() => {
        const ids = tf.tensor(
          [
            [3, 0, 10],
            [3, 3, 7],
          ],
          [2, 3],
          'int32',
        );
        const g0 = tf.gather(tf.tensor(table, [11, 12]), ids); // [2, 3, 12]
        const g1 = tf.gather(tf.tensor(table, [11, 3, 4]), tf.tensor([2, 0], [2], 'int32'), 1); // axis 1: tfjs-cpu
        const a = tf.tensor(randomArray(2 * 5 * 7, 5), [2, 5, 7]);
        const w = tf.tensor(randomArray(6 * 7, 6), [6, 7]);
        const bias = tf.tensor(randomArray(6, 7), [6]);
        const f = tf.fused.matMul({
          a: a as unknown as tf.Tensor2D,
          b: w as tf.Tensor2D,
          transposeB: true,
          bias,
        });
        return [g0, g1, f].map((t) => ({ shape: t.shape, data: Array.from(t.dataSync()) }));
      }),
    );
    for (let i = 0; i < 3; i++) {
      expect(n[i].shape).toEqual(c[i].shape);
      expect(maxViolation(n[i].data, c[i].data, 1e-6, 1e-6)).toBeLessThanOrEqual(1);
    }
    await tf.setBackend(NATIVE_BACKEND_NAME);
    expect(() => tf.gather(tf.tensor(table, [11, 12]), tf.tensor([1, 11], [2], 'int32'))).toThrow(
      /index 11 \(position 1\) is not in \[0, 11\)/,
    );
  });

  it('Slice matches tfjs-cpu for ranks 1-4', async () => {
    const cases: [number[], number[], number[]][] = [
      [[17], [3], [-1]],
      [
        [4, 128, 6],
        [0, 0, 0],
        [4, 127, 6],
      ],
      [
        [4, 128, 6],
        [0, 1, 0],
        [4, -1, 6],
      ],
      [
        [5, 7],
        [1, 2],
        [3, 4],
      ],
      [
        [2, 3, 4, 5],
        [1, 0, 2, 1],
        [1, 3, 2, 3],
      ],
      [
        [3, 4],
        [1, 1],
        [0, 2],
      ], // empty
    ];
    for (const [shape, begin, sz] of cases) {
      const x = randomArray(
        shape.reduce((a, b) => a * b, 1),
        8,
      );
      const [n, c] = await onBoth(() =>
        tf.tidy(() => {
          const y = tf.slice(tf.tensor(x, shape), begin, sz);
          return { shape: y.shape, data: Array.from(y.dataSync()) };
        }),
      );
      expect(n).toEqual(c);
    }
  });

  it('Sum over leading, trailing, all and middle axes, keepDims, int32', async () => {
    const x = randomArray(3 * 5 * 67, 9);
    const cases: [number | number[] | undefined, boolean][] = [
      [0, false],
      [[0, 1], false],
      [2, false],
      [[1, 2], true],
      [undefined, false],
      [1, false], // middle axis: tfjs-cpu
      [-1, true],
    ];
    for (const [axis, keepDims] of cases) {
      const [n, c] = await onBoth(() =>
        tf.tidy(() => {
          const y = tf.sum(tf.tensor(x, [3, 5, 67]), axis, keepDims);
          return { shape: y.shape, data: Array.from(y.dataSync()) };
        }),
      );
      expect(n.shape, `axis ${axis}`).toEqual(c.shape);
      expect(maxViolation(n.data, c.data, 1e-5, 1e-5), `axis ${axis}`).toBeLessThanOrEqual(1);
    }
    const big = randomArray(256 * 1000, 10); // large enough to run on the pool
    const [n, c] = await onBoth(() =>
      Array.from(tf.tidy(() => tf.sum(tf.tensor(big, [256, 1000]), 0)).dataSync()),
    );
    expect(maxViolation(n, c, 1e-4, 1e-5)).toBeLessThanOrEqual(1);
    const yi = tf.sum(tf.tensor([1, 2, 3, 4], [2, 2], 'int32'), 0);
    expect(yi.dtype).toBe('int32');
    expect(Array.from(yi.dataSync())).toEqual([4, 6]);
    yi.dispose();
  });
});
