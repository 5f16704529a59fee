import { describe, expect, it } from 'vitest';
import { WordPieceTokenizer } from './wordpiece.js';

// Cases from Hugging Face transformers' tests/models/bert/test_tokenization_bert.py (expected outputs as
// published there), plus hand-checked ones marked (hand).
const VOCAB = [
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[PAD]',
  '[MASK]',
  'want',
  '##want',
  '##ed',
  'wa',
  'un',
  'runn',
  '##ing',
  ',',
  'low',
  'lowest',
];
const tok = () => new WordPieceTokenizer(new Map(VOCAB.map((t, i) => [t, i])));

describe('BasicTokenizer semantics', () => {
  it('lowercases, splits punctuation, collapses whitespace', () => {
    expect(tok().basicTokenize(' \tHeLLo!how  \n Are yoU?  ')).toEqual([
      'hello',
      '!',
      'how',
      'are',
      'you',
      '?',
    ]);
    expect(tok().basicTokenize('H\u00E9llo')).toEqual(['hello']);
  });

  it('keeps case and accents when lowercase is off', () => {
    const t = new WordPieceTokenizer(new Map(VOCAB.map((x, i) => [x, i])), { lowercase: false });
    expect(t.basicTokenize(' \tHeLLo!how  \n Are yoU?  ')).toEqual(['HeLLo', '!', 'how', 'Are', 'yoU', '?']);
  });

  it('lowercases without stripping accents when stripAccents is false', () => {
    const t = new WordPieceTokenizer(new Map(VOCAB.map((x, i) => [x, i])), { stripAccents: false });
    expect(t.basicTokenize(' \tHäLLo!how  \n Are yoU?  ')).toEqual(['hällo', '!', 'how', 'are', 'you', '?']);
  });

  it('puts CJK ideographs in words of their own', () => {
    expect(tok().basicTokenize('ah\u535A\u63A8zz')).toEqual(['ah', '\u535A', '\u63A8', 'zz']);
  });

  it('drops NUL, U+FFFD and control/format characters; keeps specials whole (hand)', () => {
    expect(tok().basicTokenize('a\u0000b\uFFFDc\u200Bd\u00ADe')).toEqual(['abcde']);
    expect(tok().basicTokenize('x [SEP] y[MASK]')).toEqual(['x', '[SEP]', 'y', '[MASK]']);
  });

  it('treats Unicode punctuation and ASCII symbols as punctuation (hand)', () => {
    expect(tok().basicTokenize('«hi»—$5^2')).toEqual(['«', 'hi', '»', '—', '$', '5', '^', '2']);
  });
});

describe('WordPiece', () => {
  it('greedy longest-match-first with ## continuations, [UNK] for unmatchable words', () => {
    expect(tok().tokenize('')).toEqual([]);
    expect(tok().tokenize('unwanted running')).toEqual(['un', '##want', '##ed', 'runn', '##ing']);
    expect(tok().tokenize('unwantedX running')).toEqual(['[UNK]', 'runn', '##ing']);
    expect(tok().tokenize('UNwant\u00E9d,running')).toEqual(['un', '##want', '##ed', ',', 'runn', '##ing']);
  });

  it('words longer than maxInputCharsPerWord become [UNK] (hand)', () => {
    const t = new WordPieceTokenizer(new Map(VOCAB.map((x, i) => [x, i])), { maxInputCharsPerWord: 5 });
    expect(t.tokenize('lowest low')).toEqual(['[UNK]', 'low']);
    expect(tok().tokenize('lowest low')).toEqual(['lowest', 'low']);
  });

  it('encode adds [CLS]/[SEP] and truncates keeping [SEP]; encodeBatch pads with [PAD] (hand)', () => {
    const t = tok();
    expect(t.encode('unwanted running')).toEqual([1, 9, 6, 7, 10, 11, 2]);
    expect(t.encode('unwanted running', 4)).toEqual([1, 9, 6, 2]);
    const b = t.encodeBatch(['low', 'unwanted running'], 5);
    expect(b.inputIds).toEqual([
      [1, 13, 2, 3, 3],
      [1, 9, 6, 7, 2],
    ]);
    expect(b.attentionMask).toEqual([
      [1, 1, 1, 0, 0],
      [1, 1, 1, 1, 1],
    ]);
  });

  it('reads vocab.txt and tokenizer.json, and says what is wrong with them', () => {
    const t = WordPieceTokenizer.fromVocabText(`${VOCAB.join('\n')}\n`);
    expect(t.encode('low')).toEqual([1, 13, 2]);
    const j = WordPieceTokenizer.fromTokenizerJson({
      normalizer: { type: 'BertNormalizer', lowercase: false },
      model: { type: 'WordPiece', vocab: Object.fromEntries(VOCAB.map((x, i) => [x, i])) },
    });
    expect(j.tokenize('LOW low')).toEqual(['[UNK]', 'low']);
    expect(() =>
      WordPieceTokenizer.fromTokenizerJson({ model: { type: 'BPE' } }, {}, 'x/tokenizer.json'),
    ).toThrow(/x\/tokenizer\.json: model\.type must be "WordPiece"/);
    expect(() => WordPieceTokenizer.fromVocabText('a\nb\n', {}, 'm/vocab.txt')).toThrow(
      /\[UNK\] is not in the vocabulary/,
    );
  });
});
