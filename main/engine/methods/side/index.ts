// Ladder side-tuning (LST, Sung et al. 2022) for ViTs: a narrow side transformer runs beside the
// frozen backbone. Its stream starts from a down-projection of the embedded tokens; before side
// block j the down-projected output of backbone block layers[j] is mixed in by a learned gate,
// h ← μ·down_j(tap) + (1 − μ)·h with μ = σ(α_j / T), α_j = 0 at init; the side output, normed and
// up-projected to the backbone width, replaces the backbone's final tokens for pooling and the
// head. The backbone consumes no trainable tensor, so tfjs leaves it out of the backward pass (the
// tape is filtered to paths from trainable tensors to the loss) and its taps can be cached per
// image (tapCache).
import * as tf from '@tensorflow/tfjs';
import { normAfterPooling, vitBlock, vitHead, vitNeck, vitPooled, type VitConfig, type VitParams } from '../../models/vit';
import { layerNormRows } from '../../ops/layer-norm';
import { canonicalAdapterTensors, forwardParams } from '../framework';
import type { NamedTensors, PeftMethod } from '../types';
import { sideOptions, type SideOptions } from './config';

/** Narrowest side stream and MLP. */
const MIN_WIDTH = 4;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** The side network's block config and the backbone blocks it taps. */
function sideGeometry(config: VitConfig, options: SideOptions): { side: VitConfig; layers: number[] } {
  // A LayerNorm over 1 or 2 channels outputs constants (or ±1): keep the side at least MIN_WIDTH wide.
  const width = Math.max(MIN_WIDTH, Math.floor(config.hiddenSize / options.reduction));
  // As many heads as the backbone where the narrow width allows, so head widths stay equal.
  const heads = gcd(config.numHeads, width);
  const layers = options.layers ?? Array.from({ length: config.depth }, (_, i) => i);
  const outside = layers.find((l) => l >= config.depth);
  if (outside !== undefined) throw new Error(`side: layer ${outside} does not exist in a ${config.depth}-block model`);
  const side: VitConfig = {
    ...config,
    hiddenSize: width,
    numHeads: heads,
    headDim: width / heads,
    mlpSize: Math.max(MIN_WIDTH, Math.floor(config.mlpSize / options.reduction)),
    qkvBias: true,
  };
  return { side, layers };
}

function sideShapes(config: VitConfig, options: SideOptions): Map<string, number[]> {
  const { side, layers } = sideGeometry(config, options);
  const { hiddenSize: d } = config;
  const { hiddenSize: w, mlpSize: m } = side;
  const shapes = new Map<string, number[]>([
    ['side.embed_down.weight', [d, w]],
    ['side.embed_down.bias', [w]],
  ]);
  layers.forEach((_, j) => {
    const b = `side.blocks.${j}`;
    shapes.set(`${b}.down.weight`, [d, w]).set(`${b}.down.bias`, [w]).set(`${b}.gate`, [1]);
    shapes.set(`${b}.norm1.weight`, [w]).set(`${b}.norm1.bias`, [w]);
    shapes.set(`${b}.attn.qkv.weight`, [w, 3 * w]).set(`${b}.attn.qkv.bias`, [3 * w]);
    shapes.set(`${b}.attn.proj.weight`, [w, w]).set(`${b}.attn.proj.bias`, [w]);
    shapes.set(`${b}.norm2.weight`, [w]).set(`${b}.norm2.bias`, [w]);
    shapes.set(`${b}.mlp.fc1.weight`, [w, m]).set(`${b}.mlp.fc1.bias`, [m]);
    shapes.set(`${b}.mlp.fc2.weight`, [m, w]).set(`${b}.mlp.fc2.bias`, [w]);
  });
  return shapes.set('side.norm.weight', [w]).set('side.norm.bias', [w]).set('side.up.weight', [w, d]).set('side.up.bias', [d]);
}

function get(t: NamedTensors | VitParams, name: string): tf.Tensor {
  const v = t[name];
  if (!v) throw new Error(`side: tensor "${name}" is missing`);
  return v;
}

/** x [B, N, in] · W + b over the last axis, as one 2-D matmul. */
function linear3d(t: NamedTensors | VitParams, name: string, x: tf.Tensor3D): tf.Tensor3D {
  const [b, n, c] = x.shape;
  const w = get(t, `${name}.weight`) as tf.Tensor2D;
  return tf.reshape(tf.add(tf.matMul(tf.reshape(x, [b * n, c]), w), get(t, `${name}.bias`)), [b, n, w.shape[1]]);
}

/** The backbone's LayerNorm (same kernels and gradient) on [B, N, D]. */
function layerNorm(t: NamedTensors | VitParams, name: string, x: tf.Tensor3D, eps: number): tf.Tensor3D {
  const [b, n, d] = x.shape;
  return tf.reshape(layerNormRows(tf.reshape(x, [b * n, d]), get(t, `${name}.weight`), get(t, `${name}.bias`), eps), [b, n, d]);
}

/** The side network: taps = [embedded tokens, outputs of blocks layers[0], layers[1], …] → [B, N, D]. */
function sideTokens(trainable: NamedTensors, config: VitConfig, options: SideOptions, taps: readonly tf.Tensor3D[]): tf.Tensor3D {
  const { side, layers } = sideGeometry(config, options);
  if (taps.length !== layers.length + 1) throw new Error(`side: expected ${layers.length + 1} backbone taps, got ${taps.length}`);
  let h = linear3d(trainable, 'side.embed_down', taps[0]!);
  layers.forEach((_, j) => {
    const b = `side.blocks.${j}`;
    const mu = tf.sigmoid(tf.div(get(trainable, `${b}.gate`), options.gateTemperature));
    h = tf.add(tf.mul(mu, linear3d(trainable, `${b}.down`, taps[j + 1]!)), tf.mul(tf.sub(1, mu), h));
    h = vitBlock(trainable, b, h, side);
  });
  return linear3d(trainable, 'side.up', layerNorm(trainable, 'side.norm', h, config.layerNormEps));
}

/** Pooling, final norm and head on side tokens, as vitPooled/vitNeck/vitHead do on the backbone's. */
function headOnTokens(params: VitParams, config: VitConfig, x: tf.Tensor3D): tf.Tensor2D {
  const [b, n, d] = x.shape;
  let tokens = x;
  if (!normAfterPooling(config) && config.finalNorm === 'tokens') tokens = layerNorm(params, 'norm', x, config.layerNormEps);
  const cls = () => tf.reshape(tf.slice(tokens, [0, 0, 0], [b, 1, d]), [b, d]);
  const pooled = {
    cls,
    mean: () => tf.mean(tf.slice(tokens, [0, 1, 0], [b, n - 1, d]), 1),
    mean_all: () => tf.mean(tokens, 1),
  }[config.pooling]() as tf.Tensor2D;
  return vitHead(params, vitNeck(params, config, pooled));
}

export const side: PeftMethod<SideOptions> = {
  name: 'side',
  description: 'ladder side-tuning: a narrow gated side transformer reads frozen backbone blocks; no backprop through the backbone',
  options: sideOptions,
  // Pooled features are not enough: the taps are what can be cached (tapCache).
  featureCacheable: false,
  init(_base, config, options, rng) {
    const out: NamedTensors = {};
    for (const [name, shape] of sideShapes(config, options)) {
      const size = shape.reduce((a, b) => a * b, 1);
      if (name.endsWith('.weight') && shape.length === 2) {
        // nn.Linear's default weight range, U(±1/√in).
        const bound = 1 / Math.sqrt(shape[0]!);
        out[name] = tf.tensor(rng.fill(size, (r) => r.uniform(-bound, bound)), shape);
      } else if (/norm\d?\.weight$/.test(name)) out[name] = tf.ones(shape);
      // Biases 0, LayerNorm shifts 0, gates α = 0 (μ = 1/2) as in LST.
      else out[name] = tf.zeros(shape);
    }
    return out;
  },
  shapes: (config, options) => sideShapes(config, options),
  hooks(trainable, config, options) {
    const { layers } = sideGeometry(config, options);
    let taps: tf.Tensor3D[] = [];
    return {
      tokens(block, x) {
        if (block === 0) taps = [x];
        return x;
      },
      blockOutput(block, x) {
        if (layers.includes(block)) taps.push(x);
      },
      encoded: () => sideTokens(trainable, config, options, taps),
    };
  },
  tapCache: {
    taps(base, config, options, images) {
      const { layers } = sideGeometry(config, options);
      return tf.tidy(() => {
        const taps: tf.Tensor3D[] = [];
        // Blocks after the last tapped one are not needed: run a truncated backbone.
        vitPooled(base, { ...config, depth: layers.at(-1)! + 1 }, images, {
          tokens: (block, x) => (block === 0 && taps.push(x), x),
          blockOutput: (block, x) => void (layers.includes(block) && taps.push(x)),
        });
        return taps;
      });
    },
    logits: (base, trainable, config, options, taps) => headOnTokens(forwardParams(base, trainable), config, sideTokens(trainable, config, options, taps)),
  },
  adapterTensors: (trainable) => canonicalAdapterTensors(trainable),
  fromAdapterTensors: (tensors) => canonicalAdapterTensors(tensors),
  adapterConfig: (config, options, layout) => {
    const { side: s, layers } = sideGeometry(config, options);
    return {
      peft_type: 'LADDER_SIDE',
      reduction: options.reduction,
      side_width: s.hiddenSize,
      side_heads: s.numHeads,
      side_mlp: s.mlpSize,
      layers,
      gate_temperature: options.gateTemperature,
      base_layout: layout,
      key_names: 'canonical',
    };
  },
};
