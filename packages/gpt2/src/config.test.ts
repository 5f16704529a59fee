import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configToJson, countParameters, readConfig, resolveConfig } from './config.js';
import { FIXTURES } from './testing.test-util.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'gpt2-config-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('GPT2Config', () => {
  it('presets have the advertised sizes; the gpt2 preset is the 124,439,808-parameter GPT-2', () => {
    expect(countParameters(resolveConfig('gpt2'))).toBe(124_439_808);
    expect(countParameters(resolveConfig('tiny'))).toBeGreaterThan(0.95e6);
    expect(countParameters(resolveConfig('tiny'))).toBeLessThan(1.1e6);
    expect(countParameters(resolveConfig('small')) / 1e6).toBeCloseTo(34, 0);
    expect(countParameters(resolveConfig('base')) / 1e6).toBeCloseTo(51, 0);
    expect(() => resolveConfig('huge' as 'tiny')).toThrow(
      /unknown GPT-2 preset 'huge' \(known: tiny, small, base, gpt2\)/,
    );
  });

  it('reads the HF config.json fields and writes them back in HF form', async () => {
    const c = await readConfig(join(FIXTURES, 'gpt2-tiny', 'config.json'));
    expect(c).toMatchObject({
      vocab_size: 50257,
      n_positions: 64,
      n_embd: 8,
      n_layer: 2,
      n_head: 2,
      n_inner: null,
    });
    const json = configToJson(c);
    expect(json).toMatchObject({
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      n_ctx: 64,
      tie_word_embeddings: true,
    });
    const path = join(tmp, 'config.json');
    await writeFile(path, JSON.stringify(json));
    expect(await readConfig(path)).toEqual({ ...c, scale_attn_weights: true });
  });

  it('rejects unsupported or inconsistent configs, naming the file and the field', async () => {
    const write = async (o: object) => {
      const p = join(tmp, 'c.json');
      await writeFile(p, JSON.stringify(o));
      return p;
    };
    await expect(readConfig(await write({ n_embd: 10, n_head: 3 }))).rejects.toThrow(
      /c\.json: n_embd \(10\) must be divisible by n_head \(3\)/,
    );
    await expect(readConfig(await write({ activation_function: 'relu' }))).rejects.toThrow(
      /activation_function 'relu' is not supported/,
    );
    await expect(readConfig(await write({ model_type: 'llama' }))).rejects.toThrow(
      /model_type 'llama' is not 'gpt2'/,
    );
    await expect(readConfig(await write({ n_layer: 0 }))).rejects.toThrow(
      /n_layer must be a positive integer/,
    );
    await expect(readConfig(await write({ scale_attn_by_inverse_layer_idx: true }))).rejects.toThrow(
      /not supported/,
    );
    const bad = join(tmp, 'bad.json');
    await writeFile(bad, '{"n_embd": ');
    await expect(readConfig(bad)).rejects.toThrow(/bad\.json: invalid JSON/);
  });
});
