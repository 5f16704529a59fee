"""Independent float64 reference for @atelier/lora: LoRA on GPT-2 with Hugging Face PEFT's conventions, written by
hand in plain PyTorch (no `peft` package needed).

PEFT conventions followed (peft/tuners/lora/layer.py, class Linear, and peft/utils/save_and_load.py):
  - storage shapes lora_A.weight [r, in], lora_B.weight [out, r], even though GPT-2's Conv1D weight is [in, out]
    (fan_in_fan_out = True);
  - forward  y = base(x) + lora_B(lora_A(dropout(x))) * scaling,  scaling = lora_alpha / r  (rsLoRA: / sqrt(r));
  - merge    W += transpose(B @ A, fan_in_fan_out) * scaling = (B @ A).T * scaling;
  - targets  a list entry matches a module name exactly or as a dotted suffix; layers_to_transform keeps the
    modules under `{layers_pattern}.{i}.`;
  - files    adapter_model.safetensors with keys `base_model.model.<module>.lora_A.weight` (adapter name removed),
    biases of LoRA-wrapped modules under `<module>.base_layer.bias`, metadata {"format": "pt"};
    adapter_config.json with PEFT's LoraConfig fields, sorted keys.

The GPT-2 itself is tools/reference/gpt2_reference.py, imported as a module: its `forward` calls the module-level
`conv1d(x, w, b)`, and this file wraps that function for the duration of one forward pass so that the Conv1D whose
weight tensor is a LoRA target also adds its low-rank update (the weight tensor's identity says which module it is).

Usage:  /usr/bin/python3 tools/reference/lora_reference.py [--out tools/reference/fixtures]
Writes fixtures/lora-tiny/ and fixtures/lora-tiny-rslora/ (adapter directories as PEFT saves them, plus
expected.safetensors / expected.json) for the GPT-2 in fixtures/gpt2-tiny/ (run gpt2_reference.py first).
`--check DIR` reads an adapter directory the way PeftModel.from_pretrained would (config fields, exact key names
for that config, shapes), applies it to the gpt2-tiny model and prints the loss and logsumexp of its logits as JSON.
"""

import argparse
import contextlib
import json
import math
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gpt2_reference as g  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

DT = torch.float64
PREFIX = 'base_model.model.'
BASE_NAME = 'atelier-fixtures/gpt2-tiny'

# LoraConfig fields PEFT 0.10 - 0.13 write (and every later version reads).
PEFT_FIELDS = {
    'alpha_pattern', 'auto_mapping', 'base_model_name_or_path', 'bias', 'exclude_modules', 'fan_in_fan_out',
    'inference_mode', 'init_lora_weights', 'layer_replication', 'layers_pattern', 'layers_to_transform',
    'loftq_config', 'lora_alpha', 'lora_dropout', 'megatron_config', 'megatron_core', 'modules_to_save', 'peft_type',
    'r', 'rank_pattern', 'revision', 'target_modules', 'task_type', 'use_dora', 'use_rslora',
}


# ----------------------------------------------------------------------------------------------------------
# GPT-2 module structure and PEFT target selection


def conv_modules(cfg):
    """[(HF module name, in, out)] of every Conv1D of GPT2LMHeadModel, in model order."""
    C = cfg['n_embd']
    inner = cfg['n_inner'] or 4 * C
    out = []
    for i in range(cfg['n_layer']):
        p = f'transformer.h.{i}.'
        out += [(p + 'attn.c_attn', C, 3 * C), (p + 'attn.c_proj', C, C)]
        out += [(p + 'mlp.c_fc', C, inner), (p + 'mlp.c_proj', inner, C)]
    return out


def is_target(name, lc):
    """PEFT check_target_module_exists for a list or regex target_modules, with layers_to_transform."""
    tm = lc['target_modules']
    if isinstance(tm, str):
        return re.fullmatch(tm, name) is not None
    if not (name in tm or any(name.endswith('.' + t) for t in tm)):
        return False
    ltt = lc.get('layers_to_transform')
    if ltt is None or (isinstance(ltt, list) and not ltt):
        return True
    pats = lc.get('layers_pattern')
    pats = [] if not pats else [pats] if isinstance(pats, str) else pats
    m = None
    if not pats:
        m = re.match(r'.*\.[^.]*\.(\d+)\.', name)
    for pat in pats:
        m = re.match(rf'.*\.{pat}\.(\d+)\.', name)
        if m:
            break
    if m is None:
        return False
    idx = int(m.group(1))
    return idx == ltt if isinstance(ltt, int) else idx in ltt


def scaling_of(lc):
    return lc['lora_alpha'] / math.sqrt(lc['r']) if lc['use_rslora'] else lc['lora_alpha'] / lc['r']


def peft_keys(cfg, lc):
    """The exact keys get_peft_model_state_dict gives for this config on GPT2LMHeadModel (adapter name removed)."""
    targets = [n for n, _, _ in conv_modules(cfg) if is_target(n, lc)]
    keys = set()
    for n in targets:
        keys |= {f'{PREFIX}{n}.lora_A.weight', f'{PREFIX}{n}.lora_B.weight'}
    if lc['bias'] == 'all':
        for n in all_bias_names(cfg):
            module = n[: -len('.bias')]
            keys.add(f'{PREFIX}{module}.base_layer.bias' if module in targets else f'{PREFIX}{n}')
    elif lc['bias'] == 'lora_only':
        keys |= {f'{PREFIX}{n}.base_layer.bias' for n in targets}
    for m in lc.get('modules_to_save') or []:  # PEFT _set_trainable: module name ends with the entry
        for k in base_param_names(cfg):
            if k.rsplit('.', 1)[0].endswith(m):
                keys.add(PREFIX + k)
    return keys


def base_param_names(cfg):
    names = ['transformer.wte.weight', 'transformer.wpe.weight']
    for i in range(cfg['n_layer']):
        p = f'transformer.h.{i}.'
        for m in ('ln_1', 'attn.c_attn', 'attn.c_proj', 'ln_2', 'mlp.c_fc', 'mlp.c_proj'):
            names += [p + m + '.weight', p + m + '.bias']
    return names + ['transformer.ln_f.weight', 'transformer.ln_f.bias']


def all_bias_names(cfg):
    return [n for n in base_param_names(cfg) if n.endswith('.bias')]


# ----------------------------------------------------------------------------------------------------------
# LoRA forward (PEFT semantics) on top of the GPT-2 reference


@contextlib.contextmanager
def lora_hooked(p, adapters):
    """While active, gpt2_reference.forward adds x @ A.T @ B.T * scaling to each adapted Conv1D.
    adapters: {module name: (A [r,in], B [out,r], scaling)}; p: the parameter dict forward will read."""
    by_weight = {id(p[name + '.weight']): ab for name, ab in adapters.items()}
    base_conv1d = g.conv1d

    def conv1d_with_lora(x, w, b):
        y = base_conv1d(x, w, b)
        ab = by_weight.get(id(w))
        if ab is not None:
            A, B, s = ab
            y = y + (x @ A.T @ B.T) * s  # lora_B(lora_A(dropout(x))) * scaling, dropout off (eval)
        return y

    g.conv1d = conv1d_with_lora
    try:
        yield
    finally:
        g.conv1d = base_conv1d


def merged_params(p, adapters):
    """PEFT merge: W + (B @ A).T * scaling for every adapted Conv1D (fan_in_fan_out)."""
    q = dict(p)
    for name, (A, B, s) in adapters.items():
        q[name + '.weight'] = p[name + '.weight'] + (B @ A).T * s
    return q


def load_base(fixtures):
    d = os.path.join(fixtures, 'gpt2-tiny')
    if not os.path.exists(os.path.join(d, 'model.safetensors')):
        raise SystemExit(f'{d}/model.safetensors missing: run tools/reference/gpt2_reference.py first')
    with open(os.path.join(d, 'config.json')) as f:
        cfg = json.load(f)
    sd, _ = load_file(os.path.join(d, 'model.safetensors'))
    p = {k: v.to(DT) for k, v in g.normalize_keys(sd).items()}
    return cfg, p


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def peft_config(lc):
    """adapter_config.json as LoraConfig.save_pretrained writes it (sorted keys, inference_mode true)."""
    out = {
        'alpha_pattern': {}, 'auto_mapping': None, 'base_model_name_or_path': BASE_NAME, 'bias': lc['bias'],
        'fan_in_fan_out': True, 'inference_mode': True, 'init_lora_weights': lc['init_lora_weights'],
        'layer_replication': None, 'layers_pattern': lc.get('layers_pattern'),
        'layers_to_transform': lc.get('layers_to_transform'), 'loftq_config': {}, 'lora_alpha': lc['lora_alpha'],
        'lora_dropout': lc['lora_dropout'], 'megatron_config': None, 'megatron_core': 'megatron.core',
        'modules_to_save': lc.get('modules_to_save'), 'peft_type': 'LORA', 'r': lc['r'], 'rank_pattern': {},
        'revision': None, 'target_modules': lc['target_modules'], 'task_type': 'CAUSAL_LM', 'use_dora': False,
        'use_rslora': lc['use_rslora'],
    }
    return dict(sorted(out.items()))


def finite_difference_check(loss_fn, leaf, n=3, eps=1e-6):
    """Central differences of a float64 loss at a few entries of `leaf` against its autograd gradient."""
    flat = leaf.detach().view(-1)
    for j in torch.linspace(0, flat.numel() - 1, n).long().tolist():
        old = float(flat[j])
        with torch.no_grad():
            flat[j] = old + eps
            up = float(loss_fn())
            flat[j] = old - eps
            down = float(loss_fn())
            flat[j] = old
        fd = (up - down) / (2 * eps)
        ag = float(leaf.grad.view(-1)[j])
        if abs(fd - ag) > 1e-6 * max(1.0, abs(ag)):
            raise SystemExit(f'finite-difference check failed at {j}: fd {fd} vs autograd {ag}')


# ----------------------------------------------------------------------------------------------------------
# Fixtures


def build_fixture(out_dir, name, lc, seed, perturb_biases=False):
    fixtures = out_dir
    cfg, p = load_base(fixtures)
    gen = torch.Generator().manual_seed(seed)
    meta_ids = json.load(open(os.path.join(fixtures, 'gpt2-tiny', 'expected.json')))
    ids = torch.tensor(meta_ids['ids'])
    subset_t = torch.tensor(meta_ids['vocab_subset'])
    s = scaling_of(lc)

    # Adapter weights as after some training: A as PEFT's Kaiming-uniform init, B non-zero (B = 0 would make the
    # adapter the identity and test nothing).
    targets = [(n, i, o) for n, i, o in conv_modules(cfg) if is_target(n, lc)]
    r = lc['r']
    lora = {}
    for n, nin, nout in targets:
        A = (torch.rand(r, nin, generator=gen, dtype=DT) * 2 - 1) / math.sqrt(nin)
        B = torch.randn(nout, r, generator=gen, dtype=DT) * 0.3
        lora[n] = (A.to(torch.float32).to(DT).requires_grad_(True), B.to(torch.float32).to(DT).requires_grad_(True))
    file_tensors = {}
    for n, (A, B) in lora.items():
        file_tensors[f'{PREFIX}{n}.lora_A.weight'] = f32(A)
        file_tensors[f'{PREFIX}{n}.lora_B.weight'] = f32(B)
    trainable = {f'{n}.lora_{w}.weight': t for n, (A, B) in lora.items() for w, t in (('A', A), ('B', B))}
    if perturb_biases:  # bias 'all': every bias trains and is saved with the adapter
        target_names = {n for n, _, _ in targets}
        for k in all_bias_names(cfg):
            b = (p[k] + torch.randn(p[k].shape, generator=gen, dtype=DT) * 0.2).to(torch.float32).to(DT)
            p[k] = b.requires_grad_(True)
            trainable[k] = p[k]
            module = k[: -len('.bias')]
            file_tensors[f'{PREFIX}{module}.base_layer.bias' if module in target_names else PREFIX + k] = f32(b)
    assert set(file_tensors) == peft_keys(cfg, lc), 'fixture keys differ from the PEFT key rule'

    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    save_file(file_tensors, os.path.join(d, 'adapter_model.safetensors'), {'format': 'pt'})
    with open(os.path.join(d, 'adapter_config.json'), 'w') as f:
        json.dump(peft_config(lc), f, indent=2, sort_keys=True)

    adapters = {n: (A, B, s) for n, (A, B) in lora.items()}
    exp = {}
    meta = {'ids': ids.tolist(), 'vocab_subset': subset_t.tolist(), 'scaling': s,
            'targets': [n for n, _, _ in targets], 'trainable': sorted(trainable),
            'peft_keys': sorted(file_tensors)}

    def loss_fn():
        with lora_hooked(p, adapters):
            return g.lm_loss(g.forward(p, cfg, ids), ids)

    # 1. logits and loss with the adapter (evaluation mode: no dropout)
    with lora_hooked(p, adapters):
        logits = g.forward(p, cfg, ids)
    loss = g.lm_loss(logits, ids)
    loss.backward()
    exp['logits_subset'] = f32(logits[:, :, subset_t])
    exp['logits_lse'] = f32(torch.logsumexp(logits, -1))
    meta['loss'] = float(loss)
    # 2. gradients of the trainable parameters only (the base weights are constants here)
    for k, t in trainable.items():
        exp['grad.' + k] = f32(t.grad)
    for t in list(trainable.values())[:2]:
        finite_difference_check(loss_fn, t)
    # 3. merged weights and the merged model's logits, which must equal the adapter's
    with torch.no_grad():
        q = merged_params(p, adapters)
        for n in lora:
            exp['merged.' + n + '.weight'] = f32(q[n + '.weight'])
        merged_logits = g.forward(q, cfg, ids)
        diff = float((merged_logits - logits).abs().max())
        if diff > 1e-9:
            raise SystemExit(f'{name}: merged logits differ from adapter logits by {diff}')
        meta['merged_max_abs_diff_f64'] = diff
        exp['merged_logits_lse'] = f32(torch.logsumexp(merged_logits, -1))
        # 4. base model (adapters disabled) for reference
        base_logits = g.forward(p, cfg, ids)
        meta['base_loss_with_adapter_biases'] = float(g.lm_loss(base_logits, ids))
        meta['logits_change_max_abs'] = float((logits - base_logits).abs().max())
    save_file(exp, os.path.join(d, 'expected.safetensors'))
    with open(os.path.join(d, 'expected.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print(f'{name}: loss {meta["loss"]:.6f}, scaling {s:.6f}, adapter moves logits by up to '
          f'{meta["logits_change_max_abs"]:.3f} → {d}')


def build_all(out_dir):
    build_fixture(out_dir, 'lora-tiny', {
        'r': 4, 'lora_alpha': 8, 'use_rslora': False, 'lora_dropout': 0.1, 'target_modules': ['c_attn', 'c_proj'],
        'bias': 'none', 'init_lora_weights': True, 'layers_to_transform': None, 'layers_pattern': None,
        'modules_to_save': None,
    }, seed=5)
    build_fixture(out_dir, 'lora-tiny-rslora', {
        'r': 2, 'lora_alpha': 3, 'use_rslora': True, 'lora_dropout': 0.0, 'target_modules': ['c_fc'],
        'bias': 'all', 'init_lora_weights': 'gaussian', 'layers_to_transform': [1], 'layers_pattern': 'h',
        'modules_to_save': None,
    }, seed=6, perturb_biases=True)


# ----------------------------------------------------------------------------------------------------------
# Reading an adapter directory written elsewhere (the TypeScript saveAdapter), as PEFT would


def check_adapter(d, fixtures, ids):
    with open(os.path.join(d, 'adapter_config.json')) as f:
        lc = json.load(f)
    unknown = set(lc) - PEFT_FIELDS
    if unknown:
        raise SystemExit(f'adapter_config.json: fields PEFT 0.10-0.13 would reject: {sorted(unknown)}')
    if lc.get('peft_type') != 'LORA' or lc.get('task_type') != 'CAUSAL_LM':
        raise SystemExit(f'adapter_config.json: peft_type {lc.get("peft_type")}, task_type {lc.get("task_type")}')
    if lc.get('fan_in_fan_out') is not True:
        raise SystemExit('adapter_config.json: fan_in_fan_out must be true for GPT-2 Conv1D')
    if lc.get('layers_to_transform') is None:
        lc['layers_to_transform'] = None
    cfg, p = load_base(fixtures)
    sd, metadata = load_file(os.path.join(d, 'adapter_model.safetensors'))
    if metadata is None or metadata.get('format') != 'pt':
        raise SystemExit(f'adapter_model.safetensors: metadata {metadata}, expected format "pt"')
    want = peft_keys(cfg, lc)
    if set(sd) != want:
        raise SystemExit(f'key mismatch: missing {sorted(want - set(sd))}, unexpected {sorted(set(sd) - want)}')
    s = scaling_of(lc)
    shapes = {n: (i, o) for n, i, o in conv_modules(cfg)}
    adapters = {}
    for n, (nin, nout) in shapes.items():
        if f'{PREFIX}{n}.lora_A.weight' not in sd:
            continue
        A = sd[f'{PREFIX}{n}.lora_A.weight'].to(DT)
        B = sd[f'{PREFIX}{n}.lora_B.weight'].to(DT)
        if tuple(A.shape) != (lc['r'], nin) or tuple(B.shape) != (nout, lc['r']):
            raise SystemExit(f'{n}: shapes {tuple(A.shape)} / {tuple(B.shape)}')
        adapters[n] = (A, B, s)
    for k, v in sd.items():  # biases and modules_to_save values replace the base model's
        if '.lora_' in k:
            continue
        name = k[len(PREFIX):].replace('.base_layer.', '.')
        if name not in p or p[name].shape != v.shape:
            raise SystemExit(f'{k}: no parameter {name} of that shape')
        p[name] = v.to(DT)
    ids_t = torch.tensor(ids)
    with torch.no_grad(), lora_hooked(p, adapters):
        logits = g.forward(p, cfg, ids_t)
    print(json.dumps({'loss': float(g.lm_loss(logits, ids_t)), 'lse': torch.logsumexp(logits, -1).tolist(),
                      'keys': sorted(sd), 'scaling': s}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(HERE, 'fixtures'))
    ap.add_argument('--check', help='an adapter directory to read as PEFT would and score on gpt2-tiny')
    ap.add_argument('--ids', default='[[15496, 11, 616, 3290, 318, 13779]]', help='JSON [B][T] ids for --check')
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.check:
        check_adapter(a.check, a.out, json.loads(a.ids))
        return
    build_all(a.out)


if __name__ == '__main__':
    main()
