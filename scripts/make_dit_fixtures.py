#!/usr/bin/env python3
"""A reference DiT (Peebles & Xie, "Scalable Diffusion Models with Transformers") in PyTorch with the
parameter names of the original checkpoints (facebookresearch/DiT models.py), and a parity fixture
for the engine's main/engine/models/dit.ts:

  test/fixtures/dit/<case>/model.safetensors, config.json   a small random DiT (DiT key layout)
  test/fixtures/dit/<case>/reference.safetensors            x (NHWC), t, y and the output (NHWC)

The DiT package is not on Debian, so its modules are re-written here with the same names and maths:
x_embedder.proj (Conv2d patch embedding), fixed 2-D sin-cos pos_embed, t_embedder.mlp.{0,2}
(sinusoidal frequencies → Linear → SiLU → Linear), y_embedder.embedding_table (num_classes + 1 rows:
the last is the null class of classifier-free guidance), blocks.N.{attn.qkv, attn.proj, mlp.fc1,
mlp.fc2, adaLN_modulation.1} (adaLN-Zero), final_layer.{adaLN_modulation.1, linear}. train_dit_starter.py
trains this same module. Needs Debian's python3-torch. Deterministic (seeded).

Usage: /usr/bin/python3 scripts/make_dit_fixtures.py [out_dir]
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_vit_fixtures import TimmAttention, save_safetensors  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'dit')


def sincos_1d(dim, pos):
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.einsum('m,d->md', pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim, grid_size):
    """DiT's get_2d_sincos_pos_embed: [grid*grid, dim]; the first half encodes the column (w goes first)."""
    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.stack(np.meshgrid(grid_w, grid_h), axis=0).reshape(2, 1, grid_size, grid_size)
    return np.concatenate([sincos_1d(dim // 2, grid[0]), sincos_1d(dim // 2, grid[1])], axis=1)


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class PatchEmbed(nn.Module):
    def __init__(self, channels, dim, p):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, p, p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, dim, freq_dim):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    @staticmethod
    def timestep_embedding(t, dim, max_period=10000):
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32, device=t.device) / half)
        args = t[:, None].float() * freqs[None]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

    def forward(self, t):
        return self.mlp(self.timestep_embedding(t, self.freq_dim))


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, dim):
        super().__init__()
        self.num_classes = num_classes
        self.embedding_table = nn.Embedding(num_classes + 1, dim)

    def forward(self, y, drop_prob=0.0):
        if drop_prob > 0:
            drop = torch.rand(y.shape[0], device=y.device) < drop_prob
            y = torch.where(drop, torch.full_like(y, self.num_classes), y)
        return self.embedding_table(y)


class Mlp(nn.Module):
    def __init__(self, d, m):
        super().__init__()
        self.fc1 = nn.Linear(d, m)
        self.act = nn.GELU(approximate='tanh')
        self.fc2 = nn.Linear(m, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    def __init__(self, d, heads, m):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = TimmAttention(d, heads, True)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, m)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, c):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    def __init__(self, d, p, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(d, p * p * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """Config keys as in config.json: input_size, patch_size, in_channels, hidden_size, depth, num_heads,
    mlp_ratio, num_classes, learn_sigma, frequency_embedding_size."""

    def __init__(self, c):
        super().__init__()
        d, p = c['hidden_size'], c['patch_size']
        self.p = p
        self.out_channels = c['in_channels'] * (2 if c['learn_sigma'] else 1)
        grid = c['input_size'] // p
        self.x_embedder = PatchEmbed(c['in_channels'], d, p)
        self.t_embedder = TimestepEmbedder(d, c['frequency_embedding_size'])
        self.y_embedder = LabelEmbedder(c['num_classes'], d)
        self.register_buffer('pos_embed', torch.from_numpy(sincos_2d(d, grid)).float().unsqueeze(0))
        m = int(d * c['mlp_ratio'])
        self.blocks = nn.ModuleList([DiTBlock(d, c['num_heads'], m) for _ in range(c['depth'])])
        self.final_layer = FinalLayer(d, p, self.out_channels)

    def zero_init(self):
        """DiT's initialisation: adaLN-Zero (modulation and output layers start at zero)."""
        def basic(m):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.apply(basic)
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        for mod in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(mod.weight)
            nn.init.zeros_(mod.bias)

    def unpatchify(self, x):
        c, p = self.out_channels, self.p
        h = w = int(x.shape[1] ** 0.5)
        x = x.reshape(x.shape[0], h, w, p, p, c)
        return torch.einsum('nhwpqc->nchpwq', x).reshape(x.shape[0], c, h * p, w * p)

    def forward(self, x, t, y, drop_prob=0.0):
        x = self.x_embedder(x) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder(y, drop_prob)
        for block in self.blocks:
            x = block(x, c)
        return self.unpatchify(self.final_layer(x, c))


def write_config(path, c, extra=None):
    with open(path, 'w') as f:
        json.dump({'model_type': 'dit', **c, **(extra or {})}, f, indent=2)


CASES = [
    ('dit_tiny_grey', dict(input_size=8, patch_size=2, in_channels=1, hidden_size=24, depth=2, num_heads=3,
                           mlp_ratio=2.0, num_classes=4, learn_sigma=False, frequency_embedding_size=32)),
    ('dit_sigma_rgb', dict(input_size=8, patch_size=4, in_channels=3, hidden_size=16, depth=2, num_heads=2,
                           mlp_ratio=4.0, num_classes=3, learn_sigma=True, frequency_embedding_size=16)),
]


def main():
    torch.set_num_threads(1)
    for index, (name, cfg) in enumerate(CASES):
        gen = torch.Generator().manual_seed(2000 + index)
        model = DiT(cfg)
        # Every parameter random (the adaLN-Zero init would hide mis-mapped modulation weights).
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
        model.eval()
        out = os.path.join(OUT, name)
        os.makedirs(out, exist_ok=True)
        save_safetensors(os.path.join(out, 'model.safetensors'), model.state_dict())
        write_config(os.path.join(out, 'config.json'), cfg)
        s, c = cfg['input_size'], cfg['in_channels']
        with torch.no_grad():
            x = torch.randn(3, c, s, s, generator=gen)
            t = torch.tensor([0.0, 17.0, 999.0])
            y = torch.tensor([0, cfg['num_classes'] - 1, cfg['num_classes']])  # the last is the null class
            result = model(x, t, y)
        ref = {'x': x.permute(0, 2, 3, 1), 't': t, 'y': y.float(), 'output': result.permute(0, 2, 3, 1)}
        save_safetensors(os.path.join(out, 'reference.safetensors'), ref)
        print(f'{name}: {sum(p.numel() for p in model.parameters())} params, output {list(result.shape)}')


if __name__ == '__main__':
    main()
