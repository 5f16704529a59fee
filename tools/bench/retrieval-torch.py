#!/usr/bin/env python3
"""PyTorch CPU peer for @atelier/retrieval's bench: MiniLM-sized BERT forward (random weights), tokens/s.

Same model shape as packages/retrieval/bench/retrieval-bench.ts (6 layers, hidden 384, 12 heads, FFN 1536,
vocab 30522) and the same fixed batch (B=32 sequences of T=64 tokens, no padding), float32, the plain-torch
BertModel of tools/reference/bert_reference.py plus mean pooling and L2 normalisation.
Run: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tools/bench/retrieval-torch.py
(torch intra-op threads 1 + OpenBLAS 2 threads was the fastest setting on 2 cores; see shared notes.)
"""
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'reference'))
from bert_reference import bert_forward, mean_pool_normalize  # noqa: E402

CFG = {
    'vocab_size': 30522, 'hidden_size': 384, 'num_hidden_layers': 6, 'num_attention_heads': 12,
    'intermediate_size': 1536, 'max_position_embeddings': 512, 'type_vocab_size': 2, 'layer_norm_eps': 1e-12,
}
B, T, REPS = 32, 64, int(os.environ.get('BENCH_REPS', '5'))


def weights():
    g = torch.Generator().manual_seed(0)
    H, I = CFG['hidden_size'], CFG['intermediate_size']
    r = lambda *s: torch.randn(*s, generator=g) * 0.02  # noqa: E731
    p = {
        'embeddings.word_embeddings.weight': r(CFG['vocab_size'], H),
        'embeddings.position_embeddings.weight': r(CFG['max_position_embeddings'], H),
        'embeddings.token_type_embeddings.weight': r(2, H),
        'embeddings.LayerNorm.weight': torch.ones(H), 'embeddings.LayerNorm.bias': torch.zeros(H),
    }
    for i in range(CFG['num_hidden_layers']):
        L = f'encoder.layer.{i}.'
        for name, (o, n) in {'attention.self.query': (H, H), 'attention.self.key': (H, H),
                             'attention.self.value': (H, H), 'attention.output.dense': (H, H),
                             'intermediate.dense': (I, H), 'output.dense': (H, I)}.items():
            p[L + name + '.weight'] = r(o, n)
            p[L + name + '.bias'] = r(o)
        for name in ('attention.output.LayerNorm', 'output.LayerNorm'):
            p[L + name + '.weight'] = torch.ones(H)
            p[L + name + '.bias'] = torch.zeros(H)
    return p


def main():
    torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '1')))
    p = weights()
    ids = torch.randint(0, CFG['vocab_size'], (B, T), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(B, T, dtype=torch.long)
    with torch.no_grad():
        mean_pool_normalize(bert_forward(p, CFG, ids, mask), mask)  # warm-up
        times = []
        for _ in range(REPS):
            t0 = time.perf_counter()
            mean_pool_normalize(bert_forward(p, CFG, ids, mask), mask)
            times.append(time.perf_counter() - t0)
    best = min(times)
    med = sorted(times)[len(times) // 2]
    print(f'torch {torch.__version__} CPU, threads {torch.get_num_threads()}, OPENBLAS_NUM_THREADS='
          f'{os.environ.get("OPENBLAS_NUM_THREADS", "unset")}: B={B} T={T} forward median {med * 1000:.0f} ms '
          f'(best {best * 1000:.0f} ms) = {B * T / med:.0f} tokens/s, {B / med:.1f} sequences/s')


if __name__ == '__main__':
    main()
