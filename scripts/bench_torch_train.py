#!/usr/bin/env python3
"""PyTorch reference for `npm run bench:transfer -- --step-times`: training-step time of vit-mnist
(lucidrains layout, ../shared/models/vit-mnist weights) with the PEFT methods, CPU, one thread.

Methods, as the engine defines them (new 10-class head; the head side, i.e. the head and its
LayerNorm, trains in every method):
  linear-probe  head side only, on backbone features computed once (the engine caches them too)
  full          every parameter
  lora          r 8, alpha 16 on to_qkv of all blocks (B = 0 at start); options {"layers": [i, ...]}: those
                blocks only (HF PEFT layers_to_transform). The whole model runs forward every step; autograd
                stops below the first adapted block, as with HF PEFT
  vpt           VPT-deep, 10 prompts per block (dropout 0.1), a new set replaces the old before every block;
                options {"mode": "shallow"}: one set, inserted before block 0 only
  ssf           γ/β after the patch embedding, norm1, to_qkv (γ only: no bias), to_out, norm2, fc1, fc2
  side          ladder side network (main/engine/methods/side): width D/8, MLP M/8, heads gcd(H, width),
                qkv bias; embed_down of the embedded tokens, then per block a gated down-projection of
                that backbone block's output, h = μ·down(tap) + (1−μ)·h, μ = σ(α/0.1), a pre-norm side
                block; norm + up-projection to D replaces the final tokens for the head. The taps are
                computed once, without gradients (the engine caches them too when augmentation is off)
  sara          sparse updates (main/engine/methods/sara): the 5 % smallest-|W| entries of to_qkv,
                to_out, fc1 and fc2 of every block are values scattered into Δ ([in, out]),
                y = base(x) + x Δ; plus 1e-3 × the nuclear norm of one random Δ per step

One step = zero_grad, forward, cross-entropy, backward, clip to global norm 1, AdamW (weight decay
0.01) on a fixed batch of 32 random images; wall time by time.perf_counter.

Usage:
  /usr/bin/python3 scripts/bench_torch_train.py [--methods full,lora] [--reps 7] [--warmup 3] [--json]
  /usr/bin/python3 scripts/bench_torch_train.py --serve REQ_FIFO RES_FIFO   (driven by bench/transfer.ts)
Serve protocol, JSON lines: {"cmd":"load","weights":P,"config":P,"batch":N} · {"cmd":"setup","method":M,"lr":X,
"options":{the engine's method options; layers and mode are read}} → {"trainable":N} · {"cmd":"step"} → {"ms":X,"rss_mb":Y} · {"cmd":"make","config":{HF keys},"dir":D} writes a
randomly initialised lucidrains ViT there (config.json, model.safetensors, preprocessor_config.json) so both
sides load the same model; a hello line {"torch","threads","blas"} comes first.
"standard" (setup's "cache_backbone": false) runs linear-probe's and side's frozen backbone on every step
under no_grad, as a plain PyTorch + HF PEFT loop does, instead of once.
"""
import os

# torch.set_num_threads(1) does not reach a system OpenBLAS: pin it before numpy/torch load it.
for _v in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_v, '1')

import argparse  # noqa: E402
import math  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import read_safetensors, write_safetensors  # noqa: E402
from make_vit_fixtures import LucidViT, act_module, attention  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIT_MNIST = os.path.join(ROOT, '..', 'shared', 'models', 'vit-mnist')
METHODS = ['linear-probe', 'full', 'lora', 'vpt', 'ssf', 'side', 'sara']


class LoraLinear(nn.Module):
    def __init__(self, base, r=8, alpha=16):
        super().__init__()
        self.base = base
        self.scale = alpha / r
        self.A = nn.Parameter(torch.randn(r, base.in_features) / r)
        self.B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + (x @ self.A.t() @ self.B.t()) * self.scale


class SideBlock(nn.Module):
    """vitBlock on the side config: pre-norm attention (qkv with bias) and MLP, both residual."""

    def __init__(self, w, heads, mlp, act):
        super().__init__()
        self.heads = heads
        self.norm1, self.qkv, self.proj = nn.LayerNorm(w), nn.Linear(w, 3 * w), nn.Linear(w, w)
        self.norm2, self.fc1, self.act, self.fc2 = nn.LayerNorm(w), nn.Linear(w, mlp), act_module(act), nn.Linear(mlp, w)

    def forward(self, x):
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        x = x + self.proj(attention(q, k, v, self.heads))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class SideNetwork(nn.Module):
    def __init__(self, c, reduction=8, temperature=0.1):
        super().__init__()
        d = c['hidden_size']
        w = max(4, d // reduction)
        depth = c['num_hidden_layers']
        self.temperature = temperature
        self.embed_down = nn.Linear(d, w)
        self.down = nn.ModuleList([nn.Linear(d, w) for _ in range(depth)])
        self.gates = nn.Parameter(torch.zeros(depth))
        self.blocks = nn.ModuleList([SideBlock(w, math.gcd(c['num_attention_heads'], w), max(4, c['intermediate_size'] // reduction), c['hidden_act'])
                                     for _ in range(depth)])
        self.norm, self.up = nn.LayerNorm(w), nn.Linear(w, d)

    def forward(self, taps):
        h = self.embed_down(taps[0])
        for j, block in enumerate(self.blocks):
            mu = torch.sigmoid(self.gates[j] / self.temperature)
            h = block(mu * self.down[j](taps[j + 1]) + (1 - mu) * h)
        return self.up(self.norm(h))


def smallest_magnitudes(w, k):
    """Flat indices of the k smallest |w| (ties by index), as the engine's smallestMagnitudes."""
    return torch.sort(torch.argsort(w.abs().flatten(), stable=True)[:k]).values


class SaraLinear(nn.Module):
    def __init__(self, base, sparsity=0.05):
        super().__init__()
        self.base = base
        self.rows, self.cols = base.in_features, base.out_features
        k = max(1, round(sparsity * self.rows * self.cols))
        self.register_buffer('indices', smallest_magnitudes(base.weight.detach().t(), k))
        self.values = nn.Parameter(torch.zeros(k))

    def delta(self):
        return torch.zeros(self.rows * self.cols).index_put((self.indices,), self.values).view(self.rows, self.cols)

    def forward(self, x):
        # One product with the updated weight, as the engine does (x·(W + Δ)): three matmuls per
        # site with the gradients instead of five for base(x) + x·Δ.
        return nn.functional.linear(x, self.base.weight + self.delta().t(), self.base.bias)


def ssf_hook(module, channels, shift=True):
    module.ssf_scale = nn.Parameter(1 + 0.02 * torch.randn(channels))
    module.ssf_shift = nn.Parameter(0.02 * torch.randn(channels)) if shift else None

    def hook(m, _inp, out):
        out = out * m.ssf_scale
        return out + m.ssf_shift if m.ssf_shift is not None else out

    module.register_forward_hook(hook)


class Bench:
    def __init__(self, weights, config, batch):
        with open(config) as f:
            self.c = json.load(f)
        self.weights = read_safetensors(weights)
        s, ch = self.c['image_size'], self.c['num_channels']
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(batch, ch, s, s, generator=g)
        self.y = torch.randint(0, 10, (batch,), generator=g)

    def setup(self, method, lr, cache_backbone=True, options=None):
        options = options or {}
        c = {**self.c, 'pooling': self.c.get('pooling', 'cls'), 'num_labels': 10}
        m = LucidViT(c)
        m.load_state_dict(self.weights)
        with torch.no_grad():  # a new head, N(0, 0.02²), zero bias
            m.mlp_head[1].weight.normal_(0, 0.02)
            m.mlp_head[1].bias.zero_()
        for p in m.parameters():
            p.requires_grad_(method == 'full')
        self.forward = lambda: m(self.x)[1]
        extra = []
        if method == 'lora':
            layers = options.get('layers')
            for i, (attn, _) in enumerate(m.transformer.layers):
                if layers is not None and i not in layers:
                    continue
                attn.fn.to_qkv = LoraLinear(attn.fn.to_qkv)
                extra += [attn.fn.to_qkv.A, attn.fn.to_qkv.B]
        elif method == 'ssf':
            d = c['hidden_size']
            inner = c['num_attention_heads'] * c['head_dim']
            sites = [(m.to_patch_embedding[1], d, True)]
            for attn, ff in m.transformer.layers:
                sites += [(attn.norm, d, True), (attn.fn.to_qkv, 3 * inner, c.get('qkv_bias', False)), (attn.fn.to_out[0], d, True),
                          (ff.norm, d, True), (ff.fn.net[0], c['intermediate_size'], True), (ff.fn.net[3], d, True)]
            for mod, ch, shift in sites:
                ssf_hook(mod, ch, shift)
                extra += [mod.ssf_scale] + ([mod.ssf_shift] if shift else [])
        elif method == 'vpt':
            n_p, d = 10, c['hidden_size']
            deep = options.get('mode', 'deep') == 'deep'
            prompts = nn.Parameter(torch.empty(len(m.transformer.layers) if deep else 1, n_p, d).uniform_(-0.1, 0.1))
            extra.append(prompts)

            def vpt_forward():
                p = m.to_patch_embedding(self.x)
                x = torch.cat([m.cls_token.expand(p.shape[0], -1, -1), p], dim=1) + m.pos_embedding
                for i, (attn, ff) in enumerate(m.transformer.layers):
                    if deep or i == 0:  # shallow: the one set enters before block 0 and stays
                        pr = F.dropout(prompts[i], 0.1, training=True).expand(x.shape[0], -1, -1)
                        x = torch.cat([x[:, :1], pr, x[:, 1 + (n_p if i > 0 else 0):]], dim=1)
                    x = attn(x) + x
                    x = ff(x) + x
                return m.mlp_head(x[:, 0])

            self.forward = vpt_forward
        elif method == 'side':
            side = SideNetwork(c)
            extra += list(side.parameters())

            @torch.no_grad()
            def backbone_taps():
                p = m.to_patch_embedding(self.x)
                taps = [torch.cat([m.cls_token.expand(p.shape[0], -1, -1), p], dim=1) + m.pos_embedding]
                for attn, ff in m.transformer.layers:
                    x = attn(taps[-1]) + taps[-1]
                    taps.append(ff(x) + x)
                return taps

            if cache_backbone:  # the backbone taps once, as the engine's tap cache
                taps = backbone_taps()
                self.forward = lambda: m.mlp_head(side(taps)[:, 0])
            else:
                self.forward = lambda: m.mlp_head(side(backbone_taps())[:, 0])
        elif method == 'sara':
            sites = []
            for attn, ff in m.transformer.layers:
                attn.fn.to_qkv = SaraLinear(attn.fn.to_qkv)
                attn.fn.to_out[0] = SaraLinear(attn.fn.to_out[0])
                ff.fn.net[0] = SaraLinear(ff.fn.net[0])
                ff.fn.net[3] = SaraLinear(ff.fn.net[3])
                sites += [attn.fn.to_qkv, attn.fn.to_out[0], ff.fn.net[0], ff.fn.net[3]]
            extra += [site.values for site in sites]
            self.penalty = lambda: 1e-3 * torch.linalg.matrix_norm(sites[torch.randint(len(sites), ()).item()].delta(), 'nuc')
        elif method == 'linear-probe':
            @torch.no_grad()
            def backbone_features():
                p = m.to_patch_embedding(self.x)
                return m.transformer(torch.cat([m.cls_token.expand(p.shape[0], -1, -1), p], dim=1) + m.pos_embedding)[:, 0]

            if cache_backbone:  # backbone features once, as the engine's feature cache
                pooled = backbone_features()
                self.forward = lambda: m.mlp_head(pooled)
            else:
                self.forward = lambda: m.mlp_head(backbone_features())
        elif method != 'full':
            raise ValueError(f'method {method} not implemented in the PyTorch reference')
        if method != 'sara':
            self.penalty = None
        head_side = list(m.mlp_head.parameters())
        for p in head_side + extra:
            p.requires_grad_(True)
        self.params = list(m.parameters()) if method == 'full' else head_side + extra
        self.model = m
        m.train()
        self.opt = torch.optim.AdamW(self.params, lr=lr, weight_decay=0.01)
        return sum(p.numel() for p in self.params)

    def step(self):
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.forward(), self.y)
        if self.penalty:
            loss = loss + self.penalty()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        return (time.perf_counter() - t0) * 1000


def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def make_random_vit(config, out_dir):
    """A lucidrains-layout ViT with PyTorch's default initialisation (seed 0; CLS token and position
    embeddings N(0, 0.02²)), written as a model folder the engine loads."""
    torch.manual_seed(0)
    m = LucidViT({**config, 'pooling': config.get('pooling', 'cls')})
    with torch.no_grad():
        m.cls_token.normal_(0, 0.02)
        m.pos_embedding.normal_(0, 0.02)
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, 'model.safetensors'), m.state_dict())
    with open(os.path.join(out_dir, 'config.json'), 'w') as f:
        json.dump({'model_type': 'vit', 'layout': 'lucidrains', **config}, f)
    with open(os.path.join(out_dir, 'preprocessor_config.json'), 'w') as f:
        s = config['image_size']
        json.dump({'do_resize': True, 'size': {'height': s, 'width': s}, 'do_rescale': True, 'rescale_factor': 1 / 255,
                   'do_normalize': True, 'image_mean': [0.5] * config['num_channels'], 'image_std': [0.5] * config['num_channels']}, f)


def blas():
    """The BLAS library actually mapped (Debian's torch reports BLAS_INFO=generic whatever the
    system libblas.so.3 alternative is; OpenBLAS is ~10x faster than the reference BLAS)."""
    torch.ones(2, 2) @ torch.ones(2, 2)
    try:
        with open('/proc/self/maps') as f:
            libs = {os.path.realpath(line.split()[-1]) for line in f if 'blas' in line and '/' in line}
        if libs:
            return ' + '.join(sorted(os.path.relpath(x, os.path.dirname(os.path.dirname(x))) for x in libs))
    except OSError:
        pass
    return 'unknown'


def hello():
    return {'ok': True, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas()}


def serve(req, res):
    fin = open(req, 'r')
    fout = open(res, 'w')
    print(json.dumps(hello()), file=fout, flush=True)
    bench = None
    for line in fin:
        msg = json.loads(line)
        try:
            if msg['cmd'] == 'load':
                bench = Bench(msg['weights'], msg['config'], msg['batch'])
                reply = {'ok': True}
            elif msg['cmd'] == 'make':
                make_random_vit(msg['config'], msg['dir'])
                reply = {'ok': True}
            elif msg['cmd'] == 'setup':
                reply = {'trainable': bench.setup(msg['method'], msg['lr'], msg.get('cache_backbone', True), msg.get('options'))}
            elif msg['cmd'] == 'step':
                reply = {'ms': bench.step(), 'rss_mb': rss_mb()}
            else:
                raise ValueError(f"unknown command {msg['cmd']}")
        except Exception as e:  # reported to the driver
            reply = {'error': f'{type(e).__name__}: {e}'}
        print(json.dumps(reply), file=fout, flush=True)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ap = argparse.ArgumentParser()
    ap.add_argument('--serve', nargs=2, metavar=('REQ', 'RES'))
    ap.add_argument('--methods', default=','.join(METHODS))
    ap.add_argument('--reps', type=int, default=7)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    if a.serve:
        return serve(*a.serve)
    lrs = {'linear-probe': 1e-2, 'full': 1e-3}
    b = Bench(os.path.join(VIT_MNIST, 'model.safetensors'), os.path.join(VIT_MNIST, 'config.json'), a.batch)
    h = hello()
    if not a.json:
        print(f"PyTorch {h['torch']}, {h['threads']} thread, BLAS {h['blas']}; batch {a.batch}, median of {a.reps} steps after {a.warmup} warm-up")
        print('| method | trainable | ms/step |\n|---|---|---|')
    for method in a.methods.split(','):
        n = b.setup(method, lrs.get(method, 5e-3))
        times = [b.step() for _ in range(a.warmup + a.reps)][a.warmup:]
        ms = statistics.median(times)
        if a.json:
            print(json.dumps({'method': method, 'trainable': n, 'ms': ms, 'times': times, **h}))
        else:
            print(f'| {method} | {n:,} | {ms:.1f} |')


if __name__ == '__main__':
    main()
