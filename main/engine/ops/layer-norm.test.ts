// The hand-written LayerNorm gradient equals tfjs's own differentiation of the moments formula,
// and the forward is bit-identical to it (within float rounding when the fused native pass runs).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { Rng } from '../train/rng';
import { layerNormRows } from './layer-norm';
import { nativeFusedActive } from './native-kernels';

beforeAll(async () => {
  await initBackend();
});

const reference = (x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor, eps: number) => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b) as tf.Tensor2D;
};

describe('layerNormRows', () => {
  it('forward equals the moments formula and dx, dγ, dβ match its autodiff', () => {
    const rng = Rng.fromSeed(3);
    const [r, d] = [7, 12];
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor2d(rng.fill(r * d, (q) => 2 * q.normal() + 0.5), [r, d]);
      const g = tf.tensor1d(rng.fill(d, (q) => 1 + 0.3 * q.normal()));
      const b = tf.tensor1d(rng.fill(d, (q) => 0.3 * q.normal()));
      // A weighting so every output element has its own upstream gradient.
      const w = tf.tensor2d(rng.fill(r * d, (q) => q.normal()), [r, d]);
      const expected = Array.from(reference(x, g, b, 1e-5).dataSync());
      const actual = Array.from(layerNormRows(x, g, b, 1e-5).dataSync());
      // The fused pass sums in its own order: equal within float32 rounding, not bit for bit.
      expect(actual).toEqual(nativeFusedActive() ? expected.map((v) => expect.closeTo(v, 5)) : expected);
      const loss = (f: typeof reference) => (...ts: tf.Tensor[]) => tf.sum(tf.mul(f(ts[0] as tf.Tensor2D, ts[1]!, ts[2]!, 1e-5), w));
      const ours = tf.grads(loss(layerNormRows))([x, g, b]);
      const stock = tf.grads(loss(reference))([x, g, b]);
      for (let i = 0; i < 3; i++) {
        const diff = tf.max(tf.abs(tf.sub(ours[i]!, stock[i]!))).dataSync()[0]!;
        expect(diff, ['dx', 'dγ', 'dβ'][i]).toBeLessThan(1e-5);
      }
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
