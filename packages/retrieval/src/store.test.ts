import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@atelier/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkDocuments } from './chunk.js';
import { SentenceEmbedder } from './embedder.js';
import { wordSpanTokenizer } from './spans.js';
import { buildIndex, RetrievalIndex } from './store.js';

const FIXTURE = new URL('../../../tools/reference/fixtures/bert-tiny/', import.meta.url).pathname;

const docs = [
  {
    id: 'spectre',
    text: 'Spectre is a 2015 James Bond film. It was directed by Sam Mendes. Daniel Craig stars as Bond.',
  },
  { id: 'jaws', text: 'Jaws is a 1975 film directed by Steven Spielberg. It was made by Universal Studios.' },
  { id: 'idol', text: 'American Idol is a television show. It started in 2002. Fans vote for the singers.' },
  {
    id: 'marvel',
    text: 'Marvel Comics is a publisher of comic books. It was founded in 1939 in New York City.',
  },
];
const chunks = chunkDocuments(docs, wordSpanTokenizer, { size: 12, overlap: 4 });

let embedder: SentenceEmbedder;
let tmp: string;

beforeAll(async () => {
  await initBackend('cpu');
  embedder = await SentenceEmbedder.load(FIXTURE);
  tmp = await mkdtemp(join(tmpdir(), 'atelier-index-'));
});
afterAll(async () => {
  embedder?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('RetrievalIndex', () => {
  it('searches by BM25, dense and hybrid, with windows', async () => {
    const index = new RetrievalIndex({ embedder });
    await index.add(chunks);
    const bm25 = await index.search('Who directed Jaws?', { mode: 'bm25', k: 2 });
    expect(bm25[0].chunk.docId).toBe('jaws');
    const dense = await index.search('Who directed Jaws?', { mode: 'dense', k: 3 });
    expect(dense).toHaveLength(3);
    // The dense hits are the exact cosine ranking of the stored embeddings.
    const q = (await embedder.embed(['Who directed Jaws?'])).data;
    const all = await embedder.embed(chunks.map((c) => c.text));
    const cos = chunks.map((_, i) =>
      all.data.slice(i * 32, i * 32 + 32).reduce((s, x, j) => s + x * q[j], 0),
    );
    const order = cos.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s);
    expect(dense.map((h) => h.index)).toEqual(order.slice(0, 3).map((o) => o.i));
    const hybrid = await index.search('Who directed Jaws?', { k: 2, window: 1 });
    expect(hybrid[0].window?.chunks.every((c) => c.docId === hybrid[0].chunk.docId)).toBe(true);
    await expect(index.add(chunks.slice(0, 1))).rejects.toThrow(/already indexed/);
  });

  it('saves and loads (atomically, no temp files left) and adds incrementally', async () => {
    const dir = join(tmp, 'idx');
    const first = new RetrievalIndex({ embedder, bm25: { k1: 1.5, b: 0.6 } });
    await first.add(chunks.slice(0, 5));
    await first.save(dir);
    const files = async () => (await readdir(dir)).sort();
    expect(await files()).toEqual([
      'bm25.1.json',
      'chunks.1.jsonl',
      'embeddings.1.safetensors',
      'index.json',
    ]);

    const loaded = await RetrievalIndex.load(dir, { embedder });
    expect(loaded.bm25.params).toEqual({ k1: 1.5, b: 0.6 });
    await loaded.add(chunks.slice(5));
    await loaded.save(dir);
    // The previous generation is deleted only after the new manifest is in place.
    expect(await files()).toEqual([
      'bm25.2.json',
      'chunks.2.jsonl',
      'embeddings.2.safetensors',
      'index.json',
    ]);
    const reloaded = await RetrievalIndex.load(dir, { embedder });

    const whole = new RetrievalIndex({ embedder, bm25: { k1: 1.5, b: 0.6 } });
    await whole.add(chunks);
    for (const mode of ['bm25', 'dense', 'hybrid'] as const) {
      const a = await reloaded.search('When was Marvel founded?', { mode, k: 4 });
      const b = await whole.search('When was Marvel founded?', { mode, k: 4 });
      expect(a.map((h) => h.chunk.id)).toEqual(b.map((h) => h.chunk.id));
      for (const [i, h] of a.entries()) expect(h.score).toBeCloseTo(b[i].score, 6);
    }
    expect(reloaded.size).toBe(chunks.length);
  });

  it('without the embedder: BM25 works, stored embeddings are kept, adding is refused', async () => {
    const dir = join(tmp, 'idx2');
    const index = new RetrievalIndex({ embedder });
    await index.add(chunks);
    await index.save(dir);
    const before = await readFile(join(dir, 'embeddings.1.safetensors'));
    const bare = await RetrievalIndex.load(dir);
    expect((await bare.search('Spielberg', { k: 1 }))[0].chunk.docId).toBe('jaws');
    await expect(bare.search('Spielberg', { mode: 'dense' })).rejects.toThrow(/needs an embedder/);
    await expect(bare.add([{ ...chunks[0], id: 'new#0' }])).rejects.toThrow(/load it with that embedder/);
    await bare.save(dir);
    expect(Buffer.compare(await readFile(join(dir, 'embeddings.2.safetensors')), before)).toBe(0);
  });

  it('an interrupted save leaves the previous index loadable', async () => {
    const dir = join(tmp, 'idx4');
    const index = new RetrievalIndex();
    await index.add(chunks.slice(0, 3));
    await index.save(dir);
    // A save of generation 2 that died before its manifest: half-written data files, old index.json.
    await writeFile(join(dir, 'chunks.2.jsonl'), '{"id": "trunc');
    await writeFile(join(dir, 'bm25.2.json'), '');
    const loaded = await RetrievalIndex.load(dir);
    expect(loaded.chunks.map((c) => c.id)).toEqual(chunks.slice(0, 3).map((c) => c.id));
    await loaded.add(chunks.slice(3, 4));
    await loaded.save(dir); // overwrites the debris as generation 2
    expect((await RetrievalIndex.load(dir)).size).toBe(4);
  });

  it('buildIndex resumes an interrupted run and ends equal to a one-go build', async () => {
    const dir = join(tmp, 'resume');
    const realEmbed = embedder.embed.bind(embedder);
    let calls = 0;
    embedder.embed = async (...args: Parameters<SentenceEmbedder['embed']>) => {
      if (++calls === 3) throw new Error('killed');
      return realEmbed(...args);
    };
    try {
      await expect(buildIndex(dir, chunks, { embedder, saveEvery: 3 })).rejects.toThrow('killed');
    } finally {
      embedder.embed = realEmbed;
    }
    expect((await RetrievalIndex.load(dir, { embedder })).size).toBe(6); // two slices of 3 were saved
    const resumed = await buildIndex(dir, chunks, { embedder, saveEvery: 3 });
    expect(resumed.chunks.map((c) => c.id)).toEqual(chunks.map((c) => c.id));
    const whole = new RetrievalIndex({ embedder });
    await whole.add(chunks);
    for (const mode of ['bm25', 'dense'] as const) {
      const a = await (await RetrievalIndex.load(dir, { embedder })).search('Who founded Marvel?', {
        mode,
        k: 3,
      });
      const b = await whole.search('Who founded Marvel?', { mode, k: 3 });
      expect(a.map((h) => h.chunk.id)).toEqual(b.map((h) => h.chunk.id));
      for (const [i, h] of a.entries()) expect(h.score).toBeCloseTo(b[i].score, 6);
    }
  });

  it('names the file and line of a bad chunk', async () => {
    const dir = join(tmp, 'idx3');
    const index = new RetrievalIndex();
    await index.add(chunks.slice(0, 2));
    await index.save(dir);
    const lines = (await readFile(join(dir, 'chunks.1.jsonl'), 'utf8')).split('\n');
    await writeFile(join(dir, 'chunks.1.jsonl'), `${lines[0]}\n{"id": 3}\n`);
    await expect(RetrievalIndex.load(dir)).rejects.toThrow(/chunks\.1\.jsonl:2: field "id" must be a string/);
    await writeFile(join(dir, 'chunks.1.jsonl'), `${lines[0]}\n`);
    await expect(RetrievalIndex.load(dir)).rejects.toThrow(/has 1 chunks, index\.json says 2/);
    await expect(RetrievalIndex.load(join(tmp, 'missing'))).rejects.toThrow(/index\.json: not found/);
  });
});
