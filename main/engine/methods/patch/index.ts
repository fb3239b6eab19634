// Patch-based fine-tuning (SINE, Zhang et al. 2023) around any other method: on training steps the
// trainer cuts one square crop of whole patches per batch at a random scale and place
// (sampleCrop), and the forward gives the crop the position embeddings of its place in the full
// image (the window of the table, interpolated first when the full image is resized), so the
// model learns sub-image structure and runs at other resolutions. Everything else (trainable
// tensors, hooks, merge, adapter format) is the base method's. One registered method per base,
// `patch-<base>`, so merge and the other optional parts exist exactly when the base has them.
import * as tf from '@tensorflow/tfjs';
import { gridSize, selectPosEmbed, withImageSize, type VitConfig } from '../../models/vit';
import type { PeftMethod } from '../types';
import { patchOptions, type PatchOptions } from './config';

/** The model's position table resampled to a g × g patch grid (class token kept). */
function resampled(table: tf.Tensor2D, config: VitConfig, g: number): tf.Tensor2D {
  return g === gridSize(config) ? table : (withImageSize({ pos_embed: table }, config, g * config.patchSize).params.pos_embed as tf.Tensor2D);
}

export function patchOf<O extends object>(base: PeftMethod<O>): PeftMethod<PatchOptions<O>> {
  const method: PeftMethod<PatchOptions<O>> = {
    name: `patch-${base.name}`,
    description: `${base.name} trained on random multi-scale crops with their own position embeddings (SINE patch-based training)`,
    options: patchOptions(base.options),
    // Crops change every step: no cache of backbone features applies.
    featureCacheable: false,
    perturbsAtInit: base.perturbsAtInit ?? false,
    init: (b, config, options, rng) => base.init(b, config, options.baseOptions, rng),
    shapes: (config, options) => base.shapes(config, options.baseOptions),
    hooks(trainable, config, options, ctx) {
      const own = gridSize(config);
      return {
        ...base.hooks(trainable, config, options.baseOptions, ctx),
        posEmbed(table, grid) {
          const crop = ctx.crop;
          if (crop) {
            if (grid.gh !== crop.size || grid.gw !== crop.size) {
              throw new Error(`patch: the input has ${grid.gh}×${grid.gw} patches but its crop window is ${crop.size}×${crop.size}`);
            }
            const full = resampled(table, config, crop.grid);
            return selectPosEmbed(full, { imageSize: crop.grid * config.patchSize, patchSize: config.patchSize }, { top: crop.top, left: crop.left, gh: crop.size, gw: crop.size });
          }
          if (grid.gh === own && grid.gw === own) return table;
          if (grid.gh !== grid.gw) throw new Error(`patch: whole images must be square to interpolate position embeddings (got ${grid.gh}×${grid.gw} patches)`);
          return resampled(table, config, grid.gh);
        },
      };
    },
    sampleCrop(images, config, options, rng) {
      const p = config.patchSize;
      const full = options.fullSize ?? config.imageSize;
      if (full % p !== 0) throw new Error(`patch: fullSize ${full} is not a multiple of the patch size ${p}`);
      const grid = full / p;
      const scale = options.scales[rng.int(options.scales.length)]!;
      const size = Math.min(grid, Math.max(1, Math.round(scale * grid)));
      const top = rng.int(grid - size + 1);
      const left = rng.int(grid - size + 1);
      const [b, h, w, c] = images.shape;
      const cropped = tf.tidy(() => {
        // halfPixelCenters: PyTorch's align_corners=False, as the position table's interpolation.
        const resized = h === full && w === full ? images : tf.image.resizeBilinear(images, [full, full], false, true);
        return tf.slice(resized, [0, top * p, left * p, 0], [b, size * p, size * p, c]);
      });
      return { images: cropped, crop: { grid, top, left, size } };
    },
    adapterTensors: (trainable, config, options, layout) => base.adapterTensors(trainable, config, options.baseOptions, layout),
    fromAdapterTensors: (tensors, config, options, layout) => base.fromAdapterTensors(tensors, config, options.baseOptions, layout),
    adapterConfig: (config, options, layout) => ({
      ...base.adapterConfig(config, options.baseOptions, layout),
      patch_training: { method: 'SINE', scales: options.scales, full_size: options.fullSize ?? config.imageSize },
    }),
  };
  if (base.buffers) {
    const buffers = base.buffers;
    method.buffers = (config, options) => buffers(config, options.baseOptions);
  }
  if (base.merge) {
    const merge = base.merge;
    method.merge = (b, trainable, config, options) => merge(b, trainable, config, options.baseOptions);
  }
  if (base.unmerge) {
    const unmerge = base.unmerge;
    method.unmerge = (merged, trainable, config, options) => unmerge(merged, trainable, config, options.baseOptions);
  }
  if (base.penalty) {
    const penalty = base.penalty;
    method.penalty = (trainable, config, options, rng) => penalty(trainable, config, options.baseOptions, rng);
  }
  if (base.afterStep) {
    const afterStep = base.afterStep;
    method.afterStep = (step, trainable, b, config, options) => afterStep(step, trainable, b, config, options.baseOptions);
  }
  return method;
}
