import type { Chunk } from './chunk.js';

/** A retrieved chunk widened with its neighbours from the same document. */
export interface Window {
  /** The retrieved chunk. */
  hit: Chunk;
  /** The chunks merged into the window, in document order (includes `hit`). */
  chunks: Chunk[];
  /** Merged text (overlaps removed); equals the document slice [charStart, charEnd) when chunks touch or overlap. */
  text: string;
  charStart: number;
  charEnd: number;
}

/**
 * Sentence windowing: returns the chunk at `position` of `chunks` with up to `before`/`after` neighbouring
 * chunks of the same document (by chunk index), merged into one text. With one-sentence chunks this is the
 * "sentence window" retrieval of LlamaIndex: retrieve a precise sentence, hand the model its surroundings.
 */
export function chunkWindow(chunks: readonly Chunk[], position: number, before = 1, after = 1): Window {
  const hit = chunks[position];
  if (!hit) throw new Error(`chunkWindow: no chunk at position ${position} (have ${chunks.length})`);
  const siblings = new Map<number, Chunk>();
  for (const c of chunks) if (c.docId === hit.docId) siblings.set(c.index, c);
  const picked: Chunk[] = [];
  for (let i = hit.index - before; i <= hit.index + after; i++) {
    const c = siblings.get(i);
    if (c) picked.push(c);
  }
  let text = '';
  let end = -1;
  for (const c of picked) {
    if (end < 0) text = c.text;
    else if (c.charStart >= end) text += ` ${c.text}`;
    else if (c.charEnd > end) text += c.text.slice(end - c.charStart);
    end = Math.max(end, c.charEnd);
  }
  return { hit, chunks: picked, text, charStart: picked[0].charStart, charEnd: end };
}

/**
 * Splits text into sentences with their character spans (after . ! ? and closing quotes/brackets followed by
 * whitespace, and at blank lines). Common abbreviations (Mr., Dr., e.g., single initials) do not end a sentence.
 */
export function splitSentences(text: string): Array<{ text: string; charStart: number; charEnd: number }> {
  const out: Array<{ text: string; charStart: number; charEnd: number }> = [];
  const push = (s: number, e: number) => {
    while (s < e && /\s/.test(text[s])) s++;
    while (e > s && /\s/.test(text[e - 1])) e--;
    if (e > s) out.push({ text: text.slice(s, e), charStart: s, charEnd: e });
  };
  let start = 0;
  for (const m of text.matchAll(/[.!?…]+["'”’)\]]*\s+|[。！？]+[”’」』）]*\s*|\n[^\S\n]*\n\s*/gu)) {
    const before = text.slice(start, m.index);
    if (m[0].startsWith('.') && /(?:^|\s)(?:[A-Z]|Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|e\.g|i\.e)$/.test(before))
      continue;
    push(start, m.index + m[0].length);
    start = m.index + m[0].length;
  }
  push(start, text.length);
  return out;
}
