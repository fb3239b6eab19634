// Transfer benchmark: vit-mnist (../shared/models/vit-mnist, read in place) → Fashion-MNIST with
// every registered PEFT method under the same budget, scored on the first 1,000 t10k images.
//   npm run bench:transfer [-- --steps N] [-- --per-class N] [-- --methods a,b] [-- --json]
//   npm run bench:transfer -- --step-times [--methods a,b] [--timed-steps N]
// Accuracy mode: one fresh child process per method (so its peak RSS is the method's own) runs the
// Trainer in-process, then scores the trained tensors (its final checkpoint) on t10k[0..eval).
// Step-time mode: ours (the Trainer, a short run per method) and PyTorch's
// (scripts/bench_torch_train.py, 1 thread) alternate step by step in the same run; ratios of medians.
// The data come from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist or $FASHION_MNIST_DIR).
import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../main/engine/backend';
import { findIdxPairs, readIdxDataset } from '../main/engine/data/dataset';
import { inputSpec } from '../main/engine/eval';
import { disposeModel, loadModelFolder } from '../main/engine/io/checkpoint';
import { forwardParams, parseOptions, targetConfig } from '../main/engine/methods/framework';
import { getMethod, listMethods } from '../main/engine/methods/registry';
import { vitForward } from '../main/engine/models/vit';
import { loadLatestCheckpoint } from '../main/engine/train/checkpoint';
import { openTrainingData } from '../main/engine/train/data';
import { Rng } from '../main/engine/train/rng';
import { parseTrainSpec } from '../main/engine/train/spec';
import { Trainer } from '../main/engine/train/trainer';
import { lrOf, median, optionsOf, startSyncTorch, timeSteps, uptime } from './train-steps';

const ROOT = path.resolve(__dirname, '..');
const VIT_MNIST = path.resolve(ROOT, '..', 'shared', 'models', 'vit-mnist');
const FASHION = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const EVAL_IMAGES = 1000;

interface Result {
  method: string;
  lr: number;
  steps: number;
  per_class: number;
  batch: number;
  trainable_params: number;
  total_params: number;
  trainable_pct: number;
  val_accuracy: number;
  eval_n: number;
  train_wall_s: number;
  process_wall_s: number;
  step_ms_median: number;
  feature_cache: boolean;
  peak_rss_mb: number;
  peak_tf_mb: number;
  backend: string;
}

// ------------------------------------------------------------------------------------------ worker
/** One method in this process: train, score on t10k, print one JSON line. */
async function worker(method: string, steps: number, perClass: number, batch: number, lr: number): Promise<void> {
  const t0 = performance.now();
  const backend = await initBackend();
  const model = await loadModelFolder(VIT_MNIST);
  const outDir = mkdtempSync(path.join(tmpdir(), `bench-transfer-${method}-`));
  let peakTf = tf.memory().numBytes;
  const stepMs: number[] = [];
  try {
    const dataset = await openTrainingData(FASHION);
    const spec = parseTrainSpec({
      method,
      methodOptions: optionsOf(method),
      steps,
      batchSize: batch,
      lr,
      valFraction: 0,
      limitPerClass: perClass,
      evalEvery: steps + 1,
      checkpointEvery: steps, // the final step's checkpoint holds the trained tensors scored below
    });
    const trainer = new Trainer({
      model,
      dataset,
      spec,
      outDir,
      onEvent: (e) => {
        peakTf = Math.max(peakTf, tf.memory().numBytes);
        if (e.type === 'step') stepMs.push((batch * 1000) / e.examplesPerS);
      },
    });
    const s = await trainer.run();
    peakTf = Math.max(peakTf, tf.memory().numBytes);

    // Score on the first EVAL_IMAGES t10k images with the method's own forward (hooks included).
    const ck = await loadLatestCheckpoint(outDir);
    tf.dispose(Object.values(ck.state.optimizer.slots).flatMap((x) => Object.values(x)));
    const trainable = ck.state.trainable;
    const m = getMethod(method);
    const options = parseOptions(m, spec.methodOptions);
    const config = targetConfig(model.config, dataset.classes.length);
    const pair = (await findIdxPairs(FASHION)).get('t10k');
    if (!pair) throw new Error(`${FASHION}: no t10k IDX pair`);
    const test = await readIdxDataset(pair.images, pair.labels);
    const input = inputSpec(model);
    const n = Math.min(EVAL_IMAGES, test.length);
    const params = forwardParams(model.params, trainable);
    const hooks = m.hooks(trainable, config, options, { training: false, rng: Rng.fromSeed(0) });
    let correct = 0;
    for (let start = 0; start < n; start += 100) {
      const idx = Array.from({ length: Math.min(100, n - start) }, (_, k) => start + k);
      const per = input.imageSize * input.imageSize * input.numChannels;
      const images = new Float32Array(idx.length * per);
      for (const [k, i] of idx.entries()) images.set(await test.load(i, input), k * per);
      const pred = tf.tidy(() => tf.argMax(vitForward(params, config, tf.tensor4d(images, [idx.length, input.imageSize, input.imageSize, input.numChannels]), hooks), 1));
      peakTf = Math.max(peakTf, tf.memory().numBytes);
      const p = await pred.data();
      pred.dispose();
      idx.forEach((i, k) => (correct += p[k] === test.label(i) ? 1 : 0));
    }
    tf.dispose(Object.values(trainable));
    const result: Result = {
      method,
      lr,
      steps: s.steps,
      per_class: perClass,
      batch,
      trainable_params: s.trainableParams,
      total_params: s.totalParams,
      trainable_pct: (100 * s.trainableParams) / s.totalParams,
      val_accuracy: correct / n,
      eval_n: n,
      train_wall_s: s.wallS,
      process_wall_s: (performance.now() - t0) / 1000,
      step_ms_median: median(stepMs),
      feature_cache: s.featureCache,
      peak_rss_mb: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
      peak_tf_mb: peakTf / 2 ** 20,
      backend: backend.name,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    disposeModel(model);
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** Runs this file again as a worker for one method; resolves with its JSON line. */
function spawnWorker(method: string, steps: number, perClass: number, batch: number, lr: number): Promise<Result> {
  const args = [...process.execArgv, __filename, '--worker', method, '--steps', String(steps), '--per-class', String(perClass), '--batch', String(batch), '--lr', String(lr)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line) as Result);
      else reject(new Error(`${method}: worker exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

// ------------------------------------------------------------------------------------- step times
interface StepRow {
  method: string;
  ours_ms: number;
  torch_ms: number | null;
  ratio: number | null;
  torch_trainable: number | null;
  ours_trainable: number;
  timed: number;
}

async function stepTimes(methods: string[], timed: number, warm: number, batch: number, perClass: number, log: (l: string) => void): Promise<StepRow[]> {
  await initBackend();
  const model = await loadModelFolder(VIT_MNIST);
  const dataset = await openTrainingData(FASHION);
  const torch = startSyncTorch(log);
  torch?.load(VIT_MNIST, batch);
  const rows: StepRow[] = [];
  try {
    for (const method of methods) {
      const s = await timeSteps({ model, dataset, torch, method, batch, warm, timed, limitPerClass: perClass });
      const o = median(s.ours);
      const r = s.theirs.length ? median(s.theirs) : null;
      rows.push({ method, ours_ms: o, torch_ms: r, ratio: r === null ? null : o / r, torch_trainable: s.torch_trainable, ours_trainable: s.ours_trainable, timed: s.ours.length });
      log(`${method}: ours ${o.toFixed(1)} ms, PyTorch ${r === null ? '-' : r.toFixed(1)} ms`);
    }
  } finally {
    torch?.stop();
    disposeModel(model);
  }
  return rows;
}

// -------------------------------------------------------------------------------------------- main
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      worker: { type: 'string' },
      steps: { type: 'string', default: '200' },
      'per-class': { type: 'string', default: '200' },
      batch: { type: 'string', default: '32' },
      lr: { type: 'string' },
      methods: { type: 'string' },
      json: { type: 'boolean', default: false },
      'step-times': { type: 'boolean', default: false },
      'timed-steps': { type: 'string', default: '7' },
      'warm-steps': { type: 'string', default: '3' },
    },
  });
  const int = (v: string | undefined, flag: string) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got "${v}"`);
    return n;
  };
  const steps = int(values.steps, '--steps');
  const perClass = int(values['per-class'], '--per-class');
  const batch = int(values.batch, '--batch');
  if (values.worker) return worker(values.worker, steps, perClass, batch, values.lr ? Number(values.lr) : lrOf(values.worker));

  const all = listMethods().map((m) => m.name);
  const methods = values.methods ? values.methods.split(',').map((s) => s.trim()) : all;
  for (const m of methods) getMethod(m); // unknown names fail before any work
  if (!existsSync(VIT_MNIST)) throw new Error(`${VIT_MNIST} not found`);
  if (!(await findIdxPairs(FASHION).catch(() => new Map())).has('train')) throw new Error(`Fashion-MNIST not found in ${FASHION}: apt-get install -y dataset-fashion-mnist`);
  const log = (line: string) => (values.json ? process.stderr : process.stdout).write(line + '\n');
  log(`machine: ${uptime()} (2 cores, shared with other processes: timings are noisy)`);

  if (values['step-times']) {
    const timed = int(values['timed-steps'], '--timed-steps');
    const warm = int(values['warm-steps'], '--warm-steps');
    const rows = await stepTimes(methods, timed, warm, batch, perClass, log);
    log(`machine after: ${uptime()}`);
    if (values.json) {
      for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
      return;
    }
    const f = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
    console.log(`\ntraining step (batch ${batch}, AdamW), medians of ${timed} steps after ${warm} warm-up, ours and PyTorch alternating step by step`);
    console.log('| method | trainable (ours / PyTorch) | ours ms/step | PyTorch ms/step | ours / PyTorch |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) {
      console.log(`| ${r.method} | ${r.ours_trainable.toLocaleString('en')} / ${r.torch_trainable === null ? '-' : r.torch_trainable.toLocaleString('en')} | ${f(r.ours_ms)} | ${f(r.torch_ms)} | ${r.ratio === null ? '-' : `${r.ratio.toFixed(1)}×`} |`);
    }
    return;
  }

  const results: Result[] = [];
  const started = performance.now();
  for (const m of methods) {
    const lr = values.lr ? Number(values.lr) : lrOf(m);
    try {
      const r = await spawnWorker(m, steps, perClass, batch, lr);
      results.push(r);
      if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
      log(`${m}: val acc ${r.val_accuracy.toFixed(3)} in ${r.train_wall_s.toFixed(1)} s (lr ${lr})`);
    } catch (e) {
      log(`${m}: FAILED ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  log(`machine after: ${uptime()}; total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (values.json) return;
  console.log(
    `\nvit-mnist → Fashion-MNIST: ${perClass} images/class, ${steps} steps of batch ${batch} (AdamW, cosine, 10 % warm-up), ` +
      `val = first ${EVAL_IMAGES} t10k images; backend ${results[0]?.backend ?? '-'}; one fresh process per method`,
  );
  console.log('| method | lr | val acc | trainable | trainable % | wall s | ms/step (median) | peak RSS MB | peak tf MB |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.method}${r.feature_cache ? ' (features cached)' : ''} | ${r.lr} | ${r.val_accuracy.toFixed(3)} | ${r.trainable_params.toLocaleString('en')} | ${r.trainable_pct.toFixed(2)} | ` +
        `${r.train_wall_s.toFixed(1)} | ${r.step_ms_median.toFixed(1)} | ${r.peak_rss_mb.toFixed(0)} | ${r.peak_tf_mb.toFixed(1)} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(`bench:transfer: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
