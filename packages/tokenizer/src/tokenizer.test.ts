import { getEncoding } from 'js-tiktoken';
import { describe, expect, it } from 'vitest';
import { loadSharedCorpus, sharedDataDir } from './corpus.js';
import { gpt2Regex, pretokenize } from './pretokenize.js';
import { Tokenizer } from './tokenizer.js';

const tik = getEncoding('gpt2');
const tok = Tokenizer.gpt2();

/** Strings chosen to break tokenizers: each is compared with js-tiktoken token for token. */
const ADVERSARIAL: string[] = [
  '',
  ' ',
  'Hello world',
  "I'm sure you'll've they'd I'M SHE'S It'S can't won'T",
  "'s's''s 's 'll'lll",
  '👩‍👩‍👧‍👦 family, 👍🏽 thumbs, 🇫🇷 flag, 🏳️‍🌈',
  'e\u0301 n\u0303 a\u0308\u0304 Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗̻͊̔',
  '東京は日本の首都です。漢字かなカナ 한국어 텍스트',
  'عربي שלום Ελληνικά русский हिन्दी ไทย',
  '\u0000\u0001\u0007\b\t\u000b\f\u001b\u007f\u0085\u00a0\u2028\u2029\ufeff\u200b\u3000',
  '          many spaces    then\t\t\ttabs\n\n\n\nand newlines   ',
  `${' '.repeat(500)}x${'\n'.repeat(300)}`,
  'line one\r\nline two\r\n\r\n  indented\r\n',
  '3.14159 1,000,000 -42 0x1F 1e-9 ²³ ½ ⅔ ١٢٣ 𝟘𝟙𝟚',
  '<|endoftext|>',
  'before<|endoftext|>after <|endoftext|> <|endoftext|><|endoftext|>',
  '<|endoftext|',
  '<|endoftext|>>',
  'lone high \ud800 and low \udc00 and reversed \udc00\ud800 end\ud83d',
  '𝐀𝐁𝐂 mathematical 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 letters',
  'a'.repeat(1000),
  // Long pre-tokens take the heap-based merge path (> 128 bytes): letters, digits, punctuation, emoji, mixed.
  Array.from({ length: 3000 }, (_, i) => 'abcdefghijklmnopqrstuvwxyzéàü'[(i * i + 7 * i) % 29]).join(''),
  '1234567890'.repeat(40),
  '=-'.repeat(300),
  '🙂🎨👍🏽'.repeat(60),
  ` ${'the'.repeat(200)}`,
  '!!!???...---***',
  'https://example.com/path?q=1&r=2#frag user@mail.org',
  'function f(x) { return x * 2; } // code\n\tif (a != b) {}',
  '  leading and trailing  ',
  ' \n \n',
  'ǅungla ǈ Titlecase ᾈ',
];

describe('pre-tokenizer', () => {
  it('matches the GPT-2 regex on adversarial strings and the corpus', () => {
    const texts = [...ADVERSARIAL, ...loadSharedCorpus(200_000).map((c) => c.text)];
    for (const text of texts) {
      const expected = [...text.matchAll(gpt2Regex())].map((m) => m[0]);
      expect(pretokenize(text)).toEqual(expected);
    }
  });
});

describe('GPT-2 exactness against js-tiktoken', () => {
  it('has the GPT-2 vocabulary', () => {
    expect(tok.vocabSize).toBe(50257);
    expect(tok.eosTokenId).toBe(50256);
    expect(tok.idToToken(50256)).toBe('<|endoftext|>');
    expect(tok.tokenToId('Ġthe')).toBe(262);
    expect(tok.idToToken(15496)).toBe('Hello');
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
  });

  it('encodes adversarial strings token for token, in plain and special mode', () => {
    for (const s of ADVERSARIAL) {
      expect(tok.encode(s), JSON.stringify(s)).toEqual(tik.encode(s, [], []));
      expect(tok.encode(s, { allowedSpecial: 'all' }), JSON.stringify(s)).toEqual(tik.encode(s, 'all'));
    }
  });

  it('treats <|endoftext|> in text as plain text by default and as the special token when allowed', () => {
    const s = 'a<|endoftext|>b';
    expect(tok.encode(s)).toEqual([64, 27, 91, 437, 1659, 5239, 91, 29, 65]);
    expect(tok.encode(s, { allowedSpecial: ['<|endoftext|>'] })).toEqual([64, 50256, 65]);
    expect(tok.encode(s, { allowedSpecial: 'none' })).toEqual(tok.encode(s));
    expect(() => tok.encode(s, { allowedSpecial: ['<|nope|>'] })).toThrow(/not a special token/);
  });

  it('encodes lone surrogates as U+FFFD bytes, like TextEncoder and js-tiktoken', () => {
    expect(tok.encode('\ud800')).toEqual(tik.encode('\ufffd', [], []));
    expect(tok.decode(tok.encode('a\udc00b'))).toBe('a\ufffdb');
  });

  const corpus = loadSharedCorpus();
  it.skipIf(sharedDataDir() === undefined)(
    'encodes the shared corpus exactly (skips without ../shared/data)',
    () => {
      expect(corpus.length).toBeGreaterThan(5);
      let tokens = 0;
      for (const { name, text } of corpus) {
        const ours = tok.encode(text);
        const theirs = tik.encode(text, [], []);
        expect(ours.length, name).toBe(theirs.length);
        // Compare in one go but report the first differing position if any.
        const diff = ours.findIndex((id, i) => id !== theirs[i]);
        expect(diff, `${name}: first mismatch`).toBe(-1);
        expect(tok.decode(ours), name).toBe(text);
        tokens += ours.length;
      }
      expect(tokens).toBeGreaterThan(100_000);
    },
  );

  it('stays exact when the word cache fills up and is cleared (70,000 distinct words)', () => {
    const t = new Tokenizer({
      vocab: tok.model.encoder,
      merges: tok.model.merges,
      specialTokens: tok.specialTokens,
    });
    const text = Array.from({ length: 70_000 }, (_, i) => `w${i.toString(36)}`).join(' ');
    const expected = tik.encode(text, [], []);
    expect(t.encode(text)).toEqual(expected);
    expect(t.encode(text)).toEqual(expected);
  });

  it('round-trips well-formed text through decode', () => {
    for (const s of ADVERSARIAL) {
      if (/\p{Cs}/u.test(s)) continue; // lone surrogates are not well-formed
      expect(tok.decode(tok.encode(s))).toBe(s);
      expect(tok.decode(tok.encode(s, { allowedSpecial: 'all' }))).toBe(s);
    }
  });
});

describe('Tokenizer API', () => {
  it('batch-encodes and counts', () => {
    const texts = ['one', 'two words', ''];
    expect(tok.encodeBatch(texts)).toEqual(texts.map((t) => tik.encode(t, [], [])));
    expect(tok.tokenCount('Hello world, hello!')).toBe(tik.encode('Hello world, hello!').length);
  });

  it('decodes unknown ids with an error', () => {
    expect(() => tok.decode([50257])).toThrow(/50257/);
  });

  it('reports character offsets, whole characters for split multi-byte characters', () => {
    const text = 'Hi 👋🏽 café<|endoftext|>東京';
    const { ids, offsets } = tok.encodeWithOffsets(text, { allowedSpecial: 'all' });
    expect(ids).toEqual(tok.encode(text, { allowedSpecial: 'all' }));
    expect(offsets.length).toBe(ids.length);
    for (const [i, [s, e]] of offsets.entries()) {
      expect(e).toBeGreaterThan(s);
      // The token's bytes are a sub-sequence of the span's bytes.
      const spanBytes = Buffer.from(text.slice(s, e));
      expect(spanBytes.includes(Buffer.from(tok.tokenBytes(ids[i])))).toBe(true);
    }
    // Offsets start at 0, end at text.length, and never go backwards.
    expect(offsets[0][0]).toBe(0);
    expect(offsets[offsets.length - 1][1]).toBe(text.length);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i][0]).toBeGreaterThanOrEqual(offsets[i - 1][0]);
    const eot = ids.indexOf(50256);
    expect(text.slice(...offsets[eot])).toBe('<|endoftext|>');
    // Known split (checked by hand): ' 👋' = 'Ġ' + 3 bytes, the 4th byte alone; 🏽 in three tokens.
    expect(offsets.slice(1, 6)).toEqual([
      [2, 5],
      [3, 5],
      [5, 7],
      [5, 7],
      [5, 7],
    ]);
    expect(offsets.slice(-4)).toEqual([
      [25, 26],
      [25, 26],
      [26, 27],
      [26, 27],
    ]);
  });

  it('stream-decodes without breaking characters across tokens', () => {
    const text = 'Grüße 👩‍👩‍👧 東京 done';
    const ids = tok.encode(text);
    const dec = tok.createStreamDecoder();
    const pieces = ids.map((id) => dec.write(id));
    pieces.push(dec.flush());
    expect(pieces.join('')).toBe(text);
    for (const p of pieces) expect(p).not.toMatch(/\ufffd/);
    // At least one token ended mid-character, so some write returned ''.
    expect(pieces.slice(0, -1).some((p) => p === '')).toBe(true);
  });

  it('decodeStream yields whole characters from an async source', async () => {
    const text = '😀😃 ok';
    async function* source() {
      for (const id of tok.encode(text)) yield id;
    }
    const chunks: string[] = [];
    for await (const c of tok.decodeStream(source())) chunks.push(c);
    expect(chunks.join('')).toBe(text);
    expect(chunks).toContain('😀');
  });

  it('adds user special tokens after the vocabulary', () => {
    const t = new Tokenizer({
      vocab: tok.model.encoder,
      merges: tok.model.merges,
      specialTokens: tok.specialTokens,
    });
    const [a, b] = t.addSpecialTokens(['<|user|>', '<|assistant|>']);
    expect([a, b]).toEqual([50257, 50258]);
    expect(t.vocabSize).toBe(50259);
    expect(t.encode('<|user|>hi<|assistant|>', { allowedSpecial: 'all' })).toEqual([a, 5303, b]);
    expect(t.encode('<|user|>hi', { allowedSpecial: ['<|assistant|>'] })).toEqual(tok.encode('<|user|>hi'));
    expect(t.decode([a, 5303, b])).toBe('<|user|>hi<|assistant|>');
    expect(t.addSpecialTokens(['<|user|>'])).toEqual([a]);
  });
});
