// Native kernels for the wasm backend through the small N-API addon in native/blas (issue #8),
// reading and writing the wasm heap in place (no copies):
// - BatchMatMul on the machine's optimised BLAS (OpenBLAS, MKL or Accelerate). Measured
//   single-threaded here: 42–79 GFLOP/s on a ViT's products, where wasm's XNNPACK reaches ~17–25
//   and its batched/transposed loop ~2–8.
// - GELU (erf) and LayerNorm forward and backward as one pass each (ops/gelu.ts and
//   ops/layer-norm.ts use them), where wasm runs 5–10 elementwise kernels.
// - Sum over leading axes (bias and scale gradients) without wasm's transpose of the whole input.
// - Softmax's gradient as one pass (attention probabilities), where tfjs runs four kernels.
// - Transpose of 4-byte elements that keeps the last axis last (attention's head split and merge)
//   as copies of whole runs of it.
// Without a built addon (or a BLAS library, for the products) the engine keeps the wasm kernels.
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { replaceWasmKernel } from './wasm-kernel';

/** The addon's functions (native/blas/src/peft_blas.c); offsets are bytes into the heap. */
interface NativeAddon {
  open(library: string, threads: number): { library?: string; error?: string };
  gemm(
    heap: ArrayBuffer,
    batch: number,
    m: number,
    n: number,
    k: number,
    transposeA: number,
    transposeB: number,
    aByte: number,
    bByte: number,
    outByte: number,
    aStride: number,
    bStride: number,
  ): void;
  geluErf(heap: ArrayBuffer, n: number, xByte: number, yByte: number): void;
  geluErfGrad(heap: ArrayBuffer, n: number, xByte: number, dyByte: number, dxByte: number): void;
  layerNorm(heap: ArrayBuffer, rows: number, d: number, xByte: number, gammaByte: number, betaByte: number, yByte: number, normedByte: number, rstdByte: number, eps: number): void;
  layerNormGrad(heap: ArrayBuffer, rows: number, d: number, dyByte: number, normedByte: number, rstdByte: number, gammaByte: number, dxByte: number, dGammaByte: number, dBetaByte: number): void;
  sumRows(heap: ArrayBuffer, rows: number, d: number, xByte: number, outByte: number): void;
  softmaxRowsGrad(heap: ArrayBuffer, rows: number, d: number, yByte: number, dyByte: number, dxByte: number): void;
  /** 4-byte elements, ranks 2–6 keeping the last axis last: shape and perm padded to 6 entries. */
  transposeRuns(heap: ArrayBuffer, rank: number, xByte: number, outByte: number, ...shapeThenPerm: number[]): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm the kernel uses. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32' | 'int32'): tf.TensorInfo;
}

export interface NativeKernelStatus {
  /** The BLAS library the matrix products run on; undefined when wasm's products stay. */
  library?: string;
  /** Why not, when library is undefined. */
  reason?: string;
  /** Whether GELU and LayerNorm run as the addon's fused passes. */
  fused: boolean;
}

/** Names of the fused kernels registered for the wasm backend. */
export const FUSED = {
  gelu: 'PeftGeluErf',
  geluGrad: 'PeftGeluErfGrad',
  layerNorm: 'PeftLayerNorm',
  layerNormGrad: 'PeftLayerNormGrad',
  softmaxGrad: 'PeftSoftmaxGrad',
} as const;

const ADDON = path.join('native', 'blas', 'build', 'Release', 'peft_blas.node');

/** The addon beside the sources (main/engine/ops) or the bundle (out/main): the nearest ancestor holding it. */
function findAddon(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 6; up++) {
    const candidate = path.join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** Every function the kernels below call: a build older than the sources lacks some. */
const ADDON_FUNCTIONS = ['open', 'gemm', 'geluErf', 'geluErfGrad', 'layerNorm', 'layerNormGrad', 'sumRows', 'softmaxRowsGrad', 'transposeRuns'] as const;

function loadAddon(): NativeAddon | string {
  const file = findAddon();
  if (!file) return 'native/blas addon not built (npm ci builds it; needs a C compiler)';
  let addon: Partial<Record<string, unknown>>;
  try {
    addon = createRequire(import.meta.url)(file) as Partial<Record<string, unknown>>;
  } catch (error) {
    return `native/blas addon failed to load (${String(error instanceof Error ? error.message : error).split('\n')[0]})`;
  }
  const missing = ADDON_FUNCTIONS.filter((name) => typeof addon[name] !== 'function');
  if (missing.length > 0) return `native/blas addon is older than the sources (no ${missing.join(', ')}): rebuild it with npm ci or node scripts/build-native.mjs`;
  return addon as unknown as NativeAddon;
}

let matMulActive = false;
let fusedActive = false;
let status: NativeKernelStatus | undefined;

/**
 * Loads the addon and registers its kernels for the wasm backend, once. PEFT_STUDIO_BLAS names the
 * BLAS library ('off' keeps wasm's kernels, fused ones included); otherwise the first optimised one
 * found is used, with PEFT_STUDIO_BLAS_THREADS threads (default 1: on these 2-core machines one
 * thread is faster and steadier, as for PyTorch).
 */
export function registerNativeKernels(): NativeKernelStatus {
  if (status) return status;
  const choice = process.env.PEFT_STUDIO_BLAS?.trim() ?? '';
  if (choice.toLowerCase() === 'off') return (status = { reason: 'PEFT_STUDIO_BLAS=off', fused: false });
  const addon = loadAddon();
  if (typeof addon === 'string') return (status = { reason: addon, fused: false });
  registerFusedKernels(addon);
  fusedActive = true;
  const threads = Math.max(1, Math.floor(Number(process.env.PEFT_STUDIO_BLAS_THREADS ?? '1')) || 1);
  const opened = addon.open(choice, threads);
  if (!opened.library) return (status = { reason: `no optimised BLAS library (${opened.error ?? 'unknown'})`, fused: true });
  if (!replaceWasmKernel('BatchMatMul', (stock) => nativeBatchMatMul(addon, stock))) {
    return (status = { reason: 'the wasm backend has no BatchMatMul kernel', fused: true });
  }
  matMulActive = true;
  return (status = { library: opened.library, fused: true });
}

/** True once BatchMatMul runs on the BLAS, which takes transposed operands at no cost. */
export function nativeMatMulActive(): boolean {
  return matMulActive;
}

/** True when the fused GELU / LayerNorm kernels can run: the wasm backend is active and has them. */
export function nativeFusedActive(): boolean {
  return fusedActive && tf.getBackend() === 'wasm';
}

const heapOf = (backend: WasmBackend) => backend.wasm.HEAPU8.buffer as ArrayBuffer;
const byteOf = (backend: WasmBackend, t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
const sizeOf = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

function requireFloat32(kernel: string, inputs: tf.TensorInfo[]): void {
  for (const t of inputs) if (t.dtype !== 'float32') throw new Error(`${kernel} takes float32 tensors, got ${t.dtype}`);
}

function registerFusedKernels(addon: NativeAddon): void {
  const register = (kernelName: string, kernelFunc: tf.KernelFunc) => tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  replaceWasmKernel('Sum', (stock) => leadingAxesSum(addon, stock));
  replaceWasmKernel('Transpose', (stock) => runsTranspose(addon, stock));
  registerSoftmaxGrad(addon, register);
  register(FUSED.gelu, ({ inputs, backend }) => {
    const b = backend as unknown as WasmBackend;
    const { x } = inputs as { x: tf.TensorInfo };
    requireFloat32(FUSED.gelu, [x]);
    const y = b.makeOutput(x.shape, 'float32');
    addon.geluErf(heapOf(b), sizeOf(x.shape), byteOf(b, x), byteOf(b, y));
    return y;
  });
  register(FUSED.geluGrad, ({ inputs, backend }) => {
    const b = backend as unknown as WasmBackend;
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    requireFloat32(FUSED.geluGrad, [x, dy]);
    const dx = b.makeOutput(x.shape, 'float32');
    addon.geluErfGrad(heapOf(b), sizeOf(x.shape), byteOf(b, x), byteOf(b, dy), byteOf(b, dx));
    return dx;
  });
  // [rows, d] rows → y, the normalised rows and 1/σ per row ([rows, 1]), which the gradient reuses.
  register(FUSED.layerNorm, ({ inputs, backend, attrs }) => {
    const b = backend as unknown as WasmBackend;
    const { x, gamma, beta } = inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
    requireFloat32(FUSED.layerNorm, [x, gamma, beta]);
    const [rows, d] = x.shape as [number, number];
    const y = b.makeOutput([rows, d], 'float32');
    const normed = b.makeOutput([rows, d], 'float32');
    const rstd = b.makeOutput([rows, 1], 'float32');
    const eps = (attrs as unknown as { eps: number }).eps;
    addon.layerNorm(heapOf(b), rows, d, byteOf(b, x), byteOf(b, gamma), byteOf(b, beta), byteOf(b, y), byteOf(b, normed), byteOf(b, rstd), eps);
    return [y, normed, rstd];
  });
  register(FUSED.layerNormGrad, ({ inputs, backend }) => {
    const b = backend as unknown as WasmBackend;
    const { dy, normed, rstd, gamma } = inputs as { dy: tf.TensorInfo; normed: tf.TensorInfo; rstd: tf.TensorInfo; gamma: tf.TensorInfo };
    requireFloat32(FUSED.layerNormGrad, [dy, normed, rstd, gamma]);
    const [rows, d] = dy.shape as [number, number];
    const dx = b.makeOutput([rows, d], 'float32');
    const dGamma = b.makeOutput([d], 'float32');
    const dBeta = b.makeOutput([d], 'float32');
    addon.layerNormGrad(heapOf(b), rows, d, byteOf(b, dy), byteOf(b, normed), byteOf(b, rstd), byteOf(b, gamma), byteOf(b, dx), byteOf(b, dGamma), byteOf(b, dBeta));
    return [dx, dGamma, dBeta];
  });
}

let softmaxGradActive = false;

/**
 * Softmax's gradient dx = y·(dy − Σ dy·y) over the last axis (tfjs's only softmax axis) as one
 * kernel; other dtypes and other backends keep tfjs's gradient.
 */
function registerSoftmaxGrad(addon: NativeAddon, register: (kernelName: string, kernelFunc: tf.KernelFunc) => void): void {
  const stockGrad = tf.getGradient('Softmax');
  if (!stockGrad) return;
  const rowsOf = (t: tf.TensorInfo): [number, number] => {
    const d = t.shape[t.shape.length - 1]!;
    return [d === 0 ? 0 : sizeOf(t.shape) / d, d];
  };
  register(FUSED.softmaxGrad, ({ inputs, backend }) => {
    const b = backend as unknown as WasmBackend;
    const { y, dy } = inputs as { y: tf.TensorInfo; dy: tf.TensorInfo };
    requireFloat32(FUSED.softmaxGrad, [y, dy]);
    const dx = b.makeOutput(y.shape, 'float32');
    const [rows, d] = rowsOf(y);
    if (rows > 0) addon.softmaxRowsGrad(heapOf(b), rows, d, byteOf(b, y), byteOf(b, dy), byteOf(b, dx));
    return dx;
  });
  tf.registerGradient({
    kernelName: 'Softmax',
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [y] = saved as [tf.Tensor];
      const grad = Array.isArray(dy) ? dy[0]! : dy;
      if (!(softmaxGradActive && nativeFusedActive()) || y.dtype !== 'float32' || y.size === 0) return stockGrad.gradFunc(dy, saved, attrs);
      return { logits: () => tf.engine().runKernel(FUSED.softmaxGrad, { y, dy: grad }) as tf.Tensor };
    },
  });
  softmaxGradActive = true;
}

const MAX_TRANSPOSE_RANK = 6;
/** Shorter runs of the last axis copy no faster than wasm's element-wise loop. */
const MIN_TRANSPOSE_RUN = 4;

/**
 * Transpose on the addon for float32 and int32 tensors of rank ≤ 6 whose last axis stays last
 * (runs of at least MIN_TRANSPOSE_RUN); other permutations, where every element moves alone, keep
 * wasm's kernel, which is faster at that.
 */
function runsTranspose(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  const pad = (xs: number[]) => [...xs, ...Array<number>(MAX_TRANSPOSE_RANK - xs.length).fill(0)];
  return (args) => {
    const b = args.backend as unknown as WasmBackend;
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    const rank = x.shape.length;
    const runs = rank >= 2 && rank <= MAX_TRANSPOSE_RANK && perm[rank - 1] === rank - 1 && x.shape[rank - 1]! >= MIN_TRANSPOSE_RUN;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || !runs) return fallback(args);
    const out = b.makeOutput(
      perm.map((p) => x.shape[p]!),
      x.dtype,
    );
    if (sizeOf(x.shape) > 0) addon.transposeRuns(heapOf(b), rank, byteOf(b, x), byteOf(b, out), ...pad(x.shape), ...pad(perm));
    return out;
  };
}

/** Sum over the leading axes of a float32 tensor as column sums; any other reduction goes to `fallback`. */
function leadingAxesSum(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const b = args.backend as unknown as WasmBackend;
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const axes = [...tf.util.parseAxisParam(axis, x.shape)].sort((p, q) => p - q);
    const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
    if (x.dtype !== 'float32' || !leading) return fallback(args);
    const rows = sizeOf(x.shape.slice(0, axes.length));
    const kept = x.shape.slice(axes.length);
    const out = b.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
    const d = sizeOf(kept);
    if (rows === 0 || d === 0) {
      b.wasm.HEAPU8.fill(0, byteOf(b, out), byteOf(b, out) + 4 * d);
      return out;
    }
    addon.sumRows(heapOf(b), rows, d, byteOf(b, x), byteOf(b, out));
    return out;
  };
}

/**
 * One BLAS call for the whole batch when both sides have the same batch shape or one side is a
 * single matrix (what the ViT, DiT and their gradients produce); one call per output matrix for
 * other broadcasts. Non-float32 inputs go to the kernel this one replaced.
 */
function nativeBatchMatMul(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as unknown as WasmBackend;
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return fallback(args);
    const aOuter = a.shape.slice(0, -2);
    const bOuter = b.shape.slice(0, -2);
    const [ar, ac] = a.shape.slice(-2) as [number, number];
    const [br, bc] = b.shape.slice(-2) as [number, number];
    const [m, k] = transposeA ? [ac, ar] : [ar, ac];
    const [kb, n] = transposeB ? [bc, br] : [br, bc];
    if (k !== kb) throw new Error(`BatchMatMul: inner dimensions ${k} and ${kb} differ (shapes ${String(a.shape)} and ${String(b.shape)})`);
    const outer = tf.backend_util.assertAndGetBroadcastShape(aOuter, bOuter);
    const batch = sizeOf(outer);
    const out = backend.makeOutput([...outer, m, n], 'float32');
    if (batch * m * n === 0) return out;
    if (k === 0) {
      backend.wasm.HEAPU8.fill(0, byteOf(backend, out), byteOf(backend, out) + 4 * batch * m * n);
      return out;
    }
    // The heap is read after makeOutput, which may grow (and so replace) it.
    const heap = heapOf(backend);
    const [aBase, bBase, outBase] = [byteOf(backend, a), byteOf(backend, b), byteOf(backend, out)];
    const product = (count: number, aByte: number, bByte: number, outByte: number, aStride: number, bStride: number) =>
      addon.gemm(heap, count, m, n, k, transposeA ? 1 : 0, transposeB ? 1 : 0, aByte, bByte, outByte, aStride, bStride);
    const aBatch = sizeOf(aOuter);
    const bBatch = sizeOf(bOuter);
    if (aBatch === batch && bBatch === batch) product(batch, aBase, bBase, outBase, m * k, k * n);
    else if (aBatch === 1 || bBatch === 1) product(batch, aBase, bBase, outBase, aBatch === 1 ? 0 : m * k, bBatch === 1 ? 0 : k * n);
    else {
      const aIndex = broadcastIndex(outer, aOuter);
      const bIndex = broadcastIndex(outer, bOuter);
      for (let i = 0; i < batch; i++) {
        product(1, aBase + 4 * m * k * aIndex(i), bBase + 4 * k * n * bIndex(i), outBase + 4 * m * n * i, 0, 0);
      }
    }
    return out;
  };
}

/** Maps a flat position in the broadcast batch shape `outer` to the matrix of an operand with batch shape `own`. */
function broadcastIndex(outer: number[], own: number[]): (flat: number) => number {
  const dims = outer.map((size, i) => ({ size, own: own[i - (outer.length - own.length)] ?? 1 }));
  return (flat) => {
    let index = 0;
    let scale = 1;
    for (let i = dims.length - 1; i >= 0; i--) {
      const { size, own: ownSize } = dims[i]!;
      const digit = flat % size;
      flat = Math.floor(flat / size);
      if (ownSize !== 1) index += digit * scale;
      scale *= ownSize;
    }
    return index;
  };
}
