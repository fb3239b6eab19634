// GELU activations with closed-form gradients (tf.customGrad): tfjs's own differentiation walks
// every elementwise op of the formula (erf's gradient alone is five kernels). On wasm with the
// native addon, the erf form's forward and gradient are one fused pass each (ops/native-kernels.ts);
// otherwise they run the same kernels as tfjs's formula, so outputs are bit-identical to it.
import * as tf from '@tensorflow/tfjs';
import { FUSED, nativeFusedActive } from './native-kernels';

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const TANH_CUBIC = 0.044715;

/** x·Φ(x) = 0.5·x·(1 + erf(x/√2)); d/dx = Φ(x) + x·φ(x). */
export function geluErf(x: tf.Tensor): tf.Tensor {
  return nativeFusedActive() && x.dtype === 'float32' ? fusedGeluErf(x) : formulaGeluErf(x);
}

const fusedGeluErf = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return {
    value: tf.engine().runKernel(FUSED.gelu, { x }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.engine().runKernel(FUSED.geluGrad, { x: saved[0]!, dy }) as tf.Tensor],
  };
}) as (x: tf.Tensor) => tf.Tensor;

const formulaGeluErf = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const erf = tf.erf(tf.mul(x, Math.SQRT1_2));
  save([x, erf]);
  return {
    value: tf.mul(tf.mul(x, 0.5), tf.add(1, erf)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [input, e] = saved as [tf.Tensor, tf.Tensor];
      const cdf = tf.mul(tf.add(e, 1), 0.5);
      const pdf = tf.mul(tf.exp(tf.mul(tf.square(input), -0.5)), INV_SQRT_2PI);
      return [tf.mul(dy, tf.add(cdf, tf.mul(input, pdf)))];
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * The tanh approximation written as x·σ(2z), z = √(2/π)·(x + 0.044715·x³) (identical maths;
 * wasm's Tanh is slow); d/dx = s + x·s·(1 − s)·2√(2/π)·(1 + 3·0.044715·x²) with s = σ(2z).
 */
export const geluTanh = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const z = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), TANH_CUBIC)), 2 * SQRT_2_OVER_PI);
  const s = tf.sigmoid(z);
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [input, sig] = saved as [tf.Tensor, tf.Tensor];
      const dz = tf.mul(tf.add(tf.mul(tf.square(input), 3 * TANH_CUBIC), 1), 2 * SQRT_2_OVER_PI);
      const slope = tf.mul(tf.mul(sig, tf.sub(1, sig)), dz);
      return [tf.mul(dy, tf.add(sig, tf.mul(input, slope)))];
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;
