// Engine speed next to PyTorch on CPU (one thread), same run, interleaved (issue #8):
//   npm run bench [-- --json] [-- --reps N] [-- --models issue-vit,vit-mnist] [-- --methods full,lora]
//                 [-- --parts forward,step,epoch]
// Models: issue-vit (hidden 192, depth 6, 3 heads, MLP 768, GELU, 32×32 greyscale in 4×4 patches =
// 65 tokens, batch 32; random weights that scripts/bench_torch_train.py writes once into a temporary
// model folder both sides load), vit-mnist (../shared/models/vit-mnist), and, on request only,
// vit-s16-96px (forward only). Parts:
//   forward  ms per forward pass and images/s; ours, then PyTorch's (scripts/bench_torch.py)
//   step     ms per training step of each method (AdamW, clip 1, batch 32, synthetic images); our
//            Trainer and PyTorch's loop (scripts/bench_torch_train.py) alternate step by step
//   epoch    linear probe and side-tuning per epoch after the first: ours trains on the backbone
//            features/taps it cached in epoch 1 (as the studio's trainer does); PyTorch's standard
//            loop runs the frozen backbone on every step, every epoch. Likewise lora-late (LoRA r8
//            on qkv of the last 2 blocks) and vpt-shallow: ours runs from the tokens entering the
//            first touched block, cached in epoch 1; PyTorch + HF PEFT runs the whole model
// Medians of --reps (≥ 5 by default) after warm-up; peak memory per method (ours: tf.memory and
// this process's RSS, which only grows across methods; PyTorch: its process's RSS).
// Without python3-torch the reference columns are empty and a line says why.
import * as tf from '@tensorflow/tfjs';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { parseArgs } from 'node:util';
import { initBackend, type BackendInfo } from '../main/engine/backend';
import { disposeModel, loadModelFolder } from '../main/engine/io/checkpoint';
import { listMethods } from '../main/engine/methods/registry';
import { vitForward, vitParamShapes, type VitConfig, type VitParams } from '../main/engine/models/vit';
import { syntheticDataset } from '../main/engine/train/synthetic';
import { sharedPath } from '../test/shared';
import { ISSUE_VIT, median, ONE_THREAD_ENV, PYTHON, startSyncTorch, timeSteps, TORCH_METHODS, uptime, type StepSamples, type SyncTorch } from './train-steps';

const ROOT = path.resolve(__dirname, '..');
const BATCH = 32;
/** Batches per epoch in the epoch cases. */
const EPOCH_STEPS = 8;

/** Epoch cases of methods with a frozen prefix: the row's name, its method and options for a model. */
const PREFIX_VARIANTS: { name: string; method: string; options: (config: VitConfig) => Record<string, unknown> }[] = [
  { name: 'lora-late', method: 'lora', options: (c) => ({ r: 8, alpha: 16, targets: ['qkv'], layers: [c.depth - 2, c.depth - 1] }) },
  { name: 'vpt-shallow', method: 'vpt', options: () => ({ mode: 'shallow' }) },
];

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

/** A lucidrains-layout model folder (vit-mnist, or the issue's ViT written by the reference). */
async function folderCase(name: string, dir: string): Promise<BenchCase> {
  const model = await loadModelFolder(dir);
  return {
    name,
    batch: BATCH,
    config: model.config,
    params: model.params,
    ref: {
      layout: 'lucidrains',
      config: JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>,
      weights: path.join(dir, 'model.safetensors'),
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
    const child = spawn(PYTHON, [path.join(ROOT, 'scripts', 'bench_torch.py')], { stdio: ['pipe', 'pipe', 'pipe'], env: ONE_THREAD_ENV });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const spawnError = new Promise<string>((resolve) => child.on('error', (e) => resolve(`cannot run ${PYTHON}: ${e.message}`)));
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

interface Row {
  case: string;
  part: 'forward' | 'step' | 'epoch';
  model: string;
  method: string | null;
  batch: number;
  ours_ms: number;
  ref_ms: number | null;
  ratio: number | null;
  ours_images_per_s: number;
  ref_images_per_s: number | null;
  backend: string;
  reps: number;
  [extra: string]: unknown;
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
    case: `forward ${c.name}`,
    part: 'forward',
    model: c.name,
    method: null,
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

/** A step or epoch row from the alternating samples (`scale`: steps the row's time spans). */
function trainRow(part: 'step' | 'epoch', name: string, model: string, s: StepSamples, scale: number, backend: BackendInfo): Row {
  const oursMs = median(s.ours) * scale;
  const refMs = s.theirs.length ? median(s.theirs) * scale : null;
  return {
    case: name,
    part,
    model,
    method: s.method,
    batch: BATCH,
    ours_ms: oursMs,
    ref_ms: refMs,
    ratio: refMs === null ? null : oursMs / refMs,
    ours_images_per_s: (BATCH * scale * 1000) / oursMs,
    ref_images_per_s: refMs === null ? null : (BATCH * scale * 1000) / refMs,
    backend: backend.name,
    reps: s.ours.length,
    ours_trainable: s.ours_trainable,
    ref_trainable: s.torch_trainable,
    ours_feature_cache: s.ours_feature_cache,
    ours_setup_ms: s.ours_setup_ms,
    ours_peak_tf_mb: s.ours_peak_tf_mb,
    ours_peak_rss_mb: s.ours_peak_rss_mb,
    ref_peak_rss_mb: s.ref_peak_rss_mb,
  };
}

/** Step rows for every method on one model, then the epoch rows of the cached methods. */
async function trainRows(
  model: { name: string; dir: string },
  parts: Set<string>,
  methods: string[],
  torch: SyncTorch | undefined,
  reps: number,
  warm: number,
  backend: BackendInfo,
  emit: (row: Row) => void,
): Promise<void> {
  const loaded = await loadModelFolder(model.dir);
  torch?.load(model.dir, BATCH);
  const { imageSize, numChannels } = loaded.config;
  try {
    if (parts.has('step')) {
      const dataset = syntheticDataset(BATCH * 8, 10, imageSize, numChannels);
      for (const method of methods) {
        const s = await timeSteps({ model: loaded, dataset, torch, method, batch: BATCH, warm, timed: reps });
        emit(trainRow('step', `step ${method} ${model.name}`, model.name, s, 1, backend));
      }
    }
    if (parts.has('epoch')) {
      const dataset = syntheticDataset(BATCH * EPOCH_STEPS, 10, imageSize, numChannels);
      for (const method of methods.filter((m) => m === 'linear-probe' || m === 'side')) {
        const s = await timeSteps({ model: loaded, dataset, torch, method, batch: BATCH, warm, timed: reps, cacheBackbone: false });
        const name = `epoch2+ ${method} ${model.name} (ours: cached backbone; PyTorch: backbone every epoch)`;
        emit(trainRow('epoch', name, model.name, s, EPOCH_STEPS, backend));
      }
      for (const variant of PREFIX_VARIANTS.filter((v) => methods.includes(v.method))) {
        const methodOptions = variant.options(loaded.config);
        const s = await timeSteps({ model: loaded, dataset, torch, method: variant.method, methodOptions, batch: BATCH, warm, timed: reps });
        const name = `epoch2+ ${variant.name} ${model.name} (ours: cached frozen prefix; PyTorch + PEFT: whole model every step)`;
        emit({ ...trainRow('epoch', name, model.name, s, EPOCH_STEPS, backend), variant: variant.name, method_options: methodOptions });
      }
    }
  } finally {
    disposeModel(loaded);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      reps: { type: 'string', default: '5' },
      warm: { type: 'string', default: '2' },
      models: { type: 'string', default: 'issue-vit,vit-mnist' },
      methods: { type: 'string', default: [...TORCH_METHODS].join(',') },
      parts: { type: 'string', default: 'forward,step,epoch' },
    },
  });
  const int = (v: string, flag: string) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer`);
    return n;
  };
  const reps = int(values.reps, '--reps');
  const warm = int(values.warm, '--warm');
  const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
  const models = list(values.models);
  const parts = new Set(list(values.parts));
  const methods = list(values.methods);
  const known = new Set(listMethods().map((m) => m.name));
  for (const m of methods) if (!known.has(m)) throw new Error(`unknown method "${m}"`);
  for (const m of models) if (!['issue-vit', 'vit-mnist', 'vit-s16-96px'].includes(m)) throw new Error(`unknown model "${m}"`);
  for (const p of parts) if (!['forward', 'step', 'epoch'].includes(p)) throw new Error(`unknown part "${p}"`);
  const log = (line: string) => (values.json ? process.stderr : process.stdout).write(line + '\n');

  log(`machine: ${uptime()} (shared with other processes: timings are noisy)`);
  const backend = await initBackend();
  log(`backend: ${backend.name} (${backend.reason})`);
  const syncTorch = startSyncTorch(log);
  const started = parts.has('forward') ? await TorchReference.start() : undefined;
  const ref = started instanceof TorchReference ? started : undefined;
  if (typeof started === 'string') log(started);

  const tmp = mkdtempSync(path.join(tmpdir(), 'bench-issue-vit-'));
  const folders: { name: string; dir: string }[] = [];
  for (const name of models) {
    if (name === 'issue-vit') {
      if (!syncTorch) log('skipping issue-vit: its random weights are written by the PyTorch reference, which is unavailable');
      else {
        syncTorch.request({ cmd: 'make', config: ISSUE_VIT, dir: tmp });
        folders.push({ name, dir: tmp });
      }
    } else if (name === 'vit-mnist') {
      const dir = sharedPath('models/vit-mnist');
      if (dir) folders.push({ name, dir });
    }
  }

  const rows: Row[] = [];
  const emit = (row: Row) => {
    rows.push(row);
    if (values.json) process.stdout.write(JSON.stringify(row) + '\n');
    else log(`${row.case}: ours ${row.ours_ms.toFixed(1)} ms, PyTorch ${row.ref_ms === null ? '-' : row.ref_ms.toFixed(1)} ms`);
  };
  try {
    if (parts.has('forward')) {
      const cases: (() => Promise<BenchCase> | BenchCase)[] = folders.map((f) => () => folderCase(f.name, f.dir));
      if (models.includes('vit-s16-96px')) cases.push(vitSmallCase);
      for (const make of cases) {
        const c = await make();
        try {
          emit(await benchCase(c, ref, reps, backend));
        } finally {
          c.dispose();
        }
      }
    }
    if (parts.has('step') || parts.has('epoch')) {
      for (const folder of folders) await trainRows(folder, parts, methods, syncTorch, reps, warm, backend, emit);
    }
  } finally {
    ref?.stop();
    syncTorch?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`machine after: ${uptime()}`);
  if (values.json) return;
  const f = (x: unknown, d = 1) => (typeof x === 'number' ? x.toFixed(d) : '-');
  console.log(`\nmedians of ${reps} interleaved runs after ${warm} warm-up (batch ${BATCH}; epoch = ${EPOCH_STEPS} batches); ms, images/s, peak MB`);
  console.log('| case | ours ms | PyTorch ms | ours / PyTorch | ours img/s | PyTorch img/s | ours peak tf / RSS MB | PyTorch RSS MB |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const mem = r.part === 'forward' ? '-' : `${f(r.ours_peak_tf_mb, 0)} / ${f(r.ours_peak_rss_mb, 0)}`;
    console.log(
      `| ${r.case} | ${f(r.ours_ms)} | ${f(r.ref_ms)} | ${r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`} | ${f(r.ours_images_per_s)} | ${f(r.ref_images_per_s)} | ${mem} | ${f(r.ref_peak_rss_mb, 0)} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
