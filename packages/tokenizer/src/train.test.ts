import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSharedCorpus, sharedDataDir } from './corpus.js';
import { Tokenizer } from './tokenizer.js';
import { trainBpe } from './train.js';

const root = mkdtempSync(join(tmpdir(), 'atelier-train-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('trainBpe', () => {
  it('learns the merges a hand count predicts', () => {
    // Words (GPT-2 pre-tokens): "low"×5? No: "low" once, " low"×4, " lower"×2, " newest"×6, " widest"×3.
    const text = `low${' low'.repeat(4)}${' lower'.repeat(2)}${' newest'.repeat(6)}${' widest'.repeat(3)}`;
    const tok = trainBpe([text], { vocabSize: 256 + 4 + 1 });
    // Pair counts by hand: "es" 6+3=9, "st" 9, "Ġn" 6, "ne" 6, "ew" 6, "we" 6+2... "we": newest 6 + lower 2 = 8;
    // "Ġl" 4+2=6, "lo" 1+4+2=7, "ow" 7, "Ġw" 3 ... Highest: "es" and "st" (9); tie → smaller ids: 'e'<'s' → "es".
    // Then "est" (9: "es"+"t"); then "Ġn"/"ne"/"ew"/"Ġnew.."… recount: "we"→ newest now n,e,w,est: "we" gone
    // from newest? No: newest = Ġ n e w est → pairs Ġn, ne, ew, west. "we" only in lower (2).
    // Remaining top: "lo" 7, "ow" 7 → tie → "lo" ('l' < 'o').
    expect(tok.model.merges.slice(0, 3)).toEqual([
      ['e', 's'],
      ['es', 't'],
      ['l', 'o'],
    ]);
    expect(tok.vocabSize).toBe(261);
    expect(tok.eosTokenId).toBe(260);
    expect(tok.idToToken(0)).toBe('!'); // same byte order as GPT-2's first 256 ids
    expect(tok.encode(' newest')).toEqual([
      tok.tokenToId('Ġ'),
      tok.tokenToId('n'),
      tok.tokenToId('e'),
      tok.tokenToId('w'),
      tok.tokenToId('est'),
    ]);
  });

  it('stops at minFrequency and rejects too-small vocabularies', () => {
    const tok = trainBpe(['ab ab cd'], { vocabSize: 1000, minFrequency: 2, specialTokens: [] });
    expect(tok.model.merges).toEqual([['a', 'b']]);
    expect(tok.vocabSize).toBe(257);
    expect(() => trainBpe(['x'], { vocabSize: 200 })).toThrow(/vocabSize must be an integer ≥ 256/);
  });

  const ref = JSON.parse(
    readFileSync(new URL('./fixtures/bpe-train-reference.json', import.meta.url), 'utf8'),
  ) as {
    source: string;
    chars: number;
    vocabSize: number;
    minFrequency: number;
    merges: [string, string][];
  };
  it.skipIf(sharedDataDir() === undefined)(
    'learns the same merges as the naive Python reference (tools/train_reference.py)',
    () => {
      const text = readFileSync(join(sharedDataDir() as string, ref.source), 'utf8').slice(0, ref.chars);
      expect(/[\ud800-\udfff]/.test(text)).toBe(false); // Python slices code points, JS code units
      const tok = trainBpe([text], {
        vocabSize: ref.vocabSize,
        minFrequency: ref.minFrequency,
        specialTokens: [],
      });
      expect(ref.merges.length).toBe(400);
      expect(tok.model.merges).toEqual(ref.merges);
    },
  );

  const texts = loadSharedCorpus(150_000).map((c) => c.text);
  it.skipIf(sharedDataDir() === undefined)(
    'trains on the shared corpus, saves in HF format and reads it back',
    () => {
      const progress: number[] = [];
      const tok = trainBpe(texts.slice(1), {
        vocabSize: 1024,
        specialTokens: ['<|endoftext|>', '<|pad|>'],
        onProgress: (done) => progress.push(done),
      });
      expect(tok.vocabSize).toBe(1024);
      expect(tok.specialTokens.get('<|pad|>')).toBe(1023);
      expect(progress[progress.length - 1]).toBe(1024 - 2 - 256);
      const heldOut = texts[0].slice(0, 50_000);
      const ids = tok.encode(heldOut);
      expect(tok.decode(ids)).toBe(heldOut);
      // A 1k vocabulary compresses English well below one token per byte but cannot beat GPT-2's 50k.
      const bytesPerToken = Buffer.byteLength(heldOut) / ids.length;
      expect(bytesPerToken).toBeGreaterThan(2);
      expect(bytesPerToken).toBeLessThan(
        Buffer.byteLength(heldOut) / Tokenizer.gpt2().encode(heldOut).length,
      );

      const dir = join(root, 'trained');
      tok.save(dir);
      const back = Tokenizer.fromDirectory(dir);
      expect(back.vocabSize).toBe(1024);
      expect(back.eosTokenId).toBe(tok.eosTokenId);
      expect(back.encode(heldOut)).toEqual(ids);
      expect(back.encode('a<|pad|>b<|endoftext|>', { allowedSpecial: 'all' })).toEqual(
        tok.encode('a<|pad|>b<|endoftext|>', { allowedSpecial: 'all' }),
      );
      const merges = readFileSync(join(dir, 'merges.txt'), 'utf8').trimEnd().split('\n');
      expect(merges.length).toBe(1 + 1024 - 2 - 256);
      // Training is deterministic.
      expect(
        trainBpe(texts.slice(1), { vocabSize: 1024, specialTokens: ['<|endoftext|>', '<|pad|>'] }).model
          .merges,
      ).toEqual(tok.model.merges);
    },
  );
});
