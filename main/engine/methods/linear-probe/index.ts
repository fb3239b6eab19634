// Linear probe: the backbone stays frozen and deterministic, so only the head side (new classifier
// + the final LayerNorm before it) trains, on features the trainer computes once per image.
import { canonicalAdapterTensors } from '../framework';
import type { PeftMethod } from '../types';
import { linearProbeOptions, type LinearProbeOptions } from './config';

export const linearProbe: PeftMethod<LinearProbeOptions> = {
  name: 'linear-probe',
  description: 'frozen backbone, train only the new head (and its LayerNorm) on cached features',
  options: linearProbeOptions,
  featureCacheable: true,
  init: () => ({}),
  shapes: () => new Map(),
  hooks: () => ({}),
  // The head side is made of canonical parameters already: nothing to fold.
  merge: () => ({}),
  unmerge: () => ({}),
  adapterTensors: (trainable) => canonicalAdapterTensors(trainable),
  fromAdapterTensors: (tensors) => canonicalAdapterTensors(tensors),
  adapterConfig: (_config, _options, layout) => ({ peft_type: 'LINEAR_PROBE', base_layout: layout, key_names: 'canonical' }),
};
