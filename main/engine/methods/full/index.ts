// Full fine-tuning: every ViT weight is trainable (the reference point PEFT methods are
// measured against). The trainable tensors are copies of the canonical parameters.
import * as tf from '@tensorflow/tfjs';
import { vitParamShapes, type VitConfig } from '../../models/vit';
import { canonicalAdapterTensors, headSideShapes } from '../framework';
import type { NamedTensors, PeftMethod } from '../types';
import { fullOptions, type FullOptions } from './config';

/** Canonical parameters other than the head side (which the framework owns). */
function backboneShapes(config: VitConfig): Map<string, number[]> {
  const head = headSideShapes(config);
  return new Map([...vitParamShapes(config)].filter(([name]) => !head.has(name)));
}

export const full: PeftMethod<FullOptions> = {
  name: 'full',
  description: 'train every weight of the model (the baseline PEFT methods are compared with)',
  options: fullOptions,
  featureCacheable: false,
  init(base, config) {
    const out: NamedTensors = {};
    for (const name of backboneShapes(config).keys()) {
      const t = base[name];
      if (!t) throw new Error(`base model has no "${name}"`);
      out[name] = tf.clone(t);
    }
    return out;
  },
  shapes: (config) => backboneShapes(config),
  hooks: () => ({}),
  // Trainable tensors are the canonical weights themselves.
  merge: () => ({}),
  unmerge: () => ({}),
  adapterTensors: (trainable) => canonicalAdapterTensors(trainable),
  fromAdapterTensors: (tensors) => canonicalAdapterTensors(tensors),
  adapterConfig: (_config, _options, layout) => ({ peft_type: 'FULL', base_layout: layout, key_names: 'canonical' }),
};
