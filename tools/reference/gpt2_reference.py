"""Independent float64 reference for @atelier/gpt2, in plain PyTorch (no `transformers` needed).

It mirrors Hugging Face transformers' `modeling_gpt2.py` (GPT2LMHeadModel, eager attention):
  h = wte[ids] + wpe[pos]; per block: h += attn(ln_1(h)); h += mlp(ln_2(h)); logits = ln_f(h) @ wte^T
with Conv1D (y = x @ W + b, W stored [in, out]), a fused c_attn split q|k|v, scores / sqrt(head_dim),
a causal mask plus an additive padding mask (finfo.min), tanh GELU ("gelu_new"), and the shifted mean
cross-entropy with ignore_index -100. The weights are read from the same model.safetensors the TypeScript tests
load, then promoted to float64.

Usage:  /usr/bin/python3 tools/reference/gpt2_reference.py [--out tools/reference/fixtures]
Writes fixtures/gpt2-tiny/ (hub key layout with attn.bias / attn.masked_bias buffers, the real 50,257-token
vocabulary) and fixtures/gpt2-prefixed/ (`transformer.` keys plus lm_head.weight, small vocabulary).
`--check DIR` loads a saved model directory (config.json + model.safetensors, as `model.save(dir)` writes) the
way GPT2LMHeadModel.from_pretrained does and prints its logits for a few ids.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load_file, save_file  # noqa: E402

DT = torch.float64


# ----------------------------------------------------------------------------------------------------------
# Model (HF semantics)


def normalize_keys(sd):
    """Hub files use 'h.0.…' / 'wte.weight'; save_pretrained uses 'transformer.h.0.…' (+ 'lm_head.weight')."""
    out = {}
    for k, v in sd.items():
        if k.endswith('.attn.bias') or k.endswith('.attn.masked_bias'):
            continue  # causal-mask buffers, not parameters (transformers ignores them on load)
        if k == 'lm_head.weight':
            out[k] = v
            continue
        out[k if k.startswith('transformer.') else 'transformer.' + k] = v
    return out


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def conv1d(x, w, b):
    return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).reshape(*x.shape[:-1], w.shape[1])


def forward(p, cfg, ids, attention_mask=None, position_ids=None):
    """ids [B,T] long → logits [B,T,V] (float64). p: dict of float64 tensors with 'transformer.' keys."""
    B, T = ids.shape
    C, nh = cfg['n_embd'], cfg['n_head']
    hs = C // nh
    eps = cfg['layer_norm_epsilon']
    if position_ids is None:
        position_ids = torch.arange(T).unsqueeze(0).expand(B, T)
    h = p['transformer.wte.weight'][ids] + p['transformer.wpe.weight'][position_ids]
    fmin = torch.finfo(DT).min
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T)
    ext = None
    if attention_mask is not None:  # [B,T] 1 = keep → additive [B,1,1,T], as GPT2Model.forward builds it
        ext = (1.0 - attention_mask.to(DT)).view(B, 1, 1, T) * fmin
    for i in range(cfg['n_layer']):
        pre = f'transformer.h.{i}.'
        x = layer_norm(h, p[pre + 'ln_1.weight'], p[pre + 'ln_1.bias'], eps)
        qkv = conv1d(x, p[pre + 'attn.c_attn.weight'], p[pre + 'attn.c_attn.bias'])
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in (q, k, v))
        w = q @ k.transpose(-1, -2) / math.sqrt(hs)
        w = torch.where(causal, w, torch.tensor(fmin, dtype=DT))
        if ext is not None:
            w = w + ext
        w = torch.softmax(w, dim=-1)
        y = (w @ v).transpose(1, 2).reshape(B, T, C)
        h = h + conv1d(y, p[pre + 'attn.c_proj.weight'], p[pre + 'attn.c_proj.bias'])
        x = layer_norm(h, p[pre + 'ln_2.weight'], p[pre + 'ln_2.bias'], eps)
        m = gelu_new(conv1d(x, p[pre + 'mlp.c_fc.weight'], p[pre + 'mlp.c_fc.bias']))
        h = h + conv1d(m, p[pre + 'mlp.c_proj.weight'], p[pre + 'mlp.c_proj.bias'])
    h = layer_norm(h, p['transformer.ln_f.weight'], p['transformer.ln_f.bias'], eps)
    head = p.get('lm_head.weight', p['transformer.wte.weight'])
    return h @ head.T


def lm_loss(logits, labels):
    """GPT2LMHeadModel: shift so position t predicts labels[t+1]; mean over labels != -100."""
    V = logits.shape[-1]
    shift_logits = logits[:, :-1, :].reshape(-1, V)
    shift_labels = labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100)


def greedy(p, cfg, prompt, n_new):
    """Greedy continuation by full recomputation (no cache). Returns (new ids, smallest top-1/top-2 margin)."""
    ids = list(prompt)
    margin = float('inf')
    for _ in range(n_new):
        with torch.no_grad():
            last = forward(p, cfg, torch.tensor([ids]))[0, -1]
        top2 = torch.topk(last, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        ids.append(int(torch.argmax(last)))
    return ids[len(prompt) :], margin


# ----------------------------------------------------------------------------------------------------------
# Fixture construction


def make_config(vocab, n_pos, n_embd, n_layer, n_head):
    return {
        'model_type': 'gpt2',
        'architectures': ['GPT2LMHeadModel'],
        'vocab_size': vocab,
        'n_positions': n_pos,
        'n_ctx': n_pos,
        'n_embd': n_embd,
        'n_layer': n_layer,
        'n_head': n_head,
        'n_inner': None,
        'activation_function': 'gelu_new',
        'resid_pdrop': 0.1,
        'embd_pdrop': 0.1,
        'attn_pdrop': 0.1,
        'layer_norm_epsilon': 1e-5,
        'initializer_range': 0.02,
        'bos_token_id': 50256,
        'eos_token_id': 50256,
        'tie_word_embeddings': True,
    }


def random_weights(cfg, gen):
    """Random float32 weights, deliberately larger than GPT-2's N(0, 0.02) so that every parameter (LayerNorm
    gains, biases, position embeddings) visibly moves the logits and the fixtures can catch a misuse."""
    C, V, P = cfg['n_embd'], cfg['vocab_size'], cfg['n_positions']
    inner = cfg['n_inner'] or 4 * C

    def n(*shape, std=0.3, mean=0.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * std + mean).to(torch.float32)

    # Rows of equal norm: with random norms a handful of long rows win every argmax and greedy decoding only
    # ever repeats one token; with equal norms the winner depends on the context vector's direction.
    wte = torch.randn(V, C, generator=gen, dtype=torch.float64)
    wte = (wte / wte.norm(dim=1, keepdim=True) * 2.5).to(torch.float32)
    w = {'wte.weight': wte, 'wpe.weight': n(P, C, std=0.8)}
    for i in range(cfg['n_layer']):
        pre = f'h.{i}.'
        w[pre + 'ln_1.weight'] = n(C, std=0.1, mean=1.0)
        w[pre + 'ln_1.bias'] = n(C, std=0.1)
        w[pre + 'attn.c_attn.weight'] = n(C, 3 * C, std=0.4)
        w[pre + 'attn.c_attn.bias'] = n(3 * C, std=0.1)
        w[pre + 'attn.c_proj.weight'] = n(C, C, std=0.3)
        w[pre + 'attn.c_proj.bias'] = n(C, std=0.1)
        w[pre + 'ln_2.weight'] = n(C, std=0.1, mean=1.0)
        w[pre + 'ln_2.bias'] = n(C, std=0.1)
        w[pre + 'mlp.c_fc.weight'] = n(C, inner, std=0.3)
        w[pre + 'mlp.c_fc.bias'] = n(inner, std=0.1)
        w[pre + 'mlp.c_proj.weight'] = n(inner, C, std=0.2)
        w[pre + 'mlp.c_proj.bias'] = n(C, std=0.1)
    w['ln_f.weight'] = n(C, std=0.1, mean=1.0)
    w['ln_f.bias'] = n(C, std=0.1)
    return w


def hub_layout(w, cfg, bias_dtype):
    """The key order and buffers of the hub's gpt2 model.safetensors: h.{i}.attn.bias [1,1,P,P] lower triangle
    and h.{i}.attn.masked_bias (scalar -1e4) next to the parameters, no 'transformer.' prefix, no lm_head."""
    P = cfg['n_positions']
    out = {}
    for k, v in w.items():
        out[k] = v
        if k.endswith('ln_1.bias'):
            pre = k[: -len('ln_1.bias')]
            out[pre + 'attn.bias'] = torch.tril(torch.ones(P, P)).view(1, 1, P, P).to(bias_dtype)
            out[pre + 'attn.masked_bias'] = torch.tensor(-1e4, dtype=torch.float32)
    return out


def to_params(sd):
    """float64 leaf tensors requiring grad, keyed 'transformer.…' (lm_head.weight kept if present)."""
    return {k: v.to(DT).clone().requires_grad_(True) for k, v in normalize_keys(sd).items()}


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def build_tiny(out_dir):
    """GPT-2 with the real vocabulary (50,257) and real GPT-2 token ids, n_embd 8 so the files stay small."""
    gen = torch.Generator().manual_seed(1234)
    cfg = make_config(50257, 64, 8, 2, 2)
    w = random_weights(cfg, gen)
    d = os.path.join(out_dir, 'gpt2-tiny')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
    save_file(hub_layout(w, cfg, torch.float32), os.path.join(d, 'model.safetensors'), {'format': 'pt'})

    sd, _ = load_file(os.path.join(d, 'model.safetensors'))  # round trip through the file the tests read
    p = to_params(sd)
    V = cfg['vocab_size']

    # "Hello, my dog is cute.<|endoftext|>" and "The quick brown fox jumps over the lazy" (GPT-2 BPE ids)
    ids = torch.tensor([[15496, 11, 616, 3290, 318, 13779, 13, 50256], [464, 2068, 7586, 21831, 18045, 625, 262, 16931]])
    B, T = ids.shape
    subset = sorted(set(torch.randperm(V, generator=gen)[:512].tolist()) | set(ids.view(-1).tolist()) | {0, V - 1})
    subset_t = torch.tensor(subset)

    exp = {}
    meta = {'ids': ids.tolist(), 'vocab_subset': subset}

    # 1. logits + loss (no mask) + every gradient
    logits = forward(p, cfg, ids)
    loss = lm_loss(logits, ids)
    loss.backward()
    exp['logits_subset'] = f32(logits[:, :, subset_t])  # [B,T,S]
    exp['logits_lse'] = f32(torch.logsumexp(logits, -1))  # [B,T] checks every logit in aggregate
    exp['logits_argmax'] = torch.argmax(logits, -1).to(torch.int32)
    logp = torch.log_softmax(logits, -1)
    exp['target_logprobs'] = f32(torch.gather(logp[:, :-1], 2, ids[:, 1:].unsqueeze(-1)).squeeze(-1))  # [B,T-1]
    meta['loss'] = float(loss)
    meta['perplexity'] = math.exp(float(loss))
    for k, v in p.items():
        g = v.grad
        if k == 'transformer.wte.weight':
            # dense [V, C] (tied LM head): store the rows of the input ids and a random sample, plus column sums
            # and column sums of squares over all rows, instead of the 1.6 MB matrix.
            exp['grad.' + k + '.rows'] = f32(g[subset_t])
            exp['grad.' + k + '.colsum'] = f32(g.sum(0))
            exp['grad.' + k + '.colsumsq'] = f32((g * g).sum(0))
        else:
            exp['grad.' + k] = f32(g)

    # 2. loss with a label mask: only tokens 4.. of row 0 and 3.. of row 1 count (a "train on the answer" mask)
    label_mask = torch.zeros(B, T, dtype=torch.long)
    label_mask[0, 4:] = 1
    label_mask[1, 3:] = 1
    labels = torch.where(label_mask.bool(), ids, torch.tensor(-100))
    with torch.no_grad():
        meta['label_mask'] = label_mask.tolist()
        meta['loss_masked'] = float(lm_loss(forward(p, cfg, ids), labels))

    # 3. padding: row 1 is 5 real tokens then pad (50256); attention_mask marks the pad keys
    pad_ids = ids.clone()
    pad_ids[1, 5:] = 50256
    attn = torch.ones(B, T, dtype=torch.long)
    attn[1, 5:] = 0
    with torch.no_grad():
        lg = forward(p, cfg, pad_ids, attention_mask=attn)
        exp['rightpad_logits_subset'] = f32(lg[:, :, subset_t])
        exp['rightpad_logits_lse'] = f32(torch.logsumexp(lg, -1))
        pad_labels = torch.where(attn.bool(), pad_ids, torch.tensor(-100))
        meta['rightpad_loss'] = float(lm_loss(lg, pad_labels))
    meta['rightpad_ids'] = pad_ids.tolist()
    meta['rightpad_attention_mask'] = attn.tolist()

    # 4. left padding with position ids from the mask, as GenerationMixin does for batched prompts
    left_ids = torch.full((B, T), 50256)
    left_ids[0] = ids[0]
    left_ids[1, 3:] = ids[1, :5]
    lmask = torch.ones(B, T, dtype=torch.long)
    lmask[1, :3] = 0
    pos = lmask.cumsum(-1) - 1
    pos = pos.masked_fill(lmask == 0, 1)
    with torch.no_grad():
        lg = forward(p, cfg, left_ids, attention_mask=lmask, position_ids=pos)
        exp['leftpad_logits_subset'] = f32(lg[:, :, subset_t])
        exp['leftpad_logits_lse'] = f32(torch.logsumexp(lg, -1))
    meta['leftpad_ids'] = left_ids.tolist()
    meta['leftpad_attention_mask'] = lmask.tolist()

    # 5. greedy continuations (full recomputation, so the TypeScript KV cache is checked against no cache)
    meta['greedy'] = []
    for prompt in ([15496, 11, 616, 3290], [464, 2068, 7586]):
        new, margin = greedy(p, cfg, prompt, 12)
        meta['greedy'].append({'prompt': prompt, 'new_tokens': new, 'min_top2_margin': margin})
        if margin < 2e-4:
            print(f'warning: greedy top-2 margin {margin} is small; float32 may disagree', file=sys.stderr)

    save_file(exp, os.path.join(d, 'expected.safetensors'))
    with open(os.path.join(d, 'expected.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print(f'gpt2-tiny: loss {meta["loss"]:.6f} masked {meta["loss_masked"]:.6f} → {d}')


def build_prefixed(out_dir):
    """save_pretrained-style keys ('transformer.…' + an explicit lm_head.weight) with BOOL mask buffers."""
    gen = torch.Generator().manual_seed(99)
    cfg = make_config(300, 16, 12, 1, 3)
    cfg['bos_token_id'] = cfg['eos_token_id'] = 299
    w = random_weights(cfg, gen)
    d = os.path.join(out_dir, 'gpt2-prefixed')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
    sd = {'transformer.' + k: v for k, v in hub_layout(w, cfg, torch.bool).items()}
    sd['lm_head.weight'] = w['wte.weight'].clone()
    save_file(sd, os.path.join(d, 'model.safetensors'), {'format': 'pt'})
    sd, _ = load_file(os.path.join(d, 'model.safetensors'))
    p = to_params(sd)
    ids = torch.tensor([[5, 17, 42, 299, 123, 7, 250], [1, 2, 3, 4, 5, 6, 7]])
    with torch.no_grad():
        logits = forward(p, cfg, ids)
        loss = lm_loss(logits, ids)
    save_file({'logits': f32(logits)}, os.path.join(d, 'expected.safetensors'))
    with open(os.path.join(d, 'expected.json'), 'w') as f:
        json.dump({'ids': ids.tolist(), 'loss': float(loss)}, f, indent=1)
    print(f'gpt2-prefixed: loss {float(loss):.6f} → {d}')


def check_saved(d, ids):
    """Load a directory as GPT2LMHeadModel.from_pretrained would (config.json + model.safetensors with
    metadata format 'pt'; missing lm_head tied to wte) and print logits stats as JSON."""
    with open(os.path.join(d, 'config.json')) as f:
        cfg = json.load(f)
    sd, metadata = load_file(os.path.join(d, 'model.safetensors'))
    if metadata is None or metadata.get('format') not in ('pt', 'tf', 'flax', 'mlx'):
        raise SystemExit(f'{d}/model.safetensors: transformers requires __metadata__.format "pt", got {metadata}')
    p = {k: v.to(DT) for k, v in normalize_keys(sd).items()}
    expected = {'transformer.wte.weight', 'transformer.wpe.weight', 'transformer.ln_f.weight', 'transformer.ln_f.bias'}
    missing = expected - set(p)
    if missing:
        raise SystemExit(f'missing keys: {sorted(missing)}')
    for k, v in p.items():
        if v.dtype != DT:
            raise SystemExit(f'{k}: dtype {v.dtype}')
    ids_t = torch.tensor([ids])
    with torch.no_grad():
        logits = forward(p, cfg, ids_t)
        loss = lm_loss(logits, ids_t)
    print(json.dumps({'keys': sorted(sd.keys()), 'loss': float(loss), 'last_logits_head': logits[0, -1, :8].tolist()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures'))
    ap.add_argument('--check', help='a saved model directory to load and score')
    ap.add_argument('--ids', default='1,2,3,4', help='token ids for --check')
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.check:
        check_saved(a.check, [int(x) for x in a.ids.split(',')])
        return
    build_tiny(a.out)
    build_prefixed(a.out)


if __name__ == '__main__':
    main()
