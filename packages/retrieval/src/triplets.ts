import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Bm25Index, type Hit } from './bm25.js';
import { type Chunk, type ChunkOptions, chunkText } from './chunk.js';
import type { SentenceEmbedder } from './embedder.js';
import { normalizeAnswer } from './metrics.js';
import { stderrProgress } from './progress.js';
import { writeFileAtomic } from './safetensors.js';
import type { SpanTokenizer } from './spans.js';
import { VectorIndex } from './vectors.js';

/** One (question, context document, answer) record, e.g. a SQuAD row. */
export interface QaRecord {
  question: string;
  /** The context document the answer comes from (may be longer than the model's window). */
  context: string;
  answer: string;
  /** Optional document title, used in document ids. */
  title?: string;
}

/** One training example: the question, the retrieved chunk, the answer. */
export interface Triplet {
  question: string;
  context: string;
  answer: string;
  docId: string;
  chunkId: string;
  /** Whether the retrieved chunk contains the (SQuAD-normalised) answer. */
  answerInContext: boolean;
}

export interface TripletOptions {
  tokenizer: SpanTokenizer;
  chunk?: ChunkOptions;
  /** Where to look for the best chunk: the record's own document (default) or every chunk of every document. */
  scope?: 'document' | 'corpus';
  /** Retriever: BM25 (default) or a dense embedder. */
  embedder?: SentenceEmbedder;
  /** k of the reported answer recall@k (besides recall@1). Default 5. */
  k?: number;
  /** Fraction of documents (whole documents, so no context leaks between splits) for validation. Default 0.1. */
  validationFraction?: number;
  /** Salt for the deterministic split hash. Default 'atelier'. */
  seed?: string;
  /** Write training_data.jsonl and validation_data.jsonl here (atomically). */
  outDir?: string;
  onProgress?: (done: number, total: number) => void;
  /** Show progress (embedding and retrieval) on stderr. Default false. */
  progress?: boolean;
}

export interface TripletReport {
  train: Triplet[];
  validation: Triplet[];
  documents: number;
  chunks: number;
  /** Fraction of records whose top-1 retrieved chunk contains the answer. */
  answerRecallAt1: number;
  /** Fraction whose top-k chunks contain the answer in at least one chunk. */
  answerRecallAtK: number;
  k: number;
  /** Records whose answer does not occur in any chunk of their document (data problem, not retrieval). */
  answerNotInDocument: number;
}

/**
 * Builds (question, best chunk, answer) triplets: documents are the distinct contexts, each is chunked,
 * the best chunk for the question is retrieved, and records are split into training/validation by a hash of
 * their document (deterministic, independent of record order).
 */
export async function buildTriplets(
  records: readonly QaRecord[],
  options: TripletOptions,
): Promise<TripletReport> {
  const k = options.k ?? 5;
  const fraction = options.validationFraction ?? 0.1;
  const seed = options.seed ?? 'atelier';
  const scope = options.scope ?? 'document';

  // Distinct contexts become documents.
  const docIds = new Map<string, string>();
  const docs: Array<{ id: string; text: string }> = [];
  records.forEach((r, i) => {
    for (const key of ['question', 'context', 'answer'] as const) {
      if (typeof r[key] !== 'string')
        throw new Error(`buildTriplets: record ${i}: field "${key}" must be a string`);
    }
    if (!docIds.has(r.context)) {
      const id = `${r.title ?? 'doc'}/${docs.length}`;
      docIds.set(r.context, id);
      docs.push({ id, text: r.context });
    }
  });
  const chunks: Chunk[] = docs.flatMap((d) => chunkText(d, options.tokenizer, options.chunk));
  const byDoc = new Map<string, number[]>();
  chunks.forEach((c, i) => {
    const list = byDoc.get(c.docId) ?? [];
    list.push(i);
    byDoc.set(c.docId, list);
  });

  const retrieve = await makeRetriever(chunks, options.embedder, options.progress === true);
  const bar = options.progress ? stderrProgress('triplets', 'records') : undefined;
  const train: Triplet[] = [];
  const validation: Triplet[] = [];
  let hit1 = 0;
  let hitK = 0;
  let missing = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const docId = docIds.get(r.context)!;
    const pool = scope === 'document' ? byDoc.get(docId)! : undefined;
    const hits = await retrieve(r.question, k, pool);
    const gold = normalizeAnswer(r.answer);
    const contains = (c: Chunk) => gold.length > 0 && normalizeAnswer(c.text).includes(gold);
    const ranked = hits.map((h) => chunks[h.index]);
    const best = ranked[0] ?? chunks[pool?.[0] ?? 0];
    if (ranked.length > 0 && contains(ranked[0])) hit1++;
    if (ranked.some(contains)) hitK++;
    if (!(byDoc.get(docId) ?? []).some((j) => contains(chunks[j]))) missing++;
    const t: Triplet = {
      question: r.question,
      context: best.text,
      answer: r.answer,
      docId,
      chunkId: best.id,
      answerInContext: contains(best),
    };
    (splitBucket(`${seed}\u0000${r.context}`) < fraction ? validation : train).push(t);
    options.onProgress?.(i + 1, records.length);
    bar?.(i + 1, records.length);
  }
  if (options.outDir) {
    await mkdir(options.outDir, { recursive: true });
    const jsonl = (ts: Triplet[]) => ts.map((t) => JSON.stringify(t)).join('\n') + (ts.length ? '\n' : '');
    await writeFileAtomic(join(options.outDir, 'training_data.jsonl'), jsonl(train));
    await writeFileAtomic(join(options.outDir, 'validation_data.jsonl'), jsonl(validation));
  }
  const n = Math.max(records.length, 1);
  return {
    train,
    validation,
    documents: docs.length,
    chunks: chunks.length,
    answerRecallAt1: hit1 / n,
    answerRecallAtK: hitK / n,
    k,
    answerNotInDocument: missing,
  };
}

type Retriever = (query: string, k: number, pool?: number[]) => Promise<Hit[]>;

async function makeRetriever(
  chunks: Chunk[],
  embedder: SentenceEmbedder | undefined,
  progress: boolean,
): Promise<Retriever> {
  if (embedder) {
    const vectors = new VectorIndex(embedder.dim);
    vectors.add(
      await embedder.embed(
        chunks.map((c) => c.text),
        { progress },
      ),
    );
    const all = vectors.toMatrix();
    return async (query, k, pool) => {
      const q = await embedder.embed([query]);
      if (!pool) return (await vectors.search(q, k))[0];
      // Restricted to a document: score its few chunks on the host.
      const scores = pool.map((j) => {
        let s = 0;
        for (let c = 0; c < all.dim; c++) s += all.data[j * all.dim + c] * q.data[c];
        return { index: j, score: s };
      });
      return scores.sort((a, b) => b.score - a.score || a.index - b.index).slice(0, k);
    };
  }
  const bm25 = new Bm25Index();
  bm25.add(chunks.map((c) => c.text));
  return async (query, k, pool) => {
    const scores = bm25.scores(query);
    const candidates = pool ?? chunks.map((_, j) => j);
    return candidates
      .map((j) => ({ index: j, score: scores[j] }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .slice(0, k);
  };
}

/** Deterministic value in [0, 1) from a string (FNV-1a 32-bit). */
export function splitBucket(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 2 ** 32;
}
