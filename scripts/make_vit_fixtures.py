#!/usr/bin/env python3
"""Builds small random ViTs in the four key layouts the importer reads (Hugging Face transformers,
timm, torchvision, lucidrains) and writes each as a model folder plus PyTorch reference outputs:

  test/fixtures/vit/<case>/model.safetensors, config.json, preprocessor_config.json
  test/fixtures/vit/<case>/reference.safetensors   pixel_values (NHWC, normalised), features,
                                                   logits; some cases also pixel_values_2x and
                                                   logits_2x (position embeddings resampled)
  test/fixtures/vit/<case>/image.png + reference image_logits for some cases (decode path)

transformers, timm and the vit-pytorch package are not on Debian, so their modules are re-written
here with the same parameter names and maths; torchvision's own VisionTransformer is used as is.
Needs Debian's python3-torch and python3-torchvision (PIL comes with them). Deterministic (seeded).

Usage: /usr/bin/python3 scripts/make_vit_fixtures.py [out_dir]
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'vit')


def save_safetensors(path, tensors, dtype='F32'):
    """Minimal safetensors writer (the safetensors package is not on Debian)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().contiguous().float().numpy()
        if dtype == 'F16':
            b = a.astype('<f2').tobytes()
        else:
            b = a.astype('<f4').tobytes()
        header[name] = {'dtype': dtype, 'shape': list(a.shape), 'data_offsets': [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    header['__metadata__'] = {'format': 'pt', 'source': 'scripts/make_vit_fixtures.py'}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def act_module(name):
    return {'gelu': nn.GELU(), 'gelu_pytorch_tanh': nn.GELU(approximate='tanh'), 'relu': nn.ReLU()}[name]


def attention(q, k, v, heads):
    """q, k, v: [B, N, h*d] → [B, N, h*d], softmax(q kᵀ / sqrt(d)) v per head."""
    b, n, inner = q.shape
    d = inner // heads
    q, k, v = (t.reshape(b, n, heads, d).transpose(1, 2) for t in (q, k, v))
    w = torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5, dim=-1)
    return (w @ v).transpose(1, 2).reshape(b, n, inner)


def resample_grid(pos, new_grid, mode):
    """pos [1, 1+g*g, D] → [1, 1+G*G, D]; class token kept, grid resampled like HF/timm do."""
    cls, grid = pos[:, :1], pos[:, 1:]
    g = int(math.sqrt(grid.shape[1]))
    d = grid.shape[-1]
    grid = grid.reshape(1, g, g, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode=mode, align_corners=False)
    return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, d)], dim=1)


# ---------------------------------------------------------------- Hugging Face transformers names
class HFSelfAttention(nn.Module):
    def __init__(self, dim, qkv_bias):
        super().__init__()
        self.query = nn.Linear(dim, dim, bias=qkv_bias)
        self.key = nn.Linear(dim, dim, bias=qkv_bias)
        self.value = nn.Linear(dim, dim, bias=qkv_bias)


class HFDense(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.dense = nn.Linear(i, o)


class HFAttention(nn.Module):
    def __init__(self, dim, qkv_bias):
        super().__init__()
        self.attention = HFSelfAttention(dim, qkv_bias)
        self.output = HFDense(dim, dim)


class HFLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c['hidden_size']
        self.attention = HFAttention(d, c['qkv_bias'])
        self.intermediate = HFDense(d, c['intermediate_size'])
        self.output = HFDense(c['intermediate_size'], d)
        self.layernorm_before = nn.LayerNorm(d, eps=c['layer_norm_eps'])
        self.layernorm_after = nn.LayerNorm(d, eps=c['layer_norm_eps'])
        self.act = act_module(c['hidden_act'])
        self.heads = c['num_attention_heads']

    def forward(self, x):
        h = self.layernorm_before(x)
        a = self.attention.attention
        x = x + self.attention.output.dense(attention(a.query(h), a.key(h), a.value(h), self.heads))
        return x + self.output.dense(self.act(self.intermediate.dense(self.layernorm_after(x))))


class HFPatch(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.projection = nn.Conv2d(c['num_channels'], c['hidden_size'], c['patch_size'], c['patch_size'])


class HFEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = (c['image_size'] // c['patch_size']) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c['hidden_size']))
        self.position_embeddings = nn.Parameter(torch.zeros(1, n + 1, c['hidden_size']))
        self.patch_embeddings = HFPatch(c)


class HFEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([HFLayer(c) for _ in range(c['num_hidden_layers'])])


class HFViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = HFEmbeddings(c)
        self.encoder = HFEncoder(c)
        self.layernorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])


class HFViTForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vit = HFViT(c)
        self.classifier = nn.Linear(c['hidden_size'], c['num_labels'])

    def forward(self, x, interpolate=None):
        e = self.vit.embeddings
        p = e.patch_embeddings.projection(x).flatten(2).transpose(1, 2)
        pos = e.position_embeddings
        if interpolate:
            pos = resample_grid(pos, int(math.sqrt(p.shape[1])), interpolate)
        x = torch.cat([e.cls_token.expand(p.shape[0], -1, -1), p], dim=1) + pos
        for layer in self.vit.encoder.layer:
            x = layer(x)
        feats = self.vit.layernorm(x)[:, 0]
        return feats, self.classifier(feats)


# ------------------------------------------------------------------------------------ timm names
class TimmAttention(nn.Module):
    def __init__(self, dim, heads, qkv_bias):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        # timm: qkv.reshape(B, N, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        w = torch.softmax((q * (d // self.heads) ** -0.5) @ k.transpose(-2, -1), dim=-1)
        return self.proj((w @ v).transpose(1, 2).reshape(b, n, d))


class TimmMlp(nn.Module):
    def __init__(self, d, m, act):
        super().__init__()
        self.fc1 = nn.Linear(d, m)
        self.act = act_module(act)
        self.fc2 = nn.Linear(m, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class TimmBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c['hidden_size']
        self.norm1 = nn.LayerNorm(d, eps=c['layer_norm_eps'])
        self.attn = TimmAttention(d, c['num_attention_heads'], c['qkv_bias'])
        self.norm2 = nn.LayerNorm(d, eps=c['layer_norm_eps'])
        self.mlp = TimmMlp(d, c['intermediate_size'], c['hidden_act'])

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TimmPatchEmbed(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.proj = nn.Conv2d(c['num_channels'], c['hidden_size'], c['patch_size'], c['patch_size'])


class TimmVisionTransformer(nn.Module):
    """global_pool 'token' → norm on tokens; 'avg' → fc_norm on the mean of the patch tokens."""

    def __init__(self, c, global_pool):
        super().__init__()
        d = c['hidden_size']
        n = (c['image_size'] // c['patch_size']) ** 2
        self.global_pool = global_pool
        self.patch_embed = TimmPatchEmbed(c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, d))
        self.blocks = nn.Sequential(*[TimmBlock(c) for _ in range(c['num_hidden_layers'])])
        if global_pool == 'avg':
            self.fc_norm = nn.LayerNorm(d, eps=c['layer_norm_eps'])
        else:
            self.norm = nn.LayerNorm(d, eps=c['layer_norm_eps'])
        self.head = nn.Linear(d, c['num_labels'])

    def forward(self, x, interpolate=None):
        p = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        pos = self.pos_embed
        if interpolate:
            pos = resample_grid(pos, int(math.sqrt(p.shape[1])), interpolate)
        x = self.blocks(torch.cat([self.cls_token.expand(p.shape[0], -1, -1), p], dim=1) + pos)
        if self.global_pool == 'avg':
            feats = self.fc_norm(x[:, 1:].mean(dim=1))
        else:
            feats = self.norm(x)[:, 0]
        return feats, self.head(feats)


# ------------------------------------------------------------- lucidrains vit-pytorch (0.x) names
class PatchRearrange(nn.Module):
    """einops Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)') without einops."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        b, c, h, w = x.shape
        p = self.p
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, (h // p) * (w // p), p * p * c)


class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class LucidAttention(nn.Module):
    def __init__(self, dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x):
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        return self.to_out(attention(q, k, v, self.heads))


class LucidFeedForward(nn.Module):
    def __init__(self, dim, hidden, act):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), act_module(act), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0))

    def forward(self, x):
        return self.net(x)


class LucidTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c['hidden_size']
        self.layers = nn.ModuleList([
            nn.ModuleList([
                PreNorm(d, LucidAttention(d, c['num_attention_heads'], c['head_dim'])),
                PreNorm(d, LucidFeedForward(d, c['intermediate_size'], c['hidden_act'])),
            ])
            for _ in range(c['num_hidden_layers'])
        ])

    def forward(self, x):
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return x


class LucidViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c['hidden_size']
        p = c['patch_size']
        n = (c['image_size'] // p) ** 2
        self.pool = c['pooling']
        self.to_patch_embedding = nn.Sequential(PatchRearrange(p), nn.Linear(p * p * c['num_channels'], d))
        self.pos_embedding = nn.Parameter(torch.zeros(1, n + 1, d))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.transformer = LucidTransformer(c)
        self.mlp_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, c['num_labels']))

    def forward(self, x, interpolate=None):
        p = self.to_patch_embedding(x)
        pos = self.pos_embedding
        if interpolate:
            pos = resample_grid(pos, int(math.sqrt(p.shape[1])), interpolate)
        x = self.transformer(torch.cat([self.cls_token.expand(p.shape[0], -1, -1), p], dim=1) + pos)
        pooled = x.mean(dim=1) if self.pool == 'mean' else x[:, 0]
        feats = self.mlp_head[0](pooled)
        return feats, self.mlp_head[1](feats)


# -------------------------------------------------------------------------- torchvision, as is
class TorchvisionWrapper(nn.Module):
    def __init__(self, c):
        super().__init__()
        from torchvision.models import VisionTransformer
        self.m = VisionTransformer(
            image_size=c['image_size'], patch_size=c['patch_size'], num_layers=c['num_hidden_layers'],
            num_heads=c['num_attention_heads'], hidden_dim=c['hidden_size'], mlp_dim=c['intermediate_size'],
            num_classes=c['num_labels'])

    def forward(self, x, interpolate=None):
        assert interpolate is None
        m = self.m
        x = m._process_input(x)
        x = torch.cat([m.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        feats = m.encoder(x)[:, 0]  # encoder adds pos_embedding and applies encoder.ln
        return feats, m.heads(feats)

    def state_dict_for_export(self):
        return self.m.state_dict()


def randomise(model, gen):
    """Every parameter random (LayerNorm weights near 1) so any mis-mapped tensor changes the output."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if isinstance(p, torch.Tensor) and name.endswith('weight') and p.dim() == 1:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


CASES = [
    # name, layout, builder, config, extras
    ('hf_gelu_rgb', 'hf', lambda c: HFViTForImageClassification(c), dict(
        image_size=16, patch_size=4, num_channels=3, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
        intermediate_size=48, hidden_act='gelu', qkv_bias=True, layer_norm_eps=1e-12, num_labels=5),
        dict(png=True, interpolate='bicubic')),
    ('hf_gelutanh_nobias_grey', 'hf', lambda c: HFViTForImageClassification(c), dict(
        image_size=8, patch_size=2, num_channels=1, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, hidden_act='gelu_pytorch_tanh', qkv_bias=False, layer_norm_eps=1e-12, num_labels=3),
        dict()),
    ('timm_avg_fcnorm', 'timm', lambda c: TimmVisionTransformer(c, 'avg'), dict(
        image_size=16, patch_size=4, num_channels=3, hidden_size=24, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=48, hidden_act='gelu', qkv_bias=True, layer_norm_eps=1e-6, num_labels=4, pooling='mean'),
        dict(interpolate='bilinear')),
    ('timm_token_relu_nobias', 'timm', lambda c: TimmVisionTransformer(c, 'token'), dict(
        image_size=12, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, hidden_act='relu', qkv_bias=False, layer_norm_eps=1e-6, num_labels=4),
        dict(interpolate='bicubic')),
    ('torchvision_f16', 'torchvision', lambda c: TorchvisionWrapper(c), dict(
        image_size=16, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, hidden_act='gelu', qkv_bias=True, layer_norm_eps=1e-6, num_labels=5),
        dict(dtype='F16')),
    ('lucidrains_headdim_relu', 'lucidrains', lambda c: LucidViT(c), dict(
        image_size=12, patch_size=4, num_channels=1, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        head_dim=12, intermediate_size=32, hidden_act='relu', qkv_bias=False, layer_norm_eps=1e-5, num_labels=10,
        pooling='cls'),
        dict(png=True)),
    ('lucidrains_mean_gelu', 'lucidrains', lambda c: LucidViT(c), dict(
        image_size=12, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=2, num_attention_heads=3,
        head_dim=8, intermediate_size=32, hidden_act='gelu', qkv_bias=False, layer_norm_eps=1e-5, num_labels=4,
        pooling='mean'),
        dict(interpolate='bicubic')),
]

MEAN = {1: [0.25], 3: [0.485, 0.456, 0.406]}
STD = {1: [0.5], 3: [0.229, 0.224, 0.225]}


def main():
    torch.set_num_threads(1)
    for index, (name, layout, build, cfg, extras) in enumerate(CASES):
        gen = torch.Generator().manual_seed(1000 + index)
        model = build(cfg)
        randomise(model, gen)
        model.eval()
        state = model.state_dict_for_export() if hasattr(model, 'state_dict_for_export') else model.state_dict()
        dtype = extras.get('dtype', 'F32')
        if dtype == 'F16':
            # Reference outputs must come from the weights as stored.
            with torch.no_grad():
                for t in state.values():
                    t.copy_(t.half().float())
        out = os.path.join(OUT, name)
        os.makedirs(out, exist_ok=True)
        save_safetensors(os.path.join(out, 'model.safetensors'), state, dtype)

        c = cfg['num_channels']
        config = {'model_type': 'vit', 'layout': layout, **cfg,
                  'id2label': {str(i): f'class_{i}' for i in range(cfg['num_labels'])}}
        with open(os.path.join(out, 'config.json'), 'w') as f:
            json.dump(config, f, indent=2)
        pre = {'do_resize': True, 'size': {'height': cfg['image_size'], 'width': cfg['image_size']},
               'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
               'image_mean': MEAN[c], 'image_std': STD[c]}
        with open(os.path.join(out, 'preprocessor_config.json'), 'w') as f:
            json.dump(pre, f, indent=2)

        s = cfg['image_size']
        ref = {}
        with torch.no_grad():
            x = torch.randn(3, c, s, s, generator=gen)
            feats, logits = model(x)
            ref['pixel_values'] = x.permute(0, 2, 3, 1)  # NHWC, as the engine takes images
            ref['features'] = feats
            ref['logits'] = logits
            if extras.get('interpolate'):
                x2 = torch.randn(2, c, 2 * s, 2 * s, generator=gen)
                _, logits2 = model(x2, interpolate=extras['interpolate'])
                ref['pixel_values_2x'] = x2.permute(0, 2, 3, 1)
                ref['logits_2x'] = logits2
            if extras.get('png'):
                pixels = torch.randint(0, 256, (s, s, c), generator=gen, dtype=torch.uint8).numpy()
                Image.fromarray(pixels[:, :, 0] if c == 1 else pixels, mode='L' if c == 1 else 'RGB').save(
                    os.path.join(out, 'image.png'))
                img = (torch.from_numpy(pixels.astype(np.float32)) / 255 - torch.tensor(MEAN[c])) / torch.tensor(STD[c])
                _, image_logits = model(img.permute(2, 0, 1).unsqueeze(0))
                ref['image_logits'] = image_logits
        meta = {'interpolate': extras.get('interpolate', '')}
        save_safetensors(os.path.join(out, 'reference.safetensors'), ref)
        with open(os.path.join(out, 'reference.json'), 'w') as f:
            json.dump({'torch': torch.__version__, **meta}, f, indent=2)
        print(f'{name}: {sum(t.numel() for t in state.values())} params, logits {list(logits.shape)}')


if __name__ == '__main__':
    main()
