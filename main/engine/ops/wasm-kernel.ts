// Replacing a kernel of tfjs's wasm backend: the engine's faster kernels (wasm-copies.ts,
// native-kernels.ts, backend.ts) each wrap the one they replace and hand it what they decline.
import * as tf from '@tensorflow/tfjs';

/**
 * Registers make(stock) as the wasm backend's `kernelName`, where stock is the kernel registered
 * until now. Returns false, changing nothing, when the backend has no such kernel.
 */
export function replaceWasmKernel(kernelName: string, make: (stock: tf.KernelFunc) => tf.KernelFunc): boolean {
  const stock = tf.getKernel(kernelName, 'wasm');
  if (!stock) return false;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: make(stock.kernelFunc) });
  return true;
}
