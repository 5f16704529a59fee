import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@atelier/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { geluErf } from './bert.js';
import { SentenceEmbedder } from './embedder.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

// Written by tools/reference/bert_reference.py (plain PyTorch BERT, float64, random weights).
const FIXTURE = new URL('../../../tools/reference/fixtures/bert-tiny/', import.meta.url).pathname;

interface Expected {
  texts: string[];
  input_ids: number[][];
  last_hidden_state_0: number[][];
  embeddings: number[][];
  max_seq_length: number;
}

let expected: Expected;
let embedder: SentenceEmbedder;
let tmp: string;

beforeAll(async () => {
  await initBackend('cpu');
  expected = JSON.parse(await readFile(join(FIXTURE, 'expected.json'), 'utf8'));
  embedder = await SentenceEmbedder.load(FIXTURE);
  tmp = await mkdtemp(join(tmpdir(), 'atelier-bert-'));
});

afterAll(async () => {
  embedder?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('BERT sentence embeddings vs the PyTorch reference', () => {
  it('reads sentence-transformers settings from the model directory', () => {
    expect(embedder.maxSeqLength).toBe(expected.max_seq_length);
    expect(embedder.pooling).toBe('mean');
    expect(embedder.normalize).toBe(true);
    expect(embedder.dim).toBe(32);
  });

  it('tokenizes every reference text to the reference ids (with truncation)', () => {
    expected.texts.forEach((t, i) => {
      expect(embedder.tokenizer.encode(t, embedder.maxSeqLength), JSON.stringify(t)).toEqual(
        expected.input_ids[i],
      );
    });
  });

  it('last hidden state of text 0 matches to float32 tolerance', async () => {
    const { hidden } = embedder.hiddenStates([expected.texts[0]]);
    const got = await hidden.data();
    hidden.dispose();
    expect(maxAbsDiff(got, expected.last_hidden_state_0.flat())).toBeLessThan(2e-5);
  });

  it('normalised mean-pooled embeddings match in a padded batch (batch size 5, length-sorted)', async () => {
    const m = await embedder.embed(expected.texts, { batchSize: 5 });
    expect(m.rows).toBe(expected.texts.length);
    expect(maxAbsDiff(m.data, expected.embeddings.flat())).toBeLessThan(1e-5);
    // Rows are unit length.
    for (let r = 0; r < m.rows; r++) {
      let s = 0;
      for (let c = 0; c < m.dim; c++) s += m.data[r * m.dim + c] ** 2;
      expect(Math.sqrt(s)).toBeCloseTo(1, 5);
    }
  });

  it('loads `bert.`-prefixed checkpoints and vocab.txt when there is no tokenizer.json', async () => {
    const dir = join(tmp, 'prefixed');
    await mkdir(join(dir, '1_Pooling'), { recursive: true });
    for (const f of [
      'config.json',
      'vocab.txt',
      'tokenizer_config.json',
      'modules.json',
      'sentence_bert_config.json',
      '1_Pooling/config.json',
    ]) {
      await copyFile(join(FIXTURE, f), join(dir, f));
    }
    const { tensors } = await readSafetensors(join(FIXTURE, 'model.safetensors'));
    const renamed = new Map(
      [...tensors].map(([k, v]) => [`bert.${k.replace('LayerNorm.weight', 'LayerNorm.gamma')}`, v]),
    );
    renamed.set('cls.predictions.bias', { shape: [3], data: new Float32Array(3) });
    await writeSafetensors(join(dir, 'model.safetensors'), renamed);
    const other = await SentenceEmbedder.load(dir);
    const m = await other.embed(expected.texts);
    other.dispose();
    expect(maxAbsDiff(m.data, expected.embeddings.flat())).toBeLessThan(1e-5);
  });

  it('names the file and tensor when a weight is missing or mis-shaped', async () => {
    const dir = join(tmp, 'broken');
    await mkdir(dir, { recursive: true });
    for (const f of ['config.json', 'vocab.txt']) await copyFile(join(FIXTURE, f), join(dir, f));
    const { tensors } = await readSafetensors(join(FIXTURE, 'model.safetensors'));
    tensors.delete('encoder.layer.1.output.dense.bias');
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await expect(SentenceEmbedder.load(dir)).rejects.toThrow(
      /model\.safetensors: missing tensor "encoder\.layer\.1\.output\.dense\.bias"/,
    );
    tensors.set('encoder.layer.1.output.dense.bias', { shape: [31], data: new Float32Array(31) });
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await expect(SentenceEmbedder.load(dir)).rejects.toThrow(/has shape \[31\], expected \[32\]/);
    await expect(SentenceEmbedder.load(join(tmp, 'nope'))).rejects.toThrow(
      /neither a directory nor a hub id|not found/,
    );
  });
});

describe('geluErf', () => {
  it('matches 0.5·x·(1 + erf(x/√2)) from precise erf values', async () => {
    // erf values from the Python standard library (math.erf), to 12 digits.
    const xs = [-3, -1, -0.5, 0, 0.5, 1, 2];
    const erf: Record<number, number> = {
      [-3 / Math.SQRT2]: -0.997300203937,
      [-1 / Math.SQRT2]: -0.682689492137,
      [-0.5 / Math.SQRT2]: -0.382924922548,
      0: 0,
      [0.5 / Math.SQRT2]: 0.382924922548,
      [1 / Math.SQRT2]: 0.682689492137,
      [2 / Math.SQRT2]: 0.954499736104,
    };
    const want = xs.map((x) => 0.5 * x * (1 + erf[x / Math.SQRT2]));
    const got = await geluErf(tf.tensor1d(xs)).data();
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
  });
});
