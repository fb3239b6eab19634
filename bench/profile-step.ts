// Per-kernel profile of training steps (tf.profile), to see where a step's time goes.
//   npx tsx bench/profile-step.ts [--model vit-mnist|issue-vit] [--method full] [--steps 3] [--batch 32]
//                                 [--top 25] [--time-only]
// Runs the Trainer on vit-mnist (../shared/models/vit-mnist) or the issue's ViT (random weights the
// PyTorch reference writes, as npm run bench does) with synthetic images, the benchmark's learning
// rate and options per method, and prints, for the steps after the first, the kernels by total time (name and input shapes).
// Kernel times are this process's CPU time (process.cpuUsage), not wall time: on a shared,
// loaded machine wall time mostly measures when the scheduler let the process run.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../main/engine/backend';
import { disposeModel, loadModelFolder } from '../main/engine/io/checkpoint';
import { parseTrainSpec } from '../main/engine/train/spec';
import { syntheticDataset } from '../main/engine/train/synthetic';
import { Trainer } from '../main/engine/train/trainer';
import { ISSUE_VIT, lrOf, optionsOf, startSyncTorch } from './train-steps';

const VIT_MNIST = path.resolve(__dirname, '..', '..', 'shared', 'models', 'vit-mnist');

/** The model folder to profile; issue-vit's is written into `tmp` by the PyTorch reference. */
function modelFolder(name: string, tmp: string): string {
  if (name === 'vit-mnist') return VIT_MNIST;
  if (name !== 'issue-vit') throw new Error(`unknown model "${name}" (vit-mnist or issue-vit)`);
  const torch = startSyncTorch((line) => console.error(line));
  if (!torch) throw new Error('issue-vit needs the PyTorch reference to write its random weights');
  try {
    torch.request({ cmd: 'make', config: ISSUE_VIT, dir: tmp });
  } finally {
    torch.stop();
  }
  return tmp;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'vit-mnist' },
      method: { type: 'string', default: 'full' },
      steps: { type: 'string', default: '3' },
      batch: { type: 'string', default: '32' },
      top: { type: 'string', default: '25' },
      'time-only': { type: 'boolean', default: false },
    },
  });
  const backend = await initBackend();
  const modelDir = mkdtempSync(path.join(tmpdir(), 'profile-model-'));
  const model = await loadModelFolder(modelFolder(values.model, modelDir));
  rmSync(modelDir, { recursive: true, force: true });
  const batch = Number(values.batch);
  const steps = Number(values.steps);
  const dataset = syntheticDataset(batch * 4, 10, model.config.imageSize, model.config.numChannels);
  const outDir = mkdtempSync(path.join(tmpdir(), 'profile-step-'));
  const spec = parseTrainSpec({ method: values.method, methodOptions: optionsOf(values.method), lr: lrOf(values.method), steps: steps + 1, batchSize: batch, valFraction: 0, evalEvery: 1e9, checkpointEvery: 1e9 });
  const stepMs: number[] = [];
  // CPU time per step (user + system of this process): far less disturbed by other processes on a
  // loaded machine than wall time, so A/B comparisons of engine changes stay readable.
  const cpuMs: number[] = [];
  let cpuMark = process.cpuUsage();
  let collecting = false;
  const trainer = new Trainer({
    model,
    dataset,
    spec,
    outDir,
    onEvent: (e) => {
      if (e.type !== 'step') return;
      const cpu = process.cpuUsage(cpuMark);
      cpuMark = process.cpuUsage();
      if (collecting) {
        stepMs.push((batch * 1000) / e.examplesPerS);
        cpuMs.push((cpu.user + cpu.system) / 1000);
      }
      // A kernel no training step runs marks the step boundary in the profile.
      tf.tidy(() => tf.cosh(tf.scalar(0)));
      collecting = true;
    },
  });
  if (values['time-only']) {
    await trainer.run();
    rmSync(outDir, { recursive: true, force: true });
    disposeModel(model);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    console.log(
      `${values.method}: median wall ${median(stepMs).toFixed(1)} ms/step (${stepMs.map((x) => x.toFixed(0)).join(', ')}), ` +
        `median CPU ${median(cpuMs).toFixed(1)} ms/step (${cpuMs.map((x) => x.toFixed(0)).join(', ')})`,
    );
    return;
  }
  const kernels: { name: string; shapes: string; ms: number }[] = [];
  (tf.backend() as unknown as { time(f: () => void): Promise<{ kernelMs: number }> }).time = async (f) => {
    const start = process.cpuUsage();
    f();
    const used = process.cpuUsage(start);
    return { kernelMs: (used.user + used.system) / 1000 };
  };
  const info = await tf.profile(async () => {
    await trainer.run();
    return [];
  });
  // Skip the first step (memory growth, XNNPACK set-up) and what follows the last one.
  const marks = info.kernels.flatMap((k, i) => (k.name === 'Cosh' ? [i] : []));
  for (const k of info.kernels.slice(marks[0]! + 1, marks.at(-1))) {
    const ms = await k.kernelTimeMs;
    if (k.name !== 'Cosh') kernels.push({ name: k.name, shapes: JSON.stringify(k.inputShapes), ms: typeof ms === 'number' ? ms : NaN });
  }
  rmSync(outDir, { recursive: true, force: true });
  disposeModel(model);
  const per = steps;
  const groups = new Map<string, { ms: number; n: number }>();
  const byName = new Map<string, { ms: number; n: number }>();
  for (const k of kernels) {
    const key = `${k.name} ${k.shapes}`;
    const g = groups.get(key) ?? { ms: 0, n: 0 };
    groups.set(key, { ms: g.ms + k.ms, n: g.n + 1 });
    const b = byName.get(k.name) ?? { ms: 0, n: 0 };
    byName.set(k.name, { ms: b.ms + k.ms, n: b.n + 1 });
  }
  const total = kernels.reduce((s, k) => s + k.ms, 0);
  console.log(`${values.method} on ${values.model}, batch ${batch}, backend ${backend.name}; profiled steps ${stepMs.map((x) => x.toFixed(0)).join(', ')} ms (profiling overhead included)`);
  console.log(`kernel time per step: ${(total / per).toFixed(1)} ms over ${(kernels.length / per).toFixed(0)} kernels\n`);
  console.log('| kernel | ms/step | calls/step |\n|---|---|---|');
  for (const [name, g] of [...byName].sort((a, b) => b[1].ms - a[1].ms)) console.log(`| ${name} | ${(g.ms / per).toFixed(1)} | ${(g.n / per).toFixed(0)} |`);
  console.log('\n| kernel and input shapes | ms/step | calls/step |\n|---|---|---|');
  for (const [key, g] of [...groups].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top))) {
    console.log(`| ${key} | ${(g.ms / per).toFixed(1)} | ${(g.n / per).toFixed(0)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
