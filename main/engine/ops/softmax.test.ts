// The addon's softmax gradient (ops/native-kernels.ts) against a float64 reference and tfjs's own
// gradient formula it replaces.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { FUSED } from './native-kernels';

let native = false;
beforeAll(async () => {
  await initBackend();
  native = tf.getKernel(FUSED.softmaxGrad, 'wasm') !== undefined;
});

/** Row softmax in float64 over the last axis of row-major values. */
function softmax64(values: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(values.length);
  for (let r = 0; r < values.length; r += d) {
    let max = -Infinity;
    for (let j = 0; j < d; j++) max = Math.max(max, values[r + j]!);
    let sum = 0;
    for (let j = 0; j < d; j++) sum += out[r + j] = Math.exp(values[r + j]! - max);
    for (let j = 0; j < d; j++) out[r + j]! /= sum;
  }
  return out;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
};

describe('native softmax gradient', () => {
  it('is registered where the addon is built (CI builds it)', (ctx) => {
    if (!native && !process.env.CI) ctx.skip('SKIPPED: the native/blas addon is not in use here (tfjs keeps its own softmax gradient)');
    expect(tf.getBackend()).toBe('wasm');
    expect(native).toBe(true);
  });

  it('gives the float64 gradient y·(w − Σ w·y) and agrees with the tfjs formula it replaces, leaking nothing', () => {
    const before = tf.memory().numTensors;
    const [x, w] = tf.tidy(() => [tf.mul(tf.randomNormal([40, 65], 0, 1, 'float32', 3), 3), tf.randomNormal([40, 65], 0, 1, 'float32', 4)]);
    const dx = tf.grad((logits: tf.Tensor) => tf.sum(tf.mul(tf.softmax(logits), w)))(x);
    const y = softmax64(x.dataSync(), 65);
    const wv = w.dataSync();
    const expected = new Float64Array(y.length);
    for (let r = 0; r < y.length; r += 65) {
      let dot = 0;
      for (let j = 0; j < 65; j++) dot += wv[r + j]! * y[r + j]!;
      for (let j = 0; j < 65; j++) expected[r + j] = y[r + j]! * (wv[r + j]! - dot);
    }
    expect(maxAbsDiff(dx.dataSync(), expected)).toBeLessThan(1e-6);
    // tfjs's Softmax gradient: dy·y − Σ(dy·y)·y, on the same probabilities.
    const formula = tf.tidy(() => {
      const p = tf.softmax(x);
      const dyTimesY = tf.mul(w, p);
      return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, -1, true), p));
    });
    expect(maxAbsDiff(dx.dataSync(), formula.dataSync())).toBeLessThan(1e-6);
    tf.dispose([x, w, dx, formula]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
