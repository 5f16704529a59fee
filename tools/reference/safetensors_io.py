"""Minimal safetensors reader/writer (no `safetensors` package needed).

Format (https://huggingface.co/docs/safetensors): 8-byte little-endian u64 header length N, then N bytes of
JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the raw
little-endian tensor bytes, offsets relative to the end of the header.
"""

import json
import struct

import numpy as np
import torch

_NP = {
    'F64': np.float64,
    'F32': np.float32,
    'F16': np.float16,
    'I64': np.int64,
    'I32': np.int32,
    'U8': np.uint8,
    'BOOL': np.bool_,
}
_DTYPE_NAME = {np.dtype(v): k for k, v in _NP.items()}


def save_file(tensors, path, metadata=None):
    """tensors: dict name -> torch.Tensor or np.ndarray (stored in key order, contiguous, little-endian)."""
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        a = np.ascontiguousarray(a)
        dtype = _DTYPE_NAME[a.dtype]
        raw = a.astype(a.dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(a.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata is not None:
        header['__metadata__'] = metadata
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)  # align the data section to 8 bytes, as the reference library does
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_file(path):
    """Returns (dict name -> torch.Tensor, metadata dict or None)."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8 : 8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', None)
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info['data_offsets']
        a = np.frombuffer(data[base + b : base + e], dtype=np.dtype(_NP[info['dtype']]).newbyteorder('<'))
        out[name] = torch.from_numpy(a.reshape(info['shape']).copy())
    return out, metadata
