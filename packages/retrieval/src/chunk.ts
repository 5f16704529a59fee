import type { SpanTokenizer } from './spans.js';

/** A piece of a document. Offsets are into the original document text: `text === doc.slice(charStart, charEnd)`. */
export interface Chunk {
  /** `${docId}#${index}`. */
  id: string;
  docId: string;
  /** Position of the chunk within its document (0-based). */
  index: number;
  text: string;
  charStart: number;
  charEnd: number;
  /** Token range [tokenStart, tokenEnd) of the document's tokenization. */
  tokenStart: number;
  tokenEnd: number;
}

export interface ChunkOptions {
  /** Maximum tokens per chunk. Default 256. */
  size?: number;
  /** Tokens shared by consecutive chunks (before boundary snapping). Default 32; must be < size. */
  overlap?: number;
  /**
   * A chunk may end early at a paragraph or sentence boundary if that keeps at least this fraction of
   * `size` tokens. Default 0.5.
   */
  minFill?: number;
}

export interface ChunkDocument {
  id: string;
  text: string;
}

/** Boundary strength before a token: 0 none, 1 word (starts after whitespace), 2 sentence, 3 paragraph. */
export type BoundaryLevel = 0 | 1 | 2 | 3;

/**
 * Splits a document into chunks of at most `size` tokens that overlap by up to `overlap` tokens.
 * A chunk ends at the strongest boundary (paragraph > sentence > word) found in the last half (`minFill`)
 * of its window; the next chunk starts at the first sentence start inside the overlap, so overlaps are whole
 * sentences (none when the sentence before the cut is longer than `overlap`), falling back to a word start
 * when the cut is mid-sentence. Every token of the document is in at least one chunk.
 *
 * Token counts are those of the whole document's tokenization. Re-encoding a chunk's text on its own can
 * give a token more at its start (BPE: " Spectre" inside the document, "Spect"+"re" at the start of a text);
 * use fitPrompt for a hard limit on a rendered prompt.
 */
export function chunkText(doc: ChunkDocument, tokenizer: SpanTokenizer, options: ChunkOptions = {}): Chunk[] {
  const size = options.size ?? 256;
  const overlap = options.overlap ?? 32;
  const minFill = options.minFill ?? 0.5;
  if (!(Number.isInteger(size) && size > 0))
    throw new Error(`chunkText: size must be a positive integer, got ${size}`);
  if (!(Number.isInteger(overlap) && overlap >= 0 && overlap < size)) {
    throw new Error(`chunkText: overlap must be an integer in [0, size), got ${overlap} (size ${size})`);
  }
  const spans = tokenizer.tokenSpans(doc.text);
  const N = spans.length;
  if (N === 0) return [];
  const level = boundaryLevels(doc.text, spans);
  const chunks: Chunk[] = [];
  let start = 0;
  while (start < N) {
    let end = Math.min(start + size, N);
    if (end < N) end = bestCut(level, start + Math.max(1, Math.ceil(size * minFill)), end);
    chunks.push(makeChunk(doc, spans, chunks.length, start, end));
    if (end >= N) break;
    // Next window: back up by `overlap` and move forward to the first sentence start within the overlap, so
    // the overlap is whole sentences. If there is none and this chunk ended at a sentence end, the next chunk
    // starts right there (a sentence fragment is a useless overlap); otherwise at the first word start.
    const back = Math.max(end - overlap, start + 1);
    start =
      firstAtLeast(level, 2, back, end) ??
      (level[end] >= 2 ? end : (firstAtLeast(level, 1, back, end) ?? back));
  }
  return chunks;
}

/** Chunk many documents; ids must be unique. */
export function chunkDocuments(
  docs: Iterable<ChunkDocument>,
  tokenizer: SpanTokenizer,
  options: ChunkOptions = {},
): Chunk[] {
  const seen = new Set<string>();
  const out: Chunk[] = [];
  for (const doc of docs) {
    if (seen.has(doc.id)) throw new Error(`chunkDocuments: duplicate document id "${doc.id}"`);
    seen.add(doc.id);
    out.push(...chunkText(doc, tokenizer, options));
  }
  return out;
}

function firstAtLeast(level: Uint8Array, min: number, lo: number, hi: number): number | undefined {
  for (let t = lo; t < hi; t++) if (level[t] >= min) return t;
  return undefined;
}

/** Cut position in [lo, hi] with the strongest boundary, latest among equals; `hi` if no boundary. */
function bestCut(level: Uint8Array, lo: number, hi: number): number {
  let best = hi;
  let bestLevel = hi < level.length ? level[hi] : 3;
  for (let t = hi - 1; t >= lo; t--) {
    if (level[t] > bestLevel) {
      best = t;
      bestLevel = level[t];
    }
  }
  return best;
}

function makeChunk(
  doc: ChunkDocument,
  spans: Array<[number, number]>,
  index: number,
  start: number,
  end: number,
): Chunk {
  let charStart = spans[start][0];
  let charEnd = spans[end - 1][1];
  // Token spans carry their leading whitespace (GPT-2 style); chunk text starts and ends at a non-space.
  while (charStart < charEnd && /\s/.test(doc.text[charStart])) charStart++;
  while (charEnd > charStart && /\s/.test(doc.text[charEnd - 1])) charEnd--;
  return {
    id: `${doc.id}#${index}`,
    docId: doc.id,
    index,
    text: doc.text.slice(charStart, charEnd),
    charStart,
    charEnd,
    tokenStart: start,
    tokenEnd: end,
  };
}

/**
 * Boundary level before each token (see BoundaryLevel). A sentence starts after . ! ? (and closing quotes or
 * brackets) followed by whitespace, or after 。！？; a paragraph after a blank line. Token t is at a boundary when the text
 * between its span start and the boundary position is only whitespace.
 */
export function boundaryLevels(text: string, spans: Array<[number, number]>): Uint8Array {
  const N = spans.length;
  const level = new Uint8Array(N);
  for (let t = 1; t < N; t++) {
    // Word boundary: the token's first non-space char comes after whitespace.
    const s = spans[t][0];
    if (/\s/.test(text[s] ?? '') || /\s/.test(text[s - 1] ?? '')) level[t] = 1;
  }
  const mark = (pos: number, lv: 2 | 3) => {
    const t = tokenAt(spans, pos);
    if (t <= 0 || t >= N) return;
    if (text.slice(spans[t][0], pos).trim() !== '') return; // boundary falls inside a token
    if (level[t] < lv) level[t] = lv;
  };
  // Latin sentence ends need whitespace after them; CJK full stops (。！？) do not.
  for (const m of text.matchAll(/[.!?…]+["'”’)\]]*(\s+)|[。！？]+[”’」』）]*(\s*)/gu)) {
    const gap = m[1] ?? m[2] ?? '';
    mark(m.index + m[0].length, /\n[^\S\n]*\n/.test(gap) ? 3 : 2);
  }
  for (const m of text.matchAll(/\n[^\S\n]*\n\s*/g)) mark(m.index + m[0].length, 3);
  return level;
}

/** Index of the token whose span contains char `pos` (the next token if `pos` is in a gap), N if past the end. */
function tokenAt(spans: Array<[number, number]>, pos: number): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (spans[mid][1] <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
