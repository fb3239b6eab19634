// Diffusion Transformer (Peebles & Xie, "Scalable Diffusion Models with Transformers") as pure
// functions of (params, inputs), in pixel space. The blocks reuse the ViT's attention, linear and
// activation code (models/vit.ts), so PEFT methods reach them through the same VitHooks.
// Callers own tf.tidy: every function here allocates intermediates and returns new tensors.
//
// Canonical parameter names are the keys of the original DiT checkpoints, with linear weights
// stored [in, out] (transposed from PyTorch) so the forward needs no transposes:
//   x_embedder.proj.weight [p*p*C, D] (patch pixels in (p1 p2 c) order), x_embedder.proj.bias [D]
//   pos_embed [N, D] (fixed 2-D sin-cos, see sincosPosEmbed)
//   t_embedder.mlp.0.weight [F, D], .bias [D]; t_embedder.mlp.2.weight [D, D], .bias [D]
//   y_embedder.embedding_table.weight [numClasses + 1, D] (the last row: the null class of guidance)
//   blocks.{i}.attn.qkv.weight [D, 3D], .bias; blocks.{i}.attn.proj.weight [D, D], .bias
//   blocks.{i}.mlp.fc1.weight [D, M], .bias; blocks.{i}.mlp.fc2.weight [M, D], .bias
//   blocks.{i}.adaLN_modulation.1.weight [D, 6D], .bias [6D]
//   final_layer.adaLN_modulation.1.weight [D, 2D], .bias; final_layer.linear.weight [D, p*p*C'], .bias
import * as tf from '@tensorflow/tfjs';
import { layerNormRows } from '../ops/layer-norm';
import { activate, attention, linear, patchify, type VitHooks, type VitParams } from './vit';

export interface DitConfig {
  /** Side of the square input (pixels). */
  imageSize: number;
  patchSize: number;
  inChannels: number;
  hiddenSize: number;
  depth: number;
  numHeads: number;
  mlpSize: number;
  /** Real classes; the embedding table has one more row, the null class. */
  numClasses: number;
  /** The original DiT also predicts the variance: output channels 2·C, the first C being ε. */
  learnSigma: boolean;
  /** Width of the sinusoidal timestep features fed to t_embedder.mlp.0 (DiT: 256). */
  frequencySize: number;
}

/** Inputs of one forward: noisy images NHWC [B, H, W, C], timesteps [B] (float), classes [B] (int32). */
export interface DitInputs {
  x: tf.Tensor4D;
  t: tf.Tensor1D;
  y: tf.Tensor1D;
}

const EPS = 1e-6;

export function ditOutChannels(config: Pick<DitConfig, 'inChannels' | 'learnSigma'>): number {
  return config.inChannels * (config.learnSigma ? 2 : 1);
}

/** Canonical parameter shapes for a config: the contract between the importer and the forward. */
export function ditParamShapes(config: DitConfig): Map<string, number[]> {
  const { hiddenSize: d, patchSize: p, inChannels: c, mlpSize: m } = config;
  const g = config.imageSize / p;
  const shapes = new Map<string, number[]>([
    ['x_embedder.proj.weight', [p * p * c, d]],
    ['x_embedder.proj.bias', [d]],
    ['pos_embed', [g * g, d]],
    ['t_embedder.mlp.0.weight', [config.frequencySize, d]],
    ['t_embedder.mlp.0.bias', [d]],
    ['t_embedder.mlp.2.weight', [d, d]],
    ['t_embedder.mlp.2.bias', [d]],
    ['y_embedder.embedding_table.weight', [config.numClasses + 1, d]],
  ]);
  for (let i = 0; i < config.depth; i++) {
    const b = `blocks.${i}`;
    shapes.set(`${b}.attn.qkv.weight`, [d, 3 * d]).set(`${b}.attn.qkv.bias`, [3 * d]);
    shapes.set(`${b}.attn.proj.weight`, [d, d]).set(`${b}.attn.proj.bias`, [d]);
    shapes.set(`${b}.mlp.fc1.weight`, [d, m]).set(`${b}.mlp.fc1.bias`, [m]);
    shapes.set(`${b}.mlp.fc2.weight`, [m, d]).set(`${b}.mlp.fc2.bias`, [d]);
    shapes.set(`${b}.adaLN_modulation.1.weight`, [d, 6 * d]).set(`${b}.adaLN_modulation.1.bias`, [6 * d]);
  }
  shapes.set('final_layer.adaLN_modulation.1.weight', [d, 2 * d]).set('final_layer.adaLN_modulation.1.bias', [2 * d]);
  shapes.set('final_layer.linear.weight', [d, p * p * ditOutChannels(config)]).set('final_layer.linear.bias', [p * p * ditOutChannels(config)]);
  return shapes;
}

/**
 * DiT's fixed position embeddings (get_2d_sincos_pos_embed) for a grid × grid patch grid, row-major
 * [grid*grid, D]: the first D/2 channels encode the patch's column, the last D/2 its row, each as
 * [sin(pos·ω), cos(pos·ω)] with ω_k = 10000^(-k/(D/4)).
 */
export function sincosPosEmbed(dim: number, grid: number): Float32Array {
  if (dim % 4 !== 0) throw new Error(`DiT position embeddings need a width divisible by 4, got ${dim}`);
  const quarter = dim / 4;
  const out = new Float32Array(grid * grid * dim);
  for (let row = 0; row < grid; row++) {
    for (let col = 0; col < grid; col++) {
      const base = (row * grid + col) * dim;
      for (let k = 0; k < quarter; k++) {
        const omega = 1 / 10000 ** (k / quarter);
        out[base + k] = Math.sin(col * omega);
        out[base + quarter + k] = Math.cos(col * omega);
        out[base + 2 * quarter + k] = Math.sin(row * omega);
        out[base + 3 * quarter + k] = Math.cos(row * omega);
      }
    }
  }
  return out;
}

/** Sinusoidal timestep features [B, F]: [cos(t·f_k), sin(t·f_k)] with f_k = 10000^(-k/(F/2)). */
export function timestepFeatures(t: tf.Tensor1D, size: number): tf.Tensor2D {
  const half = Math.floor(size / 2);
  const freqs = tf.tensor1d(Array.from({ length: half }, (_, k) => Math.exp((-Math.log(10000) * k) / half)));
  const args = tf.mul(tf.reshape(t, [-1, 1]), tf.reshape(freqs, [1, half]));
  const features = tf.concat([tf.cos(args), tf.sin(args)], 1) as tf.Tensor2D;
  return size % 2 === 0 ? features : (tf.pad(features, [[0, 0], [0, 1]]) as tf.Tensor2D);
}

function param(params: VitParams, name: string): tf.Tensor {
  const t = params[name];
  if (!t) throw new Error(`DiT parameter "${name}" is missing`);
  return t;
}

const silu = (x: tf.Tensor2D): tf.Tensor2D => tf.mul(x, tf.sigmoid(x));

/**
 * The conditioning vector c = t_embedder(t) + y_embedder(y), [B, D]. Classes are looked up with a
 * one-hot matmul rather than tf.gather: gather's gradient needs UnsortedSegmentSum, which tfjs-wasm
 * lacks, and fine-tuning trains the table.
 */
export function ditConditioning(params: VitParams, config: DitConfig, t: tf.Tensor1D, y: tf.Tensor1D, hooks?: VitHooks): tf.Tensor2D {
  const hidden = silu(linear(params, 't_embedder.mlp.0', timestepFeatures(t, config.frequencySize), true, hooks));
  const temb = linear(params, 't_embedder.mlp.2', hidden, true, hooks);
  const onehot = tf.oneHot(tf.cast(y, 'int32'), config.numClasses + 1);
  const yemb = tf.matMul(tf.cast(onehot, 'float32'), param(params, 'y_embedder.embedding_table.weight') as tf.Tensor2D);
  return tf.add(temb, yemb);
}

/** x·(1 + scale) + shift per sample: x [B*N, D], scale and shift [B, D]. */
function modulate(x: tf.Tensor2D, shift: tf.Tensor2D, scale: tf.Tensor2D, batch: number, tokens: number): tf.Tensor2D {
  const d = x.shape[1];
  const x3 = tf.reshape(x, [batch, tokens, d]);
  const out = tf.add(tf.mul(x3, tf.add(tf.reshape(scale, [batch, 1, d]), 1)), tf.reshape(shift, [batch, 1, d]));
  return tf.reshape(out, [batch * tokens, d]);
}

/** gate [B, D] times y [B*N, D], per sample. */
function gated(gate: tf.Tensor2D, y: tf.Tensor2D, batch: number, tokens: number): tf.Tensor2D {
  const d = y.shape[1];
  return tf.reshape(tf.mul(tf.reshape(y, [batch, tokens, d]), tf.reshape(gate, [batch, 1, d])), [batch * tokens, d]);
}

/** DiT's LayerNorms have no affine part (elementwise_affine=False): γ = 1, β = 0. */
function normed(name: string, x: tf.Tensor2D, hooks?: VitHooks): tf.Tensor2D {
  const d = x.shape[1];
  const y = layerNormRows(x, tf.ones([d]), tf.zeros([d]), EPS);
  return hooks?.norm ? hooks.norm(name, y) : y;
}

/**
 * One adaLN-Zero block on tokens x [B*N, D] under conditioning siluC = SiLU(c) [B, D]:
 * x += gate_msa·attn(modulate(norm1(x))); x += gate_mlp·mlp(modulate(norm2(x))).
 */
export function ditBlock(params: VitParams, config: DitConfig, i: number, x: tf.Tensor2D, siluC: tf.Tensor2D, batch: number, tokens: number, hooks?: VitHooks): tf.Tensor2D {
  const b = `blocks.${i}`;
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = tf.split(linear(params, `${b}.adaLN_modulation.1`, siluC, true, hooks), 6, 1) as tf.Tensor2D[];
  const heads = { numHeads: config.numHeads, headDim: config.hiddenSize / config.numHeads, qkvBias: true };
  const h = modulate(normed(`${b}.norm1`, x, hooks), shiftMsa!, scaleMsa!, batch, tokens);
  x = tf.add(x, gated(gateMsa!, attention(params, `${b}.attn`, h, batch, tokens, heads, hooks), batch, tokens));
  const m = modulate(normed(`${b}.norm2`, x, hooks), shiftMlp!, scaleMlp!, batch, tokens);
  const hidden = activate(linear(params, `${b}.mlp.fc1`, m, true, hooks), 'gelu_tanh');
  return tf.add(x, gated(gateMlp!, linear(params, `${b}.mlp.fc2`, hidden, true, hooks), batch, tokens));
}

/** Patch rows [B * g * g, p*p*C'] in (p1 p2 c) order → images NHWC [B, g*p, g*p, C']. */
export function unpatchify(rows: tf.Tensor2D, batch: number, grid: number, p: number, channels: number): tf.Tensor4D {
  // (p2 c) stays contiguous: one swap of the p1 and grid-column axes at rank 4, as in patchify.
  const x = tf.reshape(rows, [batch * grid, grid, p, p * channels]);
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [batch, grid * p, grid * p, channels]);
}

/** The model output NHWC [B, H, W, C'] (C' = 2C with learnSigma: ε first, then the variance channels). */
export function ditForward(params: VitParams, config: DitConfig, inputs: DitInputs, hooks?: VitHooks): tf.Tensor4D {
  const { x, t, y } = inputs;
  const [batch, height, width, channels] = x.shape;
  const p = config.patchSize;
  if (channels !== config.inChannels) throw new Error(`DiT expects ${config.inChannels} channel(s), got ${channels}`);
  if (height !== config.imageSize || width !== config.imageSize) {
    throw new Error(`DiT expects ${config.imageSize}×${config.imageSize} inputs, got ${height}×${width}`);
  }
  const grid = config.imageSize / p;
  const tokens = grid * grid;
  const d = config.hiddenSize;
  const embedded = linear(params, 'x_embedder.proj', patchify(x, p), true, hooks);
  let h = tf.reshape(tf.add(tf.reshape(embedded, [batch, tokens, d]), param(params, 'pos_embed')), [batch * tokens, d]) as tf.Tensor2D;
  const siluC = silu(ditConditioning(params, config, t, y, hooks));
  for (let i = 0; i < config.depth; i++) {
    h = ditBlock(params, config, i, h, siluC, batch, tokens, hooks);
    if (hooks?.blockOutput) hooks.blockOutput(i, tf.reshape(h, [batch, tokens, d]));
  }
  const [shift, scale] = tf.split(linear(params, 'final_layer.adaLN_modulation.1', siluC, true, hooks), 2, 1) as tf.Tensor2D[];
  const out = linear(params, 'final_layer.linear', modulate(normed('final_layer.norm_final', h, hooks), shift!, scale!, batch, tokens), true, hooks);
  return unpatchify(out, batch, grid, p, ditOutChannels(config));
}

/** The ε prediction NHWC [B, H, W, C]: the model output without the variance channels. */
export function ditEpsilon(params: VitParams, config: DitConfig, inputs: DitInputs, hooks?: VitHooks): tf.Tensor4D {
  const out = ditForward(params, config, inputs, hooks);
  if (!config.learnSigma) return out;
  const [b, h, w] = out.shape;
  return tf.slice(out, [0, 0, 0, 0], [b, h, w, config.inChannels]);
}
