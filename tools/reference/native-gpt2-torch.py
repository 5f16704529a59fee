#!/usr/bin/env python3
"""PyTorch CPU side of tools/bench/native-gpt2.ts: the same GPT-2 (HF GPT2LMHeadModel numerics, tied LM head,
tanh GELU, eval-mode dropout) from random weights and random tokens; forward tokens/s (no grad) and full
training-step tokens/s with torch.optim.AdamW, plus peak RSS.

  OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tools/reference/native-gpt2-torch.py '{"n_embd":768,"n_layer":12,
      "n_head":12,"vocab_size":50257,"n_positions":1024,"B":1,"T":128,"steps":5}'

Prints one JSON line. torch.set_num_threads(1) over a 2-thread OpenBLAS: the fastest setting on 2 cores.
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


class Block(nn.Module):
    def __init__(self, C, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.c_fc = nn.Linear(C, 4 * C)
        self.c_proj2 = nn.Linear(4 * C, C)

    def forward(self, x, causal):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        hs = C // self.n_head
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(~causal[:T, :T], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.c_proj2(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, c):
        super().__init__()
        C = c["n_embd"]
        self.wte = nn.Embedding(c["vocab_size"], C)
        self.wpe = nn.Embedding(c["n_positions"], C)
        self.h = nn.ModuleList(Block(C, c["n_head"]) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        n = c["n_positions"]
        self.register_buffer("causal", torch.tril(torch.ones(n, n, dtype=torch.bool)))
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids):
        B, T = ids.shape
        x = self.wte(ids) + self.wpe(torch.arange(T))
        for block in self.h:
            x = block(x, self.causal)
        return self.ln_f(x) @ self.wte.weight.t()  # tied LM head

    def loss(self, ids):
        logits = self(ids)[:, :-1]
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1))


def main():
    c = json.loads(sys.argv[1])
    B, T, steps = c["B"], c["T"], c["steps"]
    torch.manual_seed(1)
    model = GPT2(c)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4
    )
    ids = lambda: torch.randint(0, c["vocab_size"], (B, T))

    def forward():
        with torch.no_grad():
            model(ids())

    def train():
        opt.zero_grad(set_to_none=True)
        model.loss(ids()).backward()
        opt.step()

    def median_time(f):
        """Median wall seconds and median process CPU seconds (all threads) per call."""
        f()  # warm-up
        ts, cs = [], []
        for _ in range(steps):
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
            cs.append(time.process_time() - c0)
        return sorted(ts)[len(ts) // 2], sorted(cs)[len(cs) // 2]

    fwd, fwd_cpu = median_time(forward)
    tr, tr_cpu = median_time(train)
    params = sum(p.numel() for p in model.parameters())
    print(
        json.dumps(
            {
                "impl": f"torch {torch.__version__} (threads 1, OpenBLAS)",
                "params": params,
                "forwardTokPerS": B * T / fwd,
                "trainTokPerS": B * T / tr,
                "forwardCpuS": fwd_cpu,
                "trainCpuS": tr_cpu,
                "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
