#!/usr/bin/python3
"""Writes the safetensors fixtures that packages/tensor/src/safetensors.test.ts reads.

An independent reference for @atelier/tensor's safetensors reader and writer: the files are written here
byte by byte as the format specifies (https://github.com/huggingface/safetensors#format) with struct/json,
and the element values come from PyTorch (float16/bfloat16 rounding included), not from our TypeScript.
The `safetensors` Python package is not needed.

  /usr/bin/python3 packages/tensor/tools/make_safetensors_fixtures.py   # Debian python3-torch; writes packages/tensor/test/fixtures/

Files:
  read-mixed.safetensors   tensors of many dtypes (+ __metadata__); read-mixed.json: their values as float64
  write-f32.safetensors    float32 tensors (+ an int32 one) in the reference writer's canonical layout
  write-f16.safetensors    the same float32 inputs stored as F16
  write.json               the float32 inputs and metadata, for our writer to reproduce both files exactly
"""
import json
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')

# The reference implementation orders tensors by dtype (this enum order, descending), then by name.
DTYPE_ORDER = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32',
               'F64', 'I64', 'U64']
TORCH_DTYPE = {'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
               'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8,
               'BOOL': torch.bool}


def raw_bytes(t: torch.Tensor) -> bytes:
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits as int16
        return t.view(torch.int16).numpy().astype('<i2').tobytes()
    return t.numpy().tobytes()  # little-endian on x86/arm


def encode(v: float):
    """JSON has no inf/nan: write them as strings."""
    if v != v:
        return 'nan'
    return v if np.isfinite(v) else ('inf' if v > 0 else '-inf')


def write_safetensors(path: str, tensors: dict, metadata: dict | None) -> None:
    items = sorted(tensors.items(), key=lambda kv: (-DTYPE_ORDER.index(kv[1][0]), kv[0]))
    header = {}
    if metadata:
        header['__metadata__'] = metadata
    offset = 0
    blobs = []
    for name, (dtype, t) in items:
        b = raw_bytes(t)
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(20261122)

    # --- read fixture: every dtype the reader converts, odd shapes, a zero-size tensor ---
    f = torch.randn(3, 5, generator=g, dtype=torch.float64) * 3
    tricky = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1e-5, 5.96e-8, 1e-8, 3.4e38, float('inf'),
                           -float('inf'), 0.1, 1 / 3], dtype=torch.float64)
    read = {
        'f32': ('F32', f.float()),
        'f16': ('F16', torch.cat([f.flatten(), tricky[:9]]).half().reshape(4, 6)),
        'bf16': ('BF16', torch.cat([f.flatten(), tricky]).bfloat16().reshape(4, 7)),
        'f64': ('F64', f[:2]),
        'i64': ('I64', torch.tensor([[0, -1, 2147483647], [-2147483648, 50256, 7]], dtype=torch.int64)),
        'i32': ('I32', torch.randint(-1000, 1000, (7,), generator=g, dtype=torch.int32)),
        'i16': ('I16', torch.tensor([-32768, 32767, 5], dtype=torch.int16)),
        'i8': ('I8', torch.tensor([-128, 127], dtype=torch.int8)),
        'u8': ('U8', torch.tensor([0, 255, 9], dtype=torch.uint8)),
        'mask': ('BOOL', torch.tensor([True, False, True])),
        'scalar': ('F32', torch.tensor(2.75)),
        'empty': ('F32', torch.zeros(0, 4)),
        'h.0.attn.c_attn.weight': ('F32', torch.randn(2, 9, generator=g)),
    }
    write_safetensors(os.path.join(OUT, 'read-mixed.safetensors'), read,
                      {'format': 'pt', 'note': 'fixture ✓'})
    expected = {name: {'dtype': dt, 'shape': list(t.shape),
                       'values': [encode(v) for v in t.double().flatten().tolist()]}
                for name, (dt, t) in read.items()}
    with open(os.path.join(OUT, 'read-mixed.json'), 'w') as fh:
        json.dump({'metadata': {'format': 'pt', 'note': 'fixture ✓'}, 'tensors': expected}, fh, indent=1)

    # --- write fixtures: float32 inputs whose F16 rounding exercises ties, subnormals, overflow ---
    half_ulp_ties = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049.0, 2051.0, -(1 + 2 ** -11)]
    special = [0.0, -0.0, 65504.0, 65519.0, 65520.0, 1e6, -1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26,
               6.0e-5, 1e-10, float('inf'), -float('inf')]
    inputs = {
        'wte': torch.randn(5, 3, generator=g).float(),
        'ln.bias': torch.tensor(half_ulp_ties + special, dtype=torch.float32),
        'a': torch.randn(7, generator=g).float() * 1000,
    }
    ids = torch.tensor([[3, 1, 4], [1, 5, 9]], dtype=torch.int32)
    meta = {'format': 'pt', 'source': 'atelier-fixture'}
    write_safetensors(os.path.join(OUT, 'write-f32.safetensors'),
                      {**{k: ('F32', v) for k, v in inputs.items()}, 'ids': ('I32', ids)}, meta)
    write_safetensors(os.path.join(OUT, 'write-f16.safetensors'),
                      {**{k: ('F16', v.half()) for k, v in inputs.items()}, 'ids': ('I32', ids)}, meta)

    with open(os.path.join(OUT, 'write.json'), 'w') as fh:
        json.dump({'metadata': meta,
                   'float32': {k: {'shape': list(v.shape), 'values': [encode(x) for x in v.double().flatten().tolist()]}
                               for k, v in inputs.items()},
                   'int32': {'ids': {'shape': list(ids.shape), 'values': ids.flatten().tolist()}}}, fh, indent=1)
    print('wrote fixtures to', os.path.normpath(OUT))


if __name__ == '__main__':
    main()
