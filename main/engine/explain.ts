// What a ViT looks at: attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in
// Transformers"). Pure functions of tensors; callers own tf.tidy, as with models/vit.ts.
import * as tf from '@tensorflow/tfjs';
import { vitForward, type VitConfig, type VitParams } from './models/vit';

/**
 * Rollout through the layers, in order: per layer the heads are averaged, the identity added
 * for the residual path and rows renormalised (Â = (A + I) / rowsum); then R = Â_L · … · Â_1.
 * attentions: one [B, heads, N, N] per layer (row: query) → [B, N, N], rows summing to 1.
 */
export function attentionRollout(attentions: readonly tf.Tensor4D[]): tf.Tensor3D {
  if (attentions.length === 0) throw new Error('attention rollout needs at least one layer');
  let rollout: tf.Tensor3D | undefined;
  for (const weights of attentions) {
    const n = weights.shape[2];
    const mixed = tf.add(tf.mean(weights, 1), tf.eye(n)) as tf.Tensor3D;
    const layer = tf.div(mixed, tf.sum(mixed, -1, true)) as tf.Tensor3D;
    rollout = rollout ? tf.matMul(layer, rollout) : layer;
  }
  return rollout!;
}

/**
 * The class token's row of a rollout over the patch tokens (the last gh·gw tokens, as in
 * vit.ts), on the patch grid: [B, N, N] → [B, gh, gw]. Unnormalised: values are attention mass.
 */
export function clsPatchSaliency(rollout: tf.Tensor3D, grid: { gh: number; gw: number }): tf.Tensor3D {
  const [batch, tokens] = rollout.shape;
  const patches = grid.gh * grid.gw;
  if (patches > tokens - 1) throw new Error(`a ${grid.gh}×${grid.gw} grid needs ${patches + 1} tokens, the rollout has ${tokens}`);
  return tf.reshape(tf.slice(rollout, [0, 0, tokens - patches], [batch, 1, patches]), [batch, grid.gh, grid.gw]);
}

/**
 * Logits [B, numLabels] and the attention-rollout saliency [B, gh, gw] of images NHWC (already
 * normalised) under hook-free (merged) parameters. The logits are vitForward's own.
 */
export function vitExplain(params: VitParams, config: VitConfig, images: tf.Tensor4D): { logits: tf.Tensor2D; saliency: tf.Tensor3D } {
  const attentions: tf.Tensor4D[] = [];
  const logits = vitForward(params, config, images, { attentionWeights: (_name, weights) => void attentions.push(weights) });
  const grid = { gh: images.shape[1] / config.patchSize, gw: images.shape[2] / config.patchSize };
  return { logits, saliency: clsPatchSaliency(attentionRollout(attentions), grid) };
}
