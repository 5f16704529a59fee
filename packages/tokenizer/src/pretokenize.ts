/**
 * GPT-2's pre-tokenizer: splits text into "words" before BPE.
 *
 * The reference is the regular expression below (openai/gpt-2 `encoder.py`; tiktoken `gpt2` `pat_str`).
 * {@link nextPieceEnd} is a hand-written scanner that returns exactly the same matches as that regex under
 * JavaScript's `u` flag (the tests check it against the regex on the whole corpus), but several times faster,
 * because it classifies each code point once through a lookup table instead of running a backtracking regex.
 */

/** GPT-2's pre-tokenization pattern, as a source string. */
export const GPT2_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** A fresh global, unicode RegExp for {@link GPT2_PATTERN}. */
export function gpt2Regex(): RegExp {
  return new RegExp(GPT2_PATTERN, 'gu');
}

// Character classes, as the regex sees them.
const UNKNOWN = 0;
const LETTER = 1; // \p{L}
const NUMBER = 2; // \p{N}
const SPACE = 3; // \s (JavaScript's definition; every member is in the BMP)
const OTHER = 4; // [^\s\p{L}\p{N}], including lone surrogates

const RE_LETTER = /^\p{L}$/u;
const RE_NUMBER = /^\p{N}$/u;
const RE_SPACE = /^\s$/u;

/** Class of each BMP code unit, filled lazily (0 = not yet classified). */
const bmpClass = new Uint8Array(0x10000);
/** Class of each astral code point, allocated on first use. */
let astralClass: Uint8Array | null = null;

function classify(cp: number): number {
  const s = String.fromCodePoint(cp);
  if (RE_LETTER.test(s)) return LETTER;
  if (RE_NUMBER.test(s)) return NUMBER;
  if (RE_SPACE.test(s)) return SPACE;
  return OTHER;
}

// Surrogates are OTHER when they stand alone; pairs are handled by the scanner.
for (let c = 0xd800; c <= 0xdfff; c++) bmpClass[c] = OTHER;

function bmp(c: number): number {
  let k = bmpClass[c];
  if (k === UNKNOWN) {
    k = classify(c);
    bmpClass[c] = k;
  }
  return k;
}

function astral(cp: number): number {
  if (astralClass === null) astralClass = new Uint8Array(0x110000 - 0x10000);
  let k = astralClass[cp - 0x10000];
  if (k === UNKNOWN) {
    k = classify(cp);
    astralClass[cp - 0x10000] = k;
  }
  return k;
}

/** Class of the code point starting at `i`; its width in code units goes to `width[0]`. */
function classAt(text: string, i: number, end: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) {
      lastWidth = 2;
      return astral(0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00));
    }
  }
  lastWidth = 1;
  return c < 0x80 ? ASCII[c] : bmp(c);
}
let lastWidth = 1;

const ASCII = new Uint8Array(0x80);
for (let c = 0; c < 0x80; c++) ASCII[c] = classify(c);

/**
 * End (exclusive) of the GPT-2 pre-token that starts at `i` in `text[.., end)`.
 * Equivalent to running the global regex from `i` with `end` as the end of input.
 */
export function nextPieceEnd(text: string, i: number, end: number): number {
  const c = text.charCodeAt(i);
  // 's|'t|'re|'ve|'m|'ll|'d  (case-sensitive, like the original)
  if (c === 39 && i + 1 < end) {
    const d = text.charCodeAt(i + 1);
    if (d === 115 || d === 116 || d === 109 || d === 100) return i + 2;
    if (i + 2 < end) {
      const e = text.charCodeAt(i + 2);
      if ((d === 114 && e === 101) || (d === 118 && e === 101) || (d === 108 && e === 108)) return i + 3;
    }
  }
  let j = i;
  let k = classAt(text, i, end);
  let w = lastWidth;
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a single U+0020 may lead a run of one class.
  if (c === 32 && i + 1 < end) {
    const k2 = classAt(text, i + 1, end);
    if (k2 !== SPACE) {
      j = i + 1;
      k = k2;
      w = lastWidth;
    }
  }
  if (k !== SPACE) {
    j += w;
    while (j < end) {
      const kj = classAt(text, j, end);
      if (kj !== k) break;
      j += lastWidth;
    }
    return j;
  }
  // `\s+(?!\S)|\s+`: a whitespace run; if something follows it, leave its last character for the next piece.
  j = i + 1;
  while (j < end) {
    const cj = text.charCodeAt(j);
    if ((cj < 0x80 ? ASCII[cj] : bmp(cj)) !== SPACE) break;
    j++;
  }
  if (j === end || j - i === 1) return j;
  return j - 1;
}

/** All GPT-2 pre-tokens of `text` (a convenience for tests and tools; the encoder scans in place). */
export function pretokenize(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const e = nextPieceEnd(text, i, text.length);
    out.push(text.slice(i, e));
    i = e;
  }
  return out;
}
