// Vision Transformer as pure functions of (params, inputs). Callers own tf.tidy: every function
// here allocates intermediates and returns new tensors.
//
// Canonical parameter names (linear weights stored [in, out] so the forward needs no transposes):
//   patch_embed.weight [p*p*c, D] (patch pixels flattened in (p1 p2 c) order), patch_embed.bias [D]
//   cls_token [D], pos_embed [1 + gh*gw, D]
//   blocks.{i}.norm1.{weight,bias} [D]
//   blocks.{i}.attn.qkv.weight [D, 3*inner] (q | k | v, each head-major (h d)), .bias [3*inner]?
//   blocks.{i}.attn.proj.weight [inner, D], .bias [D]
//   blocks.{i}.norm2.{weight,bias} [D]
//   blocks.{i}.mlp.fc1.weight [D, M], .bias [M]; blocks.{i}.mlp.fc2.weight [M, D], .bias [D]
//   norm.{weight,bias} [D] (when finalNorm ≠ 'none')
//   head.weight [D, numLabels], head.bias [numLabels]
import * as tf from '@tensorflow/tfjs';
import { geluErf, geluTanh } from '../ops/gelu';
import { layerNormRows } from '../ops/layer-norm';

export type VitActivation = 'relu' | 'gelu' | 'gelu_tanh';

/**
 * 'cls': the class token; 'mean': mean of the patch tokens (timm); 'mean_all': mean over all tokens
 * including the class token (lucidrains' `x.mean(dim=1)`).
 */
export type VitPooling = 'cls' | 'mean' | 'mean_all';

/**
 * Where the final LayerNorm sits: on every token before pooling (HF, torchvision, timm),
 * on the pooled vector (lucidrains' mlp_head.0, timm's fc_norm), or absent. For 'cls' pooling the
 * first two are the same function.
 */
export type VitFinalNorm = 'tokens' | 'pooled' | 'none';

export interface VitConfig {
  /** Side of the square input the position embeddings were made for. */
  imageSize: number;
  patchSize: number;
  numChannels: number;
  hiddenSize: number;
  depth: number;
  numHeads: number;
  /** Width of one head; inner attention width is numHeads * headDim (may differ from hiddenSize). */
  headDim: number;
  mlpSize: number;
  activation: VitActivation;
  qkvBias: boolean;
  layerNormEps: number;
  pooling: VitPooling;
  finalNorm: VitFinalNorm;
  numLabels: number;
}

export type VitParams = Readonly<Record<string, tf.Tensor>>;

/**
 * Optional callbacks a PEFT method threads through the forward pass. Every callback runs inside
 * the caller's tf.tidy and must return new tensors (or its input unchanged); none may dispose its
 * inputs. Names are the canonical module names of the parameter table above, without the
 * `.weight` / `.bias` suffix.
 */
export interface VitHooks {
  /**
   * After a linear layer (`patch_embed`, `blocks.{i}.attn.qkv`, `blocks.{i}.attn.proj`,
   * `blocks.{i}.mlp.fc1`, `blocks.{i}.mlp.fc2`): x [R, in] is its input, y [R, out] its output
   * including the bias; returns the output to use (LoRA adds x·A·B, SSF scales and shifts y).
   */
  linear?(name: string, x: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor2D;
  /**
   * Before the same linear layers' product: their weight W [in, out] → the weight to use. SaRA
   * returns W + Δ, so a step runs one product x·(W + Δ) and its two gradients instead of x·W + x·Δ.
   */
  weight?(name: string, w: tf.Tensor2D): tf.Tensor2D;
  /** After a LayerNorm (`blocks.{i}.norm1`, `blocks.{i}.norm2`, `norm`): y [R, D] → [R, D]. */
  norm?(name: string, y: tf.Tensor2D): tf.Tensor2D;
  /**
   * Before block i: x [B, N, D] → [B, N', D]. Tokens a method adds must go right after the class
   * token and before the patch tokens ([CLS, prompts…, patches…]): pooling counts the patch tokens
   * from the end. Attention uses whatever count comes back.
   */
  tokens?(block: number, x: tf.Tensor3D): tf.Tensor3D;
  /** Observes block i's output x [B, N, D] (side networks tap it; wrap in tf.stopGradient there). */
  blockOutput?(block: number, x: tf.Tensor3D): void;
  /**
   * Observes the attention probabilities of `blocks.{i}.attn` as [B, heads, N, N] (row: query,
   * column: key; rows sum to 1). Explanations collect them (explain.ts, attention rollout).
   */
  attentionWeights?(name: string, weights: tf.Tensor4D): void;
  /** After the last block, before the final norm: x [B, N, D] → [B, N, D] (side-network fusion). */
  encoded?(x: tf.Tensor3D): tf.Tensor3D;
  /**
   * The position embeddings for an input of gh × gw patches ([1 + gh*gw, D], class token first),
   * given the model's own table; without this hook the input must have the model's grid. Patch
   * methods (SINE) return the rows of their crop with selectPosEmbed().
   */
  posEmbed?(pos: tf.Tensor2D, grid: { gh: number; gw: number }): tf.Tensor2D;
}

export function gridSize(config: Pick<VitConfig, 'imageSize' | 'patchSize'>): number {
  return config.imageSize / config.patchSize;
}

/** Canonical parameter shapes for a config: the contract between importers and the forward. */
export function vitParamShapes(config: VitConfig): Map<string, number[]> {
  const { hiddenSize: d, patchSize: p, numChannels: c, numHeads, headDim, mlpSize: m, numLabels } = config;
  const inner = numHeads * headDim;
  const g = gridSize(config);
  const shapes = new Map<string, number[]>([
    ['patch_embed.weight', [p * p * c, d]],
    ['patch_embed.bias', [d]],
    ['cls_token', [d]],
    ['pos_embed', [1 + g * g, d]],
  ]);
  for (let i = 0; i < config.depth; i++) {
    const b = `blocks.${i}`;
    shapes.set(`${b}.norm1.weight`, [d]).set(`${b}.norm1.bias`, [d]);
    shapes.set(`${b}.attn.qkv.weight`, [d, 3 * inner]);
    if (config.qkvBias) shapes.set(`${b}.attn.qkv.bias`, [3 * inner]);
    shapes.set(`${b}.attn.proj.weight`, [inner, d]).set(`${b}.attn.proj.bias`, [d]);
    shapes.set(`${b}.norm2.weight`, [d]).set(`${b}.norm2.bias`, [d]);
    shapes.set(`${b}.mlp.fc1.weight`, [d, m]).set(`${b}.mlp.fc1.bias`, [m]);
    shapes.set(`${b}.mlp.fc2.weight`, [m, d]).set(`${b}.mlp.fc2.bias`, [d]);
  }
  if (config.finalNorm !== 'none') shapes.set('norm.weight', [d]).set('norm.bias', [d]);
  shapes.set('head.weight', [d, numLabels]).set('head.bias', [numLabels]);
  return shapes;
}

function param(params: VitParams, name: string): tf.Tensor {
  const t = params[name];
  if (!t) throw new Error(`ViT parameter "${name}" is missing`);
  return t;
}

/**
 * x [R, in] · W [in, out] + b: the one 2-D, non-transposed matmul form that wasm runs fast. Exported
 * with attention() and activate() for the DiT (models/dit.ts), whose blocks share them.
 */
export function linear(params: VitParams, name: string, x: tf.Tensor2D, bias = true, hooks?: VitHooks): tf.Tensor2D {
  const w = param(params, `${name}.weight`) as tf.Tensor2D;
  const y = tf.matMul(x, hooks?.weight ? hooks.weight(name, w) : w) as tf.Tensor2D;
  const out = bias ? (tf.add(y, param(params, `${name}.bias`)) as tf.Tensor2D) : y;
  return hooks?.linear ? hooks.linear(name, x, out) : out;
}

function layerNorm(params: VitParams, name: string, x: tf.Tensor2D, eps: number, hooks?: VitHooks): tf.Tensor2D {
  const out = layerNormRows(x, param(params, `${name}.weight`), param(params, `${name}.bias`), eps);
  return hooks?.norm ? hooks.norm(name, out) : out;
}

export function activate(x: tf.Tensor2D, activation: VitActivation): tf.Tensor2D {
  switch (activation) {
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      return geluErf(x) as tf.Tensor2D;
    case 'gelu_tanh':
      return geluTanh(x) as tf.Tensor2D;
  }
}

/** Images NHWC [B, H, W, C] → patch rows [B * gh * gw, p*p*C] in (p1 p2 c) order. */
export function patchify(images: tf.Tensor4D, p: number): tf.Tensor2D {
  const [b, h, w, c] = images.shape;
  const gh = h / p;
  const gw = w / p;
  // Kept at rank 4: (p2 c) is already contiguous, so one swap of the p1 and gw axes suffices.
  const x = tf.reshape(images, [b * gh, p, gw, p * c]);
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b * gh * gw, p * p * c]);
}

export function attention(
  params: VitParams,
  prefix: string,
  x: tf.Tensor2D,
  batch: number,
  tokens: number,
  config: Pick<VitConfig, 'numHeads' | 'headDim' | 'qkvBias'>,
  hooks?: VitHooks,
): tf.Tensor2D {
  const { numHeads: h, headDim: hd } = config;
  const rows = batch * tokens;
  const qkv = linear(params, `${prefix}.qkv`, x, config.qkvBias, hooks); // [B*N, 3*inner], (3 h d) columns
  // One rank-4 transpose to [3, h, B*N, hd], then slices along the leading (contiguous) axis: on
  // wasm, SplitV on columns was the single slowest op of the forward pass.
  const split = tf.reshape(tf.transpose(tf.reshape(qkv, [rows, 3, h, hd]), [1, 2, 0, 3]), [3, h * batch, tokens, hd]);
  const [q, k, v] = tf.unstack(split) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]; // [h*B, N, hd] each
  // Batched products: backend.ts gives wasm one XNNPACK call per matrix (k transposed first).
  const weights = tf.softmax(tf.matMul(tf.mul(q, hd ** -0.5), k, false, true)); // [h*B, N, N]
  if (hooks?.attentionWeights) {
    hooks.attentionWeights(prefix, tf.transpose(tf.reshape(weights, [h, batch, tokens, tokens]), [1, 0, 2, 3]));
  }
  const out = tf.matMul(weights, v); // [h*B, N, hd]
  const merged = tf.reshape(tf.transpose(tf.reshape(out, [h, rows, hd]), [1, 0, 2]), [rows, h * hd]) as tf.Tensor2D;
  return linear(params, `${prefix}.proj`, merged, true, hooks);
}

/**
 * One pre-norm transformer block, `prefix`.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2},
 * on a sequence x [B, N, D] → [B, N, D], with the config's width, heads and activation. Exported
 * for side networks (side-tuning), which run narrow blocks of their own.
 */
export function vitBlock(params: VitParams, prefix: string, x: tf.Tensor3D, config: VitConfig): tf.Tensor3D {
  const [batch, tokens, d] = x.shape;
  const eps = config.layerNormEps;
  let h = tf.reshape(x, [batch * tokens, d]) as tf.Tensor2D;
  h = tf.add(h, attention(params, `${prefix}.attn`, layerNorm(params, `${prefix}.norm1`, h, eps), batch, tokens, config));
  const hidden = activate(linear(params, `${prefix}.mlp.fc1`, layerNorm(params, `${prefix}.norm2`, h, eps)), config.activation);
  return tf.reshape(tf.add(h, linear(params, `${prefix}.mlp.fc2`, hidden)), [batch, tokens, d]);
}

/** Patch embedding + class token + position embeddings: the tokens entering block 0, [B, 1 + gh*gw, D]. */
function embed(params: VitParams, config: VitConfig, images: tf.Tensor4D, hooks?: VitHooks): tf.Tensor3D {
  const [batch, height, width, channels] = images.shape;
  const { patchSize: p, hiddenSize: d } = config;
  if (channels !== config.numChannels) {
    throw new Error(`ViT expects ${config.numChannels} channel(s), got images with ${channels}`);
  }
  if (height % p !== 0 || width % p !== 0) {
    throw new Error(`image size ${height}×${width} is not a multiple of the patch size ${p}`);
  }
  const grid = { gh: height / p, gw: width / p };
  const patches = grid.gh * grid.gw;
  const table = param(params, 'pos_embed') as tf.Tensor2D;
  const pos = hooks?.posEmbed ? hooks.posEmbed(table, grid) : table;
  if (pos.shape[0] !== patches + 1) {
    throw new Error(
      `position embeddings cover ${pos.shape[0]! - 1} patches but a ${height}×${width} input has ${patches}: ` +
        'resize them with withImageSize()',
    );
  }
  const embedded = tf.reshape(linear(params, 'patch_embed', patchify(images, p), true, hooks), [batch, patches, d]);
  const cls = tf.broadcastTo(tf.reshape(param(params, 'cls_token'), [1, 1, d]), [batch, 1, d]);
  return tf.add(tf.concat([cls, embedded], 1), pos);
}

/** Blocks `from`…`to − 1` on the tokens entering block `from` ([B, N, D]) → the tokens entering block `to`. */
function runBlocks(params: VitParams, config: VitConfig, x: tf.Tensor3D, from: number, to: number, hooks?: VitHooks): tf.Tensor3D {
  if (from >= to) return x;
  const [batch, , d] = x.shape;
  const eps = config.layerNormEps;
  let tokens = x.shape[1];
  let h = tf.reshape(x, [batch * tokens, d]) as tf.Tensor2D;
  for (let i = from; i < to; i++) {
    const b = `blocks.${i}`;
    if (hooks?.tokens) {
      const seq = hooks.tokens(i, tf.reshape(h, [batch, tokens, d]));
      tokens = seq.shape[1];
      h = tf.reshape(seq, [batch * tokens, d]);
    }
    h = tf.add(h, attention(params, `${b}.attn`, layerNorm(params, `${b}.norm1`, h, eps, hooks), batch, tokens, config, hooks));
    const hidden = activate(linear(params, `${b}.mlp.fc1`, layerNorm(params, `${b}.norm2`, h, eps, hooks), true, hooks), config.activation);
    h = tf.add(h, linear(params, `${b}.mlp.fc2`, hidden, true, hooks));
    if (hooks?.blockOutput) hooks.blockOutput(i, tf.reshape(h, [batch, tokens, d]));
  }
  return tf.reshape(h, [batch, tokens, d]);
}

/**
 * The frozen prefix of the network without hooks: patch embedding, class token, position
 * embeddings and blocks 0…block − 1, i.e. the tokens entering block `block` ([B, 1 + gh*gw, D]).
 * A method that leaves this prefix untouched (PeftMethod.frozenPrefix) trains on it computed
 * once per image: vitForwardFrom() runs the rest.
 */
export function vitTokensAt(params: VitParams, config: VitConfig, images: tf.Tensor4D, block: number): tf.Tensor3D {
  if (!Number.isInteger(block) || block < 0 || block > config.depth) {
    throw new Error(`block ${block} is outside 0…${config.depth} for a ${config.depth}-block ViT`);
  }
  return runBlocks(params, config, embed(params, config, images), 0, block);
}

/**
 * Pooled features [B, D] before the head-side final norm, from the tokens entering block `from`
 * ([B, 1 + patches, D]: no hook has added tokens yet). Hooked tokens (prompts) are left out of
 * 'mean' pooling.
 */
function pooledFrom(params: VitParams, config: VitConfig, entering: tf.Tensor3D, from: number, hooks?: VitHooks): tf.Tensor2D {
  const [batch] = entering.shape;
  const patches = entering.shape[1] - 1;
  const d = config.hiddenSize;
  const blocksOut = runBlocks(params, config, entering, from, config.depth, hooks);
  let x = hooks?.encoded ? hooks.encoded(blocksOut) : blocksOut;
  const tokens = x.shape[1];
  if (!normAfterPooling(config) && config.finalNorm === 'tokens') {
    x = tf.reshape(layerNorm(params, 'norm', tf.reshape(x, [batch * tokens, d]), config.layerNormEps, hooks), [batch, tokens, d]);
  }
  const patchTokens = () => tf.slice(x, [0, tokens - patches, 0], [batch, patches, d]);
  switch (config.pooling) {
    case 'cls':
      return tf.reshape(tf.slice(x, [0, 0, 0], [batch, 1, d]), [batch, d]);
    case 'mean':
      return tf.mean(patchTokens(), 1);
    case 'mean_all':
      // Class token + patch tokens, as lucidrains' x.mean(dim=1) over the sequence it knows.
      return tf.div(tf.add(tf.reshape(tf.slice(x, [0, 0, 0], [batch, 1, d]), [batch, d]), tf.sum(patchTokens(), 1)), patches + 1);
  }
}

/**
 * Whether the final norm can run on the pooled vector instead of on every token: then it is
 * part of the head side (vitNeck) and a frozen backbone's pooled output can be cached once.
 * True for 'pooled' norms and for per-token norms under CLS pooling (LayerNorm is per row).
 */
export function normAfterPooling(config: Pick<VitConfig, 'finalNorm' | 'pooling'>): boolean {
  return config.finalNorm === 'pooled' || (config.finalNorm === 'tokens' && config.pooling === 'cls');
}

/**
 * Pooled features [B, D] before the head-side final norm (see normAfterPooling): what a frozen
 * backbone computes once per image. Hooked tokens (prompts) are left out of 'mean' pooling.
 */
export function vitPooled(params: VitParams, config: VitConfig, images: tf.Tensor4D, hooks?: VitHooks): tf.Tensor2D {
  return pooledFrom(params, config, embed(params, config, images, hooks), 0, hooks);
}

/** The head-side final norm on pooled features (identity when the model has none there). */
export function vitNeck(params: VitParams, config: VitConfig, pooled: tf.Tensor2D, hooks?: VitHooks): tf.Tensor2D {
  return normAfterPooling(config) ? layerNorm(params, 'norm', pooled, config.layerNormEps, hooks) : pooled;
}

/** Pooled features [B, D] (after the final norm, i.e. what the head sees). */
export function vitFeatures(params: VitParams, config: VitConfig, images: tf.Tensor4D, hooks?: VitHooks): tf.Tensor2D {
  return vitNeck(params, config, vitPooled(params, config, images, hooks), hooks);
}

/** Classifier head: features [B, D] → logits [B, numLabels]. */
export function vitHead(params: VitParams, features: tf.Tensor2D): tf.Tensor2D {
  return linear(params, 'head', features);
}

/** Images NHWC float [B, H, W, C], already normalised → logits [B, numLabels]. */
export function vitForward(params: VitParams, config: VitConfig, images: tf.Tensor4D, hooks?: VitHooks): tf.Tensor2D {
  return vitForwardFrom(params, config, embed(params, config, images, hooks), 0, hooks);
}

/**
 * Logits [B, numLabels] from the tokens entering block `block` (vitTokensAt's [B, 1 + patches, D]):
 * blocks `block`… with hooks, then the final norm and head. Equals vitForward(params, config,
 * images, hooks) when the hooks leave the embedding and blocks before `block` alone.
 */
export function vitForwardFrom(params: VitParams, config: VitConfig, tokens: tf.Tensor3D, block: number, hooks?: VitHooks): tf.Tensor2D {
  return vitHead(params, vitNeck(params, config, pooledFrom(params, config, tokens, block, hooks), hooks));
}

/**
 * Position embeddings of a crop of the patch grid: the class token's row, then rows `top`…
 * `top + gh - 1` × columns `left`… `left + gw - 1` of the model's g × g table, row-major.
 */
export function selectPosEmbed(pos: tf.Tensor2D, config: Pick<VitConfig, 'imageSize' | 'patchSize'>, crop: { top: number; left: number; gh: number; gw: number }): tf.Tensor2D {
  const g = gridSize(config);
  const { top, left, gh, gw } = crop;
  if (top < 0 || left < 0 || top + gh > g || left + gw > g) {
    throw new Error(`crop ${gh}×${gw} at (${top}, ${left}) lies outside the ${g}×${g} patch grid`);
  }
  const d = pos.shape[1];
  // One contiguous slice per crop row rather than tf.gather: gather's gradient (training the
  // table, as full fine-tuning does) needs UnsortedSegmentSum, which tfjs-wasm lacks.
  const rows: tf.Tensor2D[] = [tf.slice(pos, [0, 0], [1, d])];
  for (let r = 0; r < gh; r++) rows.push(tf.slice(pos, [1 + (top + r) * g + left, 0], [gw, d]));
  return tf.concat(rows, 0);
}

export type PosEmbedInterpolation = 'bilinear' | 'bicubic';

/**
 * Resamples the patch position embeddings from the config's grid to the grid of `imageSize`,
 * keeping the class token's embedding, so the model runs at another resolution. Matches PyTorch's
 * F.interpolate(mode, size=..., align_corners=False) (bicubic with A = -0.75, no antialias), which
 * is what HF transformers and timm use. Returns new params and config; only pos_embed is a new
 * tensor (the caller owns it), every other entry is shared with the input.
 */
export function withImageSize(
  params: VitParams,
  config: VitConfig,
  imageSize: number,
  mode: PosEmbedInterpolation = 'bicubic',
): { params: VitParams; config: VitConfig } {
  if (imageSize % config.patchSize !== 0) {
    throw new Error(`image size ${imageSize} is not a multiple of the patch size ${config.patchSize}`);
  }
  const from = gridSize(config);
  const to = imageSize / config.patchSize;
  const posEmbed = tf.tidy(() => {
    const pos = param(params, 'pos_embed') as tf.Tensor2D;
    const d = pos.shape[1];
    const cls = tf.slice(pos, [0, 0], [1, d]);
    const grid = tf.reshape(tf.slice(pos, [1, 0], [from * from, d]), [from, from * d]);
    // Separable resampling: rows, then columns, each a small 2-D matmul with a weight matrix.
    const wy = tf.tensor2d(interpolationMatrix(from, to, mode), [to, from]);
    const rows = tf.reshape(tf.matMul(wy, grid), [to, from, d]); // [to, from, D]
    const cols = tf.reshape(tf.transpose(rows, [1, 0, 2]), [from, to * d]);
    const resized = tf.reshape(tf.transpose(tf.reshape(tf.matMul(wy, cols), [to, to, d]), [1, 0, 2]), [to * to, d]);
    return tf.concat([cls, resized], 0);
  });
  return { params: { ...params, pos_embed: posEmbed }, config: { ...config, imageSize } };
}

/** Row-major [outSize, inSize] weights reproducing PyTorch's align_corners=False resampling. */
function interpolationMatrix(inSize: number, outSize: number, mode: PosEmbedInterpolation): Float32Array {
  const w = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  const clamp = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  for (let o = 0; o < outSize; o++) {
    const src = (o + 0.5) * scale - 0.5;
    if (mode === 'bilinear') {
      const s = Math.max(src, 0); // PyTorch clamps negative source coordinates for linear modes
      const i0 = Math.min(Math.floor(s), inSize - 1);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const t = s - i0;
      w[o * inSize + i0] += 1 - t;
      w[o * inSize + i1] += t;
    } else {
      const i = Math.floor(src);
      const t = src - i;
      const coeffs = cubicCoefficients(t);
      for (let k = 0; k < 4; k++) w[o * inSize + clamp(i - 1 + k)] += coeffs[k]!;
    }
  }
  return w;
}

/** Keys' cubic convolution with A = -0.75 (PyTorch's upsample_bicubic2d). */
function cubicCoefficients(t: number): [number, number, number, number] {
  const a = -0.75;
  const near = (x: number) => ((a + 2) * x - (a + 3)) * x * x + 1;
  const far = (x: number) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}
