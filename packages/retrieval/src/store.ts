import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Analyzer, analyzeEnglish } from './analyzer.js';
import { Bm25Index, type Bm25Params, type Bm25State, type Hit } from './bm25.js';
import type { Chunk } from './chunk.js';
import type { SentenceEmbedder } from './embedder.js';
import { stderrProgress } from './progress.js';
import { readSafetensors, writeFileAtomic, writeSafetensors } from './safetensors.js';
import { reciprocalRankFusion, VectorIndex } from './vectors.js';
import { chunkWindow, type Window } from './window.js';

export type SearchMode = 'bm25' | 'dense' | 'hybrid';

export interface SearchOptions {
  /** Number of results. Default 5. */
  k?: number;
  /** Default 'hybrid' when the index has an embedder, else 'bm25'. */
  mode?: SearchMode;
  /** Candidates taken from each list before fusion in hybrid mode. Default max(50, 4k). */
  candidates?: number;
  /** RRF constant. Default 60. */
  rrfK?: number;
  /** Neighbouring chunks to add on each side of every result (sentence windowing). Default 0. */
  window?: number;
}

export interface SearchResult extends Hit {
  chunk: Chunk;
  /** Present when SearchOptions.window > 0. */
  window?: Window;
}

/** On-disk manifest (index.json): the current generation's files. */
interface Manifest {
  format: 'atelier-retrieval-index';
  version: 1;
  /** Incremented by every save; data files carry it in their names. */
  generation: number;
  chunks: number;
  files: { chunks: string; bm25: string; embeddings?: string };
  embeddings?: { dim: number; model: string };
}

/**
 * Chunks + BM25 statistics + (optionally) dense embeddings, searchable by BM25, cosine or their
 * reciprocal-rank fusion, persisted to a directory:
 *   index.json (the manifest), chunks.G.jsonl, bm25.G.json, embeddings.G.safetensors ("embeddings" [N, dim]),
 * where G is the save's generation. A save writes the new generation's files, then atomically replaces
 * index.json (temp + rename), then deletes the previous generation: an interrupted save leaves the previous
 * index intact and loadable.
 */
export class RetrievalIndex {
  readonly chunks: Chunk[] = [];
  readonly bm25: Bm25Index;
  readonly embedder: SentenceEmbedder | undefined;
  private vectors: VectorIndex | undefined;
  /** Model the stored embeddings were made with (embedder.source). */
  private model: string | undefined;
  private readonly ids = new Set<string>();

  constructor(
    options: {
      bm25?: Partial<Bm25Params> | Bm25Index;
      analyzer?: Analyzer;
      embedder?: SentenceEmbedder;
    } = {},
  ) {
    this.bm25 =
      options.bm25 instanceof Bm25Index
        ? options.bm25
        : new Bm25Index(options.bm25, options.analyzer ?? analyzeEnglish);
    this.embedder = options.embedder;
    if (this.embedder) {
      this.vectors = new VectorIndex(this.embedder.dim);
      this.model = this.embedder.source;
    }
  }

  get size(): number {
    return this.chunks.length;
  }

  /**
   * Adds chunks (ids must be new): indexes them for BM25 and, with an embedder, embeds them
   * (`progress: true` shows rate and ETA on stderr).
   */
  async add(
    chunks: readonly Chunk[],
    options: { progress?: boolean; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<void> {
    for (const c of chunks) {
      if (this.ids.has(c.id)) throw new Error(`RetrievalIndex.add: chunk id "${c.id}" is already indexed`);
    }
    if (this.vectors && !this.embedder) {
      throw new Error(
        `RetrievalIndex.add: this index has embeddings from ${this.model}; load it with that embedder to add chunks`,
      );
    }
    if (this.embedder && this.vectors) {
      const m = await this.embedder.embed(
        chunks.map((c) => c.text),
        options,
      );
      this.vectors.add(m);
    }
    this.bm25.add(chunks.map((c) => c.text));
    for (const c of chunks) {
      this.chunks.push(c);
      this.ids.add(c.id);
    }
  }

  /** Searches one query. */
  async search(query: string, options: SearchOptions = {}): Promise<SearchResult[]> {
    const k = options.k ?? 5;
    const mode = options.mode ?? (this.embedder && this.vectors ? 'hybrid' : 'bm25');
    let hits: Hit[];
    if (mode === 'bm25') hits = this.bm25.search(query, k);
    else {
      if (!this.embedder || !this.vectors)
        throw new Error(`RetrievalIndex.search: mode "${mode}" needs an embedder`);
      const candidates = mode === 'dense' ? k : (options.candidates ?? Math.max(50, 4 * k));
      const [dense] = await this.vectors.search(await this.embedder.embed([query]), candidates);
      hits =
        mode === 'dense'
          ? dense
          : reciprocalRankFusion([this.bm25.search(query, candidates), dense], options.rrfK ?? 60, k);
    }
    const w = options.window ?? 0;
    return hits.map((h) => ({
      ...h,
      chunk: this.chunks[h.index],
      ...(w > 0 ? { window: chunkWindow(this.chunks, h.index, w, w) } : {}),
    }));
  }

  /** Saves to `dir` (created if needed); see the class comment for the files and why a crash is safe. */
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const previous = existsSync(join(dir, 'index.json')) ? await readManifest(dir) : undefined;
    const generation = (previous?.generation ?? 0) + 1;
    const files: Manifest['files'] = {
      chunks: `chunks.${generation}.jsonl`,
      bm25: `bm25.${generation}.json`,
    };
    await writeFileAtomic(
      join(dir, files.chunks),
      this.chunks.map((c) => JSON.stringify(c)).join('\n') + (this.chunks.length ? '\n' : ''),
    );
    await writeFileAtomic(join(dir, files.bm25), JSON.stringify(this.bm25.toJSON()));
    const manifest: Manifest = {
      format: 'atelier-retrieval-index',
      version: 1,
      generation,
      chunks: this.chunks.length,
      files,
    };
    if (this.vectors) {
      const m = this.vectors.toMatrix();
      const model = this.model ?? '(unknown)';
      files.embeddings = `embeddings.${generation}.safetensors`;
      const tensors = new Map([['embeddings', { shape: [m.rows, m.dim], data: m.data }]]);
      await writeSafetensors(join(dir, files.embeddings), tensors, { model });
      manifest.embeddings = { dim: m.dim, model };
    }
    await writeFileAtomic(join(dir, 'index.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    if (previous) {
      for (const f of Object.values(previous.files)) if (f) await rm(join(dir, f), { force: true });
    }
  }

  /**
   * Loads an index saved by `save`. Pass the embedder the embeddings were made with to search densely and to
   * add more chunks; without one, BM25 search works and stored embeddings are kept (saved again unchanged).
   */
  static async load(
    dir: string,
    options: { embedder?: SentenceEmbedder; analyzer?: Analyzer } = {},
  ): Promise<RetrievalIndex> {
    const path = (f: string) => join(dir, f);
    const manifest = await readManifest(dir);
    const { files } = manifest;
    const chunks = parseChunksJsonl(await readFile(path(files.chunks), 'utf8'), path(files.chunks));
    if (chunks.length !== manifest.chunks) {
      throw new Error(
        `${path(files.chunks)}: has ${chunks.length} chunks, index.json says ${manifest.chunks}`,
      );
    }
    const bm25State = JSON.parse(await readFile(path(files.bm25), 'utf8')) as Bm25State;
    if (bm25State.docLengths?.length !== chunks.length) {
      throw new Error(
        `${path(files.bm25)}: has ${bm25State.docLengths?.length} documents, expected ${chunks.length}`,
      );
    }
    const bm25 = Bm25Index.fromJSON(bm25State, options.analyzer ?? analyzeEnglish);
    const index = new RetrievalIndex({ bm25, embedder: options.embedder });
    if (options.embedder && !manifest.embeddings) {
      throw new Error(`${dir}: index has no embeddings; rebuild it with the embedder to search densely`);
    }
    if (manifest.embeddings) {
      if (options.embedder && manifest.embeddings.dim !== options.embedder.dim) {
        throw new Error(
          `${dir}: embeddings have dim ${manifest.embeddings.dim}, the embedder has ${options.embedder.dim}`,
        );
      }
      index.vectors ??= new VectorIndex(manifest.embeddings.dim);
      index.model = manifest.embeddings.model;
      const file = path(files.embeddings ?? '(missing)');
      if (!files.embeddings) throw new Error(`${path('index.json')}: has embeddings but no files.embeddings`);
      const { tensors } = await readSafetensors(file);
      const e = tensors.get('embeddings');
      if (!e || e.shape[0] !== chunks.length || e.shape[1] !== manifest.embeddings.dim) {
        throw new Error(`${file}: "embeddings" must be [${chunks.length}, ${manifest.embeddings.dim}]`);
      }
      index.vectors!.add({ data: e.data, rows: e.shape[0], dim: e.shape[1] }, true);
    }
    for (const c of chunks) {
      index.chunks.push(c);
      index.ids.add(c.id);
    }
    return index;
  }

  /** Frees backend memory held by the vector index. */
  dispose(): void {
    this.vectors?.dispose();
  }
}

export interface BuildIndexOptions {
  embedder?: SentenceEmbedder;
  bm25?: Partial<Bm25Params>;
  analyzer?: Analyzer;
  /** Save after every this many new chunks. Default 1024. */
  saveEvery?: number;
  /** Progress line (rate, ETA) on stderr. Default false. */
  progress?: boolean;
}

/**
 * Builds the index in `dir`, or extends it, with `chunks`, saving every `saveEvery` chunks: a run that is
 * interrupted (embedding 10k chunks takes half an hour on a CPU) resumes where it stopped when called again
 * with the same chunks, because chunks whose ids are already indexed are skipped.
 */
export async function buildIndex(
  dir: string,
  chunks: readonly Chunk[],
  options: BuildIndexOptions = {},
): Promise<RetrievalIndex> {
  const saveEvery = options.saveEvery ?? 1024;
  if (!(Number.isInteger(saveEvery) && saveEvery > 0))
    throw new Error(`buildIndex: saveEvery must be a positive integer, got ${saveEvery}`);
  const index = existsSync(join(dir, 'index.json'))
    ? await RetrievalIndex.load(dir, { embedder: options.embedder, analyzer: options.analyzer })
    : new RetrievalIndex({ embedder: options.embedder, bm25: options.bm25, analyzer: options.analyzer });
  const done = new Set(index.chunks.map((c) => c.id));
  const todo = chunks.filter((c) => !done.has(c.id));
  const bar = options.progress
    ? stderrProgress(`indexing (${done.size} already in ${dir})`, 'chunks')
    : undefined;
  for (let i = 0; i < todo.length; i += saveEvery) {
    await index.add(todo.slice(i, i + saveEvery));
    await index.save(dir);
    bar?.(Math.min(i + saveEvery, todo.length), todo.length);
  }
  if (todo.length === 0 && !existsSync(join(dir, 'index.json'))) await index.save(dir);
  return index;
}

async function readManifest(dir: string): Promise<Manifest> {
  const path = join(dir, 'index.json');
  if (!existsSync(path)) throw new Error(`${path}: not found (not a retrieval index directory?)`);
  let m: Manifest;
  try {
    m = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
  if (m?.format !== 'atelier-retrieval-index' || m.version !== 1) {
    throw new Error(`${path}: not an atelier-retrieval-index v1 manifest`);
  }
  if (typeof m.files?.chunks !== 'string' || typeof m.files?.bm25 !== 'string') {
    throw new Error(`${path}: field "files" must name the chunks and bm25 files`);
  }
  for (const f of Object.values(m.files)) {
    if (typeof f === 'string' && (f.includes('/') || f.includes('\\') || f.startsWith('.'))) {
      throw new Error(
        `${path}: file name ${JSON.stringify(f)} must be a plain name inside the index directory`,
      );
    }
  }
  return m;
}

/** Parses chunks.jsonl; errors name the file and line. */
export function parseChunksJsonl(text: string, source = 'chunks.jsonl'): Chunk[] {
  const out: Chunk[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let c: Chunk;
    try {
      c = JSON.parse(line);
    } catch (e) {
      throw new Error(`${source}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    for (const key of ['id', 'docId', 'text'] as const) {
      if (typeof c[key] !== 'string') throw new Error(`${source}:${i + 1}: field "${key}" must be a string`);
    }
    for (const key of ['index', 'charStart', 'charEnd', 'tokenStart', 'tokenEnd'] as const) {
      if (typeof c[key] !== 'number') throw new Error(`${source}:${i + 1}: field "${key}" must be a number`);
    }
    out.push(c);
  });
  return out;
}
