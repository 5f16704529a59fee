import { describe, expect, it } from 'vitest';
import { gelu, initBackend, tf } from './index.js';

describe('stub ops', () => {
  it('gelu(1) matches the tanh approximation', async () => {
    await initBackend('cpu');
    const y = gelu(tf.tensor1d([1]));
    expect((await y.data())[0]).toBeCloseTo(0.841192, 5);
  });
});
