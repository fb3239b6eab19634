#!/usr/bin/env python3
"""Trains the two starter models of the diffusion side on Fashion-MNIST and writes them as model folders:

  <out>/vit-fashion/  a small ViT classifier in the timm key layout (loadModelFolder reads it), used to
                      judge samples: per-class agreement and a Fréchet distance on its features
  <out>/dit-fashion/  a small class-conditional DiT (original DiT key layout, pixel space, 28×28×1,
                      ε-prediction, linear β schedule over 1000 steps, class dropout for
                      classifier-free guidance), EMA weights stored as F16

The DiT and the ViT modules are the parity references of scripts/make_dit_fixtures.py and
scripts/make_vit_fixtures.py. After training it samples with DDIM (50 steps) at a few guidance scales
and prints how often the classifier agrees with the asked class, as a check of the PyTorch side.

Usage:
  python3 scripts/train_dit_starter.py --data DIR --out DIR [--dit-seconds S] [--vit-epochs N] [--seed N]
DIR holds the four IDX files (train-/t10k-images-idx3-ubyte[.gz], train-/t10k-labels-idx1-ubyte[.gz]),
e.g. /usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist.
"""
import argparse
import copy
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_dit_fixtures import DiT, write_config  # noqa: E402
from make_vit_fixtures import TimmVisionTransformer, save_safetensors  # noqa: E402

CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
VIT = dict(image_size=28, patch_size=4, num_channels=1, hidden_size=96, num_hidden_layers=6, num_attention_heads=4,
           intermediate_size=384, hidden_act='gelu', qkv_bias=True, layer_norm_eps=1e-6, num_labels=10)
TIMESTEPS, BETA_START, BETA_END = 1000, 1e-4, 0.02


def read_idx(folder, name):
    path = os.path.join(folder, name)
    opener = gzip.open if os.path.exists(path + '.gz') else open
    with opener(path + '.gz' if os.path.exists(path + '.gz') else path, 'rb') as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def log(msg, file):
    print(msg, flush=True)
    file.write(msg + '\n')
    file.flush()


def vit_input(u8):
    """uint8 [B, 28, 28] → normalised [B, 1, 28, 28] (preprocessor_config: rescale 1/255, mean 0.5, std 0.5)."""
    return ((u8.float() / 255 - 0.5) / 0.5).unsqueeze(1)


def train_classifier(train_x, train_y, test_x, test_y, args, device, logf):
    torch.manual_seed(args.seed)
    model = TimmVisionTransformer(VIT, 'token').to(device)
    with torch.no_grad():
        torch.nn.init.trunc_normal_(model.pos_embed, std=0.02)
        torch.nn.init.trunc_normal_(model.cls_token, std=0.02)
    steps_per_epoch = len(train_x) // args.batch
    total = steps_per_epoch * args.vit_epochs
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=total, pct_start=0.1)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    start = time.time()
    for step in range(total):
        idx = torch.randint(0, len(train_x), (args.batch,), device=device, generator=gen)
        x = vit_input(train_x[idx])
        # Random translation by up to 2 pixels (pad and crop): the only augmentation.
        shift = torch.randint(-2, 3, (2,), generator=gen, device=device).tolist()
        x = torch.roll(F.pad(x, (2, 2, 2, 2), value=-1.0), shifts=shift, dims=(2, 3))[:, :, 2:30, 2:30]
        _, logits = model(x)
        loss = F.cross_entropy(logits, train_y[idx].long(), label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % steps_per_epoch == 0:
            log(f'vit epoch {(step + 1) // steps_per_epoch}/{args.vit_epochs}  loss {loss.item():.4f}  {time.time() - start:.1f} s', logf)
    model.eval()
    acc = (classify(model, test_x) == test_y.long()).float().mean().item()
    log(f'vit: {total} steps, batch {args.batch}, {time.time() - start:.1f} s, t10k accuracy {acc:.4f}', logf)
    return model, {'steps': total, 'batch': args.batch, 'wall_s': round(time.time() - start, 1), 'test_accuracy': round(acc, 4)}


@torch.no_grad()
def classify(model, u8):
    return torch.cat([model(vit_input(u8[i:i + 1000]))[1].argmax(-1) for i in range(0, len(u8), 1000)])


def alphas_cumprod(device):
    betas = torch.linspace(BETA_START, BETA_END, TIMESTEPS, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).float().to(device)


def train_dit(train_x, train_y, args, device, logf):
    torch.manual_seed(args.seed)
    cfg = dict(input_size=28, patch_size=args.patch, in_channels=1, hidden_size=args.hidden, depth=args.depth,
               num_heads=args.heads, mlp_ratio=4.0, num_classes=10, learn_sigma=False, frequency_embedding_size=256)
    model = DiT(cfg).to(device)
    model.zero_init()
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    abar = alphas_cumprod(device)
    gen = torch.Generator(device=device).manual_seed(args.seed + 1)
    data = train_x.float() / 127.5 - 1  # pixel space in [-1, 1]
    labels = train_y.long()

    def step_fn(lr):
        for g in opt.param_groups:
            g['lr'] = lr
        idx = torch.randint(0, len(data), (args.batch,), device=device, generator=gen)
        x0 = data[idx].unsqueeze(1)
        t = torch.randint(0, TIMESTEPS, (args.batch,), device=device, generator=gen)
        eps = torch.randn(x0.shape, device=device, generator=gen)
        a = abar[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        drop = torch.rand(args.batch, device=device, generator=gen) < args.class_dropout
        y = torch.where(drop, torch.full_like(labels[idx], 10), labels[idx])
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == 'cuda'):
            pred = model(xt, t.float(), y)
        loss = F.mse_loss(pred.float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - args.ema)
        return loss

    # The step count follows from the time budget: time a few warm-up steps, then plan the schedule.
    start = time.time()
    probe = 50
    for _ in range(probe):
        step_fn(args.lr * 0.1)
    if device.type == 'cuda':
        torch.cuda.synchronize()
    per_step = (time.time() - start) / probe
    total = max(probe + 1, int(args.dit_seconds / per_step)) if args.dit_steps == 0 else args.dit_steps
    warmup = min(1000, total // 10)
    log(f'dit: {sum(p.numel() for p in model.parameters())} params, {per_step * 1000:.1f} ms/step → {total} steps', logf)
    running = 0.0
    for step in range(probe, total):
        lr = args.lr * min(1.0, step / max(1, warmup)) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / total)))
        loss = step_fn(lr)
        running = 0.99 * running + 0.01 * loss.item() if step % 50 == 0 or step == total - 1 else running
        if (step + 1) % max(1, total // 20) == 0 or step == total - 1:
            log(f'dit step {step + 1}/{total}  loss {loss.item():.4f}  {time.time() - start:.1f} s', logf)
    final = loss.item()
    wall = time.time() - start
    return ema, cfg, {'steps': total, 'batch': args.batch, 'lr': args.lr, 'ema': args.ema, 'wall_s': round(wall, 1),
                      'final_loss': round(final, 4), 'class_dropout': args.class_dropout}


@torch.no_grad()
def ddim_sample(model, y, steps, cfg_scale, gen, device):
    abar = alphas_cumprod(device)
    ts = np.linspace(0, TIMESTEPS - 1, steps).round().astype(int)[::-1]
    x = torch.randn(len(y), 1, 28, 28, device=device, generator=gen)
    null = torch.full_like(y, 10)
    for i, t in enumerate(ts):
        a = abar[t]
        a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, device=device)
        tt = torch.full((len(y) * 2,), float(t), device=device)
        e = model(torch.cat([x, x]), tt, torch.cat([y, null]))
        ec, eu = e.chunk(2)
        eps = eu + cfg_scale * (ec - eu)
        x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return ((x.squeeze(1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def save_folder(out, name, model, config, dtype, preprocessor=None):
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    save_safetensors(os.path.join(folder, 'model.safetensors'), {k: v.cpu() for k, v in model.state_dict().items()}, dtype)
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
    if preprocessor:
        with open(os.path.join(folder, 'preprocessor_config.json'), 'w') as f:
            json.dump(preprocessor, f, indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--vit-epochs', type=int, default=15)
    ap.add_argument('--dit-seconds', type=float, default=360)
    ap.add_argument('--dit-steps', type=int, default=0, help='fixed step count instead of --dit-seconds')
    ap.add_argument('--hidden', type=int, default=128)
    ap.add_argument('--depth', type=int, default=4)
    ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--patch', type=int, default=4)
    ap.add_argument('--lr', type=float, default=5e-4)
    ap.add_argument('--ema', type=float, default=0.9995)
    ap.add_argument('--class-dropout', type=float, default=0.1)
    ap.add_argument('--eval-per-class', type=int, default=100)
    ap.add_argument('--limit', type=int, default=0, help='train on the first N images only (smoke runs)')
    args = ap.parse_args()
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    torch.backends.cuda.matmul.allow_tf32 = True
    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, 'train.log'), 'w')
    log(f'torch {torch.__version__} on {torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}; args {vars(args)}', logf)

    load = lambda n: torch.from_numpy(read_idx(args.data, n).copy()).to(device)  # noqa: E731
    train_x, train_y = load('train-images-idx3-ubyte'), load('train-labels-idx1-ubyte')
    if args.limit:
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
    test_x, test_y = load('t10k-images-idx3-ubyte'), load('t10k-labels-idx1-ubyte')

    vit, vit_stats = train_classifier(train_x, train_y, test_x, test_y, args, device, logf)
    id2label = {str(i): c for i, c in enumerate(CLASSES)}
    save_folder(args.out, 'vit-fashion', vit, {'model_type': 'vit', 'layout': 'timm', **VIT, 'id2label': id2label,
                                               'training': vit_stats}, 'F32',
                {'do_resize': False, 'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
                 'image_mean': [0.5], 'image_std': [0.5]})

    dit, dit_cfg, dit_stats = train_dit(train_x, train_y, args, device, logf)
    save_folder(args.out, 'dit-fashion', dit, write_config_dict(dit_cfg, id2label, dit_stats, args), 'F16')
    gen = torch.Generator(device=device).manual_seed(args.seed + 2)
    y = torch.arange(10, device=device).repeat_interleave(args.eval_per_class)
    evals = {}
    for scale in (1.0, 2.0, 3.0, 4.0):
        samples = ddim_sample(dit, y, 50, scale, gen, device)
        agree = (classify(vit, samples) == y).float().mean().item()
        evals[str(scale)] = round(agree, 4)
        log(f'pytorch DDIM 50 steps, cfg {scale}: class agreement {agree:.4f} ({len(y)} samples)', logf)
        if scale == 3.0:
            k = min(10, args.eval_per_class)
            grid = samples.view(10, args.eval_per_class, 28, 28)[:, :k].permute(0, 2, 1, 3).reshape(280, 28 * k)
            from PIL import Image
            Image.fromarray(grid.cpu().numpy()).save(os.path.join(args.out, 'samples.png'))
    dit_stats['pytorch_ddim50_agreement_by_cfg'] = evals
    with open(os.path.join(args.out, 'dit-fashion', 'config.json'), 'w') as f:
        json.dump(write_config_dict(dit_cfg, id2label, dit_stats, args), f, indent=2)
    log(json.dumps({'vit': vit_stats, 'dit': dit_stats}), logf)


def write_config_dict(cfg, id2label, stats, args):
    return {'model_type': 'dit', **cfg, 'id2label': id2label, 'class_dropout_prob': args.class_dropout,
            'diffusion': {'schedule': 'linear', 'timesteps': TIMESTEPS, 'beta_start': BETA_START, 'beta_end': BETA_END,
                          'prediction': 'epsilon'},
            'pixel_range': [-1, 1], 'training': stats}


if __name__ == '__main__':
    main()
