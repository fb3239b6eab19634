// How close the new-run page's dry-run estimate comes to the run it estimates: one diffusion run
// of the starter DiT (resources/models/dit-fashion) on Fashion-MNIST images of one class. The
// estimate is the run service's (dryRun in a worker, then adviseEstimate); the real run is the
// same worker started on the same settings, its step times read from its step events
// (examples/s) and each sample grid timed from its step's event to its previews event.
//   npm run bench:estimate [-- --method lora] [-- --steps 40] [-- --batch 16] [-- --preview-every 10]
//                          [-- --preview-count 8] [-- --preview-steps 20] [-- --images 64] [-- --json]
// The data come from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist or $FASHION_MNIST_DIR).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freemem, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { adviseEstimate, dryRun } from '../main/services/run-estimate';
import type { RunSpec, WorkerMessage, WorkerRequest } from '../main/worker/protocol';
import { makeFashionFolder } from '../scripts/make-fashion-folder';

const ROOT = path.resolve(__dirname, '..');
const WORKER = { modulePath: path.join(ROOT, 'main/worker/index.ts'), execArgv: ['--require', 'tsx/cjs'] };
const TROUSER = 1;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The whole run in a worker, as the run service starts it; each message with when it arrived. */
function realRun(run: RunSpec): Promise<{ message: WorkerMessage; at: number }[]> {
  return new Promise((resolve, reject) => {
    const child = fork(WORKER.modulePath, [], { execArgv: WORKER.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const received: { message: WorkerMessage; at: number }[] = [];
    child.on('message', (raw) => {
      const message = raw as WorkerMessage;
      received.push({ message, at: performance.now() });
      if (message.type === 'ready') child.send({ type: 'start', run } satisfies WorkerRequest);
    });
    child.on('exit', (code) => (code === 0 ? resolve(received) : reject(new Error(`the run's worker exited with code ${code}`))));
  });
}
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      method: { type: 'string', default: 'lora' },
      steps: { type: 'string', default: '40' },
      batch: { type: 'string', default: '16' },
      'preview-every': { type: 'string', default: '10' },
      'preview-count': { type: 'string', default: '8' },
      'preview-steps': { type: 'string', default: '20' },
      images: { type: 'string', default: '64' },
      json: { type: 'boolean', default: false },
    },
  });
  const home = mkdtempSync(path.join(tmpdir(), 'bench-estimate-'));
  try {
    const dataDir = path.join(home, 'trousers');
    await makeFashionFolder(dataDir, Number(values.images), [TROUSER]);
    const steps = Number(values.steps);
    const batchSize = Number(values.batch);
    const diffusion = { previewEvery: Number(values['preview-every']), previewCount: Number(values['preview-count']), previewSteps: Number(values['preview-steps']) };
    const spec = { method: values.method!, steps, batchSize, lr: 1e-3, checkpointEvery: steps };
    const modelDir = path.join(ROOT, 'resources/models/dit-fashion');

    const measured = await dryRun(WORKER, { modelDir, dataDir, outDir: path.join(home, 'dry'), spec, diffusion });
    const estimate = adviseEstimate(measured, spec, { freeBytes: freemem(), totalBytes: totalmem() });

    const t0 = performance.now();
    const received = await realRun({ modelDir, dataDir, outDir: path.join(home, 'run'), spec, diffusion });
    const wallS = (performance.now() - t0) / 1000;
    const stepAt = new Map<number, number>();
    const stepMs: number[] = [];
    const gridMs: number[] = [];
    for (const { message, at } of received) {
      if (message.type === 'step') {
        stepAt.set(message.step, at);
        if (message.step > 1) stepMs.push((batchSize / message.examplesPerS) * 1000);
      }
      if (message.type === 'previews' && message.step > 0) gridMs.push(at - stepAt.get(message.step)!);
    }

    const result = {
      settings: { method: spec.method, steps, batchSize, ...diffusion, images: Number(values.images) },
      estimate: { msPerStep: estimate.msPerStep, msPerGrid: estimate.previews!.msPerGrid, grids: estimate.previews!.grids, etaS: estimate.etaS, peakBytes: estimate.peakBytes },
      run: { msPerStep: median(stepMs), stepsMeasured: stepMs.length, msPerGrid: median(gridMs), grids: gridMs.length + 1, wallS },
      ratios: { step: estimate.msPerStep / median(stepMs), grid: estimate.previews!.msPerGrid / median(gridMs), total: estimate.etaS / wallS },
      load: loadavg()[0]!,
    };
    if (values.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    const f = (x: number) => x.toFixed(1);
    console.log(`diffusion ${spec.method}, ${steps} steps of ${batchSize}, grids of ${diffusion.previewCount} x ${diffusion.previewSteps} DDIM steps every ${diffusion.previewEvery} (load ${f(result.load)})`);
    console.log(`step   estimate ${f(result.estimate.msPerStep)} ms (median of ${estimate.stepsMeasured})   run ${f(result.run.msPerStep)} ms (median of ${stepMs.length})   ratio ${result.ratios.step.toFixed(2)}`);
    console.log(`grid   estimate ${f(result.estimate.msPerGrid)} ms (one)   run ${f(result.run.msPerGrid)} ms (median of ${gridMs.length})   ratio ${result.ratios.grid.toFixed(2)}`);
    console.log(`total  estimate ${f(result.estimate.etaS)} s (${result.estimate.grids} grids)   run ${f(wallS)} s wall (${result.run.grids} grids)   ratio ${result.ratios.total.toFixed(2)}`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
