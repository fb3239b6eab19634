// Picks the fastest TensorFlow.js backend that loads on this machine and reports why.
// The umbrella package is imported (not tfjs-core) because only it registers the gradient
// functions and chained tensor methods in Node (see ENGINE-NOTES).
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { nativeMatMulActive, registerNativeKernels } from './ops/native-kernels';
import { registerCopyFreeWasmKernels } from './ops/wasm-copies';
import { replaceWasmKernel } from './ops/wasm-kernel';

export interface BackendInfo {
  /** tfjs backend name: 'tensorflow' (tfjs-node / tfjs-node-gpu), 'wasm' or 'cpu'. */
  name: string;
  /** Why this backend was chosen, for logs and the UI. */
  reason: string;
}

type Candidate = 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';
const ORDER: readonly Candidate[] = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

/** Accepted values of PEFT_STUDIO_BACKEND, mapped to the candidate they force. */
const OVERRIDES: Readonly<Record<string, Candidate>> = {
  'tfjs-node-gpu': 'tfjs-node-gpu',
  gpu: 'tfjs-node-gpu',
  'tfjs-node': 'tfjs-node',
  tensorflow: 'tfjs-node',
  node: 'tfjs-node',
  wasm: 'wasm',
  cpu: 'cpu',
};

let pending: Promise<BackendInfo> | undefined;

/**
 * Selects and initialises the backend once per process; later calls return the same result.
 * Order: tfjs-node-gpu → tfjs-node → wasm → cpu, unless PEFT_STUDIO_BACKEND names one.
 */
export function initBackend(): Promise<BackendInfo> {
  pending ??= selectBackend().catch((err: unknown) => {
    pending = undefined; // let a caller retry after fixing the environment
    throw err;
  });
  return pending;
}

async function selectBackend(): Promise<BackendInfo> {
  // PROD only silences tfjs's console tips (e.g. the cpu backend's "install tfjs-node" banner),
  // which would break the CLI's one-line stderr; BackendInfo.reason already says what loaded.
  tf.env().set('PROD', true);
  registerFastMatMulGradient();
  const forced = process.env.PEFT_STUDIO_BACKEND?.trim();
  if (forced) {
    const candidate = OVERRIDES[forced.toLowerCase()];
    if (!candidate) {
      throw new Error(`PEFT_STUDIO_BACKEND=${forced} is not one of ${Object.keys(OVERRIDES).join(', ')}`);
    }
    const failure = await tryCandidate(candidate);
    if (failure !== undefined) throw new Error(`PEFT_STUDIO_BACKEND=${forced} requested but ${failure}`);
    return { name: tf.getBackend(), reason: `${candidate}: forced by PEFT_STUDIO_BACKEND${matMulNote()}` };
  }
  const skipped: string[] = [];
  for (const candidate of ORDER) {
    const failure = await tryCandidate(candidate);
    if (failure === undefined) {
      const reason = skipped.length === 0 ? 'first choice' : skipped.join('; ');
      return { name: tf.getBackend(), reason: `${candidate}: ${reason}${matMulNote()}` };
    }
    skipped.push(failure);
  }
  throw new Error(`no TensorFlow.js backend could start: ${skipped.join('; ')}`);
}

/** Returns undefined when the candidate is now the active backend, else why it is not. */
async function tryCandidate(candidate: Candidate): Promise<string | undefined> {
  try {
    switch (candidate) {
      case 'tfjs-node-gpu':
      case 'tfjs-node': {
        // Optional dependencies: a variable specifier keeps TypeScript and bundlers from
        // requiring them at build time; importing one registers the 'tensorflow' backend.
        const specifier = `@tensorflow/${candidate}`;
        try {
          await import(specifier);
        } catch (err) {
          const code = (err as { code?: string }).code;
          return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
            ? `@tensorflow/${candidate} not installed`
            : `@tensorflow/${candidate} failed to load (${firstLine(err)})`;
        }
        return (await tf.setBackend('tensorflow')) ? undefined : `@tensorflow/${candidate} did not initialise`;
      }
      case 'wasm': {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        // In Node the .wasm binaries must be read from the package's dist folder, not fetched.
        const require = createRequire(import.meta.url);
        const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
        wasm.setWasmPaths(dist + path.sep);
        if (!(await tf.setBackend('wasm'))) return 'wasm did not initialise';
        registerFastWasmBatchMatMul();
        // After the wasm batched kernel, which stays the fallback for what the BLAS kernel declines.
        registerNativeKernels();
        registerCopyFreeWasmKernels();
        return undefined;
      }
      case 'cpu':
        return (await tf.setBackend('cpu')) ? undefined : 'cpu did not initialise';
    }
  } catch (err) {
    return `${candidate} failed (${firstLine(err)})`;
  }
}

/** Where wasm's matrix products run, for the backend's reason line. */
function matMulNote(): string {
  if (tf.getBackend() !== 'wasm') return '';
  const native = registerNativeKernels();
  const products = native.library ? `matrix products on ${native.library}` : `matrix products in wasm: ${native.reason ?? ''}`;
  return `; ${products}; GELU/LayerNorm ${native.fused ? 'fused (native/blas)' : 'in wasm'}`;
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0] ?? '';
}

let matMulGradientPatched = false;

/**
 * Replaces the BatchMatMul gradient for 2-D operands with explicit transposes followed by plain
 * matmuls: wasm runs transposed or batched matmuls on a slow loop (~10× slower), while a
 * transpose + non-transposed 2-D matmul uses XNNPACK. Batched cases keep the stock gradient.
 */
function registerFastMatMulGradient(): void {
  if (matMulGradientPatched) return;
  const stock = tf.getGradient('BatchMatMul');
  if (!stock) throw new Error('tfjs registered no BatchMatMul gradient: import @tensorflow/tfjs, not tfjs-core');
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      const single = Array.isArray(dy) ? dy[0]! : dy;
      // The BLAS kernel takes transposed operands as they are: the stock gradient is the fast one there.
      if (a.rank !== 2 || b.rank !== 2 || nativeMatMulActive()) return stock.gradFunc(dy, saved, attrs);
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const d = single as tf.Tensor2D;
      const A = a as tf.Tensor2D;
      const B = b as tf.Tensor2D;
      const t = tf.transpose;
      if (!transposeA && !transposeB) {
        // C = A·B. XNNPACK packs the right operand on every call: for dB = Aᵀ·dC with dC wider
        // than A (a linear layer's weight gradient, out > in), (dCᵀ·A)ᵀ packs the narrower A.
        const dB = d.shape[1] > A.shape[1] ? () => t(tf.matMul(t(d), A)) : () => tf.matMul(t(A), d);
        return { a: () => tf.matMul(d, t(B)), b: dB };
      }
      if (!transposeA && transposeB) {
        // C = A·Bᵀ
        return { a: () => tf.matMul(d, B), b: () => tf.matMul(t(d), A) };
      }
      if (transposeA && !transposeB) {
        // C = Aᵀ·B
        return { a: () => tf.matMul(B, t(d)), b: () => tf.matMul(A, d) };
      }
      // C = Aᵀ·Bᵀ
      return { a: () => tf.matMul(t(B), t(d)), b: () => tf.matMul(t(d), t(A)) };
    },
  });
  matMulGradientPatched = true;
}

/** The parts of tfjs-backend-wasm's BackendWasm that the batched matmul below uses. */
interface WasmBackendInternals {
  wasm: {
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    _malloc(bytes: number): number;
    HEAP32: Int32Array;
    tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

/** Below this many multiply-adds per matrix, the per-matrix call overhead outweighs XNNPACK. */
const MIN_MACS_PER_MATRIX = 32 * 32 * 32;

let batchMatMulPatched = false;

/**
 * Replaces wasm's BatchMatMul for batched operands (attention's [B·h, N, d] products). The stock
 * kernel sends any batch > 1 or any transpose to a scalar C++ loop (~0.7 GFLOP/s); only a single
 * non-transposed matrix product reaches XNNPACK. This kernel materialises transposes with the
 * (fast) Transpose kernel, then runs one XNNPACK product per matrix of the batch by registering
 * aliases of each matrix's slice of wasm memory as tensors (no copies). Measured 3–4× faster on
 * vit-mnist's attention. Broadcast batches, small matrices and non-float32 keep the stock kernel.
 */
function registerFastWasmBatchMatMul(): void {
  if (batchMatMulPatched) return;
  const transposeKernel = tf.getKernel('Transpose', 'wasm');
  if (!transposeKernel) return;
  // cwrap'd per wasm module, in case the backend is ever re-created, with numeric arguments only
  // (an 'array' argument costs a stack allocation and a copy on every call): the two shapes live
  // in a 6-int buffer of the module's heap, written once per kernel call.
  const products = new WeakMap<object, { product: (...args: unknown[]) => void; shapes: number }>();

  const batched = (stock: tf.KernelFunc): tf.KernelFunc => (args) => {
    const backend = args.backend as unknown as WasmBackendInternals;
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const rank = a.shape.length;
    const outer = a.shape.slice(0, -2);
    const batch = outer.reduce((x, y) => x * y, 1);
    const [m, k] = transposeA ? [a.shape[rank - 1]!, a.shape[rank - 2]!] : [a.shape[rank - 2]!, a.shape[rank - 1]!];
    const n = transposeB ? b.shape[rank - 2]! : b.shape[rank - 1]!;
    const sameBatch = b.shape.length === rank && outer.every((d, i) => d === b.shape[i]);
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || !sameBatch || batch <= 1 || m * k * n < MIN_MACS_PER_MATRIX) {
      return stock(args);
    }
    let entry = products.get(backend.wasm);
    if (!entry) {
      entry = { product: backend.wasm.cwrap('BatchMatMul', null, Array<string>(9).fill('number')), shapes: backend.wasm._malloc(6 * 4) };
      products.set(backend.wasm, entry);
    }
    const { product, shapes } = entry;
    const swapLast = (x: tf.TensorInfo) =>
      transposeKernel.kernelFunc({
        inputs: { x },
        backend: args.backend,
        attrs: { perm: [...outer.map((_, i) => i), rank - 1, rank - 2] },
      }) as tf.TensorInfo;
    const left = transposeA ? swapLast(a) : a;
    const right = transposeB ? swapLast(b) : b;
    const out = backend.makeOutput([...outer, m, n], 'float32');
    const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    const [aBase, bBase, outBase] = [offset(left), offset(right), offset(out)];
    // After makeOutput, which may grow the heap (HEAP32 is then a new view).
    backend.wasm.HEAP32.set([1, m, k, 1, k, n], shapes >> 2);
    const { registerTensor, disposeData } = backend.wasm.tfjs;
    for (let i = 0; i < batch; i++) {
      // Alias ids come from the backend's own counter so they never collide with real tensors;
      // disposing them only unregisters (and frees XNNPACK's operator cached on b), never _free()s.
      const ids = [backend.dataIdNextNumber++, backend.dataIdNextNumber++, backend.dataIdNextNumber++] as const;
      registerTensor(ids[0], m * k, aBase + i * m * k * 4);
      registerTensor(ids[1], k * n, bBase + i * k * n * 4);
      registerTensor(ids[2], m * n, outBase + i * m * n * 4);
      product(ids[0], shapes, 3, ids[1], shapes + 12, 3, 0, 0, ids[2]);
      for (const id of ids) disposeData(id);
    }
    if (left !== a) backend.disposeData(left.dataId);
    if (right !== b) backend.disposeData(right.dataId);
    return out;
  };
  batchMatMulPatched = replaceWasmKernel('BatchMatMul', batched);
}
