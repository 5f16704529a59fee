#!/usr/bin/env python3
"""Independent reference for trainBpe: a deliberately naive byte-level BPE trainer in Python.

It recounts every pair from scratch before each merge (no incremental bookkeeping, no heap), using the
`regex` module for GPT-2's pre-tokenizer and GPT-2's bytes_to_unicode table written out from the paper's
definition. Same rule as trainBpe: most frequent pair, ties to the smaller (left id, right id); stop at
vocab_size or when the best count < min_frequency. Writes src/fixtures/bpe-train-reference.json, which
src/train.test.ts compares against. Run: python3 tools/train_reference.py (needs ../shared/data).
"""
import json
import os
from collections import Counter

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', '..', '..', '..', 'shared', 'data')
SOURCE = 'girls_own_paper_1886_no353_pg18195.txt'
CHARS = 60000
VOCAB_SIZE = 256 + 400
MIN_FREQUENCY = 2
PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    with open(os.path.join(DATA, SOURCE), encoding='utf-8', newline='') as f:
        text = f.read()[:CHARS]
    b2u = bytes_to_unicode()
    tokens = sorted(b2u.values(), key=ord)  # id = position
    ids = {t: i for i, t in enumerate(tokens)}
    words = Counter(PAT.findall(text))
    seqs = [([ids[b2u[b]] for b in w.encode('utf-8')], n) for w, n in words.items()]
    merges = []
    while len(tokens) < VOCAB_SIZE:
        pairs = Counter()
        for seq, n in seqs:
            for a, b in zip(seq, seq[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < MIN_FREQUENCY:
            break
        a, b = best
        new = len(tokens)
        tokens.append(tokens[a] + tokens[b])
        merges.append([tokens[a], tokens[b]])
        out = []
        for seq, n in seqs:
            merged, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(seq[i])
                    i += 1
            out.append((merged, n))
        seqs = out
    fixture = {
        'source': SOURCE,
        'chars': CHARS,
        'vocabSize': VOCAB_SIZE,
        'minFrequency': MIN_FREQUENCY,
        'merges': merges,
    }
    path = os.path.join(HERE, '..', 'src', 'fixtures', 'bpe-train-reference.json')
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump(fixture, f, ensure_ascii=False)
        f.write('\n')
    os.replace(path + '.tmp', path)
    print(f'{len(merges)} merges -> {path}')


if __name__ == '__main__':
    main()
