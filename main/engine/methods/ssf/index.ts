// SSF, Scaling & Shifting your Features (Lian et al. 2022): y ← γ ⊙ y + β per channel after the
// patch embedding, every attention qkv and proj, MLP fc1 and fc2, every LayerNorm and the final
// norm, all with the backbone frozen. Each γ/β is linear in the preceding layer's output, so merge
// folds it into that layer's weight and bias and inference costs nothing extra.
import * as tf from '@tensorflow/tfjs';
import { normAfterPooling, type VitConfig, type VitParams } from '../../models/vit';
import { canonicalAdapterTensors } from '../framework';
import type { NamedTensors, PeftMethod } from '../types';
import { ssfOptions, type SsfOptions } from './config';

/** One scaled-and-shifted output: a linear layer or a LayerNorm, `channels` wide. */
interface Site {
  module: string;
  channels: number;
  /** False where the layer has no bias to fold a shift into (qkv of qkv-bias-free models). */
  shift: boolean;
}

function ssfSites(config: VitConfig): Site[] {
  const { hiddenSize: d, mlpSize: m } = config;
  const inner = config.numHeads * config.headDim;
  const sites: Site[] = [{ module: 'patch_embed', channels: d, shift: true }];
  for (let i = 0; i < config.depth; i++) {
    const b = `blocks.${i}`;
    sites.push(
      { module: `${b}.norm1`, channels: d, shift: true },
      // Without a qkv bias a shift could not be merged away: keep SSF's zero inference cost.
      { module: `${b}.attn.qkv`, channels: 3 * inner, shift: config.qkvBias },
      { module: `${b}.attn.proj`, channels: d, shift: true },
      { module: `${b}.norm2`, channels: d, shift: true },
      { module: `${b}.mlp.fc1`, channels: m, shift: true },
      { module: `${b}.mlp.fc2`, channels: d, shift: true },
    );
  }
  // A final norm on the head side already trains its own weight and bias: γ/β there would only
  // duplicate them.
  if (config.finalNorm !== 'none' && !normAfterPooling(config)) sites.push({ module: 'norm', channels: d, shift: true });
  return sites;
}

function get(t: NamedTensors | VitParams, name: string): tf.Tensor {
  const v = t[name];
  if (!v) throw new Error(`SSF: tensor "${name}" is missing`);
  return v;
}

/** γ ⊙ y + β on the last axis. */
function scaleShift(trainable: NamedTensors, site: Site, y: tf.Tensor2D): tf.Tensor2D {
  const scaled = tf.mul(y, get(trainable, `${site.module}.ssf_scale`));
  return (site.shift ? tf.add(scaled, get(trainable, `${site.module}.ssf_shift`)) : scaled) as tf.Tensor2D;
}

/**
 * Folds every site into its layer: W ← W·diag(γ), b ← γ⊙b + β, for linear layers ([in, out]
 * weights scale by column) and LayerNorms alike. There is no unmerge: dividing by γ is
 * ill-conditioned wherever a scale has shrunk towards 0.
 */
function fold(params: VitParams, trainable: NamedTensors, config: VitConfig): NamedTensors {
  const out: NamedTensors = {};
  for (const site of ssfSites(config)) {
    const gamma = get(trainable, `${site.module}.ssf_scale`);
    out[`${site.module}.weight`] = tf.mul(get(params, `${site.module}.weight`), gamma);
    if (site.shift) {
      const b = get(params, `${site.module}.bias`);
      const beta = get(trainable, `${site.module}.ssf_shift`);
      out[`${site.module}.bias`] = tf.tidy(() => tf.add(tf.mul(b, gamma), beta));
    }
  }
  return out;
}

export const ssf: PeftMethod<SsfOptions> = {
  name: 'ssf',
  description: 'scale and shift features per channel after every linear layer and LayerNorm; merges into the weights',
  options: ssfOptions,
  featureCacheable: false,
  // The paper's init: every γ/β starts near, not at, identity (initStd 0 gives identity).
  perturbsAtInit: true,
  init(_base, config, options, rng) {
    const out: NamedTensors = {};
    for (const site of ssfSites(config)) {
      out[`${site.module}.ssf_scale`] = tf.tensor1d(rng.fill(site.channels, (r) => 1 + options.initStd * r.normal()));
      if (site.shift) out[`${site.module}.ssf_shift`] = tf.tensor1d(rng.fill(site.channels, (r) => options.initStd * r.normal()));
    }
    return out;
  },
  shapes(config) {
    const shapes = new Map<string, number[]>();
    for (const site of ssfSites(config)) {
      shapes.set(`${site.module}.ssf_scale`, [site.channels]);
      if (site.shift) shapes.set(`${site.module}.ssf_shift`, [site.channels]);
    }
    return shapes;
  },
  hooks(trainable, config) {
    const sites = new Map(ssfSites(config).map((s) => [s.module, s]));
    const apply = (name: string, y: tf.Tensor2D) => {
      const site = sites.get(name);
      return site ? scaleShift(trainable, site, y) : y;
    };
    return { linear: (name, _x, y) => apply(name, y), norm: apply };
  },
  merge: (base, trainable, config) => fold(base, trainable, config),
  adapterTensors: (trainable) => canonicalAdapterTensors(trainable),
  fromAdapterTensors: (tensors) => canonicalAdapterTensors(tensors),
  adapterConfig: (config, options, layout) => ({
    peft_type: 'SSF',
    init_std: options.initStd,
    target_modules: ssfSites(config).map((s) => s.module),
    base_layout: layout,
    key_names: 'canonical',
  }),
};
