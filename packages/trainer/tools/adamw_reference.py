"""Independent reference for @atelier/trainer's optimizer step: PyTorch's torch.optim.AdamW and
torch.nn.utils.clip_grad_norm_ in float64 over a few steps with changing learning rates, one parameter group
with weight decay and one without (bias / LayerNorm). Writes src/fixtures/adamw.json.
Run: /usr/bin/python3 tools/adamw_reference.py   (Debian python3-torch)"""
import json
import math
import os

import torch

torch.manual_seed(0)
dt = torch.float64
w = torch.randn(3, 4, dtype=dt)
b = torch.randn(4, dtype=dt)
params = {"h.0.mlp.c_fc.weight": w.clone().requires_grad_(), "h.0.mlp.c_fc.bias": b.clone().requires_grad_()}
opt = torch.optim.AdamW(
    [
        {"params": [params["h.0.mlp.c_fc.weight"]], "weight_decay": 0.1},
        {"params": [params["h.0.mlp.c_fc.bias"]], "weight_decay": 0.0},
    ],
    lr=1e-2, betas=(0.9, 0.95), eps=1e-8,
)
lrs = [1e-2, 5e-3, 2e-2, 1e-2, 3e-3]
clip = 1.5
steps = []
for lr in lrs:
    grads = {k: torch.randn_like(v) * 2 for k, v in params.items()}
    for k, v in params.items():
        v.grad = grads[k].clone()
    norm = torch.nn.utils.clip_grad_norm_(list(params.values()), clip)
    for g in opt.param_groups:
        g["lr"] = lr
    opt.step()
    steps.append({
        "lr": lr,
        "grads": {k: g.flatten().tolist() for k, g in grads.items()},
        "norm": float(norm),
        "params": {k: v.detach().flatten().tolist() for k, v in params.items()},
    })
out = {
    "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weightDecay": 0.1, "clip": clip,
    "init": {"h.0.mlp.c_fc.weight": w.flatten().tolist(), "h.0.mlp.c_fc.bias": b.flatten().tolist()},
    "shapes": {"h.0.mlp.c_fc.weight": [3, 4], "h.0.mlp.c_fc.bias": [4]},
    "steps": steps,
}
path = os.path.join(os.path.dirname(__file__), "..", "src", "fixtures", "adamw.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
