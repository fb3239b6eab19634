#!/usr/bin/env python3
"""PyTorch side of `npm run bench`: a child process driven by bench/run.ts over JSON lines.

stdin  {"cmd": "setup", "case": NAME, "layout": "lucidrains"|"timm", "config": {HF ViTConfig keys},
        "weights": PATH|null, "batch": N}
       {"cmd": "run", "case": NAME}          → times one forward pass of that case
stdout {"ok": true, "torch": VERSION, "threads": 1} once at start-up, then one reply per command:
       {"ok": true} / {"ms": FLOAT} / {"error": MESSAGE}

Same model maths as the engine (modules from make_vit_fixtures.py), one thread (faster than two on
these 2-core machines, see ENGINE-NOTES), inference mode.
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_vit_fixtures import LucidViT, TimmVisionTransformer  # noqa: E402


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        assert e['dtype'] == 'F32', f'{name}: bench reads F32 only'
        b, end = e['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[b:end], dtype='<f4').copy().reshape(e['shape']))
    return out


def write_safetensors(path, tensors):
    """F32 tensors in the given order, header padded to 8 bytes (as the engine's writer)."""
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().contiguous().numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cases = {}
    print(json.dumps({'ok': True, 'torch': torch.__version__, 'threads': torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg['cmd'] == 'setup':
                c = msg['config']
                if msg['layout'] == 'lucidrains':
                    model = LucidViT({**c, 'pooling': c.get('pooling', 'cls')})
                elif msg['layout'] == 'timm':
                    model = TimmVisionTransformer(c, 'token')
                else:
                    raise ValueError(f"layout {msg['layout']} not benchmarked")
                if msg.get('weights'):
                    model.load_state_dict(read_safetensors(msg['weights']))
                model.eval()
                s = c['image_size']
                x = torch.randn(msg['batch'], c['num_channels'], s, s)
                cases[msg['case']] = (model, x)
                reply = {'ok': True}
            elif msg['cmd'] == 'run':
                model, x = cases[msg['case']]
                with torch.inference_mode():
                    t0 = time.perf_counter()
                    model(x)
                    reply = {'ms': (time.perf_counter() - t0) * 1000}
            else:
                raise ValueError(f"unknown command {msg['cmd']}")
        except Exception as e:  # reported to the driver, which prints it
            reply = {'error': f'{type(e).__name__}: {e}'}
        print(json.dumps(reply), flush=True)


if __name__ == '__main__':
    main()
