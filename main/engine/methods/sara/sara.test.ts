// SaRA: selection against a brute-force sort, the penalty's gradient against central differences, and re-selection.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../backend';
import { linear, vitForward, type VitConfig } from '../../models/vit';
import { Rng } from '../../train/rng';
import { forwardParams, initTrainable, parseOptions, targetConfig, trainableParamCount } from '../framework';
import { randomVitParams, TINY_VIT } from '../tiny-vit';
import type { NamedTensors } from '../types';
import { sara, saraReselect, saraSites, smallestMagnitudes } from '.';
import { sparseNuclearNorm } from './svd';

const CONFIG: VitConfig = targetConfig(TINY_VIT, 3);
const B = 2;
let base: NamedTensors;
let x: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  base = randomVitParams(CONFIG, Rng.fromSeed(80));
  x = tf.tensor4d(Rng.fromSeed(81).fill(B * 8 * 8 * 3, (r) => r.normal()), [B, 8, 8, 3]);
});
afterAll(() => tf.dispose([...Object.values(base), x]));

/** SaRA tensors with random values on the selected entries. */
function trained(raw: object, seed: number, scale = 0.5) {
  const options = parseOptions(sara, raw);
  const init = initTrainable(sara, base, CONFIG, options, Rng.fromSeed(seed));
  const rng = Rng.fromSeed(seed + 1);
  const trainable: NamedTensors = Object.fromEntries(
    Object.entries(init).map(([k, t]) => [k, k.endsWith('.sara_values') ? tf.tensor(rng.fill(t.size, (r) => scale * r.normal()), t.shape) : tf.clone(t)]),
  );
  tf.dispose(Object.values(init));
  return { options, trainable };
}

describe('sara', () => {
  it('selects the k smallest |W| of every target matrix (brute-force sort) and counts Σk + head', async () => {
    const options = parseOptions(sara, { sparsity: 0.1, targets: 'qkv,fc2' });
    const t = initTrainable(sara, base, CONFIG, options, Rng.fromSeed(82));
    const sites = saraSites(CONFIG, options);
    expect(sites.map((s) => [s.module, s.k])).toEqual([
      ['blocks.0.attn.qkv', Math.round(0.1 * 8 * 24)],
      ['blocks.0.mlp.fc2', Math.round(0.1 * 16 * 8)],
      ['blocks.1.attn.qkv', 19],
      ['blocks.1.mlp.fc2', 13],
    ]);
    for (const s of sites) {
      const w = await base[`${s.module}.weight`]!.data();
      const brute = Array.from(w, (v, i) => [Math.abs(v), i] as const)
        .sort((p, q) => p[0] - q[0] || p[1] - q[1])
        .slice(0, s.k)
        .map(([, i]) => i)
        .sort((p, q) => p - q);
      expect(Array.from(await t[`${s.module}.sara_indices`]!.data())).toEqual(brute);
      expect(t[`${s.module}.sara_indices`]!.dtype).toBe('int32');
      expect(Array.from(await t[`${s.module}.sara_values`]!.data())).toEqual(new Array(s.k).fill(0));
    }
    const head = 8 * 3 + 3 + 2 * 8;
    expect(trainableParamCount(sara, CONFIG, options)).toBe(head + 19 + 13 + 19 + 13);
    expect(Array.from(smallestMagnitudes([0.5, -0.1, 0.1, 0.3, -0.1], 3))).toEqual([1, 2, 4]);
    expect(Array.from(smallestMagnitudes([0.5, -0.1, 0.1, 0.3, -0.1], 2))).toEqual([1, 2]);
    tf.dispose(Object.values(t));
  });

  it('the nuclear-norm penalty: λ·mean over matrices without rng, one seeded matrix with it, gradient = central differences', async () => {
    const { options, trainable } = trained({ targets: ['proj', 'fc1'], sparsity: 0.3, lambdaNuclear: 0.5 }, 83);
    const sites = saraSites(CONFIG, options);
    const norms = sites.map((s) => {
      const flat = trainable[`${s.module}.sara_indices`]!.dataSync();
      return sparseNuclearNorm({ rows: s.rows, cols: s.cols, flat, values: trainable[`${s.module}.sara_values`]!.dataSync() }).value;
    });
    const mean = tf.tidy(() => sara.penalty!(trainable, CONFIG, options).dataSync()[0]!);
    expect(mean).toBeCloseTo((0.5 * norms.reduce((a, b) => a + b, 0)) / norms.length, 4);
    const one = tf.tidy(() => sara.penalty!(trainable, CONFIG, options, Rng.fromSeed(84)).dataSync()[0]!);
    expect(one).toBeCloseTo(0.5 * norms[Rng.fromSeed(84).int(sites.length)]!, 4);

    const name = `${sites[1]!.module}.sara_values`;
    const grad = tf.tidy(() => tf.grad((v: tf.Tensor) => sara.penalty!({ ...trainable, [name]: v }, CONFIG, options))(trainable[name]!).dataSync());
    const values = trainable[name]!.dataSync();
    const at = (c: number, e: number) =>
      tf.tidy(() => {
        const v = Float32Array.from(values);
        v[c] = v[c]! + e;
        return sara.penalty!({ ...trainable, [name]: tf.tensor1d(v) }, CONFIG, options).dataSync()[0]!;
      });
    for (const c of [0, 5, 17, 30]) expect(grad[c]!).toBeCloseTo((at(c, 1e-2) - at(c, -1e-2)) / 2e-2, 2);
    expect(tf.tidy(() => sara.penalty!(trainable, CONFIG, { ...options, lambdaNuclear: 0 }).dataSync()[0])).toBe(0);
    tf.dispose(Object.values(trainable));
  });

  it('the weight hook x·(W + Δ) equals the former x·W + b + x·Δ, in outputs and in the gradients of the values', () => {
    const { options, trainable } = trained({ sparsity: 0.3 }, 87);
    const hooks = sara.hooks(trainable, CONFIG, options, { training: true, rng: Rng.fromSeed(1) });
    for (const s of saraSites(CONFIG, options)) {
      const xs = tf.tensor2d(Rng.fromSeed(88).fill(5 * s.rows, (r) => r.normal()), [5, s.rows]);
      const cotangent = tf.tensor2d(Rng.fromSeed(89).fill(5 * s.cols, (r) => r.normal()), [5, s.cols]);
      const name = `${s.module}.sara_values`;
      const ids = trainable[`${s.module}.sara_indices`]!.dataSync();
      const deltaDense = new Float32Array(s.rows * s.cols);
      trainable[name]!.dataSync().forEach((v, j) => (deltaDense[ids[j]!] = v));
      const [ours, former, xtc] = tf.tidy(() => [
        linear(base, s.module, xs, true, hooks).dataSync(),
        tf.add(linear(base, s.module, xs), tf.matMul(xs, tf.tensor2d(deltaDense, [s.rows, s.cols]))).dataSync(),
        tf.matMul(xs, cotangent, true, false).dataSync(),
      ]);
      ours.forEach((v, i) => expect(v).toBeCloseTo(former[i]!, 5));
      // d/dvalues Σ cotangent ⊙ (x·W + b + x·Δ) = (xᵀ·cotangent) at the selected entries.
      const g = tf.tidy(() =>
        tf.grad((v: tf.Tensor) => tf.sum(tf.mul(linear(base, s.module, xs, true, sara.hooks({ ...trainable, [name]: v }, CONFIG, options, { training: true, rng: Rng.fromSeed(1) })), cotangent)))(trainable[name]!).dataSync(),
      );
      ids.forEach((id, j) => expect(g[j]!).toBeCloseTo(xtc[id]!, 5));
      tf.dispose([xs, cotangent]);
    }
    tf.dispose(Object.values(trainable));
  });

  it('re-selection at reselectAtStep freezes the entries grown past θ, keeps every Δ, and stops their gradients', async () => {
    const { options, trainable } = trained({ targets: ['fc1'], sparsity: 0.2, reselectAtStep: 7 }, 85);
    expect(sara.afterStep!(6, trainable, base, CONFIG, options)).toBeUndefined();
    const next = sara.afterStep!(7, trainable, base, CONFIG, options)!;
    expect(Object.keys(next).sort()).toEqual(['blocks.0.mlp.fc1.sara_indices', 'blocks.1.mlp.fc1.sara_indices']);
    const after = { ...trainable, ...next };
    let frozenCount = 0;
    for (const s of saraSites(CONFIG, options)) {
      const w = base[`${s.module}.weight`]!.dataSync();
      const ids = trainable[`${s.module}.sara_indices`]!.dataSync();
      const v = trainable[`${s.module}.sara_values`]!.dataSync();
      const theta = Math.max(...Array.from(ids, (i) => Math.abs(w[i]!)));
      const expected = Array.from(ids, (i, j) => (Math.abs(w[i]! + v[j]!) > theta ? -i - 1 : i));
      frozenCount += expected.filter((i) => i < 0).length;
      expect(Array.from(next[`${s.module}.sara_indices`]!.dataSync())).toEqual(expected);
    }
    expect(frozenCount).toBeGreaterThan(3);
    const logits = (t: NamedTensors) => vitForward(forwardParams(base, t), CONFIG, x, sara.hooks(t, CONFIG, options, { training: true, rng: Rng.fromSeed(1) }));
    const [a, b] = tf.tidy(() => [logits(trainable), logits(after)]);
    expect(Array.from(await a!.data())).toEqual(Array.from(await b!.data()));
    const name = 'blocks.1.mlp.fc1.sara_values';
    const g = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(logits({ ...after, [name]: v })))(after[name]!).dataSync());
    const ids = next['blocks.1.mlp.fc1.sara_indices']!.dataSync();
    ids.forEach((id, j) => (id < 0 ? expect(Math.abs(g[j]!)).toBe(0) : undefined));
    expect(Array.from(ids).some((id, j) => id >= 0 && g[j] !== 0)).toBe(true);
    // Later re-selections leave frozen entries frozen.
    const again = saraReselect(base, after, CONFIG, options);
    Array.from(again['blocks.1.mlp.fc1.sara_indices']!.dataSync()).forEach((id, j) => ids[j]! < 0 && expect(id).toBe(ids[j]));
    tf.dispose([a!, b!, ...Object.values(trainable), ...Object.values(next), ...Object.values(again)]);
  });

  it('adapters carry int32 indices and reject others', () => {
    const { options, trainable } = trained({ targets: ['proj'] }, 86);
    const exported = sara.adapterTensors(trainable, CONFIG, options, 'timm');
    expect(exported['blocks.0.attn.proj.sara_indices']!.dtype).toBe('int32');
    expect(exported['blocks.0.attn.proj.sara_values']!.dtype).toBe('float32');
    const floats = { ...exported, 'blocks.0.attn.proj.sara_indices': tf.cast(exported['blocks.0.attn.proj.sara_indices']!, 'float32') };
    expect(() => sara.fromAdapterTensors(floats, CONFIG, options, 'timm')).toThrow(/must be int32/);
    const outside = { ...exported, 'blocks.1.attn.proj.sara_indices': tf.fill([3], 64, 'int32') };
    expect(() => sara.fromAdapterTensors(outside, CONFIG, options, 'timm')).toThrow(/outside its 8×8 weight/);
    tf.dispose([...Object.values(exported), ...Object.values(trainable), floats['blocks.0.attn.proj.sara_indices'], outside['blocks.1.attn.proj.sara_indices']]);
  });
});
