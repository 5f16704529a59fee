/**
 * What chunking and the prompt budget need from a tokenizer: the character span of each token.
 * Spans are [start, end) offsets into the text (UTF-16 code units), in order, non-overlapping.
 */
export interface SpanTokenizer {
  tokenSpans(text: string): Array<[number, number]>;
}

/** The shape of `@atelier/tokenizer`'s Tokenizer that we use (duck-typed to keep the dependency loose). */
export interface OffsetTokenizer {
  encodeWithOffsets(text: string): unknown;
}

/**
 * Adapts a tokenizer with `encodeWithOffsets(text)` (e.g. `Tokenizer.gpt2()` from @atelier/tokenizer) to a
 * SpanTokenizer. Accepted result shapes: `{ offsets: [start, end][] }`, `{ offsets: {start, end}[] }`,
 * `[start, end][]`, or `{ start, end }[]` (also `{ span: [start, end] }` per token).
 */
export function spanTokenizer(tok: OffsetTokenizer | SpanTokenizer): SpanTokenizer {
  if ('tokenSpans' in tok) return tok;
  return {
    tokenSpans(text: string) {
      const r = tok.encodeWithOffsets(text) as Record<string, unknown> | unknown[];
      const list = (Array.isArray(r) ? r : (r.offsets ?? r.spans ?? r.tokens)) as unknown[];
      if (!Array.isArray(list)) throw new Error('spanTokenizer: encodeWithOffsets returned no offsets array');
      return list.map((o, i) => toSpan(o, i));
    },
  };
}

function toSpan(o: unknown, i: number): [number, number] {
  if (Array.isArray(o) && o.length === 2) return [Number(o[0]), Number(o[1])];
  if (o && typeof o === 'object') {
    const r = o as Record<string, unknown>;
    if (Array.isArray(r.span)) return [Number(r.span[0]), Number(r.span[1])];
    if (Array.isArray(r.offset)) return [Number(r.offset[0]), Number(r.offset[1])];
    if (typeof r.start === 'number' && typeof r.end === 'number') return [r.start, r.end];
  }
  throw new Error(`spanTokenizer: cannot read the span of token ${i}: ${JSON.stringify(o)}`);
}

/**
 * A dependency-free SpanTokenizer: every word (letters/digits) and every other non-space character is a
 * token, and each token's span includes the whitespace before it (as GPT-2's BPE does), so spans cover the
 * text. Roughly 1.3 tokens per English word — a stand-in when no model tokenizer is at hand.
 */
export const wordSpanTokenizer: SpanTokenizer = {
  tokenSpans(text: string) {
    const spans: Array<[number, number]> = [];
    let prev = 0;
    for (const m of text.matchAll(/[\p{L}\p{N}\p{M}]+|[^\s\p{L}\p{N}\p{M}]/gu)) {
      const end = m.index + m[0].length;
      spans.push([prev, end]);
      prev = end;
    }
    if (prev < text.length && spans.length > 0) spans[spans.length - 1][1] = text.length;
    return spans;
  },
};
