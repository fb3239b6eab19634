// AdamW and SGD with momentum over plain named tensors. The state is explicit (step count and
// per-parameter slots), so a checkpoint captures it exactly and a resumed run continues the same
// trajectory. Update formulas follow torch.optim (AdamW, SGD) so results compare with PyTorch.
import * as tf from '@tensorflow/tfjs';
import type { NamedTensors } from '../methods/types';

export type OptimizerKind = 'adamw' | 'sgd';

export interface OptimizerConfig {
  kind: OptimizerKind;
  weightDecay: number;
  /** AdamW */
  beta1: number;
  beta2: number;
  eps: number;
  /** SGD */
  momentum: number;
}

export interface OptimizerState {
  /** Updates applied so far (AdamW's bias correction uses it). */
  t: number;
  /** slot name → parameter name → tensor ('m', 'v' for AdamW; 'momentum' for SGD). */
  slots: Record<string, NamedTensors>;
}

export function slotNames(kind: OptimizerKind): string[] {
  return kind === 'adamw' ? ['m', 'v'] : ['momentum'];
}

/** Zero slots for every parameter. */
export function initOptimizerState(config: OptimizerConfig, params: NamedTensors): OptimizerState {
  const slots: Record<string, NamedTensors> = {};
  for (const slot of slotNames(config.kind)) {
    slots[slot] = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.zerosLike(p)]));
  }
  return { t: 0, slots };
}

export function disposeOptimizerState(state: OptimizerState): void {
  for (const slot of Object.values(state.slots)) tf.dispose(Object.values(slot));
}

/**
 * Weight decay applies to weight matrices only: not to biases, LayerNorm parameters, tokens,
 * prompts or position embeddings (decaying them towards zero hurts, as in BERT/ViT recipes), nor
 * to any other 1-D parameter (SSF scales and shifts).
 */
export function decays(name: string, shape: readonly number[]): boolean {
  if (shape.length <= 1) return false;
  return !/(^|\.)(bias|norm\d?|cls_token|pos_embed|prompts?|tokens?)(\.|$)/.test(name);
}

/** Global L2 norm of the gradients (a scalar tensor). */
export function globalNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  return tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
}

/**
 * Scales gradients so their global norm is at most maxNorm (torch.nn.utils.clip_grad_norm_:
 * factor maxNorm / (norm + 1e-6), applied only when below 1). Call inside tf.tidy.
 */
export function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norm: tf.Scalar } {
  const norm = globalNorm(grads);
  const factor = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
  return { grads: grads.map((g) => tf.mul(g, factor)), norm };
}

/**
 * One update. Returns new parameter and slot tensors (call inside tf.tidy and keep what it
 * returns); the inputs are left untouched for the caller to dispose.
 */
export function optimizerStep(
  config: OptimizerConfig,
  params: NamedTensors,
  grads: NamedTensors,
  state: OptimizerState,
  lr: number,
): { params: NamedTensors; state: OptimizerState } {
  const t = state.t + 1;
  const out: NamedTensors = {};
  const slots: Record<string, NamedTensors> = Object.fromEntries(slotNames(config.kind).map((s) => [s, {} as NamedTensors]));
  for (const [name, p] of Object.entries(params)) {
    const g = grads[name];
    if (!g) throw new Error(`no gradient for "${name}"`);
    const wd = decays(name, p.shape) ? config.weightDecay : 0;
    if (config.kind === 'adamw') {
      const { beta1: b1, beta2: b2, eps } = config;
      const m = tf.add(tf.mul(state.slots.m![name]!, b1), tf.mul(g, 1 - b1));
      const v = tf.add(tf.mul(state.slots.v![name]!, b2), tf.mul(tf.square(g), 1 - b2));
      // torch AdamW: p ← p·(1 − lr·wd); p ← p − (lr / bc1) · m / (√v / √bc2 + eps)
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      const decayed = wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), eps);
      out[name] = tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1));
      slots.m![name] = m;
      slots.v![name] = v;
    } else {
      // torch SGD: g ← g + wd·p; buf ← g on the first step, else μ·buf + g; p ← p − lr·buf
      const gd = wd > 0 ? tf.add(g, tf.mul(p, wd)) : g;
      const buf = t === 1 ? tf.clone(gd) : tf.add(tf.mul(state.slots.momentum![name]!, config.momentum), gd);
      out[name] = tf.sub(p, tf.mul(buf, lr));
      slots.momentum![name] = buf;
    }
  }
  return { params: out, state: { t, slots } };
}
