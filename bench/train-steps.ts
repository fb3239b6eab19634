// Training-step timing shared by `npm run bench` (bench/run.ts) and `npm run bench:transfer --
// --step-times` (bench/transfer.ts): the PyTorch reference (scripts/bench_torch_train.py) driven
// synchronously, our Trainer's steps alternating with PyTorch's step by step, and the methods'
// learning rates and options both benchmarks use.
import * as tf from '@tensorflow/tfjs';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import type { ImageDataset } from '../main/engine/data/dataset';
import type { LoadedModel } from '../main/engine/io/checkpoint';
import { parseTrainSpec } from '../main/engine/train/spec';
import { Trainer } from '../main/engine/train/trainer';

const ROOT = path.resolve(__dirname, '..');

/** Debian's python3 (where python3-torch installs), unless PEFT_STUDIO_PYTHON names another. */
export const PYTHON = process.env.PEFT_STUDIO_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
/** torch.set_num_threads(1) does not reach a system OpenBLAS: pin it through the environment too. */
export const ONE_THREAD_ENV = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

/** The issue's ViT, in HF config vocabulary (lucidrains layout): 8×8 patches + CLS = 65 tokens. */
export const ISSUE_VIT = {
  image_size: 32,
  patch_size: 4,
  num_channels: 1,
  hidden_size: 192,
  num_hidden_layers: 6,
  num_attention_heads: 3,
  head_dim: 64,
  intermediate_size: 768,
  hidden_act: 'gelu',
  qkv_bias: false,
  layer_norm_eps: 1e-5,
  pooling: 'cls',
  num_labels: 10,
  id2label: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [String(i), String(i)])),
};
/** Learning rate per method family (base method name; patch-X uses X's). Found by the trainer work:
 * lr 1e-3 is too low for PEFT (LoRA 5e-3 → 0.780, linear probe 1e-2 → 0.712, full 1e-3 → 0.779). */
const LR: Record<string, number> = { 'linear-probe': 1e-2, full: 1e-3, lora: 5e-3, vpt: 5e-3, ssf: 5e-3, side: 5e-3, sara: 5e-3 };
/** Method options: LoRA r8/alpha 16 on the fused qkv (as the PyTorch reference), the rest defaults. */
const OPTS: Record<string, Record<string, unknown>> = { lora: { r: 8, alpha: 16, targets: ['qkv'] } };

const baseName = (m: string) => (m.startsWith('patch-') ? m.slice('patch-'.length) : m);
export const lrOf = (m: string) => LR[baseName(m)] ?? 5e-3;
export function optionsOf(m: string): Record<string, unknown> {
  const base = OPTS[baseName(m)];
  if (!base) return {};
  return m.startsWith('patch-') ? { baseOptions: base } : base;
}

/** PyTorch implements these (scripts/bench_torch_train.py); patch-* methods are timed on our side only. */
export const TORCH_METHODS = new Set(['linear-probe', 'full', 'lora', 'vpt', 'ssf', 'side', 'sara']);

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
export const uptime = () => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`;
  }
};

/**
 * The PyTorch child, driven synchronously over two FIFOs: the Trainer's onEvent callback is
 * synchronous, and a blocking exchange there makes ours and PyTorch's steps strictly alternate.
 */
export class SyncTorch {
  private readonly dir: string;
  private readonly wfd: number;
  private readonly rfd: number;
  private buf = '';
  readonly hello: Record<string, unknown>;
  private readonly child: ReturnType<typeof spawn>;

  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'bench-train-fifo-'));
    const req = path.join(this.dir, 'req');
    const res = path.join(this.dir, 'res');
    execFileSync('mkfifo', [req, res]);
    this.child = spawn(PYTHON, [path.join(ROOT, 'scripts', 'bench_torch_train.py'), '--serve', req, res], { stdio: ['ignore', 'inherit', 'inherit'], env: ONE_THREAD_ENV });
    this.wfd = openSync(req, 'w');
    this.rfd = openSync(res, 'r');
    this.hello = this.readLine();
  }

  private readLine(): Record<string, unknown> {
    const chunk = Buffer.alloc(65536);
    while (!this.buf.includes('\n')) {
      const n = readSync(this.rfd, chunk, 0, chunk.length, null);
      if (n === 0) throw new Error('PyTorch reference exited');
      this.buf += chunk.toString('utf8', 0, n);
    }
    const i = this.buf.indexOf('\n');
    const line = this.buf.slice(0, i);
    this.buf = this.buf.slice(i + 1);
    const reply = JSON.parse(line) as Record<string, unknown>;
    if (typeof reply.error === 'string') throw new Error(`PyTorch reference: ${reply.error}`);
    return reply;
  }

  request(msg: object): Record<string, unknown> {
    writeSync(this.wfd, JSON.stringify(msg) + '\n');
    return this.readLine();
  }

  /** Loads the model folder (lucidrains layout) whose steps `step` times from now on. */
  load(modelDir: string, batch: number): void {
    this.request({ cmd: 'load', weights: path.join(modelDir, 'model.safetensors'), config: path.join(modelDir, 'config.json'), batch });
  }

  stop(): void {
    closeSync(this.wfd);
    closeSync(this.rfd);
    this.child.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts the PyTorch reference, or says why there is none (then ours are timed alone). */
export function startSyncTorch(log: (line: string) => void): SyncTorch | undefined {
  try {
    const torch = new SyncTorch();
    log(`reference: PyTorch ${String(torch.hello.torch)}, ${String(torch.hello.threads)} thread, BLAS ${String(torch.hello.blas)}`);
    return torch;
  } catch (e) {
    log(`PyTorch reference unavailable (${e instanceof Error ? e.message : String(e)}); install python3-torch. Ours only.`);
    return undefined;
  }
}

export interface StepSamples {
  method: string;
  /** Per-step ms after the warm-up steps, ours and PyTorch's (empty without a reference). */
  ours: number[];
  theirs: number[];
  ours_trainable: number;
  torch_trainable: number | null;
  /** Our Trainer's set-up before its first step (feature or tap extraction included). */
  ours_setup_ms: number;
  ours_feature_cache: boolean;
  ours_peak_tf_mb: number;
  ours_peak_rss_mb: number;
  ref_peak_rss_mb: number | null;
}

/** Warm-up and timed phases each last at least this long in our steps: a 2 ms step (linear probe
 * on cached features) needs hundreds of steps before V8 has compiled the step's code paths. */
const MIN_PHASE_MS = 1000;
/** Extra steps stop once a phase has taken this long in wall time, PyTorch's steps included (its
 * steps that run the whole backbone take ~100× ours on cached features). */
const MAX_PHASE_WALL_MS = 10_000;
const MAX_EXTRA_STEPS = 1000;

/**
 * Runs our Trainer for warm + timed steps of one method on `dataset`, each phase extended to at
 * least MIN_PHASE_MS of our step time (the same steps on both sides) (no augmentation when the
 * method caches features, as the trainer defaults) while `torch`, already loaded with the same
 * model, takes one step after each of ours. `cacheBackbone: false` asks PyTorch for the standard
 * loop that runs the frozen backbone on every step (linear probe, side); ours always caches (the
 * frozen prefix too: LoRA before its first adapted block, VPT's embedding).
 */
export async function timeSteps(options: {
  model: LoadedModel;
  dataset: ImageDataset;
  torch: SyncTorch | undefined;
  method: string;
  batch: number;
  warm: number;
  timed: number;
  limitPerClass?: number;
  cacheBackbone?: boolean;
  /** A variant's options instead of optionsOf(method), sent to PyTorch's setup too (LoRA layers, VPT mode). */
  methodOptions?: Record<string, unknown>;
}): Promise<StepSamples> {
  const { model, dataset, method, batch, warm, timed } = options;
  const methodOptions = options.methodOptions ?? optionsOf(method);
  const torch = options.torch && TORCH_METHODS.has(method) ? options.torch : undefined;
  const torchTrainable = torch
    ? (torch.request({ cmd: 'setup', method, lr: lrOf(method), cache_backbone: options.cacheBackbone ?? true, options: methodOptions }).trainable as number)
    : null;
  const out: StepSamples = {
    method,
    ours: [],
    theirs: [],
    ours_trainable: 0,
    torch_trainable: torchTrainable,
    ours_setup_ms: 0,
    ours_feature_cache: false,
    ours_peak_tf_mb: 0,
    ours_peak_rss_mb: 0,
    ref_peak_rss_mb: null,
  };
  const outDir = mkdtempSync(path.join(tmpdir(), `bench-steps-${method}-`));
  const spec = parseTrainSpec({
    method,
    methodOptions,
    steps: warm + timed + 2 * MAX_EXTRA_STEPS,
    batchSize: batch,
    lr: lrOf(method),
    valFraction: 0,
    ...(options.limitPerClass ? { limitPerClass: options.limitPerClass } : {}),
    evalEvery: 1e9,
    checkpointEvery: 1e9,
  });
  const t0 = performance.now();
  const sampleMemory = () => {
    out.ours_peak_tf_mb = Math.max(out.ours_peak_tf_mb, tf.memory().numBytes / 2 ** 20);
    out.ours_peak_rss_mb = Math.max(out.ours_peak_rss_mb, process.memoryUsage().rss / 2 ** 20);
  };
  let [warming, warmMs, timedMs, phaseStart] = [true, 0, 0, Infinity];
  const trainer = new Trainer({
    model,
    dataset,
    spec,
    outDir,
    onEvent: (e) => {
      sampleMemory();
      if (e.type === 'start') {
        phaseStart = performance.now();
        out.ours_trainable = e.trainableParams;
        out.ours_feature_cache = e.featureCache;
        out.ours_setup_ms = performance.now() - t0;
      }
      if (e.type !== 'step') return;
      const o = (batch * 1000) / e.examplesPerS;
      const r = torch?.request({ cmd: 'step' });
      if (r) out.ref_peak_rss_mb = Math.max(out.ref_peak_rss_mb ?? 0, r.rss_mb as number);
      const phaseDone = (count: number, min: number, oursMs: number) =>
        count >= min && (oursMs >= MIN_PHASE_MS || count >= min + MAX_EXTRA_STEPS || performance.now() - phaseStart >= MAX_PHASE_WALL_MS);
      if (warming) {
        warmMs += o;
        if (phaseDone(e.step, warm, warmMs)) [warming, phaseStart] = [false, performance.now()];
        return;
      }
      out.ours.push(o);
      if (r) out.theirs.push(r.ms as number);
      timedMs += o;
      if (phaseDone(out.ours.length, timed, timedMs)) trainer.stop();
    },
  });
  try {
    await trainer.run();
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  return out;
}
