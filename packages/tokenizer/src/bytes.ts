/**
 * GPT-2's byte ↔ unicode table and UTF-8 helpers.
 *
 * GPT-2 (openai/gpt-2 `encoder.py`, `bytes_to_unicode`) stores every token as a string of printable
 * characters: the 188 printable Latin-1 bytes map to themselves and the other 68 bytes map to U+0100..U+0143,
 * in byte order. Hugging Face `vocab.json`/`merges.txt` use the same alphabet (`Ġ` = space, `Ċ` = newline).
 */

/** `BYTE_TO_UNICODE[b]` is the character GPT-2 uses for byte `b`. */
export const BYTE_TO_UNICODE: readonly string[] = buildByteToUnicode();

/** Inverse of {@link BYTE_TO_UNICODE}: character code → byte, or -1 for characters outside the alphabet. */
export const UNICODE_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_TO_UNICODE.forEach((ch, b) => {
    table[ch.charCodeAt(0)] = b;
  });
  return table;
})();

function buildByteToUnicode(): string[] {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    out[b] = String.fromCharCode(printable(b) ? b : 256 + extra++);
  }
  return out;
}

/** The byte-level string for a byte sequence (`[0x20, 0x74]` → `"Ġt"`). */
export function bytesToUnicode(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_UNICODE[bytes[i]];
  return s;
}

/** The bytes of a byte-level token string, or `null` if it contains a character outside the alphabet. */
export function unicodeToBytes(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const b = c < UNICODE_TO_BYTE.length ? UNICODE_TO_BYTE[c] : -1;
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

const textEncoder = new TextEncoder();

/**
 * UTF-8 of a JS string exactly as `TextEncoder` does it: a lone surrogate becomes U+FFFD (EF BF BD).
 * This is also what js-tiktoken and Python's `str.encode('utf-8', 'replace')`-free paths see.
 */
export function utf8(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/**
 * Write the UTF-8 bytes of `text[start, end)` into `out` (which must hold 3 × (end - start) bytes) and
 * return the number written. Lone surrogates become EF BF BD, like `TextEncoder`.
 */
export function writeUtf8(text: string, start: number, end: number, out: Uint8Array): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < end ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 0x3f);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
      } else {
        out[n++] = 0xef;
        out[n++] = 0xbf;
        out[n++] = 0xbd;
      }
    } else {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}
