// LayerNorm over the last axis of [R, D] rows with a hand-written gradient. tfjs differentiates
// tf.moments op by op (casts, broadcasts, a reduction per path), ~25 kernels per norm; the closed
// form below needs 9 and saves only the normalised rows and 1/σ; with the native addon on wasm it
// is one fused pass each way.
import * as tf from '@tensorflow/tfjs';
import { FUSED, nativeFusedActive } from './native-kernels';

/**
 * (x − μ) / √(σ² + eps) · γ + β per row. Without the fused pass the forward runs the same kernels
 * as tf.moments-based code, so values are bit-identical to it (with it, equal within rounding); the backward is
 * dx = r · (g − mean(g) − n · mean(g · n)) with g = dy · γ, n the normalised rows, r = 1/σ.
 */
export function layerNormRows(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor2D {
  if (nativeFusedActive() && [x, gamma, beta].every((t) => t.dtype === 'float32')) return fusedLayerNormRows(x, gamma, beta, eps);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, g, b, save] = args as [tf.Tensor2D, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const mean = tf.mean(input, -1, true);
    const centred = tf.sub(input, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps));
    const normed = tf.mul(centred, rstd);
    save([normed, rstd, g]);
    return {
      value: tf.add(tf.mul(normed, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [n, r, scale] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor];
        const dn = tf.mul(dy, scale);
        const dx = tf.mul(tf.sub(tf.sub(dn, tf.mean(dn, -1, true)), tf.mul(n, tf.mean(tf.mul(dn, n), -1, true))), r);
        return [dx, tf.sum(tf.mul(dy, n), 0), tf.sum(dy, 0)];
      },
    };
  });
  return f(x, gamma, beta) as tf.Tensor2D;
}

/** The same maths as one native pass each way (ops/native-kernels.ts), on wasm with the addon. */
function fusedLayerNormRows(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, g, b, save] = args as [tf.Tensor2D, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, normed, rstd] = tf.engine().runKernel(FUSED.layerNorm, { x: input, gamma: g, beta: b }, { eps } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([normed!, rstd!, g]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [n, r, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(FUSED.layerNormGrad, { dy, normed: n, rstd: r, gamma: scale }) as tf.Tensor[];
      },
    };
  });
  return f(x, gamma, beta) as tf.Tensor2D;
}
