// Patch-based training: full-size crops reproduce the base method, crops see their window of the
// (interpolated) position table, crop pixels are the window's pixels, and sampling follows scales.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../backend';
import { vitForward, withImageSize, type VitConfig } from '../../models/vit';
import { Rng } from '../../train/rng';
import { forwardParams, initTrainable, parseOptions, targetConfig, trainableParamCount } from '../framework';
import { lora } from '../lora';
import { randomVitParams, TINY_VIT } from '../tiny-vit';
import type { NamedTensors } from '../types';
import { vpt } from '../vpt';
import { patchOf } from '.';

const B = 2;
/** 16×16 input, patch 4: a 4×4 grid, so crops have room to move. */
const CONFIG: VitConfig = targetConfig({ ...TINY_VIT, imageSize: 16 }, 3);
const patchLora = patchOf(lora);
let base: NamedTensors;
let x: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  base = randomVitParams(CONFIG, Rng.fromSeed(70));
  x = tf.tensor4d(Rng.fromSeed(71).fill(B * 16 * 16 * 3, (r) => r.normal()), [B, 16, 16, 3]);
});
afterAll(() => tf.dispose([...Object.values(base), x]));

/** LoRA with random B so its update is not zero. */
function trained(options: ReturnType<typeof patchLora.options.parse>): NamedTensors {
  const init = initTrainable(patchLora, base, CONFIG, options, Rng.fromSeed(72));
  const rng = Rng.fromSeed(73);
  const out = Object.fromEntries(Object.entries(init).map(([k, t]) => [k, tf.tensor(rng.fill(t.size, (r) => 0.3 * r.normal()), t.shape)]));
  tf.dispose(Object.values(init));
  return out;
}

/** Rows of a g×g position table for a window, by hand: class token, then row-major patches. */
async function windowRows(table: tf.Tensor, g: number, top: number, left: number, size: number): Promise<number[]> {
  const d = table.shape[1]!;
  const v = await table.data();
  const rows = [0];
  for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) rows.push(1 + (top + r) * g + left + c);
  return rows.flatMap((row) => Array.from(v.subarray(row * d, (row + 1) * d)));
}

describe('patch', () => {
  it('trains exactly what the base method trains', () => {
    const loraOptions = parseOptions(patchLora, { baseOptions: { r: 2 } });
    expect(trainableParamCount(patchLora, CONFIG, loraOptions)).toBe(trainableParamCount(lora, CONFIG, loraOptions.baseOptions));
    const patchVpt = patchOf(vpt);
    const vptOptions = parseOptions(patchVpt, { baseOptions: { mode: 'shallow' } });
    expect(trainableParamCount(patchVpt, CONFIG, vptOptions)).toBe(trainableParamCount(vpt, CONFIG, vptOptions.baseOptions));
    expect(() => parseOptions(patchLora, { baseOptions: { rank: 2 } })).toThrow(/rank/);
    expect(parseOptions(patchLora, {})).toMatchObject({ scales: [0.5, 0.75, 1], fullSize: null, baseOptions: { r: 8, targets: ['query', 'value'] } });
  });

  it('a scale-1.0 crop covers the image and reproduces the base method bit for bit', async () => {
    const options = parseOptions(patchLora, { scales: [1], baseOptions: { targets: ['qkv', 'fc1'], r: 2 } });
    const trainable = trained(options);
    const { images, crop } = patchLora.sampleCrop!(x, CONFIG, options, Rng.fromSeed(74));
    expect(crop).toEqual({ grid: 4, top: 0, left: 0, size: 4 });
    const rng = Rng.fromSeed(1);
    const [patched, plain] = tf.tidy(() => [
      vitForward(forwardParams(base, trainable), CONFIG, images, patchLora.hooks(trainable, CONFIG, options, { training: true, rng, crop })),
      vitForward(forwardParams(base, trainable), CONFIG, x, lora.hooks(trainable, CONFIG, options.baseOptions, { training: true, rng })),
    ]);
    expect(Array.from(await patched!.data())).toEqual(Array.from(await plain!.data()));
    tf.dispose([patched!, plain!, images, ...Object.values(trainable)]);
  });

  it('a crop runs with its window of the position table: same logits as a model made for that window', async () => {
    const options = parseOptions(patchLora, { scales: [0.5] });
    const trainable = trained(options);
    const { images, crop } = patchLora.sampleCrop!(x, CONFIG, options, Rng.fromSeed(75));
    expect(crop.size).toBe(2);
    expect(images.shape).toEqual([B, 8, 8, 3]);
    // Pixels: the window of the input, by hand.
    const xv = await x.data();
    const expectedPixels: number[] = [];
    for (let b = 0; b < B; b++)
      for (let r = 0; r < 8; r++)
        for (let c = 0; c < 8; c++)
          for (let k = 0; k < 3; k++) expectedPixels.push(xv[((b * 16 + crop.top * 4 + r) * 16 + crop.left * 4 + c) * 3 + k]!);
    expect(Array.from(await images.data())).toEqual(expectedPixels);
    // A model built for an 8×8 input with the window's rows as its own table, no posEmbed hook.
    const rows = await windowRows(base.pos_embed!, 4, crop.top, crop.left, 2);
    const windowModel = { ...forwardParams(base, trainable), pos_embed: tf.tensor2d(rows, [5, 8]) };
    const small = { ...CONFIG, imageSize: 8 };
    const ctx = { training: false, rng: Rng.fromSeed(1) };
    const [patched, reference] = tf.tidy(() => [
      vitForward(forwardParams(base, trainable), CONFIG, images, patchLora.hooks(trainable, CONFIG, options, { ...ctx, crop })),
      vitForward(windowModel, small, images, lora.hooks(trainable, small, options.baseOptions, ctx)),
    ]);
    expect(Array.from(await patched!.data())).toEqual(Array.from(await reference!.data()));
    tf.dispose([patched!, reference!, images, windowModel.pos_embed, ...Object.values(trainable)]);
  });

  it('with fullSize the image is resized first and the crop sees its window of the interpolated table', async () => {
    const options = parseOptions(patchLora, { scales: [0.25, 0.5], fullSize: 32 });
    const trainable = trained(options);
    const { images, crop } = patchLora.sampleCrop!(x, CONFIG, options, Rng.fromSeed(76));
    expect(crop.grid).toBe(8);
    expect([2, 4]).toContain(crop.size);
    const s = crop.size * 4;
    const resized = tf.image.resizeBilinear(x, [32, 32], false, true);
    const window = tf.slice(resized, [0, crop.top * 4, crop.left * 4, 0], [B, s, s, 3]);
    expect(Array.from(await images.data())).toEqual(Array.from(await window.data()));
    const big = withImageSize(base, CONFIG, 32);
    const expectedRows = await windowRows(big.params.pos_embed!, 8, crop.top, crop.left, crop.size);
    let seen: tf.Tensor2D | undefined;
    const hooks = patchLora.hooks(trainable, CONFIG, options, { training: false, rng: Rng.fromSeed(1), crop });
    const logits = tf.tidy(() => {
      const pos = hooks.posEmbed!(base.pos_embed as tf.Tensor2D, { gh: crop.size, gw: crop.size });
      seen = tf.keep(pos);
      return vitForward(forwardParams(base, trainable), CONFIG, images, hooks);
    });
    expect(seen!.shape).toEqual([1 + crop.size ** 2, 8]);
    const got = await seen!.data();
    expectedRows.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(1e-6));
    expect(logits.shape).toEqual([B, 3]);
    expect(() => tf.tidy(() => hooks.posEmbed!(base.pos_embed as tf.Tensor2D, { gh: 1, gw: 1 }))).toThrow(/crop window/);
    tf.dispose([images, resized, window, big.params.pos_embed!, seen!, logits, ...Object.values(trainable)]);
  });

  it('whole images at another resolution run with the interpolated table', async () => {
    const options = parseOptions(patchLora, {});
    const trainable = trained(options);
    const x24 = tf.image.resizeBilinear(x, [24, 24], false, true) as tf.Tensor4D;
    const resized = withImageSize(forwardParams(base, trainable), CONFIG, 24);
    const ctx = { training: false, rng: Rng.fromSeed(1) };
    const [patched, reference] = tf.tidy(() => [
      vitForward(forwardParams(base, trainable), CONFIG, x24, patchLora.hooks(trainable, CONFIG, options, ctx)),
      vitForward(resized.params, resized.config, x24, lora.hooks(trainable, resized.config, options.baseOptions, ctx)),
    ]);
    expect(Array.from(await patched!.data())).toEqual(Array.from(await reference!.data()));
    tf.dispose([patched!, reference!, x24, resized.params.pos_embed!, ...Object.values(trainable)]);
  });

  it('draws every scale, rounds crop sides to whole patches, stays inside the grid, follows the seed', () => {
    const options = parseOptions(patchLora, { scales: [0.3, 0.75, 1] });
    const draw = (rng: Rng) => {
      const { images, crop } = patchLora.sampleCrop!(x, CONFIG, options, rng);
      images.dispose();
      return crop;
    };
    const rng = Rng.fromSeed(77);
    const crops = Array.from({ length: 60 }, () => draw(rng));
    // round(0.3·4) = 1, round(0.75·4) = 3, 1·4 = 4
    expect(new Set(crops.map((c) => c.size))).toEqual(new Set([1, 3, 4]));
    for (const c of crops) expect(c.top + c.size <= 4 && c.left + c.size <= 4 && c.top >= 0 && c.left >= 0).toBe(true);
    expect(new Set(crops.filter((c) => c.size === 1).map((c) => `${c.top},${c.left}`)).size).toBeGreaterThan(4);
    const again = Rng.fromSeed(77);
    expect(Array.from({ length: 60 }, () => draw(again))).toEqual(crops);
  });
});
