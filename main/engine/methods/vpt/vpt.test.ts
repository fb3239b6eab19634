// VPT against an independent composition of one-block models: block 0 with the prompts inserted,
// then block 1 fed [CLS, next prompts (deep) or prompt outputs (shallow), patches] by hand.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../backend';
import { vitForward, type VitConfig, type VitParams } from '../../models/vit';
import { Rng } from '../../train/rng';
import { initTrainable, parseOptions, targetConfig, trainableParamCount } from '../framework';
import { randomVitParams, TINY_VIT } from '../tiny-vit';
import type { NamedTensors } from '../types';
import { promptInitBound, promptName, vpt } from '.';

const B = 3;
let base: NamedTensors;
let x: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  base = randomVitParams(TINY_VIT, Rng.fromSeed(21));
  x = tf.tensor4d(Rng.fromSeed(22).fill(B * 8 * 8 * 3, (r) => r.normal()), [B, 8, 8, 3]);
});
afterAll(() => tf.dispose([...Object.values(base), x]));

/** Block `i` of the two-block model as a one-block model (final norm and head kept). */
function oneBlock(i: number, config: VitConfig): { params: VitParams; config: VitConfig } {
  const params: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(base)) {
    const m = /^blocks\.(\d+)\.(.*)$/.exec(k);
    if (!m) params[k] = t;
    else if (Number(m[1]) === i) params[`blocks.0.${m[2]}`] = t;
  }
  return { params, config: { ...config, depth: 1 } };
}

const maxAbsDiff = async (a: tf.Tensor, b: tf.Tensor) => Math.max(...(await tf.sub(a, b).abs().data()));

describe('vpt', () => {
  for (const mode of ['shallow', 'deep'] as const) {
    for (const pooling of ['cls', 'mean'] as const) {
      it(`${mode} prompts on ${pooling} pooling match a hand-assembled two-block pass`, async () => {
        const config: VitConfig = { ...TINY_VIT, pooling, finalNorm: pooling === 'cls' ? 'pooled' : 'tokens' };
        const options = parseOptions(vpt, { mode, promptLength: 3 });
        const prompts = vpt.init(base, config, options, Rng.fromSeed(23));
        const L = 3;
        const d = config.hiddenSize;
        const [hooked, reference] = tf.tidy(() => {
          const hooked = vitForward(base, config, x, vpt.hooks(prompts, config, options, { training: false, rng: Rng.fromSeed(1) }));
          const p0 = tf.broadcastTo(tf.reshape(prompts[promptName(mode, 0)]!, [1, L, d]), [B, L, d]);
          const first = oneBlock(0, config);
          let afterBlock0: tf.Tensor3D | undefined;
          vitForward(first.params, first.config, x, {
            tokens: (_i, t) => tf.concat([tf.slice(t, [0, 0, 0], [B, 1, d]), p0, tf.slice(t, [0, 1, 0], [B, 4, d])], 1) as tf.Tensor3D,
            encoded: (t) => (afterBlock0 = t),
          });
          const second = oneBlock(1, config);
          const promptsIntoBlock1 =
            mode === 'deep' ? tf.broadcastTo(tf.reshape(prompts[promptName(mode, 1)]!, [1, L, d]), [B, L, d]) : tf.slice(afterBlock0!, [0, 1, 0], [B, L, d]);
          const seq = tf.concat([tf.slice(afterBlock0!, [0, 0, 0], [B, 1, d]), promptsIntoBlock1, tf.slice(afterBlock0!, [0, 1 + L, 0], [B, 4, d])], 1) as tf.Tensor3D;
          const reference = vitForward(second.params, second.config, x, { tokens: () => seq });
          return [hooked, reference];
        });
        expect(await maxAbsDiff(hooked!, reference!)).toBeLessThan(1e-5);
        tf.dispose([hooked!, reference!, ...Object.values(prompts)]);
      });
    }
  }

  it("initialises prompts uniformly within the paper's Xavier bound √(6/(c·p²+D))", async () => {
    const options = parseOptions(vpt, { promptLength: 50 });
    const prompts = vpt.init(base, TINY_VIT, options, Rng.fromSeed(24));
    const bound = Math.sqrt(6 / (3 * 4 * 4 + 8));
    expect(promptInitBound(TINY_VIT)).toBeCloseTo(bound, 12);
    const values = (await prompts['blocks.0.prompts']!.data()) as Float32Array;
    const abs = Array.from(values, Math.abs);
    expect(Math.max(...abs)).toBeLessThanOrEqual(bound);
    // 400 uniform draws: the extremes come close to the bound, and the mean |v| is near bound/2.
    expect(Math.max(...abs)).toBeGreaterThan(0.95 * bound);
    expect(abs.reduce((a, b) => a + b, 0) / abs.length).toBeGreaterThan(0.4 * bound);
    expect(abs.reduce((a, b) => a + b, 0) / abs.length).toBeLessThan(0.6 * bound);
    tf.dispose(Object.values(prompts));
  });

  it('prompt dropout acts only while training, per sample, and follows the seed', async () => {
    const options = parseOptions(vpt, { dropout: 0.5 });
    const prompts = vpt.init(base, TINY_VIT, options, Rng.fromSeed(25));
    const run = (training: boolean, seed: number) =>
      tf.tidy(() => vitForward(base, TINY_VIT, x, vpt.hooks(prompts, TINY_VIT, options, { training, rng: Rng.fromSeed(seed) })));
    const [evalA, evalB, trainA, trainA2, trainB] = [run(false, 1), run(false, 2), run(true, 1), run(true, 1), run(true, 2)];
    expect(await maxAbsDiff(evalA, evalB)).toBe(0);
    expect(await maxAbsDiff(trainA, trainA2)).toBe(0);
    expect(await maxAbsDiff(trainA, evalA)).toBeGreaterThan(1e-4);
    expect(await maxAbsDiff(trainA, trainB)).toBeGreaterThan(1e-4);
    // Identical inputs in a batch get different masks.
    const same = tf.tile(tf.slice(x, [0, 0, 0, 0], [1, 8, 8, 3]), [2, 1, 1, 1]) as tf.Tensor4D;
    const twins = tf.tidy(() => vitForward(base, TINY_VIT, same, vpt.hooks(prompts, TINY_VIT, options, { training: true, rng: Rng.fromSeed(3) })));
    expect(await maxAbsDiff(tf.slice(twins, [0, 0], [1, -1]), tf.slice(twins, [1, 0], [1, -1]))).toBeGreaterThan(1e-4);
    tf.dispose([evalA, evalB, trainA, trainA2, trainB, same, twins, ...Object.values(prompts)]);
  });

  it('trains L·D (shallow) or depth·L·D (deep) prompt values besides the head side', () => {
    const config = targetConfig(TINY_VIT, 3);
    const head = 8 * 3 + 3 + 2 * 8;
    for (const [raw, own] of [
      [{ mode: 'shallow', promptLength: 7 }, 7 * 8],
      [{ mode: 'deep', promptLength: 7 }, 2 * 7 * 8],
      [{}, 2 * 10 * 8],
    ] as const) {
      const options = parseOptions(vpt, raw);
      expect(trainableParamCount(vpt, config, options)).toBe(head + own);
      const t = initTrainable(vpt, base, config, options, Rng.fromSeed(26));
      expect(Object.values(t).reduce((n, v) => n + v.size, 0)).toBe(head + own);
      tf.dispose(Object.values(t));
    }
  });
});
