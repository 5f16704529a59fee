/**
 * BERT's tokenizer, mirroring Hugging Face's BertTokenizer (BasicTokenizer + WordpieceTokenizer in
 * transformers/models/bert/tokenization_bert.py) and the equivalent fast tokenizer (BertNormalizer,
 * BertPreTokenizer, WordPiece model, BertProcessing post-processor).
 */

export interface WordPieceOptions {
  /** Lowercase (and, unless stripAccents is false, strip accents). Default true (uncased models). */
  lowercase?: boolean;
  /** Strip accents (NFD, drop combining marks). Default: same as lowercase. */
  stripAccents?: boolean;
  /** Put spaces around CJK ideographs so each is its own word. Default true. */
  tokenizeChineseChars?: boolean;
  /** Words longer than this many characters become [UNK]. Default 100. */
  maxInputCharsPerWord?: number;
  /** Subword continuation prefix. Default '##'. */
  continuingSubwordPrefix?: string;
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
  maskToken?: string;
}

/** Encoded batch, padded to the longest sequence: ids and attentionMask are [B][T]. */
export interface BertBatch {
  inputIds: number[][];
  attentionMask: number[][];
}

export class WordPieceTokenizer {
  readonly vocab: ReadonlyMap<string, number>;
  readonly idToToken: readonly string[];
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  private readonly opts: Required<WordPieceOptions>;
  private readonly specials: string[];

  constructor(vocab: Map<string, number>, options: WordPieceOptions = {}) {
    const lowercase = options.lowercase ?? true;
    this.opts = {
      lowercase,
      stripAccents: options.stripAccents ?? lowercase,
      tokenizeChineseChars: options.tokenizeChineseChars ?? true,
      maxInputCharsPerWord: options.maxInputCharsPerWord ?? 100,
      continuingSubwordPrefix: options.continuingSubwordPrefix ?? '##',
      unkToken: options.unkToken ?? '[UNK]',
      clsToken: options.clsToken ?? '[CLS]',
      sepToken: options.sepToken ?? '[SEP]',
      padToken: options.padToken ?? '[PAD]',
      maskToken: options.maskToken ?? '[MASK]',
    };
    this.vocab = vocab;
    const inv: string[] = [];
    for (const [t, i] of vocab) inv[i] = t;
    this.idToToken = inv;
    const need = (t: string) => {
      const id = vocab.get(t);
      if (id === undefined)
        throw new Error(`WordPieceTokenizer: special token ${t} is not in the vocabulary`);
      return id;
    };
    this.unkId = need(this.opts.unkToken);
    this.clsId = need(this.opts.clsToken);
    this.sepId = need(this.opts.sepToken);
    this.padId = need(this.opts.padToken);
    const o = this.opts;
    this.specials = [o.unkToken, o.clsToken, o.sepToken, o.padToken, o.maskToken].filter((t) => vocab.has(t));
  }

  /** Reads a vocab.txt (one token per line, id = line number). `source` names the file in errors. */
  static fromVocabText(
    text: string,
    options: WordPieceOptions = {},
    source = 'vocab.txt',
  ): WordPieceTokenizer {
    const vocab = new Map<string, number>();
    const lines = text.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    lines.forEach((line, i) => {
      const tok = line.replace(/\r$/, '');
      // As HF's load_vocab (dict assignment): a repeated token keeps its last line's id.
      vocab.set(tok, i);
    });
    if (vocab.size === 0) throw new Error(`${source}: empty vocabulary`);
    return new WordPieceTokenizer(vocab, options);
  }

  /**
   * Reads a Hugging Face tokenizer.json whose model is WordPiece; normalizer options (lowercase,
   * strip_accents, handle_chinese_chars) come from its BertNormalizer unless overridden.
   */
  static fromTokenizerJson(
    json: unknown,
    options: WordPieceOptions = {},
    source = 'tokenizer.json',
  ): WordPieceTokenizer {
    const j = json as {
      model?: {
        type?: string;
        vocab?: Record<string, number>;
        unk_token?: string;
        max_input_chars_per_word?: number;
        continuing_subword_prefix?: string;
      };
      normalizer?: {
        type?: string;
        lowercase?: boolean;
        strip_accents?: boolean | null;
        handle_chinese_chars?: boolean;
      };
    };
    if (j?.model?.type !== 'WordPiece' || !j.model.vocab) {
      throw new Error(
        `${source}: model.type must be "WordPiece" with a vocab (got ${String(j?.model?.type)})`,
      );
    }
    const n = j.normalizer?.type === 'BertNormalizer' ? j.normalizer : undefined;
    const lowercase = options.lowercase ?? n?.lowercase ?? true;
    return new WordPieceTokenizer(new Map(Object.entries(j.model.vocab)), {
      lowercase,
      stripAccents: options.stripAccents ?? n?.strip_accents ?? lowercase,
      tokenizeChineseChars: options.tokenizeChineseChars ?? n?.handle_chinese_chars ?? true,
      maxInputCharsPerWord: options.maxInputCharsPerWord ?? j.model.max_input_chars_per_word ?? 100,
      continuingSubwordPrefix: options.continuingSubwordPrefix ?? j.model.continuing_subword_prefix ?? '##',
      unkToken: options.unkToken ?? j.model.unk_token ?? '[UNK]',
      clsToken: options.clsToken,
      sepToken: options.sepToken,
      padToken: options.padToken,
      maskToken: options.maskToken,
    });
  }

  /** BasicTokenizer: clean, split CJK, whitespace split, lowercase/strip accents, split punctuation. */
  basicTokenize(text: string): string[] {
    const out: string[] = [];
    // Special tokens written in the text stay whole (HF: never_split / added tokens).
    for (const piece of this.splitSpecials(text)) {
      if (this.specials.includes(piece)) {
        out.push(piece);
        continue;
      }
      let t = cleanText(piece);
      if (this.opts.tokenizeChineseChars) t = spaceChineseChars(t);
      t = t.normalize('NFC');
      for (let word of t.split(' ').filter(Boolean)) {
        if (this.opts.lowercase) word = word.toLowerCase();
        if (this.opts.stripAccents) word = stripAccents(word);
        out.push(...splitOnPunctuation(word));
      }
    }
    return out;
  }

  /** Greedy longest-match-first WordPiece of one basic token. */
  wordPiece(word: string): string[] {
    const chars = Array.from(word);
    if (chars.length > this.opts.maxInputCharsPerWord) return [this.opts.unkToken];
    const pieces: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: string | undefined;
      while (start < end) {
        let sub = chars.slice(start, end).join('');
        if (start > 0) sub = this.opts.continuingSubwordPrefix + sub;
        if (this.vocab.has(sub)) {
          found = sub;
          break;
        }
        end--;
      }
      if (found === undefined) return [this.opts.unkToken];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }

  /** Tokens (strings) of `text`, without [CLS]/[SEP]. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const w of this.basicTokenize(text)) {
      if (this.specials.includes(w)) out.push(w);
      else out.push(...this.wordPiece(w));
    }
    return out;
  }

  /** Ids of `[CLS] tokens [SEP]`, truncated so the total is at most `maxLength` (the [SEP] is kept). */
  encode(text: string, maxLength = 512): number[] {
    if (maxLength < 2) throw new Error(`WordPieceTokenizer.encode: maxLength must be >= 2, got ${maxLength}`);
    const ids = this.tokenize(text).map((t) => this.vocab.get(t) ?? this.unkId);
    return [this.clsId, ...ids.slice(0, maxLength - 2), this.sepId];
  }

  /** Encodes and right-pads a batch to its longest sequence. */
  encodeBatch(texts: readonly string[], maxLength = 512): BertBatch {
    const seqs = texts.map((t) => this.encode(t, maxLength));
    const T = Math.max(...seqs.map((s) => s.length));
    return {
      inputIds: seqs.map((s) => [...s, ...new Array(T - s.length).fill(this.padId)]),
      attentionMask: seqs.map((s) => [...new Array(s.length).fill(1), ...new Array(T - s.length).fill(0)]),
    };
  }

  private splitSpecials(text: string): string[] {
    if (this.specials.length === 0) return [text];
    const re = new RegExp(`(${this.specials.map(escapeRegExp).join('|')})`);
    return text.split(re).filter((s) => s.length > 0);
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const CONTROL = /\p{C}/u;
const SPACE_SEP = /\p{Zs}/u;
const PUNCT = /\p{P}/u;

/** HF _is_whitespace: space, \t, \n, \r or Unicode category Zs. */
function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || SPACE_SEP.test(ch);
}

/** HF _is_control: any category C* except \t \n \r. */
function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return CONTROL.test(ch);
}

/** HF _is_punctuation: ASCII non-alphanumeric printable (33–47, 58–64, 91–96, 123–126) or category P*. */
export function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if (
    (cp >= 33 && cp <= 47) ||
    (cp >= 58 && cp <= 64) ||
    (cp >= 91 && cp <= 96) ||
    (cp >= 123 && cp <= 126)
  ) {
    return true;
  }
  return PUNCT.test(ch);
}

/** HF _is_chinese_char: the CJK Unified Ideographs blocks (not Japanese kana or Korean hangul). */
export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** HF _clean_text: drop NUL, U+FFFD and control characters; map whitespace to ' '. */
function cleanText(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    out += isWhitespace(ch) ? ' ' : ch;
  }
  return out;
}

function spaceChineseChars(text: string): string {
  let out = '';
  for (const ch of text) out += isChineseChar(ch.codePointAt(0)!) ? ` ${ch} ` : ch;
  return out;
}

function stripAccents(word: string): string {
  return word.normalize('NFD').replace(/\p{Mn}/gu, '');
}

function splitOnPunctuation(word: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const ch of word) {
    if (isPunctuation(ch)) {
      if (cur) out.push(cur);
      out.push(ch);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}
