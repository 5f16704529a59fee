import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend, tf } from '@atelier/tensor';
import { describe, expect, it } from 'vitest';
import { SentenceEmbedder } from './embedder.js';

// The same PyTorch reference as bert.test.ts, on the WASM backend explicitly (bert.test.ts runs on
// initBackend('cpu'), which is the native backend when its addon is built).
const FIXTURE = new URL('../../../tools/reference/fixtures/bert-tiny/', import.meta.url).pathname;

describe('BERT sentence embeddings on the wasm backend', () => {
  it('match the PyTorch reference to float32 tolerance', async () => {
    await initBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const expected = JSON.parse(await readFile(join(FIXTURE, 'expected.json'), 'utf8'));
    const embedder = await SentenceEmbedder.load(FIXTURE);
    const m = await embedder.embed(expected.texts, { batchSize: 4 });
    embedder.dispose();
    const want = expected.embeddings.flat() as number[];
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(m.data[i] - want[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });
});
