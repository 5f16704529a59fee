/**
 * Retrieval benchmark (run: `pnpm --filter @atelier/retrieval bench`): sentence-embedding throughput and query
 * latency at 10k chunks on the CPU path (`initBackend('cpu')`: the native backend, else WASM), beside BM25.
 *
 * Model: a random-weight BERT the size of all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, FFN 1536,
 * vocab 30522, max_seq_length 256), WordPiece vocabulary made from the corpus words (padded to 30522).
 * Corpus: SQuAD v1.1 film/TV + art paragraphs from ../shared/data, chunked to 64 GPT-2 tokens (16 overlap),
 * cycled to 10,000 chunks. Queries: the SQuAD questions.
 * Embeddings/s is measured on a sample of chunks (embedding all 10k would take minutes); the 10k × 384 dense
 * matrix for query latency holds random unit vectors (its contents do not change the matmul + top-k cost).
 * Env: BENCH_BACKEND (cpu | wasm | native, default cpu), BENCH_SAMPLE (chunks embedded, default 512), BENCH_BATCH (default 32), BENCH_QUERIES (default 200).
 */
import { readFileSync } from 'node:fs';
import {
  Bm25Index,
  bertForward,
  bertWeightsFromTensors,
  type Chunk,
  chunkText,
  type NamedArray,
  parseBertConfig,
  pool,
  reciprocalRankFusion,
  SentenceEmbedder,
  spanTokenizer,
  VectorIndex,
  WordPieceTokenizer,
} from '@atelier/retrieval';
import { initBackend, tf } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';

const N_CHUNKS = 10_000;
const SAMPLE = Number(process.env.BENCH_SAMPLE ?? 512);
const BATCH = Number(process.env.BENCH_BATCH ?? 32);
const N_QUERIES = Number(process.env.BENCH_QUERIES ?? 200);
const DATA = new URL('../../../../shared/data/', import.meta.url).pathname;

const MINILM = {
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: 384,
  num_hidden_layers: 6,
  num_attention_heads: 12,
  intermediate_size: 1536,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
};

function log(s: string) {
  process.stderr.write(`${s}\n`);
}

function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** Random tensors with BertModel's names and shapes (std 0.02 like HF's initializer; LayerNorm 1/0). */
function randomBert(cfg: typeof MINILM): Map<string, NamedArray> {
  const g = gaussian(42);
  const H = cfg.hidden_size;
  const I = cfg.intermediate_size;
  const m = new Map<string, NamedArray>();
  const rand = (name: string, shape: number[]) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = 0.02 * g();
    m.set(name, { shape, data });
  };
  const ln = (name: string) => {
    m.set(`${name}.weight`, { shape: [H], data: new Float32Array(H).fill(1) });
    m.set(`${name}.bias`, { shape: [H], data: new Float32Array(H) });
  };
  rand('embeddings.word_embeddings.weight', [cfg.vocab_size, H]);
  rand('embeddings.position_embeddings.weight', [cfg.max_position_embeddings, H]);
  rand('embeddings.token_type_embeddings.weight', [cfg.type_vocab_size, H]);
  ln('embeddings.LayerNorm');
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}.`;
    for (const [name, o, i] of [
      ['attention.self.query', H, H],
      ['attention.self.key', H, H],
      ['attention.self.value', H, H],
      ['attention.output.dense', H, H],
      ['intermediate.dense', I, H],
      ['output.dense', H, I],
    ] as const) {
      rand(`${p}${name}.weight`, [o, i]);
      rand(`${p}${name}.bias`, [o]);
    }
    ln(`${p}attention.output.LayerNorm`);
    ln(`${p}output.LayerNorm`);
  }
  return m;
}

/** A WordPiece vocabulary of the corpus' most frequent words + characters, padded to `size`. */
function corpusVocab(texts: string[], size: number): Map<string, number> {
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const basic = new WordPieceTokenizer(new Map(tokens.map((t, i) => [t, i])));
  const freq = new Map<string, number>();
  const chars = new Set<string>();
  for (const t of texts) {
    for (const w of basic.basicTokenize(t)) {
      freq.set(w, (freq.get(w) ?? 0) + 1);
      for (const c of w) chars.add(c);
    }
  }
  for (const c of chars) tokens.push(c, `##${c}`);
  for (const [w] of [...freq].sort((a, b) => b[1] - a[1]))
    if (tokens.length < size && !chars.has(w)) tokens.push(w);
  while (tokens.length < size) tokens.push(`[unused${tokens.length}]`);
  return new Map(tokens.slice(0, size).map((t, i) => [t, i]));
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function fmt(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}

async function main() {
  const backend = await initBackend((process.env.BENCH_BACKEND ?? 'cpu') as 'cpu' | 'wasm' | 'native');
  log(`backend: ${backend.name} (${backend.kind})`);
  const rows = ['squad11_film_tv_qa.jsonl', 'squad11_art_qa.jsonl'].flatMap((f) =>
    readFileSync(DATA + f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { title: string; context: string; question: string }),
  );
  const contexts = [...new Set(rows.map((r) => r.context))];
  const gpt2 = spanTokenizer(Tokenizer.gpt2());
  const base: Chunk[] = contexts.flatMap((text, i) =>
    chunkText({ id: `p${i}`, text }, gpt2, { size: 64, overlap: 16 }),
  );
  const chunks: Chunk[] = Array.from({ length: N_CHUNKS }, (_, i) => {
    const c = base[i % base.length];
    return { ...c, id: `${c.id}/${Math.floor(i / base.length)}` };
  });
  const queries = rows.map((r) => r.question).slice(0, N_QUERIES);
  log(
    `${contexts.length} paragraphs → ${base.length} chunks of ≤ 64 GPT-2 tokens, cycled to ${chunks.length}`,
  );

  // --- BM25 ---
  let t0 = performance.now();
  const bm25 = new Bm25Index();
  bm25.add(chunks.map((c) => c.text));
  const bm25Build = performance.now() - t0;
  const bm25Lat: number[] = [];
  for (const q of queries) {
    t0 = performance.now();
    bm25.search(q, 10);
    bm25Lat.push(performance.now() - t0);
  }

  // --- Dense: MiniLM-sized random BERT ---
  const config = parseBertConfig(MINILM);
  const vocab = corpusVocab(contexts, MINILM.vocab_size);
  const tokenizer = new WordPieceTokenizer(vocab);
  t0 = performance.now();
  const weights = bertWeightsFromTensors(randomBert(MINILM), config, '(random MiniLM-sized)');
  const embedder = new SentenceEmbedder({
    config,
    weights,
    tokenizer,
    maxSeqLength: 256,
    source: 'random-minilm-l6-sized',
  });
  log(`model built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const sample = chunks.slice(0, SAMPLE).map((c) => c.text);
  const wpTokens = sample.reduce((s, t) => s + Math.min(256, tokenizer.encode(t, 256).length), 0);
  await embedder.embed(sample.slice(0, BATCH), { batchSize: BATCH }); // warm-up
  t0 = performance.now();
  await embedder.embed(sample, { batchSize: BATCH, progress: true });
  const embedSec = (performance.now() - t0) / 1000;

  // Fixed shape, same as tools/bench/retrieval-torch.py: B=32 × T=64 random ids, no padding, forward + pooling.
  const ids = Array.from({ length: 32 }, (_, b) =>
    Array.from({ length: 64 }, (_, t) => (b * 7919 + t * 104729) % 30522),
  );
  const ones = ids.map((r) => r.map(() => 1));
  const fixedTimes: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    t0 = performance.now();
    const pooled = tf.tidy(() => pool(bertForward(weights, config, ids, ones), ones));
    await pooled.data();
    pooled.dispose();
    fixedTimes.push(performance.now() - t0);
  }
  const fixedMs = percentile(fixedTimes, 50);

  // Query side: embed one question, cosine top-10 over 10k × 384.
  const g = gaussian(7);
  const vectors = new VectorIndex(config.hiddenSize);
  vectors.add({
    data: Float32Array.from({ length: N_CHUNKS * config.hiddenSize }, g),
    rows: N_CHUNKS,
    dim: config.hiddenSize,
  });
  const qEmb = await embedder.embed([queries[0]]);
  await vectors.search(qEmb, 10); // warm-up (uploads the matrix)
  const embedLat: number[] = [];
  const searchLat: number[] = [];
  const hybridLat: number[] = [];
  for (const q of queries.slice(0, Math.min(50, queries.length))) {
    t0 = performance.now();
    const e = await embedder.embed([q]);
    const t1 = performance.now();
    const [dense] = await vectors.search(e, 50);
    const t2 = performance.now();
    reciprocalRankFusion([bm25.search(q, 50), dense], 60, 10);
    const t3 = performance.now();
    embedLat.push(t1 - t0);
    searchLat.push(t2 - t1);
    hybridLat.push(t3 - t0);
  }
  // Batched search: 64 queries at once.
  const many = { data: new Float32Array(64 * config.hiddenSize).map(g), rows: 64, dim: config.hiddenSize };
  t0 = performance.now();
  await vectors.search(many, 10);
  const batched = (performance.now() - t0) / 64;

  const out = [
    `backend ${backend.name}; ${N_CHUNKS} chunks (≤ 64 GPT-2 tokens; mean ${(wpTokens / SAMPLE).toFixed(1)} WordPiece tokens); ${queries.length} SQuAD questions`,
    '',
    '| what | result |',
    '|---|---|',
    `| BM25 index build, 10k chunks | ${(bm25Build / 1000).toFixed(2)} s |`,
    `| BM25 query, top-10 of 10k (p50 / p95) | ${fmt(percentile(bm25Lat, 50))} / ${fmt(percentile(bm25Lat, 95))} |`,
    `| MiniLM-sized BERT embeddings, batch ${BATCH} | ${(SAMPLE / embedSec).toFixed(1)} chunks/s (${(wpTokens / embedSec).toFixed(0)} tokens/s) |`,
    `| BERT forward + pooling, B=32 × T=64 fixed (median of 3) | ${fixedMs.toFixed(0)} ms = ${((32 * 64) / (fixedMs / 1000)).toFixed(0)} tokens/s |`,
    `| → projected time to embed 10k chunks | ${((N_CHUNKS / SAMPLE) * embedSec).toFixed(0)} s |`,
    `| query embedding, one question (p50) | ${fmt(percentile(embedLat, 50))} |`,
    `| cosine top-50 over 10k × 384, one query (p50 / p95) | ${fmt(percentile(searchLat, 50))} / ${fmt(percentile(searchLat, 95))} |`,
    `| cosine top-10 over 10k × 384, 64 queries batched, per query | ${fmt(batched)} |`,
    `| hybrid query: embed + dense + BM25 + RRF (p50) | ${fmt(percentile(hybridLat, 50))} |`,
  ];
  console.log(out.join('\n'));
  embedder.dispose();
  vectors.dispose();
  tf.disposeVariables();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
