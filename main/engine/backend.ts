// Picks the fastest TensorFlow.js backend that loads on this machine and reports why.
// The umbrella package is imported (not tfjs-core) because only it registers the gradient
// functions and chained tensor methods in Node (see ENGINE-NOTES).
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';

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
    return { name: tf.getBackend(), reason: `${candidate}: forced by PEFT_STUDIO_BACKEND` };
  }
  const skipped: string[] = [];
  for (const candidate of ORDER) {
    const failure = await tryCandidate(candidate);
    if (failure === undefined) {
      const reason = skipped.length === 0 ? 'first choice' : skipped.join('; ');
      return { name: tf.getBackend(), reason: `${candidate}: ${reason}` };
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
        return (await tf.setBackend('wasm')) ? undefined : 'wasm did not initialise';
      }
      case 'cpu':
        return (await tf.setBackend('cpu')) ? undefined : 'cpu did not initialise';
    }
  } catch (err) {
    return `${candidate} failed (${firstLine(err)})`;
  }
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
      if (a.rank !== 2 || b.rank !== 2) return stock.gradFunc(dy, saved, attrs);
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const d = single as tf.Tensor2D;
      const A = a as tf.Tensor2D;
      const B = b as tf.Tensor2D;
      const t = tf.transpose;
      if (!transposeA && !transposeB) {
        // C = A·B
        return { a: () => tf.matMul(d, t(B)), b: () => tf.matMul(t(A), d) };
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
