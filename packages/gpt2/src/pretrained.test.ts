import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, readSafetensorsHeader, saveSafetensors, tf } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GPT2 } from './model.js';
import { expectClose, FIXTURES } from './testing.test-util.js';

const TINY = `${FIXTURES}gpt2-tiny`;
const REFERENCE = fileURLToPath(new URL('../../../tools/reference/gpt2_reference.py', import.meta.url));
const PYTHON = '/usr/bin/python3';
let tmp: string;

/** The reference's saved-directory check needs Debian's python3-torch. */
function torchAvailable(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  await initBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'gpt2-pretrained-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('fromPretrained / save', () => {
  it('loads the hub-layout fixture directory (mask buffers skipped) with the built-in GPT-2 tokenizer', async () => {
    const m = await GPT2.fromPretrained(TINY);
    expect(m.config.n_embd).toBe(8);
    expect(m.tokenizer?.encode('Hello, my dog is cute')).toEqual([15496, 11, 616, 3290, 318, 13779]);
    const meta = JSON.parse(await readFile(join(TINY, 'expected.json'), 'utf8'));
    const l = m.loss(meta.ids);
    expect(l.dataSync()[0]).toBeCloseTo(meta.loss, 4);
    l.dispose();
    m.dispose();
  });

  it('save → hub-style model.safetensors (format pt, no prefix, no lm_head) + config + tokenizer; reloads identically', async () => {
    const m = await GPT2.fromPretrained(TINY);
    const dir = join(tmp, 'saved');
    await m.save(dir);
    for (const f of ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer.json']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const header = await readSafetensorsHeader(join(dir, 'model.safetensors'));
    expect(header.metadata).toEqual({ format: 'pt' });
    const keys = [...header.tensors.keys()].sort();
    expect(keys).toContain('h.0.attn.c_attn.weight');
    expect(keys).toContain('wte.weight');
    expect(keys.some((k) => k.startsWith('transformer.') || k.startsWith('lm_head'))).toBe(false);
    expect(keys).toHaveLength(2 + 2 * 12 + 2);
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      n_embd: 8,
      n_layer: 2,
    });

    const back = await GPT2.fromPretrained(dir);
    const ids = [[15496, 11, 616, 3290, 318]];
    const a = m.forward(ids);
    const b = back.forward(ids);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([a, b]);
    expect(back.tokenizer?.decode([15496, 11])).toBe('Hello,');
    m.dispose();
    back.dispose();
  });

  it.skipIf(!torchAvailable())(
    'the saved directory loads in the PyTorch reference the way from_pretrained does',
    async () => {
      const m = GPT2.fromConfig(
        { vocab_size: 300, n_positions: 16, n_embd: 12, n_layer: 2, n_head: 3 },
        { seed: 5 },
      );
      const dir = join(tmp, 'scratch');
      await m.save(dir);
      const ids = [5, 17, 42, 123, 7, 250];
      const out = JSON.parse(
        execFileSync(PYTHON, [REFERENCE, '--check', dir, '--ids', ids.join(',')], { encoding: 'utf8' }),
      );
      const l = m.loss([ids]);
      expect(out.loss).toBeCloseTo(l.dataSync()[0], 5);
      const logits = m.forward([ids]);
      const last = tf.tidy(() => tf.slice(logits, [0, ids.length - 1, 0], [1, 1, 8]).dataSync());
      expectClose(last, out.last_logits_head, { rtol: 1e-4, atol: 1e-6 }, 'python logits');
      tf.dispose([l, logits]);
      m.dispose();
    },
  );

  it('refuses pytorch_model.bin-only directories, explaining that safetensors is required', async () => {
    const dir = join(tmp, 'binonly');
    await mkdir(dir, { recursive: true });
    await copyFile(join(TINY, 'config.json'), join(dir, 'config.json'));
    await writeFile(join(dir, 'pytorch_model.bin'), 'not really a pickle');
    await expect(GPT2.fromPretrained(dir)).rejects.toThrow(
      /only pytorch_model.bin found; model.safetensors is required/,
    );
  });

  it('names the file and the tensor when weights are missing or mis-shaped', async () => {
    const dir = join(tmp, 'bad');
    await mkdir(dir, { recursive: true });
    const cfg = { vocab_size: 10, n_positions: 4, n_embd: 4, n_layer: 1, n_head: 1 };
    await writeFile(join(dir, 'config.json'), JSON.stringify(cfg));
    const m = GPT2.fromConfig(cfg);
    await m.save(dir);
    m.dispose();
    const path = join(dir, 'model.safetensors');
    const { loadSafetensors } = await import('@atelier/tensor');
    const tensors = await loadSafetensors(path);
    tensors.delete('h.0.mlp.c_fc.bias');
    await saveSafetensors(path, tensors);
    await expect(GPT2.fromPretrained(dir)).rejects.toThrow(
      /model\.safetensors: missing tensor h\.0\.mlp\.c_fc\.bias/,
    );
    tensors.set('h.0.mlp.c_fc.bias', {
      dtype: 'float32',
      shape: [15],
      data: new Float32Array(15),
      sourceDtype: 'F32',
    });
    await saveSafetensors(path, tensors);
    await expect(GPT2.fromPretrained(dir)).rejects.toThrow(
      /tensor h\.0\.mlp\.c_fc\.bias has shape \[15\], the config needs \[16\]/,
    );
    await writeFile(join(dir, 'config.json'), '{"n_embd": 5, "n_head": 2}');
    await expect(GPT2.fromPretrained(dir)).rejects.toThrow(
      /config\.json: n_embd \(5\) must be divisible by n_head \(2\)/,
    );
    await expect(GPT2.fromPretrained(join(tmp, 'nope'))).rejects.toThrow(/no such model directory/);
  });

  it('reads sharded checkpoints (model.safetensors.index.json)', async () => {
    const dir = join(tmp, 'sharded');
    await mkdir(dir, { recursive: true });
    const cfg = { vocab_size: 10, n_positions: 4, n_embd: 4, n_layer: 1, n_head: 1 };
    const m = GPT2.fromConfig(cfg, { seed: 9, tokenizer: undefined });
    await m.save(dir);
    const { loadSafetensors } = await import('@atelier/tensor');
    const all = await loadSafetensors(join(dir, 'model.safetensors'));
    await rm(join(dir, 'model.safetensors'));
    const names = [...all.keys()];
    const half = names.slice(0, 10);
    const weightMap: Record<string, string> = {};
    for (const n of names)
      weightMap[n] = half.includes(n)
        ? 'model-00001-of-00002.safetensors'
        : 'model-00002-of-00002.safetensors';
    await saveSafetensors(
      join(dir, 'model-00001-of-00002.safetensors'),
      new Map(names.filter((n) => half.includes(n)).map((n) => [n, all.get(n)!])),
    );
    await saveSafetensors(
      join(dir, 'model-00002-of-00002.safetensors'),
      new Map(names.filter((n) => !half.includes(n)).map((n) => [n, all.get(n)!])),
    );
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    const back = await GPT2.fromPretrained(dir, { tokenizer: false });
    const a = m.forward([[1, 2, 3]]);
    const b = back.forward([[1, 2, 3]]);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([a, b]);
    m.dispose();
    back.dispose();
  });

  it('uses a tokenizer given in the options', async () => {
    const tok = Tokenizer.gpt2();
    const m = await GPT2.fromPretrained(TINY, { tokenizer: tok });
    expect(m.tokenizer).toBe(tok);
    m.dispose();
  });
});
