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

/**
 * Flattens tensors into one new 1-D buffer (a single concat kernel). Rank-1 tensors (biases,
 * norms: most of a PEFT method's tensors) go into the concat as they are: a reshape costs no copy
 * but is still a kernel call, and a small step's time goes mostly to per-kernel overhead.
 */
function flatten(tensors: readonly tf.Tensor[]): tf.Tensor1D {
  if (tensors.length === 1) return tf.reshape(tensors[0]!, [-1]) as tf.Tensor1D;
  return tf.concat(tensors.map((x) => (x.rank === 1 ? x : tf.reshape(x, [-1])))) as tf.Tensor1D;
}

/** The inverse of flatten: one slice per tensor, reshaped to the given shapes (rank-1 slices need none). */
function unflatten(flat: tf.Tensor, shapes: readonly (readonly number[])[]): tf.Tensor[] {
  if (shapes.length === 1) return [tf.reshape(flat, shapes[0] as number[])];
  const parts = tf.split(flat, shapes.map((s) => s.reduce((a, b) => a * b, 1)));
  return parts.map((x, i) => (shapes[i]!.length === 1 ? x : tf.reshape(x, shapes[i] as number[])));
}

/**
 * Global L2 norm of the gradients (a scalar tensor): one square and one sum over all gradients
 * flattened together, instead of two kernels per tensor and an addN.
 */
export function globalNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(flatten(grads)))));
}

/**
 * Scales gradients so their global norm is at most maxNorm (torch.nn.utils.clip_grad_norm_:
 * factor maxNorm / (norm + 1e-6), applied only when below 1). Call inside tf.tidy.
 */
export function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norm: tf.Scalar } {
  const { factor, norm } = clipFactor(grads, maxNorm);
  return { grads: grads.map((g) => tf.mul(g, factor)), norm };
}

/**
 * The factor clipByGlobalNorm scales every gradient by, for optimizerStep's gradScale: one multiply
 * on the flattened gradients there instead of one per tensor here (the same products).
 */
export function clipFactor(grads: readonly tf.Tensor[], maxNorm: number): { factor: tf.Scalar; norm: tf.Scalar } {
  const norm = globalNorm(grads);
  return { factor: tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1), norm };
}

/** Parameter names grouped by the weight decay that applies to them (insertion order kept). */
function decayGroups(config: OptimizerConfig, params: NamedTensors): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const [name, p] of Object.entries(params)) {
    if (p.size === 0) continue;
    const wd = decays(name, p.shape) ? config.weightDecay : 0;
    groups.set(wd, [...(groups.get(wd) ?? []), name]);
  }
  return groups;
}

/**
 * One update. Returns new parameter and slot tensors (call inside tf.tidy and keep what it
 * returns); the inputs are left untouched for the caller to dispose.
 *
 * Fused: each weight-decay group's parameters, gradients and slots are flattened into one buffer,
 * updated with the element-wise formulas below (the same operations in the same order as a
 * per-tensor update, so the results are identical), and split back. That is a few dozen kernels
 * per step instead of ~14 per tensor, which dominated small PEFT steps. The state keeps one
 * tensor per parameter and slot, so checkpoints are unchanged. `gradScale` (clipFactor's factor)
 * multiplies the flattened gradients first, as clipByGlobalNorm would each gradient.
 */
export function optimizerStep(
  config: OptimizerConfig,
  params: NamedTensors,
  grads: NamedTensors,
  state: OptimizerState,
  lr: number,
  gradScale?: tf.Scalar,
): { params: NamedTensors; state: OptimizerState } {
  const t = state.t + 1;
  const out: NamedTensors = {};
  const slots: Record<string, NamedTensors> = Object.fromEntries(slotNames(config.kind).map((s) => [s, {} as NamedTensors]));
  for (const name of Object.keys(params)) if (!grads[name]) throw new Error(`no gradient for "${name}"`);
  for (const [name, p] of Object.entries(params)) {
    if (p.size > 0) continue; // nothing to update; kept so every name has its tensors
    out[name] = tf.clone(p);
    for (const slot of Object.keys(slots)) slots[slot]![name] = tf.clone(p);
  }
  for (const [wd, names] of decayGroups(config, params)) {
    const shapes = names.map((n) => params[n]!.shape);
    const slotOf = (slot: string) => flatten(names.map((n) => state.slots[slot]![n]!));
    const p = flatten(names.map((n) => params[n]!));
    const flatGrads = flatten(names.map((n) => grads[n]!));
    const g = gradScale ? tf.mul(flatGrads, gradScale) : flatGrads;
    const updated: Record<string, tf.Tensor> = {};
    if (config.kind === 'adamw') {
      const { beta1: b1, beta2: b2, eps } = config;
      const m = tf.add(tf.mul(slotOf('m'), b1), tf.mul(g, 1 - b1));
      const v = tf.add(tf.mul(slotOf('v'), b2), tf.mul(tf.square(g), 1 - b2));
      // torch AdamW: p ← p·(1 − lr·wd); p ← p − (lr / bc1) · m / (√v / √bc2 + eps)
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      const decayed = wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), eps);
      updated.param = tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1));
      updated.m = m;
      updated.v = v;
    } else {
      // torch SGD: g ← g + wd·p; buf ← g on the first step, else μ·buf + g; p ← p − lr·buf
      const gd = wd > 0 ? tf.add(g, tf.mul(p, wd)) : g;
      const buf = t === 1 ? gd : tf.add(tf.mul(slotOf('momentum'), config.momentum), gd);
      updated.param = tf.sub(p, tf.mul(buf, lr));
      updated.momentum = buf;
    }
    for (const [key, flat] of Object.entries(updated)) {
      const target = key === 'param' ? out : slots[key]!;
      unflatten(flat, shapes).forEach((x, i) => (target[names[i]!] = x));
    }
  }
  return { params: out, state: { t, slots } };
}
