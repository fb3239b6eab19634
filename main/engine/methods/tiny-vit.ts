// Small random ViTs for tests and smoke runs of the method table, the trainer and the worker:
// real shapes and maths, no download.
import * as tf from '@tensorflow/tfjs';
import { vitParamShapes, type VitConfig } from '../models/vit';
import type { Rng } from '../train/rng';
import type { NamedTensors } from './types';

/** 8×8 RGB input, patch 4 (4 patches), width 8, 2 blocks of 2 heads: runs in milliseconds. */
export const TINY_VIT: VitConfig = {
  imageSize: 8,
  patchSize: 4,
  numChannels: 3,
  hiddenSize: 8,
  depth: 2,
  numHeads: 2,
  headDim: 4,
  mlpSize: 16,
  activation: 'gelu',
  qkvBias: true,
  layerNormEps: 1e-6,
  pooling: 'cls',
  finalNorm: 'pooled',
  numLabels: 5,
};

/** Parameters with the config's canonical shapes: norms near 1, everything else N(0, 0.3²). */
export function randomVitParams(config: VitConfig, rng: Rng): NamedTensors {
  const params: NamedTensors = {};
  for (const [name, shape] of vitParamShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const isNormWeight = /norm\d?\.weight$/.test(name);
    params[name] = tf.tensor(rng.fill(size, (r) => (isNormWeight ? 1 : 0) + 0.3 * r.normal()), shape);
  }
  return params;
}
