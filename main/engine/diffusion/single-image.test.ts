// SINE single-image fine-tuning on the tiny DiT fixture (8×8 greyscale, patch 2: a 4×4 grid).
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { ditEpsilon, sincosPosEmbed } from '../models/dit';
import { Rng } from '../train/rng';
import { loadDitFolder, type LoadedDit } from './dit-folder';
import { disposeTuner, initDiffusionTuner, tunedModel } from './finetune';
import { generate } from './generate';
import { disposeBatch, epsilonLoss, noiseBatch } from './loss';
import { makeSchedule } from './schedule';
import { cropModel, cropPosEmbed, type CropWindow, DEFAULT_CROP_SCALES, ditAtSize, fineTuneSingleImage, sampleCropWindow, singleImageStep, upsampleForTraining } from './single-image';

let model: LoadedDit;
let image: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  model = await loadDitFolder(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dit', 'dit_tiny_grey'));
  // A structured image (a bright square on a dark ground), so crops differ by place.
  const px = Array.from({ length: 64 }, (_, i) => (Math.floor(i / 8) >= 2 && Math.floor(i / 8) < 6 && i % 8 >= 1 && i % 8 < 5 ? 0.8 : -0.7));
  image = tf.tensor4d(px, [1, 8, 8, 1]);
});
afterAll(() => tf.dispose([image, ...Object.values(model.params)]));

const snapshot = (t: Record<string, tf.Tensor>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(v.dataSync())]));
const spec = { method: 'lora' as const, methodOptions: { targets: ['qkv', 'fc1'] }, batchSize: 4, lr: 0.03, seed: 3, classDropout: 0, scales: DEFAULT_CROP_SCALES };

/** Runs `steps` single-image steps on `img` (after a warm-up step) and checks only LoRA tensors moved and nothing leaked. */
function stepsChangeOnlyLora(img: tf.Tensor4D, steps: number): { loss: number; crop: CropWindow }[] {
  const schedule = makeSchedule(model.schedule);
  const baseBefore = snapshot(model.params);
  const tuner = initDiffusionTuner(model.params, model.config, 'lora', spec.methodOptions, Rng.fromSeed(1));
  const before = snapshot(tuner.trainable);
  const rng = Rng.fromSeed(2);
  singleImageStep(model, tuner, img, 1, schedule, rng, spec);
  const tensors = tf.memory().numTensors;
  const results = Array.from({ length: steps }, () => singleImageStep(model, tuner, img, 1, schedule, rng, spec));
  expect(tf.memory().numTensors).toBe(tensors);
  expect(snapshot(model.params)).toEqual(baseBefore);
  const after = snapshot(tuner.trainable);
  expect(Object.keys(after).every((n) => n.includes('.lora_'))).toBe(true);
  expect(Object.keys(after).some((n) => after[n]!.some((v, i) => v !== before[n]![i]))).toBe(true);
  disposeTuner(tuner);
  return results;
}

describe('single-image fine-tuning (SINE)', () => {
  it("a crop's position embeddings are exactly the full grid's rows at the crop's patches", () => {
    const d = 24;
    const full = sincosPosEmbed(d, 6);
    const crop = { top: 2, left: 1, size: 3 };
    const rows = cropPosEmbed(d, 6, crop);
    expect(rows.length).toBe(9 * d);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) {
        const want = full.subarray(((2 + r) * 6 + 1 + c) * d, ((2 + r) * 6 + 2 + c) * d);
        expect(Array.from(rows.subarray((r * 3 + c) * d, (r * 3 + c + 1) * d))).toEqual(Array.from(want));
      }
    }
    // The whole grid as a crop is the table itself.
    expect(Array.from(cropPosEmbed(d, 6, { top: 0, left: 0, size: 6 }))).toEqual(Array.from(full));
    expect(() => cropPosEmbed(d, 6, { top: 4, left: 0, size: 3 })).toThrow(/does not fit/);
  });

  it('crop windows use the given scales and stay inside the grid', () => {
    const rng = Rng.fromSeed(9);
    const sizes = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const c = sampleCropWindow(7, [0.5, 1], rng);
      sizes.add(c.size);
      expect(c.top + c.size).toBeLessThanOrEqual(7);
      expect(c.left + c.size).toBeLessThanOrEqual(7);
    }
    expect([...sizes].sort()).toEqual([4, 7]);
    expect(() => sampleCropWindow(7, [1.5], rng)).toThrow(/within \(0, 1\]/);
  });

  it('a step changes only the LoRA tensors, and no tensor leaks', () => {
    const [{ loss, crop }] = stepsChangeOnlyLora(image, 1) as [{ loss: number; crop: CropWindow }];
    expect(Number.isFinite(loss)).toBe(true);
    expect(crop.top + crop.size).toBeLessThanOrEqual(4);
  });

  it('the loss on the image goes down over a few steps', () => {
    const tensors = tf.memory().numTensors;
    const schedule = makeSchedule(model.schedule);
    // A fixed set of noisings of the whole image, scored before and after.
    const copies = tf.tile(image, [16, 1, 1, 1]) as tf.Tensor4D;
    const probe = noiseBatch(copies, Array<number>(16).fill(1), schedule, Rng.fromSeed(5), { classDropout: 0, nullClass: 4 });
    copies.dispose();
    const tuner = initDiffusionTuner(model.params, model.config, 'lora', spec.methodOptions, Rng.fromSeed(1));
    const score = () =>
      tf.tidy(() => {
        const { params, hooks } = tunedModel(model.params, model.config, tuner);
        return epsilonLoss(ditEpsilon(params, model.config, { x: probe.xt, t: probe.t, y: probe.y }, hooks), probe.noise).dataSync()[0]!;
      });
    const before = score();
    const losses: number[] = [];
    const trained = fineTuneSingleImage(model, image, 1, { ...spec, steps: 30 }, (_, loss) => losses.push(loss));
    expect(losses).toHaveLength(30);
    const after = tf.tidy(() => {
      const { params, hooks } = tunedModel(model.params, model.config, trained);
      return epsilonLoss(ditEpsilon(params, model.config, { x: probe.xt, t: probe.t, y: probe.y }, hooks), probe.noise).dataSync()[0]!;
    });
    expect(after).toBeLessThan(before * 0.9);
    disposeTuner(trained);
    disposeTuner(tuner);
    disposeBatch(probe);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('generates at the training size and at twice the patch grid, with the adapter, without leaks', () => {
    const trained = fineTuneSingleImage(model, image, 1, { ...spec, steps: 2 });
    const { params, hooks } = tunedModel(model.params, model.config, trained);
    const tensors = tf.memory().numTensors;
    const small = generate({ ...model, params }, { classes: [1, 1], steps: 3, seed: 1, cfg: 2, sampler: 'ddim', eta: 0, hooks });
    expect(small.map((p) => p.length)).toEqual([64, 64]);
    const large = ditAtSize({ ...model, params }, 16);
    expect(large.config.imageSize).toBe(16);
    expect(large.params.pos_embed!.shape).toEqual([64, 24]);
    const big = generate(large, { classes: [1, 1], steps: 3, seed: 1, cfg: 2, sampler: 'ddim', eta: 0, hooks });
    large.dispose();
    expect(big.map((p) => p.length)).toEqual([256, 256]);
    expect(big.flatMap((p) => Array.from(p)).every((v) => v >= 0 && v <= 255)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(() => ditAtSize(model, 9)).toThrow(/multiple of the patch size 2/);
    disposeTuner(trained);
  });

  describe('training at a larger size (trainSize)', () => {
    it("crops are sized against the model's grid, placed anywhere in the larger grid, with the larger table's rows", () => {
      const rng = Rng.fromSeed(4);
      const sizes = new Set<number>();
      let beyondNative = false;
      for (let i = 0; i < 200; i++) {
        const c = sampleCropWindow(8, DEFAULT_CROP_SCALES, rng, 4);
        sizes.add(c.size);
        expect(c.top + c.size).toBeLessThanOrEqual(8);
        expect(c.left + c.size).toBeLessThanOrEqual(8);
        beyondNative ||= c.top + c.size > 4 && c.left + c.size > 4;
      }
      expect([...sizes].sort()).toEqual([2, 3, 4]);
      expect(beyondNative).toBe(true);
      // The model a step trains on a crop of the 8×8 grid (16 px at patch 2): the 8×8 table's rows at its place.
      const crop = { top: 5, left: 3, size: 3 };
      const cropped = cropModel(model, 8, crop);
      const d = model.config.hiddenSize;
      const full = sincosPosEmbed(d, 8);
      const rows = cropped.params.pos_embed!.dataSync();
      expect(cropped.config.imageSize).toBe(6);
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) {
          const want = full.subarray(((5 + r) * 8 + 3 + c) * d, ((5 + r) * 8 + 4 + c) * d);
          expect(Array.from(rows.subarray((r * 3 + c) * d, (r * 3 + c + 1) * d))).toEqual(Array.from(want));
        }
      }
      cropped.dispose();
    });

    it('a step on the upsampled image changes only the LoRA tensors, and no tensor leaks', () => {
      const large = upsampleForTraining(image, 16, model.config);
      expect(large.shape).toEqual([1, 16, 16, 1]);
      const crops = stepsChangeOnlyLora(large, 6).map((r) => r.crop);
      expect(crops.every((c) => c.size <= 4 && c.top + c.size <= 8 && c.left + c.size <= 8)).toBe(true);
      large.dispose();
    });

    it('fineTuneSingleImage with trainSize trains on the larger grid and frees the upsampled image', () => {
      const tensors = tf.memory().numTensors;
      const crops: CropWindow[] = [];
      const trained = fineTuneSingleImage(model, image, 1, { ...spec, steps: 6, trainSize: 16 }, (_, _loss, crop) => crops.push(crop));
      expect(crops.some((c) => c.top + c.size > 4 || c.left + c.size > 4)).toBe(true);
      disposeTuner(trained);
      expect(() => fineTuneSingleImage(model, image, 1, { ...spec, steps: 1, trainSize: 7 })).toThrow(/multiple of the patch size 2 and at least 8/);
      expect(() => upsampleForTraining(image, 6, model.config)).toThrow(/at least 8/);
      expect(tf.memory().numTensors).toBe(tensors);
    });
  });
});
