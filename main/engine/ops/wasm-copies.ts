// wasm kernels that tfjs-backend-wasm implements with needless copies, replaced (see backend.ts).
// Measured on a vit-mnist training step (bench/profile-step.ts): Identity ~280 ms and Unpack
// ~200–350 ms of a ~3 s step on a loaded 2-core machine, both down to a few ms. GatherV2 copied
// element by element: ~140 ms of a 290 ms side-tuning step (gathering its cached taps), now ~1 ms.
import * as tf from '@tensorflow/tfjs';
import { replaceWasmKernel } from './wasm-kernel';

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackend {
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * Identity copies its input. Under a gradient tape tfjs clones (Identity) every tensor an op
 * saves for its backward pass, ~500 copies per vit-mnist training step. Tensors are immutable,
 * so the output shares the input's memory, as the cpu backend's Identity and wasm's own Reshape
 * do (the backend reference-counts the data).
 */
function sharedIdentity(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return stock(args);
    (args.backend as unknown as WasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/**
 * Slice without wasm's readSync, which copies the whole input out of the heap into a new JS
 * buffer before taking the slice (3 copies of qkv per block for Unpack). Views of the heap are
 * taken after makeOutput, which may grow (and so detach) the heap.
 */
function sliceInfo(backend: WasmBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  const out = backend.makeOutput(s, x.dtype);
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const strides = tf.util.computeStrides(x.shape);
  if (tf.slice_util.isSliceContinous(x.shape, b, s)) {
    const offset = tf.slice_util.computeFlatOffset(b, strides);
    dst.set(src.subarray(offset, offset + dst.length));
    return out;
  }
  // Copy runs of the innermost axis; outer axes walked as an odometer.
  const rank = s.length;
  const run = s[rank - 1]!;
  const rows = dst.length / Math.max(run, 1);
  const index = new Array<number>(rank - 1).fill(0);
  for (let r = 0; r < rows; r++) {
    let offset = b[rank - 1]!;
    for (let a = 0; a < rank - 1; a++) offset += (b[a]! + index[a]!) * strides[a]!;
    dst.set(src.subarray(offset, offset + run), r * run);
    for (let a = rank - 2; a >= 0; a--) {
      if (++index[a]! < s[a]!) break;
      index[a] = 0;
    }
  }
  return out;
}

const copyFreeSlice =
  (stock: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { begin, size } = args.attrs as unknown as { begin: number[]; size: number[] };
    if (x.dtype === 'string' || x.shape.length === 0) return stock(args);
    return sliceInfo(args.backend as unknown as WasmBackend, x, begin, size);
  };

const copyFreeUnpack =
  (stock: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const { value } = args.inputs as { value: tf.TensorInfo };
    if (value.dtype === 'string') return stock(args);
    const rank = value.shape.length;
    const axis = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, value.shape)[0]!;
    const size = value.shape.slice();
    size[axis] = 1;
    const outShape = value.shape.filter((_, i) => i !== axis);
    return Array.from({ length: value.shape[axis]! }, (_, i) => {
      const begin = new Array<number>(rank).fill(0);
      begin[axis] = i;
      const { dataId, dtype } = sliceInfo(args.backend as unknown as WasmBackend, value, begin, size);
      return { dataId, dtype, shape: outShape };
    });
  };

const copyFreeSplitV =
  (stock: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return stock(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const a = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, a);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((n) => {
      const size = x.shape.slice();
      size[a] = n;
      const out = sliceInfo(args.backend as unknown as WasmBackend, x, [...begin], size);
      begin[a]! += n;
      return out;
    });
  };

/** Below this many elements per gathered slice, a plain loop beats subarray + set. */
const MIN_SLICE_FOR_SET = 64;

/**
 * GatherV2 (batchDims 0) as one block copy per gathered slice: the stock kernel reads the indices
 * out of the heap and moves every element through a strided index computation in wasm.
 */
const blockCopyGather =
  (stock: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    if (x.dtype === 'string' || indices.dtype !== 'int32' || batchDims !== 0) return stock(args);
    const backend = args.backend as unknown as WasmBackend;
    const a = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const dim = x.shape[a]!;
    const outer = tf.util.sizeFromShape(x.shape.slice(0, a));
    const inner = tf.util.sizeFromShape(x.shape.slice(a + 1));
    const out = backend.makeOutput([...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)], x.dtype);
    // Views after makeOutput, which may grow (and so detach) the heap.
    const index = backend.typedArrayFromHeap(indices);
    for (const i of index) {
      if (i < 0 || i >= dim) throw new Error(`GatherV2: the index value ${i} is not in [0, ${dim - 1}]`);
    }
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    let at = 0;
    for (let p = 0; p < outer; p++) {
      for (const i of index) {
        const from = (p * dim + i) * inner;
        if (inner >= MIN_SLICE_FOR_SET) dst.set(src.subarray(from, from + inner), at);
        else for (let e = 0; e < inner; e++) dst[at + e] = src[from + e]!;
        at += inner;
      }
    }
    return out;
  };

let registered = false;

/** Registers the copy-free Identity, Slice, Unpack and SplitV kernels and the block-copy GatherV2 for wasm. */
export function registerCopyFreeWasmKernels(): void {
  if (registered) return;
  replaceWasmKernel('Identity', sharedIdentity);
  replaceWasmKernel('Slice', copyFreeSlice);
  replaceWasmKernel('Unpack', copyFreeUnpack);
  replaceWasmKernel('SplitV', copyFreeSplitV);
  replaceWasmKernel('GatherV2', blockCopyGather);
  registered = true;
}
