// Single-image fine-tuning (SINE, Zhang et al. 2023) of a DiT: patch-based training on ONE image.
// Each step cuts a random square crop of whole patches at one of several scales; the crop keeps
// the position embeddings of its place in the full image (DiT's fixed sin-cos grid evaluated at the
// crop's patch coordinates), so the model learns sub-image structure tied to where it sits. The
// step itself is finetune.ts's diffusionStep on a DiT "of the crop's size" whose pos_embed is that
// window of the table, so every registry method (LoRA by default) applies unchanged. After
// training, ditAtSize runs the model on a larger patch grid (sin-cos computed for that grid).
// With trainSize (SINE's own setting), the image is first upsampled to that larger size and the
// crops (sized against the model's native grid) are taken anywhere in the larger grid with that
// grid's table, so the positions the model will be asked to generate at are the ones it trained on.
import * as tf from '@tensorflow/tfjs';
import { sincosPosEmbed } from '../models/dit';
import type { VitParams } from '../models/vit';
import { Rng } from '../train/rng';
import type { LoadedDit } from './dit-folder';
import { diffusionStep, initDiffusionTuner, type DiffusionTuner } from './finetune';
import type { DitModel } from './sampler';
import { makeSchedule } from './schedule';
import type { DiffusionRunSpec } from './train';

/** A square window of whole patches of the full image's grid. */
export interface CropWindow {
  top: number;
  left: number;
  /** Side in patches. */
  size: number;
}

/** Crop sides as fractions of the full grid (SINE trains on crops and on the whole image). */
export const DEFAULT_CROP_SCALES: readonly number[] = [0.5, 0.75, 1];

/** The rows of the full grid's sin-cos table at the crop's patches, row-major [size*size, D]. */
export function cropPosEmbed(dim: number, fullGrid: number, crop: CropWindow): Float32Array {
  if (crop.top < 0 || crop.left < 0 || crop.size < 1 || crop.top + crop.size > fullGrid || crop.left + crop.size > fullGrid) {
    throw new Error(`crop ${crop.size}×${crop.size} at (${crop.top}, ${crop.left}) does not fit a ${fullGrid}×${fullGrid} patch grid`);
  }
  const full = sincosPosEmbed(dim, fullGrid);
  const out = new Float32Array(crop.size * crop.size * dim);
  for (let r = 0; r < crop.size; r++) {
    for (let c = 0; c < crop.size; c++) {
      const src = ((crop.top + r) * fullGrid + crop.left + c) * dim;
      out.set(full.subarray(src, src + dim), (r * crop.size + c) * dim);
    }
  }
  return out;
}

/**
 * One crop: a scale drawn from `scales`, then a uniform place on the grid. The side is the scale
 * times `baseGrid` (default the grid itself; the model's native grid when training on a larger one).
 */
export function sampleCropWindow(grid: number, scales: readonly number[], rng: Rng, baseGrid = grid): CropWindow {
  if (scales.length === 0 || scales.some((s) => !(s > 0 && s <= 1))) throw new Error(`crop scales must be within (0, 1], got [${scales.join(', ')}]`);
  const scale = scales[rng.int(scales.length)]!;
  const size = Math.min(grid, Math.max(1, Math.round(scale * baseGrid)));
  return { top: rng.int(grid - size + 1), left: rng.int(grid - size + 1), size };
}

/** The model on another patch grid: same weights, pos_embed a given table (default: sin-cos for that grid). */
function withPosEmbed<M extends DitModel>(model: M, grid: number, table: Float32Array): M & { dispose(): void } {
  const posEmbed = tf.tensor2d(table, [grid * grid, model.config.hiddenSize]);
  const params: VitParams = { ...model.params, pos_embed: posEmbed };
  return { ...model, config: { ...model.config, imageSize: grid * model.config.patchSize }, params, dispose: () => posEmbed.dispose() };
}

/**
 * The DiT at `size` pixels (a multiple of the patch size): its pos_embed is the sin-cos table of
 * the larger (or smaller) grid. dispose() frees that table only; the weights stay the caller's.
 */
export function ditAtSize<M extends DitModel>(model: M, size: number): M & { dispose(): void } {
  const p = model.config.patchSize;
  if (!Number.isInteger(size) || size < p || size % p !== 0) throw new Error(`the image size must be a positive multiple of the patch size ${p}, got ${size}`);
  const grid = size / p;
  return withPosEmbed(model, grid, sincosPosEmbed(model.config.hiddenSize, grid));
}

/** The DiT "of the crop's size" a step trains: pos_embed is the image grid's table at the crop's patches. */
export function cropModel<M extends DitModel>(model: M, imageGrid: number, crop: CropWindow): M & { dispose(): void } {
  return withPosEmbed(model, crop.size, cropPosEmbed(model.config.hiddenSize, imageGrid, crop));
}

/** A diffusion fine-tune's settings, with batchSize as the noise draws per step, all on the step's crop. */
export interface SingleImageSpec extends DiffusionRunSpec {
  scales: readonly number[];
  /**
   * Train at this many pixels (a multiple of the patch size, at least the model's size): the image
   * is upsampled bilinearly to it and crops come from its larger patch grid. Default: the model's size.
   */
  trainSize?: number;
}

/**
 * One step on one image x0 [1, H, W, C] in [-1, 1] (H = W, a multiple of the patch size and at
 * least the model's size): a random crop of whole patches, sized against the model's native grid,
 * with the rows of the image grid's sin-cos table at its place, repeated batchSize times with
 * independent noise and timesteps.
 */
export function singleImageStep(
  model: DitModel,
  tuner: DiffusionTuner,
  image: tf.Tensor4D,
  label: number,
  schedule: ReturnType<typeof makeSchedule>,
  rng: Rng,
  spec: Pick<SingleImageSpec, 'batchSize' | 'lr' | 'classDropout' | 'scales'>,
): { loss: number; crop: CropWindow } {
  const { patchSize: p, imageSize } = model.config;
  const [n, h, w] = image.shape;
  if (n !== 1 || h !== w || h < imageSize || h % p !== 0) {
    throw new Error(`single-image fine-tuning expects one square image of at least ${imageSize}×${imageSize}, a multiple of the patch size ${p}; got [${image.shape.join(', ')}]`);
  }
  const grid = h / p;
  const crop = sampleCropWindow(grid, spec.scales, rng, imageSize / p);
  const cropped = cropModel(model, grid, crop);
  const x0 = tf.tidy(() => {
    const piece = tf.slice(image, [0, crop.top * p, crop.left * p, 0], [1, crop.size * p, crop.size * p, image.shape[3]]);
    return tf.tile(piece, [spec.batchSize, 1, 1, 1]) as tf.Tensor4D;
  });
  try {
    const labels = Array<number>(spec.batchSize).fill(label);
    const loss = diffusionStep(cropped.params, cropped.config, tuner, { x0, labels }, schedule, rng, { lr: spec.lr, classDropout: spec.classDropout });
    return { loss, crop };
  } finally {
    x0.dispose();
    cropped.dispose();
  }
}

/** Fine-tunes on one image with class `label`; the caller owns (and disposes) the returned tuner. */
export function fineTuneSingleImage(
  model: LoadedDit,
  image: tf.Tensor4D,
  label: number,
  spec: SingleImageSpec,
  onStep?: (step: number, loss: number, crop: CropWindow) => void,
): DiffusionTuner {
  const rng = Rng.fromSeed(spec.seed);
  const schedule = makeSchedule(model.schedule);
  const trainImage = spec.trainSize === undefined ? image : upsampleForTraining(image, spec.trainSize, model.config);
  const tuner = initDiffusionTuner(model.params, model.config, spec.method, spec.methodOptions, rng);
  try {
    for (let step = 1; step <= spec.steps; step++) {
      const { loss, crop } = singleImageStep(model, tuner, trainImage, label, schedule, rng, spec);
      onStep?.(step, loss, crop);
    }
  } finally {
    if (trainImage !== image) trainImage.dispose();
  }
  return tuner;
}

/** The image resized bilinearly to `size` pixels: SINE's training image at the output resolution. */
export function upsampleForTraining(image: tf.Tensor4D, size: number, config: DitModel['config']): tf.Tensor4D {
  const { patchSize: p, imageSize } = config;
  if (!Number.isInteger(size) || size < imageSize || size % p !== 0) throw new Error(`the training size must be a multiple of the patch size ${p} and at least ${imageSize}, got ${size}`);
  return tf.tidy(() => tf.image.resizeBilinear(image, [size, size], false, true));
}
