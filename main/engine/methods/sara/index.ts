// SaRA (Hu et al. 2024): re-use each weight matrix's least important entries, those with the
// smallest |W|, and train only them, as a sparse update Δ stored as values at flat indices of
// the [in, out] weight: W_eff = W + scatter(indices, values). A nuclear-norm penalty on one
// randomly chosen Δ per step keeps the updates low-rank; progressive re-selection stops training
// the entries whose |W + Δ| has grown past the selection threshold θ (they keep their Δ, as the
// paper's re-selection leaves them in the weights). The values are the only trained tensors; the
// indices are int32 buffers (PeftMethod.buffers), an entry stored as −(i+1) once frozen.
import * as tf from '@tensorflow/tfjs';
import type { VitConfig, VitParams } from '../../models/vit';
import type { Rng } from '../../train/rng';
import { canonicalAdapterTensors } from '../framework';
import type { NamedTensors, PeftMethod } from '../types';
import { saraOptions, type SaraOptions, type SaraTarget } from './config';
import { sparseNuclearNorm } from './svd';

/** One adapted weight matrix [rows = in, cols = out] with k trained entries. */
export interface SaraSite {
  module: string;
  rows: number;
  cols: number;
  k: number;
}

export function saraSites(config: VitConfig, options: Pick<SaraOptions, 'targets' | 'sparsity'>): SaraSite[] {
  const { hiddenSize: d, mlpSize: m } = config;
  const inner = config.numHeads * config.headDim;
  const geometry: Record<SaraTarget, { part: string; rows: number; cols: number }> = {
    qkv: { part: 'attn.qkv', rows: d, cols: 3 * inner },
    proj: { part: 'attn.proj', rows: inner, cols: d },
    fc1: { part: 'mlp.fc1', rows: d, cols: m },
    fc2: { part: 'mlp.fc2', rows: m, cols: d },
  };
  const out: SaraSite[] = [];
  for (let i = 0; i < config.depth; i++) {
    for (const target of options.targets) {
      const g = geometry[target];
      out.push({ module: `blocks.${i}.${g.part}`, rows: g.rows, cols: g.cols, k: Math.max(1, Math.round(options.sparsity * g.rows * g.cols)) });
    }
  }
  return out;
}

const valuesName = (site: SaraSite) => `${site.module}.sara_values`;
const indicesName = (site: SaraSite) => `${site.module}.sara_indices`;

function get(t: NamedTensors | VitParams, name: string): tf.Tensor {
  const v = t[name];
  if (!v) throw new Error(`SaRA: tensor "${name}" is missing`);
  return v;
}

/** Flat indices of the k smallest |w| (ties broken by index), ascending. */
export function smallestMagnitudes(w: ArrayLike<number>, k: number): Int32Array {
  const abs = Float32Array.from(w, Math.abs);
  const theta = abs.slice().sort()[k - 1]!;
  const out = new Int32Array(k);
  let n = 0;
  for (let i = 0; i < abs.length && n < k; i++) if (abs[i]! < theta) out[n++] = i;
  for (let i = 0; i < abs.length && n < k; i++) if (abs[i] === theta) out[n++] = i;
  return out.sort();
}

/** Stored index → flat index (frozen entries are stored as −(i+1)). */
const flatIndex = (id: number) => (id >= 0 ? id : -id - 1);

/**
 * Δ as a flat [rows·cols] tensor, differentiable in the values; frozen entries pass no gradient.
 * scatterND has no registered gradient in tfjs: its gradient is the gather of dy at the indices.
 */
function flatDelta(trainable: NamedTensors, site: SaraSite): tf.Tensor1D {
  const ids = get(trainable, indicesName(site));
  const scatter = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [values, save] = args as [tf.Tensor, tf.GradSaveFunc];
    // |id| − [id < 0]; not tf.where, whose wasm kernel garbles int32 inputs.
    const flat = tf.sub(tf.abs(ids), tf.cast(tf.less(ids, 0), 'int32'));
    const live = tf.cast(tf.greaterEqual(ids, 0), 'float32');
    save([flat, live]);
    return {
      value: tf.scatterND(tf.reshape(flat, [site.k, 1]), values, [site.rows * site.cols]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.gather(dy, saved[0]!), saved[1]!),
    };
  });
  return scatter(get(trainable, valuesName(site))) as tf.Tensor1D;
}

function delta(trainable: NamedTensors, site: SaraSite): tf.Tensor2D {
  return tf.reshape(flatDelta(trainable, site), [site.rows, site.cols]);
}

/** ‖Δ‖_* with its gradient U·Vᵀ at the live entries (on the CPU from Δ's entries, see svd.ts). */
function nuclear(trainable: NamedTensors, site: SaraSite): tf.Scalar {
  const ids = get(trainable, indicesName(site)).dataSync();
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const values = args[0] as tf.Tensor;
    const { value, gradient } = sparseNuclearNorm({ rows: site.rows, cols: site.cols, flat: Array.from(ids, flatIndex), values: values.dataSync() });
    const g = Float32Array.from({ length: site.k }, (_, j) => (ids[j]! >= 0 ? gradient[j]! : 0));
    return { value: tf.scalar(value), gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.tensor1d(g)) };
  });
  return f(get(trainable, valuesName(site))) as tf.Scalar;
}

/**
 * Progressive re-selection: entries whose |W + Δ| now exceeds the matrix's threshold θ (the
 * largest |W| first selected) are marked frozen; they keep their Δ. New int32 index buffers for
 * the trainer to swap in (values and their optimizer state stay as they are).
 */
export function saraReselect(base: VitParams, trainable: NamedTensors, config: VitConfig, options: SaraOptions): NamedTensors {
  const out: NamedTensors = {};
  for (const site of saraSites(config, options)) {
    const w = get(base, `${site.module}.weight`).dataSync();
    const ids = get(trainable, indicesName(site)).dataSync();
    const v = get(trainable, valuesName(site)).dataSync();
    let theta = 0;
    for (let j = 0; j < site.k; j++) theta = Math.max(theta, Math.abs(w[flatIndex(ids[j]!)]!));
    const next = Int32Array.from(ids, (id, j) => (id >= 0 && Math.abs(w[id]! + v[j]!) > theta ? -id - 1 : id));
    out[indicesName(site)] = tf.tensor1d(next, 'int32');
  }
  return out;
}

function fold(params: VitParams, trainable: NamedTensors, config: VitConfig, options: SaraOptions, sign: 1 | -1): NamedTensors {
  const out: NamedTensors = {};
  for (const site of saraSites(config, options)) {
    const name = `${site.module}.weight`;
    out[name] = tf.tidy(() => tf.add(get(params, name), tf.mul(delta(trainable, site), sign)));
  }
  return out;
}

export const sara: PeftMethod<SaraOptions> = {
  name: 'sara',
  description: 'SaRA: train the smallest-|W| entries of each weight as a sparse update, nuclear-norm penalised; mergeable',
  options: saraOptions,
  featureCacheable: false,
  init(base, config, options) {
    const out: NamedTensors = {};
    for (const site of saraSites(config, options)) {
      out[valuesName(site)] = tf.zeros([site.k]);
      out[indicesName(site)] = tf.tensor1d(smallestMagnitudes(get(base, `${site.module}.weight`).dataSync(), site.k), 'int32');
    }
    return out;
  },
  shapes: (config, options) => new Map(saraSites(config, options).map((s) => [valuesName(s), [s.k]])),
  buffers: (config, options) => new Map(saraSites(config, options).map((s) => [indicesName(s), [s.k]])),
  hooks(trainable, config, options) {
    const sites = new Map(saraSites(config, options).map((s) => [s.module, s]));
    return {
      weight(name, w) {
        const site = sites.get(name);
        return site ? tf.add(w, delta(trainable, site)) : w;
      },
    };
  },
  penalty(trainable, config, options, rng?: Rng) {
    const all = saraSites(config, options);
    if (options.lambdaNuclear === 0) return tf.scalar(0);
    // One matrix per step, as the paper; without a draw, its expectation (the mean over all).
    const chosen = rng ? [all[rng.int(all.length)]!] : all;
    return tf.tidy(() => tf.mul(tf.addN(chosen.map((s) => nuclear(trainable, s))), options.lambdaNuclear / chosen.length));
  },
  afterStep: (step, trainable, base, config, options) => (step === options.reselectAtStep ? saraReselect(base, trainable, config, options) : undefined),
  merge: (base, trainable, config, options) => fold(base, trainable, config, options, 1),
  unmerge: (merged, trainable, config, options) => fold(merged, trainable, config, options, -1),
  adapterTensors: (trainable) => canonicalAdapterTensors(trainable),
  fromAdapterTensors(tensors, config, options) {
    for (const site of saraSites(config, options)) {
      const ids = get(tensors, indicesName(site));
      if (ids.dtype !== 'int32') throw new Error(`SaRA adapter: "${indicesName(site)}" must be int32 (I32), got ${ids.dtype}`);
      const bad = Array.from(ids.dataSync()).find((id) => flatIndex(id) >= site.rows * site.cols);
      if (bad !== undefined) throw new Error(`SaRA adapter: index ${bad} of "${indicesName(site)}" lies outside its ${site.rows}×${site.cols} weight`);
    }
    return canonicalAdapterTensors(tensors);
  },
  adapterConfig: (_config, options, layout) => ({
    peft_type: 'SARA',
    sparsity: options.sparsity,
    target_modules: options.targets,
    lambda_nuclear: options.lambdaNuclear,
    reselect_at_step: options.reselectAtStep,
    index_encoding: 'flat row-major index into the [in, out] weight; -(i+1) marks an entry frozen by re-selection',
    base_layout: layout,
    key_names: 'canonical',
  }),
};
