"""PyTorch CPU peer for tools/bench/lora-bench.mjs: the GPT-2 of tools/bench/gpt2-torch.py (imported, float32,
random weights) trained either in full or through LoRA adapters with PEFT's forward
(y = x @ W + b + (x @ A.T @ B.T) * scaling, base weights frozen with requires_grad False), one mode per process
so that peak RSS belongs to that mode.

gpt2-torch.py computes every Conv1D as `torch.addmm(b, x, W)` through its module-level name `torch`; this script
gives that module a stand-in whose `addmm` adds the low-rank update when W is an adapted weight (looked up by
identity) and forwards everything else to torch.

Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tools/bench/lora-torch.py full|lora-c_attn|lora-all-linear [--quick]
Prints one JSON line: {"mode", "ms", "tokens_per_s", "peak_rss_mb", "trainable", "torch"}.
"""

import importlib.util
import json
import math
import os
import resource
import sys

import torch
import torch.nn.functional as F

spec = importlib.util.spec_from_file_location('gpt2_torch', os.path.join(os.path.dirname(__file__), 'gpt2-torch.py'))
gpt2_torch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpt2_torch)

TARGETS = {'lora-c_attn': ['c_attn_w'], 'lora-all-linear': ['c_attn_w', 'c_proj_w', 'fc_w', 'proj_w']}
R, ALPHA = 8, 16


class TorchWithLora:
    """Stands in for `torch` inside gpt2-torch.py: addmm(b, x, W) + LoRA when W is adapted."""

    def __init__(self, adapters):
        self.adapters = adapters  # id(W) -> (A [r, in], B [out, r], scaling)

    def __getattr__(self, name):
        return getattr(torch, name)

    def addmm(self, bias, x, w):
        y = torch.addmm(bias, x, w)
        ab = self.adapters.get(id(w))
        if ab is not None:
            A, B, s = ab
            y = y + (x @ A.t() @ B.t()) * s
        return y


def main():
    mode = sys.argv[1]
    c = gpt2_torch.CFG
    torch.manual_seed(0)
    model = gpt2_torch.GPT2(c['V'], c['P'], c['C'], c['L'], c['H'])
    ids = torch.randint(0, c['V'], (1, c['T']))
    if mode == 'full':
        params = list(model.parameters())
    elif mode in TARGETS:
        for p in model.parameters():
            p.requires_grad_(False)
        adapters, params = {}, []
        for block in model.h:
            for name in TARGETS[mode]:
                w = getattr(block, name)  # [in, out], as GPT-2's Conv1D
                nin, nout = w.shape
                A = torch.nn.Parameter(torch.empty(R, nin).uniform_(-1 / math.sqrt(nin), 1 / math.sqrt(nin)))
                B = torch.nn.Parameter(torch.zeros(nout, R))
                adapters[id(w)] = (A, B, ALPHA / R)
                params += [A, B]
        gpt2_torch.torch = TorchWithLora(adapters)
    else:
        raise SystemExit(f'unknown mode {mode}')
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)

    def step():
        logits, _ = model(ids)
        loss = F.cross_entropy(logits[0, :-1], ids[0, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ms = gpt2_torch.median_ms(step)
    if any(p.grad is None for p in params):
        raise SystemExit('some trainable parameters got no gradient: the LoRA path was not used')
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({'mode': mode, 'ms': ms, 'tokens_per_s': c['T'] / (ms / 1000), 'peak_rss_mb': rss,
                      'trainable': sum(p.numel() for p in params), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
