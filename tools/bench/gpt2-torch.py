"""PyTorch CPU peer for tools/bench/gpt2-bench.mjs: the same GPT-2 (HF semantics, float32, random weights),
the same shapes and the same measurements, one mode per process so that peak RSS belongs to that mode.

Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tools/bench/gpt2-torch.py forward|grad|train|generate [--quick]
Prints one JSON line: {"mode", "tokens_per_s", "ms", "peak_rss_mb", "threads"}.
"""

import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # with OPENBLAS_NUM_THREADS=2: the fastest setting on 2 cores (shared/notes)

QUICK = '--quick' in sys.argv
CFG = (
    dict(V=1000, P=128, C=64, L=2, H=4, T=32, NEW=8, PROMPT=8)
    if QUICK
    else dict(V=50257, P=1024, C=768, L=12, H=12, T=128, NEW=64, PROMPT=16)
)


class Block(torch.nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1 = torch.nn.LayerNorm(C)
        self.c_attn_w = torch.nn.Parameter(torch.randn(C, 3 * C) * 0.02)
        self.c_attn_b = torch.nn.Parameter(torch.zeros(3 * C))
        self.c_proj_w = torch.nn.Parameter(torch.randn(C, C) * 0.02)
        self.c_proj_b = torch.nn.Parameter(torch.zeros(C))
        self.ln_2 = torch.nn.LayerNorm(C)
        self.fc_w = torch.nn.Parameter(torch.randn(C, 4 * C) * 0.02)
        self.fc_b = torch.nn.Parameter(torch.zeros(4 * C))
        self.proj_w = torch.nn.Parameter(torch.randn(4 * C, C) * 0.02)
        self.proj_b = torch.nn.Parameter(torch.zeros(C))

    def forward(self, x, past=None):
        B, T, C = x.shape
        H, D = self.H, C // self.H
        qkv = torch.addmm(self.c_attn_b, self.ln_1(x).view(-1, C), self.c_attn_w).view(B, T, 3 * C)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in qkv.split(C, dim=2))
        if past is not None:
            k = torch.cat([past[0], k], 2)
            v = torch.cat([past[1], v], 2)
        Tk = k.shape[2]
        w = q @ k.transpose(-1, -2) / math.sqrt(D)
        causal = torch.ones(T, Tk, dtype=torch.bool).tril(Tk - T)
        w = w.masked_fill(~causal, torch.finfo(w.dtype).min).softmax(-1)
        y = (w @ v).transpose(1, 2).reshape(B * T, C)
        x = x + torch.addmm(self.c_proj_b, y, self.c_proj_w).view(B, T, C)
        h = torch.addmm(self.fc_b, self.ln_2(x).view(-1, C), self.fc_w)
        h = F.gelu(h, approximate='tanh')
        x = x + torch.addmm(self.proj_b, h, self.proj_w).view(B, T, C)
        return x, (k, v)


class GPT2(torch.nn.Module):
    def __init__(self, V, P, C, L, H):
        super().__init__()
        self.wte = torch.nn.Parameter(torch.randn(V, C) * 0.02)
        self.wpe = torch.nn.Parameter(torch.randn(P, C) * 0.02)
        self.h = torch.nn.ModuleList([Block(C, H) for _ in range(L)])
        self.ln_f = torch.nn.LayerNorm(C)

    def forward(self, ids, past=None, start=0):
        T = ids.shape[1]
        x = self.wte[ids] + self.wpe[start : start + T]
        present = []
        for i, b in enumerate(self.h):
            x, kv = b(x, None if past is None else past[i])
            present.append(kv)
        return self.ln_f(x) @ self.wte.T, present


def median_ms(fn, reps=3, warmup=1):
    runs = []
    for i in range(warmup + reps):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            runs.append((time.perf_counter() - t0) * 1000)
    return sorted(runs)[len(runs) // 2]


def main():
    mode = sys.argv[1]
    c = CFG
    torch.manual_seed(0)
    model = GPT2(c['V'], c['P'], c['C'], c['L'], c['H'])
    ids = torch.randint(0, c['V'], (1, c['T']))
    if mode == 'forward':
        with torch.no_grad():
            ms = median_ms(lambda: model(ids))
        tokens = c['T']
    elif mode == 'grad':

        def grad():
            logits, _ = model(ids)
            loss = F.cross_entropy(logits[0, :-1], ids[0, 1:])
            model.zero_grad(set_to_none=True)
            loss.backward()

        ms = median_ms(grad)
        tokens = c['T']
    elif mode == 'train':
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

        def step():
            logits, _ = model(ids)
            loss = F.cross_entropy(logits[0, :-1], ids[0, 1:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        ms = median_ms(step)
        tokens = c['T']
    elif mode == 'generate':
        prompt = ids[:, : c['PROMPT']]

        def gen():
            with torch.no_grad():
                logits, past = model(prompt)
                tok = logits[:, -1].argmax(-1, keepdim=True)
                for i in range(c['NEW'] - 1):
                    logits, past = model(tok, past, start=c['PROMPT'] + i)
                    tok = logits[:, -1].argmax(-1, keepdim=True)

        ms = median_ms(gen, reps=2)
        tokens = c['NEW']
    else:
        raise SystemExit(f'unknown mode {mode}')
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                'mode': mode,
                'tokens_per_s': tokens / (ms / 1000),
                'ms': ms,
                'peak_rss_mb': rss,
                'threads': torch.get_num_threads(),
                'torch': torch.__version__,
            }
        )
    )


if __name__ == '__main__':
    main()
