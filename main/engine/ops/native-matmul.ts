// Matrix products of the wasm backend on the machine's optimised BLAS (OpenBLAS, MKL or Accelerate)
// through the small N-API addon in native/blas (issue #8). The addon reads and writes the wasm
// heap in place, so the kernel costs no copies. Measured single-threaded here: 42–79 GFLOP/s on a
// ViT's products, where wasm's XNNPACK reaches ~17–25 and its batched/transposed loop ~2–8.
// Without a built addon or a BLAS library the engine keeps the wasm kernels (see backend.ts).
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's functions (native/blas/src/peft_blas.c). */
interface BlasAddon {
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
}

/** The parts of tfjs-backend-wasm's BackendWasm the kernel uses. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

export interface NativeMatMulStatus {
  /** The BLAS library the products run on; undefined when the wasm kernels stay. */
  library?: string;
  /** Why not, when library is undefined. */
  reason?: string;
}

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

function loadAddon(): BlasAddon | string {
  const file = findAddon();
  if (!file) return 'native/blas addon not built (npm ci builds it; needs a C compiler)';
  try {
    return createRequire(import.meta.url)(file) as BlasAddon;
  } catch (error) {
    return `native/blas addon failed to load (${String(error instanceof Error ? error.message : error).split('\n')[0]})`;
  }
}

let active: BlasAddon | undefined;
let status: NativeMatMulStatus | undefined;

/**
 * Opens the BLAS named by PEFT_STUDIO_BLAS (a library path; 'off' keeps the wasm kernels) or the
 * first optimised one found, with PEFT_STUDIO_BLAS_THREADS threads (default 1: on these 2-core
 * machines one thread is faster and steadier, as for PyTorch), and registers the kernel.
 */
export function registerNativeMatMul(): NativeMatMulStatus {
  if (status) return status;
  const choice = process.env.PEFT_STUDIO_BLAS?.trim() ?? '';
  if (choice.toLowerCase() === 'off') return (status = { reason: 'PEFT_STUDIO_BLAS=off' });
  const addon = loadAddon();
  if (typeof addon === 'string') return (status = { reason: addon });
  const threads = Math.max(1, Math.floor(Number(process.env.PEFT_STUDIO_BLAS_THREADS ?? '1')) || 1);
  const opened = addon.open(choice, threads);
  if (!opened.library) return (status = { reason: `no optimised BLAS library (${opened.error ?? 'unknown'})` });
  const stock = tf.getKernel('BatchMatMul', 'wasm');
  if (!stock) return (status = { reason: 'the wasm backend has no BatchMatMul kernel' });
  active = addon;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ kernelName: 'BatchMatMul', backendName: 'wasm', kernelFunc: nativeBatchMatMul(addon, stock.kernelFunc) });
  return (status = { library: opened.library });
}

/** True once BatchMatMul runs on the BLAS, which takes transposed operands at no cost. */
export function nativeMatMulActive(): boolean {
  return active !== undefined;
}

/**
 * One BLAS call for the whole batch when both sides have the same batch shape or one side is a
 * single matrix (what the ViT, DiT and their gradients produce); one call per output matrix for
 * other broadcasts. Non-float32 inputs go to the kernel this one replaced.
 */
function nativeBatchMatMul(addon: BlasAddon, fallback: tf.KernelFunc): tf.KernelFunc {
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
    const batch = outer.reduce((x, y) => x * y, 1);
    const out = backend.makeOutput([...outer, m, n], 'float32');
    const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    if (batch * m * n === 0) return out;
    if (k === 0) {
      backend.wasm.HEAPU8.fill(0, offset(out), offset(out) + 4 * batch * m * n);
      return out;
    }
    // The heap is read after makeOutput, which may grow (and so replace) it.
    const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
    const [aBase, bBase, outBase] = [offset(a), offset(b), offset(out)];
    const product = (count: number, aByte: number, bByte: number, outByte: number, aStride: number, bStride: number) =>
      addon.gemm(heap, count, m, n, k, transposeA ? 1 : 0, transposeB ? 1 : 0, aByte, bByte, outByte, aStride, bStride);
    const aBatch = aOuter.reduce((x, y) => x * y, 1);
    const bBatch = bOuter.reduce((x, y) => x * y, 1);
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
