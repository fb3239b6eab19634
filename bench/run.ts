// Forward-pass speed of the engine next to PyTorch on CPU (one thread), same run, interleaved.
//   npm run bench [-- --json] [-- --reps N]
// Each repetition times one forward pass of ours, then one of PyTorch's (scripts/bench_torch.py,
// a child process), so machine noise hits both sides alike; medians of the repetitions are shown.
// Without python3-torch the reference column is left out and a line says why.
import * as tf from '@tensorflow/tfjs';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { parseArgs } from 'node:util';
import { initBackend, type BackendInfo } from '../main/engine/backend';
import { disposeModel, loadModelFolder } from '../main/engine/io/checkpoint';
import { vitForward, vitParamShapes, type VitConfig, type VitParams } from '../main/engine/models/vit';

const ROOT = path.resolve(__dirname, '..');
const VIT_MNIST = path.resolve(ROOT, '..', 'shared', 'models', 'vit-mnist');

interface BenchCase {
  name: string;
  batch: number;
  config: VitConfig;
  params: VitParams;
  /** What PyTorch builds: layout, config in HF vocabulary, optional weights file. */
  ref: { layout: 'lucidrains' | 'timm'; config: Record<string, unknown>; weights: string | null };
  dispose(): void;
}

/** A ViT-S/16 (hidden 384, depth 12, 6 heads, MLP 1536) at 96×96: 36 patches + CLS, random weights. */
function vitSmallCase(): BenchCase {
  const config: VitConfig = {
    imageSize: 96,
    patchSize: 16,
    numChannels: 3,
    hiddenSize: 384,
    depth: 12,
    numHeads: 6,
    headDim: 64,
    mlpSize: 1536,
    activation: 'gelu',
    qkvBias: true,
    layerNormEps: 1e-6,
    pooling: 'cls',
    finalNorm: 'tokens',
    numLabels: 1000,
  };
  const params: Record<string, tf.Tensor> = {};
  for (const [name, shape] of vitParamShapes(config)) params[name] = tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 1), 0.02);
  return {
    name: 'vit-s16-96px',
    batch: 8,
    config,
    params,
    ref: {
      layout: 'timm',
      config: {
        image_size: 96,
        patch_size: 16,
        num_channels: 3,
        hidden_size: 384,
        num_hidden_layers: 12,
        num_attention_heads: 6,
        intermediate_size: 1536,
        hidden_act: 'gelu',
        qkv_bias: true,
        layer_norm_eps: 1e-6,
        num_labels: 1000,
      },
      weights: null,
    },
    dispose: () => tf.dispose(Object.values(params)),
  };
}

async function vitMnistCase(): Promise<BenchCase> {
  const model = await loadModelFolder(VIT_MNIST);
  return {
    name: 'vit-mnist',
    batch: 32,
    config: model.config,
    params: model.params,
    ref: {
      layout: 'lucidrains',
      config: JSON.parse(readFileSync(path.join(VIT_MNIST, 'config.json'), 'utf8')) as Record<string, unknown>,
      weights: path.join(VIT_MNIST, 'model.safetensors'),
    },
    dispose: () => disposeModel(model),
  };
}

/** The PyTorch child process, or why there is none. */
class TorchReference {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    private readonly rl: Interface,
    readonly version: string,
  ) {}

  static async start(): Promise<TorchReference | string> {
    const python = process.env.PEFT_STUDIO_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    // torch.set_num_threads(1) does not reach a system OpenBLAS (Debian's torch links the generic
    // BLAS interface), which would otherwise spread matmuls over both cores.
    const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
    const child = spawn(python, [path.join(ROOT, 'scripts', 'bench_torch.py')], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const spawnError = new Promise<string>((resolve) => child.on('error', (e) => resolve(`cannot run ${python}: ${e.message}`)));
    const rl = createInterface({ input: child.stdout });
    const lines = rl[Symbol.asyncIterator]();
    const first = await Promise.race([lines.next().then((r) => (r.done ? undefined : r.value)), spawnError]);
    if (first === undefined || !first.startsWith('{')) {
      child.kill();
      const why = typeof first === 'string' ? first : (stderr.trim().split('\n').pop() ?? 'no output');
      return `PyTorch reference unavailable (${why}); install python3-torch python3-torchvision libopenblas0-pthread. Reporting ours only.`;
    }
    const hello = JSON.parse(first) as { torch: string };
    return new TorchReference(child, lines, rl, hello.torch);
  }

  async request(message: object): Promise<Record<string, unknown>> {
    this.child.stdin.write(JSON.stringify(message) + '\n');
    const r = await this.lines.next();
    if (r.done) throw new Error('PyTorch reference exited');
    const reply = JSON.parse(r.value) as Record<string, unknown>;
    if (typeof reply.error === 'string') throw new Error(`PyTorch reference: ${reply.error}`);
    return reply;
  }

  stop(): void {
    this.rl.close();
    this.child.stdin.end();
    this.child.kill();
  }
}

async function oursOnce(c: BenchCase, input: tf.Tensor4D): Promise<number> {
  const t0 = performance.now();
  const logits = tf.tidy(() => vitForward(c.params, c.config, input));
  await logits.data(); // includes reading the result back, as a caller must
  logits.dispose();
  return performance.now() - t0;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Row {
  case: string;
  batch: number;
  ours_ms: number;
  ref_ms: number | null;
  ratio: number | null;
  ours_images_per_s: number;
  ref_images_per_s: number | null;
  backend: string;
  reps: number;
}

async function benchCase(c: BenchCase, ref: TorchReference | undefined, reps: number, backend: BackendInfo): Promise<Row> {
  const { imageSize: s, numChannels: ch } = c.config;
  const input = tf.randomNormal([c.batch, s, s, ch], 0, 1, 'float32', 7) as tf.Tensor4D;
  if (ref) await ref.request({ cmd: 'setup', case: c.name, layout: c.ref.layout, config: c.ref.config, weights: c.ref.weights, batch: c.batch });
  const ours: number[] = [];
  const theirs: number[] = [];
  // One untimed warm-up each (wasm compiles kernels, PyTorch allocates), then interleaved runs.
  for (let i = -1; i < reps; i++) {
    const o = await oursOnce(c, input);
    const r = ref ? ((await ref.request({ cmd: 'run', case: c.name })).ms as number) : undefined;
    if (i < 0) continue;
    ours.push(o);
    if (r !== undefined) theirs.push(r);
  }
  input.dispose();
  const oursMs = median(ours);
  const refMs = theirs.length ? median(theirs) : null;
  return {
    case: c.name,
    batch: c.batch,
    ours_ms: oursMs,
    ref_ms: refMs,
    ratio: refMs === null ? null : oursMs / refMs,
    ours_images_per_s: (c.batch * 1000) / oursMs,
    ref_images_per_s: refMs === null ? null : (c.batch * 1000) / refMs,
    backend: backend.name,
    reps,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { json: { type: 'boolean', default: false }, reps: { type: 'string', default: '7' } },
  });
  const reps = Number(values.reps);
  if (!Number.isSafeInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
  const log = (line: string) => (values.json ? process.stderr : process.stdout).write(line + '\n');

  const backend = await initBackend();
  log(`backend: ${backend.name} (${backend.reason})`);
  const started = await TorchReference.start();
  const ref = typeof started === 'string' ? undefined : started;
  log(ref ? `reference: PyTorch ${ref.version}, 1 thread, CPU` : String(started));

  const makers: (() => Promise<BenchCase> | BenchCase)[] = [vitSmallCase];
  if (existsSync(VIT_MNIST)) makers.unshift(vitMnistCase);
  else log(`skipping vit-mnist: ${VIT_MNIST} not found`);

  const rows: Row[] = [];
  try {
    for (const make of makers) {
      const c = await make();
      try {
        const row = await benchCase(c, ref, reps, backend);
        rows.push(row);
        if (values.json) process.stdout.write(JSON.stringify(row) + '\n');
      } finally {
        c.dispose();
      }
    }
  } finally {
    ref?.stop();
  }
  if (values.json) return;
  const f = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
  console.log(`\nforward pass, medians of ${reps} interleaved runs (ms per batch; images/s)`);
  console.log('| case | batch | ours ms | ours img/s | PyTorch ms | PyTorch img/s | ours / PyTorch |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.case} | ${r.batch} | ${f(r.ours_ms)} | ${f(r.ours_images_per_s)} | ${f(r.ref_ms)} | ${f(r.ref_images_per_s)} | ${f(r.ratio, 2)}× |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
