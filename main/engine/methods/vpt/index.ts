// Visual Prompt Tuning (Jia et al. 2022): learnable prompt tokens sit between the class token and
// the patch tokens, [CLS, prompts…, patches…]; the backbone stays frozen. Shallow VPT inserts one
// set before block 0; deep VPT gives every block its own set, which replaces the previous block's
// prompt outputs. Pooling never sees the prompts (vit.ts counts patch tokens from the end).
import * as tf from '@tensorflow/tfjs';
import type { VitConfig } from '../../models/vit';
import { canonicalAdapterTensors } from '../framework';
import type { PeftMethod } from '../types';
import { vptOptions, type VptOptions } from './config';

/** Trainable name of the prompt set entering block `i` (one set in shallow mode). */
export function promptName(mode: VptOptions['mode'], block: number): string {
  return mode === 'shallow' ? 'prompts' : `blocks.${block}.prompts`;
}

/**
 * Half-width of the uniform prompt init: the paper's Xavier-uniform over a patch projection,
 * √(6 / (c·p² + D)) (their code writes 3·p² for RGB).
 */
export function promptInitBound(config: Pick<VitConfig, 'numChannels' | 'patchSize' | 'hiddenSize'>): number {
  return Math.sqrt(6 / (config.numChannels * config.patchSize ** 2 + config.hiddenSize));
}

function sets(config: VitConfig, options: VptOptions): string[] {
  return options.mode === 'shallow' ? [promptName('shallow', 0)] : Array.from({ length: config.depth }, (_, i) => promptName('deep', i));
}

export const vpt: PeftMethod<VptOptions> = {
  name: 'vpt',
  description: 'visual prompt tuning: learnable tokens after the class token (shallow: block 0 only; deep: every block)',
  options: vptOptions,
  featureCacheable: false,
  // Both modes insert their first prompts before block 0: only the frozen embedding precedes them.
  frozenPrefix: () => 0,
  init(_base, config, options, rng) {
    const bound = promptInitBound(config);
    const n = options.promptLength * config.hiddenSize;
    return Object.fromEntries(sets(config, options).map((name) => [name, tf.tensor2d(rng.fill(n, (r) => r.uniform(-bound, bound)), [options.promptLength, config.hiddenSize])]));
  },
  shapes: (config, options) => new Map(sets(config, options).map((name) => [name, [options.promptLength, config.hiddenSize]])),
  hooks(trainable, _config, options, ctx) {
    const length = options.promptLength;
    return {
      tokens(block, x) {
        if (block > 0 && options.mode === 'shallow') return x;
        const prompts = trainable[promptName(options.mode, block)];
        if (!prompts) throw new Error(`VPT prompts for block ${block} are missing`);
        const [b, n, d] = x.shape;
        let p = tf.broadcastTo(tf.reshape(prompts, [1, length, d]), [b, length, d]) as tf.Tensor3D;
        // Per-sample masks, as the reference expands prompts over the batch before dropout.
        if (ctx.training && options.dropout > 0) p = tf.dropout(p, options.dropout, undefined, ctx.rng.seed()) as tf.Tensor3D;
        const cls = tf.slice(x, [0, 0, 0], [b, 1, d]);
        // Before block 0 the sequence is [CLS, patches]; later it is [CLS, old prompts, patches].
        const skip = block === 0 ? 1 : 1 + length;
        return tf.concat([cls, p, tf.slice(x, [0, skip, 0], [b, n - skip, d])], 1) as tf.Tensor3D;
      },
    };
  },
  adapterTensors: (trainable) => canonicalAdapterTensors(trainable),
  fromAdapterTensors: (tensors) => canonicalAdapterTensors(tensors),
  adapterConfig: (config, options, layout) => ({
    peft_type: 'VPT',
    mode: options.mode,
    num_prompt_tokens: options.promptLength,
    prompt_dropout: options.dropout,
    num_prompt_sets: options.mode === 'shallow' ? 1 : config.depth,
    base_layout: layout,
    key_names: 'canonical',
  }),
};
