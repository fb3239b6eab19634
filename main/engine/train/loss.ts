// Cross-entropy with label smoothing, mean over the batch.
import * as tf from '@tensorflow/tfjs';

/**
 * logits [B, K], integer labels [B] → scalar loss. With smoothing ε the target distribution is
 * (1 − ε)·onehot + ε/K (Szegedy et al. 2016, PyTorch's label_smoothing), so the loss is
 * (1 − ε)·CE(onehot) + ε·mean_k(−log p_k).
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, smoothing = 0): tf.Scalar {
  const k = logits.shape[1];
  const logp = tf.logSoftmax(logits);
  const onehot = tf.oneHot(tf.cast(labels, 'int32'), k);
  const target = smoothing > 0 ? tf.add(tf.mul(onehot, 1 - smoothing), smoothing / k) : onehot;
  return tf.neg(tf.mean(tf.sum(tf.mul(target, logp), 1)));
}
