import { initBackend, tf } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRepetitionPenalty, mulberry32, pickToken } from './generate.js';
import { expectClose, type Fixture, loadFixture } from './testing.test-util.js';

let fx: Fixture;
let greedy: Array<{ prompt: number[]; new_tokens: number[] }>;

beforeAll(async () => {
  await initBackend('cpu');
  fx = await loadFixture('gpt2-tiny');
  fx.model.tokenizer = Tokenizer.gpt2();
  greedy = fx.meta.greedy as typeof greedy;
});
afterAll(() => fx?.model.dispose());

describe('KV-cache decoding', () => {
  it('greedy continuations equal the reference (full recomputation in PyTorch), one prompt at a time', () => {
    for (const g of greedy) {
      const [out] = fx.model.generateIds([g.prompt], { maxNewTokens: 12, eosTokenId: null });
      expect(out).toEqual(g.new_tokens);
    }
  });

  it('a batch of prompts of different lengths (left padding) gives the same continuations', () => {
    const out = fx.model.generateIds(
      greedy.map((g) => g.prompt),
      { maxNewTokens: 12, eosTokenId: null },
    );
    expect(out).toEqual(greedy.map((g) => g.new_tokens));
  });

  it('prefill + decodeStep logits equal the full forward pass at every position', () => {
    const seq = [...greedy[0].prompt, ...greedy[0].new_tokens.slice(0, 5)];
    const full = fx.model.forward([seq]);
    const V = fx.model.config.vocab_size;
    const P = greedy[0].prompt.length;
    const { logits, cache } = fx.model.prefill([seq.slice(0, P)]);
    let step = logits;
    for (let t = P - 1; t < seq.length; t++) {
      const want = tf.tidy(() => tf.slice(full, [0, t, 0], [1, 1, V]).dataSync());
      expectClose(step.dataSync(), want, { rtol: 1e-4, atol: 5e-5 }, `position ${t}`);
      step.dispose();
      if (t + 1 < seq.length) step = fx.model.decodeStep([seq[t + 1]], cache);
    }
    expect(cache.length).toBe(seq.length);
    cache.dispose();
    full.dispose();
  });

  it('does not leak tensors', () => {
    const before = tf.memory().numTensors;
    fx.model.generateIds([greedy[0].prompt, greedy[1].prompt], { maxNewTokens: 5, doSample: true, seed: 1 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('text generation', () => {
  const prompt = 'Hello, my dog';

  it('encodes the prompt with the GPT-2 tokenizer and decodes the greedy continuation', async () => {
    expect(fx.model.tokenizer!.encode(prompt)).toEqual(greedy[0].prompt);
    const text = await fx.model.generate(prompt, { maxNewTokens: 12, eosTokenId: null });
    expect(text).toBe(fx.model.tokenizer!.decode(greedy[0].new_tokens));
  });

  it('batch of prompts', async () => {
    const texts = await fx.model.generate([prompt, 'The quick brown'], {
      maxNewTokens: 12,
      eosTokenId: null,
    });
    expect(texts).toEqual(greedy.map((g) => fx.model.tokenizer!.decode(g.new_tokens)));
  });

  it('seeded sampling: same seed → same text, another seed → another text; topK 1 and temperature 0 are greedy', async () => {
    const o = { maxNewTokens: 12, temperature: 1.5, eosTokenId: null };
    const a = await fx.model.generate(prompt, { ...o, seed: 7 });
    const b = await fx.model.generate(prompt, { ...o, seed: 7 });
    const c = await fx.model.generate(prompt, { ...o, seed: 8 });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    const g = fx.model.tokenizer!.decode(greedy[0].new_tokens);
    expect(a).not.toBe(g);
    expect(await fx.model.generate(prompt, { ...o, topK: 1, seed: 3 })).toBe(g);
    expect(await fx.model.generate(prompt, { ...o, topP: 1e-6, seed: 3 })).toBe(g);
    expect(await fx.model.generate(prompt, { ...o, temperature: 0 })).toBe(g);
  });

  it('EOS ends a sequence; maxNewTokens ends it otherwise', async () => {
    const eos = greedy[0].new_tokens[2];
    const [d] = await fx.model.generateDetailed(prompt, { maxNewTokens: 12, eosTokenId: eos });
    expect(d.tokens).toEqual(greedy[0].new_tokens.slice(0, 2));
    expect(d.finishReason).toBe('eos');
    const [l] = await fx.model.generateDetailed(prompt, { maxNewTokens: 4, eosTokenId: null });
    expect(l.tokens).toHaveLength(4);
    expect(l.finishReason).toBe('length');
  });

  it('stop sequences cut the text before the stop string', async () => {
    const full = fx.model.tokenizer!.decode(greedy[0].new_tokens);
    const stopText = full.slice(full.length / 2, full.length / 2 + 3);
    const [d] = await fx.model.generateDetailed(prompt, {
      maxNewTokens: 12,
      eosTokenId: null,
      stop: [stopText],
    });
    expect(d.finishReason).toBe('stop');
    expect(d.text).toBe(full.slice(0, full.indexOf(stopText)));
    expect(d.tokens.length).toBeLessThan(12);
  });

  it('stream yields pieces that add up to the generated text, with and without a stop sequence', async () => {
    const full = await fx.model.generate(prompt, { maxNewTokens: 12, eosTokenId: null });
    const pieces: string[] = [];
    for await (const p of fx.model.stream(prompt, { maxNewTokens: 12, eosTokenId: null })) pieces.push(p);
    expect(pieces.length).toBeGreaterThan(3);
    expect(pieces.join('')).toBe(full);
    const stopText = full.slice(full.length / 2, full.length / 2 + 3);
    const cut: string[] = [];
    for await (const p of fx.model.stream(prompt, { maxNewTokens: 12, eosTokenId: null, stop: [stopText] }))
      cut.push(p);
    expect(cut.join('')).toBe(full.slice(0, full.indexOf(stopText)));
  });

  it('breaking out of a stream early frees the KV cache', async () => {
    const before = tf.memory().numTensors;
    for await (const piece of fx.model.stream(prompt, { maxNewTokens: 12, eosTokenId: null })) {
      expect(piece.length).toBeGreaterThan(0);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('topNextTokens: the k best next tokens with logits and softmax probabilities', () => {
    const top = fx.model.topNextTokens(prompt, 5);
    expect(top).toHaveLength(5);
    expect(top[0].id).toBe(greedy[0].new_tokens[0]);
    expect(top[0].token).toBe(fx.model.tokenizer!.decode([top[0].id]));
    const logits = fx.model.forward([greedy[0].prompt]);
    const last = tf.tidy(() => tf.slice(logits, [0, 3, 0], [1, 1, 50257]).dataSync());
    const probs = tf.tidy(() => tf.softmax(tf.tensor1d(last)).dataSync());
    logits.dispose();
    for (let i = 0; i < 5; i++) {
      expect(top[i].logit).toBeCloseTo(last[top[i].id], 5);
      expect(top[i].prob).toBeCloseTo(probs[top[i].id], 6);
      if (i > 0) expect(top[i].logit).toBeLessThanOrEqual(top[i - 1].logit);
    }
  });

  it('refuses a prompt that does not fit the context', async () => {
    await expect(fx.model.generate(prompt, { maxNewTokens: 100 })).rejects.toThrow(
      /exceeds the context of 64/,
    );
  });
});

describe('logit processing (HF semantics)', () => {
  it('repetition penalty divides positive and multiplies negative logits of seen tokens once', () => {
    const l = new Float32Array([2, -2, 1, 4]);
    applyRepetitionPenalty(l, [0, 1, 1], 2);
    expect(Array.from(l)).toEqual([1, -4, 1, 4]);
  });

  it('sampling frequencies follow softmax(logits / T), top-k and top-p restrict the support', () => {
    const logits = [1, 0.5, 0, -1, -3];
    const counts = (o: { temperature: number; topK: number; topP: number }, n = 20000) => {
      const rand = mulberry32(42);
      const c = new Array(logits.length).fill(0);
      for (let i = 0; i < n; i++) c[pickToken(new Float32Array(logits), { sample: true, ...o }, rand)]++;
      return c.map((x) => x / n);
    };
    const softmax = (xs: number[]) => {
      const e = xs.map((x) => Math.exp(x));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / z);
    };
    const f = counts({ temperature: 2, topK: 0, topP: 1 });
    softmax(logits.map((x) => x / 2)).forEach((p, i) => {
      expect(Math.abs(f[i] - p)).toBeLessThan(0.015);
    });
    const k = counts({ temperature: 1, topK: 2, topP: 1 });
    const p2 = softmax(logits.slice(0, 2));
    expect(k.slice(2).every((x) => x === 0)).toBe(true);
    expect(Math.abs(k[0] - p2[0])).toBeLessThan(0.015);
    // probs ≈ [.48, .29, .18, .06, .01]: top-p 0.7 keeps the first two (0.48 < 0.7 ≤ 0.77)
    const p = counts({ temperature: 1, topK: 0, topP: 0.7 });
    expect(p.slice(2).every((x) => x === 0)).toBe(true);
    expect(Math.abs(p[0] - p2[0])).toBeLessThan(0.015);
  });
});
